"""Launch and stop the app's background jobs: `python -m musicgen …` processes that outlive the page.

Training in the Streamlit script thread freezes the app and cannot be stopped; here every job is a
separate process in its own session (so a page reload, a closed tab or a restarted server leaves it
running), its output goes to `logs_dir()/<kind>-<pid>.log`, and it is stopped with SIGTERM, which
the trainer turns into a clean stop (checkpoint written, status "stopped"). Sweep workers whose
driver died are stopped the same way by `stop_orphaned_workers` (the `runs` and `sweep` commands).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from musicgen.config import run_config
from musicgen.errors import StoreError
from musicgen.paths import REPO_ROOT, atomic_write, configs_dir, home_dir, logs_dir
from musicgen.processes import is_alive
from musicgen.runs import store

KINDS = ("train", "sweep", "study")


def _reap(proc: subprocess.Popen) -> None:
    # The server is the parent: without a wait() a finished job stays a zombie and looks alive.
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()


def _command(kind: str, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "musicgen", kind, *args]


def start_job(kind: str, args: list[str]) -> int:
    """Start `python -m musicgen <kind> <args…>` detached; return its pid (log: `log_path(pid)`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}; known: {KINDS}")
    folder = logs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # The pid is known only after the start: open under a unique name, rename once it is known
    # (the child keeps writing to the same open file).
    tmp = folder / f".{kind}-{uuid.uuid4().hex}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MUSICGEN_HOME": str(home_dir())}
    cmd = _command(kind, [str(a) for a in args])
    with open(tmp, "ab") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    os.replace(tmp, folder / f"{kind}-{proc.pid}.log")
    _reap(proc)
    return proc.pid


def start_training(args: list[str]) -> int:
    """Start `python -m musicgen train <args…>` as a detached process; return its pid."""
    return start_job("train", args)


def start_sweep(args: list[str]) -> int:
    """Start `python -m musicgen sweep <args…>` as a detached process; return its pid."""
    return start_job("sweep", args)


def start_study(args: list[str]) -> int:
    """Start `python -m musicgen study <args…>` (learning-rate stage, then seeds) as a detached process; return its pid."""
    return start_job("study", args)


def log_path(pid: int) -> Path | None:
    """Return the log file of the job with this pid, or None when there is none."""
    for kind in KINDS:
        p = logs_dir() / f"{kind}-{int(pid)}.log"
        if p.is_file():
            return p
    return None


def log_tail(pid: int, lines: int = 20) -> str:
    """Return the last `lines` lines of a job's log ('' when it has none)."""
    p = log_path(pid)
    if p is None:
        return ""
    with open(p, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 64_000))
        text = f.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def stop_pid(pid: int, wait_s: float = 0.0) -> bool:
    """Send SIGTERM to `pid`; optionally wait up to `wait_s` seconds for it to end. Return True if it ended."""
    try:
        os.kill(int(pid), signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    return not is_alive(pid)


def stop_run(run_id: str, wait_s: float = 0.0) -> bool:
    """Ask the run's process (pid from the store) to stop gracefully with SIGTERM; return True if it ended."""
    run = store.get_run(run_id)
    pid = run.get("pid")
    if run.get("status") not in ("queued", "running"):
        raise StoreError(f"run {run_id} is {run.get('status')}, not running; only a queued or running run can be stopped")
    if not pid or not is_alive(pid):
        raise StoreError(f"run {run_id} has no live process (pid {pid}); refresh: it has ended or died")
    return stop_pid(pid, wait_s)


def stop_sweep(sweep_id: str, wait_s: float = 0.0) -> dict:
    """SIGTERM a sweep's driver and its live runs (each checkpoints and ends 'stopped'); return {driver, runs} signalled.

    The driver first, so that it starts no queued run when a worker ends; then every 'queued'/'running' run of the sweep
    with a live process of its own (the driver may be gone, or Ray's). Waits up to `wait_s` seconds for them all to end.
    """
    sweep = store.get_sweep(sweep_id)
    driver = sweep.get("driver_pid") if is_alive(sweep.get("driver_pid"), sweep.get("driver_start")) else None
    if driver:
        stop_pid(driver)
    live = {}  # run id -> pid; a frame holds a missing pid as NaN
    for r in store.list_runs(sweep_id).to_dict("records"):
        pid = r.get("pid")
        if r["status"] in ("queued", "running") and pid and pid == pid and is_alive(int(pid)):
            live[r["id"]] = int(pid)
    for pid in live.values():
        stop_pid(pid)
    pids = [p for p in [driver, *live.values()] if p]
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and any(is_alive(p) for p in pids):
        time.sleep(0.05)
    return {"driver": driver, "runs": list(live)}


def stop_orphaned_workers(wait_s: float = 0.0) -> list[dict]:
    """SIGTERM the sweep workers whose driver died (they checkpoint and end 'stopped'); return them as {run_id, pid, driver_pid}.

    Waits up to `wait_s` seconds for them all to end, then records the ones that died without a word.
    """
    orphans = store.orphaned_workers()
    for o in orphans:
        try:
            os.kill(int(o["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and any(is_alive(o["pid"], o["pid_start"]) for o in orphans):
        time.sleep(0.05)
    if orphans and wait_s:
        store.mark_dead_runs()
    return orphans


def train_args(data_ref: str, model_cfg, train_cfg, name: str | None = None) -> list[str]:
    """Write the run's whole config as JSON under configs_dir(); return the `python -m musicgen train` arguments that read it.

    Flags would lose values whose CLI spelling is the default's (a False boolean, a None), so the
    process gets the config exactly as it will be stored with the run.
    """
    path = configs_dir() / f"train-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.json"
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(run_config(data_ref, model_cfg, train_cfg, name), indent=1))
    return ["--config", str(path)]
