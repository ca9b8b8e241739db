"""Process liveness: a pid that exists, a zombie, a reused pid."""

import os
import subprocess
import sys

from musicgen.processes import is_alive, process_start


def test_this_process_is_alive_and_has_a_start_time():
    start = process_start(os.getpid())
    assert is_alive(os.getpid())
    if start is not None:  # None where there is no /proc
        assert is_alive(os.getpid(), start)
        assert not is_alive(os.getpid(), str(int(start) + 1))  # same pid, another process: a reused pid


def test_no_pid_and_a_missing_pid_are_dead():
    assert not is_alive(None)
    assert not is_alive(0)
    assert not is_alive(999_999_999)
    assert process_start(999_999_999) is None


def test_a_zombie_is_dead():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # finished, not reaped: a zombie
        assert not is_alive(proc.pid)
    finally:
        proc.wait()
