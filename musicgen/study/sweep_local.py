"""The local backend of a sweep: a pool of training processes, stopped cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from musicgen.errors import ConfigError, MusicgenError
from musicgen.parallel import usable_cores
from musicgen.paths import REPO_ROOT, home_dir, logs_dir
from musicgen.runs import store
from musicgen.study.plan import POLL_S, STOP_GRACE_S, mark_failed, run_of, status_of, train_payload, with_threads


def _tail(path: Path, n: int = 4000) -> str:
    try:
        data = path.read_bytes()[-n:].decode(errors="replace")
    except OSError:
        return ""
    lines = [ln for ln in data.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:") or "Error" in ln]
    return (errors or lines or [""])[-1][:300]


class _Stop(Exception):
    """SIGTERM to the driver: stop the sweep like Ctrl-C."""


def _raise_stop(signum, frame):
    raise _Stop()


def run_local(payloads: list[dict], workers: int, on_event=None) -> dict:
    """Train `payloads` in a pool of `workers` processes; on Ctrl-C or SIGTERM stop them cleanly; return {run id: status}."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    # Each process gets its share of the cores, halved like the trainer's own default (BENCHMARKS.md: on a busy
    # 2-core machine 2 OpenMP threads made a batch 7x slower than 1).
    threads = max(1, usable_cores() // min(workers, max(1, len(payloads))) // 2)
    queue, running, outcome = list(payloads), {}, {}
    note = on_event or (lambda *a: None)
    old_term = signal.signal(signal.SIGTERM, _raise_stop) if _main_thread() else None
    try:
        while queue or running:
            while queue and len(running) < workers:
                payload = with_threads(queue.pop(0), threads)
                run_id = run_of(payload)
                log = logs_dir() / f"sweep-{payload['sweep_id']}" / f"{run_id}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                with open(log, "ab") as f:
                    # Own session: the driver alone gets Ctrl-C and turns it into an orderly SIGTERM to each child.
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "musicgen.study.sweep_local", "--worker", json.dumps(payload)],
                        cwd=REPO_ROOT,
                        stdin=subprocess.DEVNULL,
                        stdout=f,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        env={**os.environ, "MUSICGEN_HOME": str(home_dir())},
                    )
                running[proc.pid] = (proc, payload, log, time.time())
                note("start", payload, proc.pid)
            time.sleep(POLL_S)
            for pid, (proc, payload, log, t0) in list(running.items()):
                rc = proc.poll()
                if rc is None:
                    continue
                del running[pid]
                run_id = run_of(payload)
                if rc != 0:
                    mark_failed(run_id, f"worker exited with code {rc}: {_tail(log) or 'no output'} (log {log})", pid)
                outcome[run_id] = status_of(run_id)
                note("end", payload, outcome[run_id], time.time() - t0)
    except (KeyboardInterrupt, _Stop):
        _stop_all(running)
        for _, payload, _, _ in running.values():
            run_id = run_of(payload)
            if status_of(run_id) in ("queued", "running"):  # killed before the trainer could say so
                store.update_run(run_id, status="stopped", error="sweep interrupted")
            outcome[run_id] = status_of(run_id)
        for payload in queue:
            store.update_run(run_of(payload), status="stopped", error="sweep interrupted before this run started")
            outcome[run_of(payload)] = "stopped"
        raise KeyboardInterrupt from None
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
    return outcome


def _main_thread() -> bool:

    return threading.current_thread() is threading.main_thread()


def _stop_all(running: dict) -> None:
    """SIGTERM every child (the trainer checkpoints and marks its run stopped), SIGKILL what outlives the grace period."""
    for proc, *_ in running.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.time() + STOP_GRACE_S
    for proc, *_ in running.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    store.mark_dead_runs()  # a child killed mid-epoch leaves 'running': make it failed, so a re-run retries it


def _worker_main(argv: list[str]) -> int:
    """Entry of a local pool process: train the payload given as JSON; SIGTERM or Ctrl-C stops the run cleanly."""

    if len(argv) != 2 or argv[0] != "--worker":
        print("usage: python -m musicgen.study.sweep_local --worker PAYLOAD_JSON", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())  # the trainer checks it between batches, saves last.pt, reports 'stopped'
    try:
        train_payload(json.loads(argv[1]), stop=stop)
    except MusicgenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
