"""Detached jobs as real processes: started in their own session, logged under home, stopped with SIGTERM."""

import os
import sys
import time

import pytest

from musicgen.runs import jobs

# A stand-in for `python -m musicgen train`: prints, then waits for SIGTERM and exits 0 on it.
FAKE = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: (print('got SIGTERM', flush=True), sys.exit(0)))\n"
    "print('args', sys.argv[1:], flush=True)\n"
    "time.sleep(30)\n"
)


@pytest.fixture
def home(home, monkeypatch):
    """The shared temporary home (tests/conftest.py), with FAKE standing in for `python -m musicgen`."""
    monkeypatch.setattr(jobs, "_command", lambda kind, args: [sys.executable, "-c", FAKE, kind, *args])
    return home


def _wait_for(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_start_training_detaches_logs_and_stops_on_sigterm(home):
    pid = jobs.start_training(["--epochs", "2"])
    try:
        assert jobs.is_alive(pid)
        # Its own session: a signal to the server's process group does not reach it.
        assert os.getsid(pid) == pid != os.getsid(0)
        assert jobs.log_path(pid) == home / "logs" / f"train-{pid}.log"
        assert _wait_for(lambda: "args ['train', '--epochs', '2']" in jobs.log_tail(pid))
        assert jobs.stop_pid(pid, wait_s=10)
        assert not jobs.is_alive(pid)  # reaped, not a zombie
        assert "got SIGTERM" in jobs.log_tail(pid)
    finally:
        if jobs.is_alive(pid):
            os.kill(pid, 9)


def test_start_sweep_uses_its_own_log(home):
    pid = jobs.start_sweep(["--seeds", "1"])
    try:
        assert jobs.log_path(pid).name == f"sweep-{pid}.log"
        assert not list((home / "logs").glob(".*.log"))  # the temporary name was renamed
    finally:
        jobs.stop_pid(pid, wait_s=10)


def test_stop_run_signals_the_pid_in_the_store(home):
    from musicgen.errors import StoreError
    from musicgen.runs import store

    pid = jobs.start_training([])
    try:
        run_id = store.create_run("r", {}, "d")
        store.claim_run(run_id, pid=pid)
        assert jobs.stop_run(run_id, wait_s=10)
        assert _wait_for(lambda: "got SIGTERM" in jobs.log_tail(pid))
    finally:
        if jobs.is_alive(pid):
            os.kill(pid, 9)
    store.update_run(run_id, status="stopped")
    with pytest.raises(StoreError, match=f"run {run_id} is stopped, not running"):
        jobs.stop_run(run_id)
    with pytest.raises(StoreError, match="unknown run 'nope'"):
        jobs.stop_run("nope")
