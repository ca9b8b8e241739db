"""Training as a real process (`python -m musicgen train`): SIGTERM stops it cleanly; after kill -9 the run resumes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from synthetic import TINY_ARGS, make_dataset

from musicgen.paths import checkpoints_dir
from musicgen.runs import store
from musicgen.training.checkpoint import load_checkpoint
from musicgen.training.train import run_training


def _spawn(home, *args):
    """Start `python -m musicgen train ARGS` under `home`, its output piped."""
    env = {**os.environ, "MUSICGEN_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen(
        [sys.executable, "-m", "musicgen", "train", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_epochs(proc, n):
    """Return the run id the process prints first, once the store shows `n` epochs done."""
    rid = proc.stdout.readline().split()[1]
    deadline = time.monotonic() + 120  # a guard against hanging, not a timing assertion
    while store.get_run(rid)["epochs_done"] < n:
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return rid


def test_sigterm_stops_gracefully(home, tmp_path):
    data = make_dataset(tmp_path / "ds")
    proc = _spawn(
        home, "--data", str(data), "--epochs", "500", "--batch-size", "4", "--device", "cpu", "--threads", "1", *TINY_ARGS
    )
    rid = _wait_epochs(proc, 1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    run = store.get_run(rid)
    assert run["status"] == "stopped" and run["error"] is None
    assert load_checkpoint(checkpoints_dir() / rid / "last.pt")["epoch"] >= 1


def test_kill_9_then_resume(home, tmp_path):
    data = make_dataset(tmp_path / "ds")
    proc = _spawn(
        home, "--data", str(data), "--epochs", "500", "--batch-size", "4", "--device", "cpu", "--threads", "1", *TINY_ARGS
    )
    rid = _wait_epochs(proc, 1)
    proc.kill()
    proc.wait()
    run = store.get_run(rid)
    assert run["status"] == "failed" and "process died" in run["error"]
    done = load_checkpoint(checkpoints_dir() / rid / "last.pt")["epoch"]
    s = run_training(None, resume=rid, epochs=done + 1)
    assert s["status"] == "finished" and s["epochs_done"] == done + 1
    assert store.get_run(rid)["status"] == "finished"
    assert not list((checkpoints_dir() / rid).glob("*.tmp"))


def test_two_resumes_started_together_train_the_run_once(home, tmp_path):
    data = make_dataset(tmp_path / "ds")
    base = ["--batch-size", "4", "--device", "cpu", "--threads", "1"]
    first = _spawn(home, "--data", str(data), "--epochs", "1", *base, *TINY_ARGS)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    rid = first.stdout.readline().split()[1]
    # --json: no progress bar, so that a pipe nobody reads yet never fills and blocks the winner.
    racers = [_spawn(home, "--resume", rid, "--epochs", "100000", "--json") for _ in range(2)]
    try:
        loser = None
        deadline = time.monotonic() + 120  # a guard against hanging, not a timing assertion
        while loser is None:
            assert time.monotonic() < deadline
            loser = next((p for p in racers if p.poll() is not None), None)
            time.sleep(0.05)
        winner = racers[1 - racers.index(loser)]
        err = loser.stderr.read().strip()
        assert loser.returncode == 2 and err == (
            f"error: run {rid} is already being trained by process {winner.pid}; "
            f"stop it first (the app's Stop, or kill -TERM {winner.pid}) or wait for it to end"
        ), err
        assert winner.poll() is None and store.get_run(rid)["pid"] == winner.pid
    finally:
        for p in racers:
            p.send_signal(signal.SIGTERM)
    assert [p.wait(timeout=60) for p in racers].count(0) == 1
    assert store.get_run(rid)["status"] == "stopped"
    m = store.metrics_frame(rid)
    assert not m.duplicated(["epoch", "split", "name"]).any()


def test_a_full_disk_during_a_checkpoint_write(home, tmp_path):
    import resource

    data = make_dataset(tmp_path / "ds")
    big = ["--hidden", "256", "--conv-channels", "8", "--gru-layers", "1"]  # a 2.5 MB checkpoint
    base = ["--batch-size", "8", "--device", "cpu", "--threads", "1"]
    first = _spawn(home, "--data", str(data), "--epochs", "1", *base, *big)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    rid = first.stdout.readline().split()[1]
    last = checkpoints_dir() / rid / "last.pt"

    def at_most_1_mb():  # writes past it fail with EFBIG, as on a full disk (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    env = {**os.environ, "MUSICGEN_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "musicgen", "train", "--resume", rid, "--epochs", "2"],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=at_most_1_mb,
        timeout=120,
    )
    err = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower() or "Traceback" in ln]
    assert proc.returncode == 2 and len(err) == 1, proc.stderr
    assert err[0].startswith(f"error: cannot write checkpoint {last.parent}/") and "(File too large)" in err[0], err
    run = store.get_run(rid)
    assert run["status"] == "failed" and run["error"] == err[0].removeprefix("error: ")
    assert load_checkpoint(last)["epoch"] == 1  # the checkpoint of epoch 1 is whole
    assert sorted(f.name for f in last.parent.iterdir()) == ["best.pt", "last.pt", "progress.json"]  # no half-written file


# Sends itself SIGTERM while the summary is printed, then runs `python -m musicgen ARGS`.
LATE_SIGTERM = """
import os, signal, sys
import musicgen.cli.train as cli_train

fmt = cli_train.metrics_line
def fmt_and_term(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    return fmt(*args, **kwargs)
cli_train.metrics_line = fmt_and_term
from musicgen.cli import main
sys.exit(main())
"""


def test_a_sigterm_during_the_final_summary_ends_cleanly(home, tmp_path):
    data = make_dataset(tmp_path / "ds")
    env = {**os.environ, "MUSICGEN_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = ["train", "--data", str(data), "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--threads", "1", *TINY_ARGS]
    proc = subprocess.run([sys.executable, "-c", LATE_SIGTERM, *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert "status: finished after 1 epochs" in proc.stdout and "baseline copy_previous" in proc.stdout
    assert store.list_runs().iloc[0]["status"] == "finished"
