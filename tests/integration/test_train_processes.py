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
