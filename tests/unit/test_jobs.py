"""Jobs without a process: an unknown kind, a missing log, a pid that is not there (started jobs: tests/integration)."""

import pytest

from musicgen.runs import jobs


def test_unknown_kind_and_missing_log(home):
    with pytest.raises(ValueError, match="unknown job kind 'bogus'"):
        jobs.start_job("bogus", [])
    assert jobs.log_path(999_999_999) is None
    assert jobs.log_tail(999_999_999) == ""
    assert not jobs.is_alive(None)
    assert not jobs.is_alive(999_999_999)


def test_stop_sweep_stops_its_driver_and_live_runs_only(home):
    import subprocess
    import sys

    from musicgen.runs import store

    def sleeper():
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    driver, worker, other = sleeper(), sleeper(), sleeper()
    try:
        sid = store.create_sweep("grid", {})
        store.claim_sweep(sid, pid=driver.pid)
        running = store.create_run("w", {}, "d", sweep_id=sid, status="running", pid=worker.pid)
        store.create_run("q", {}, "d", sweep_id=sid, status="queued")
        store.create_run("elsewhere", {}, "d", status="running", pid=other.pid)  # not the sweep's: left alone
        stopped = jobs.stop_sweep(sid, wait_s=10)
        assert stopped == {"driver": driver.pid, "runs": [running]}
        assert driver.wait(5) == -15 and worker.wait(5) == -15  # SIGTERM
        assert other.poll() is None
    finally:
        for p in (driver, worker, other):
            p.kill()
            p.wait()
