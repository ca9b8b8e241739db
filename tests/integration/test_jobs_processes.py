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


def test_workers_of_a_dead_sweep_driver_are_stopped(home):
    import subprocess
    import sys

    from musicgen.processes import is_alive
    from musicgen.runs import store

    sid = store.create_sweep("grid", {})
    driver = subprocess.Popen([sys.executable, "-c", "pass"])
    driver.wait()
    store.claim_sweep(sid, driver.pid)  # recorded, then gone: as after kill -9
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rid = store.create_run("x", {}, "d", sweep_id=sid)
        store.claim_run(rid, worker.pid)
        stopped = jobs.stop_orphaned_workers(wait_s=30)
        assert [(o["run_id"], o["pid"], o["driver_pid"]) for o in stopped] == [(rid, worker.pid, driver.pid)]
        assert worker.wait(timeout=30) == -15 and not is_alive(worker.pid)
        assert store.get_run(rid)["status"] == "failed"  # it died without a word: marked by the store
        assert jobs.stop_orphaned_workers() == []
    finally:
        worker.kill()
        worker.wait()
