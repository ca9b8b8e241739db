"""Ask the operating system about a process: is it alive, and is it still the process we started.

The one place that reads /proc (processes and memory figures); where there is none (macOS), a pid that exists counts as alive.
"""

from __future__ import annotations

import os


def proc_kb(file: str, key: str) -> int | None:
    """Return the `key:` entry of a /proc file (e.g. MemAvailable in /proc/meminfo) in bytes, or None where there is none."""
    try:
        with open(file) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _stat_fields(pid: int) -> list[str] | None:
    # /proc/<pid>/stat: "pid (command) state ppid …"; the command may hold spaces and parentheses.
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start(pid: int) -> str | None:
    """Return the start time of process `pid` (clock ticks since boot, as text), or None where unknown.

    With the pid it names one process: a pid reused by a later process has another start time.
    """
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def is_alive(pid: int | None, start: str | None = None) -> bool:
    """Return True when process `pid` exists and is not a zombie, and, if `start` is given, started then."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc: existing is all we can tell
    if fields[0] in ("Z", "X"):
        return False  # finished, not yet reaped by a parent that is not us
    return start is None or len(fields) <= 19 or fields[19] == start
