"""Serve app.py for a browser that a program drives: the browser tests' fixtures and benchmarks/dashboard_speed.py.

`serve(home)` runs `streamlit run app.py` (through dashboard.serve, as `make run` does) on a free local port
with MUSICGEN_HOME=`home`, waits for its health check and yields its URL; on exit it stops the server and
the training and sweep processes the app started under `home`. `CHROMIUM` and `CHROMIUM_ARGS` launch
Debian's Chromium through Playwright (no downloaded browser); `HEADINGS` names the heading that each page
shows once it is drawn.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# URL path -> the page's heading (its st.title): what a driven browser waits for to know the page is there.
HEADINGS = {
    "home": "musicgen",
    "data": "Dataset",
    "train": "Train",
    "compare": "Compare",
    "generate": "Generate",
    "listen": "Listen",
}


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Wait until Streamlit answers its health check; fail with the end of its log if it dies first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"streamlit did not answer at {url} within {timeout} s")


def stop_jobs(home: Path) -> None:
    """Kill the training/sweep processes the app started under `home` (their logs are named by pid)."""
    for log in (home / "logs").glob("*-*.log"):
        pid = log.stem.rsplit("-", 1)[-1]
        if pid.isdigit():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@contextmanager
def serve(home: Path, port: int | None = None, script: str = "app.py"):
    """Run `streamlit run app.py` (or another `script`) with MUSICGEN_HOME=`home`; yield its URL; stop it and its jobs."""
    port = port or free_port()
    env = {**os.environ, "MUSICGEN_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    # app.py as `make run` serves it (dashboard.serve: the pages' modules preloaded); another script plainly.
    launch = ["dashboard.serve"] if script == "app.py" else ["streamlit", "run", script]
    cmd = [
        sys.executable,
        "-m",
        *launch,
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    # A file, not a pipe: a long session's log would fill a pipe nobody reads and block the server.
    with tempfile.NamedTemporaryFile(prefix="streamlit-", suffix=".log", delete=False) as out:
        log = Path(out.name)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        stop_jobs(home)
        log.unlink(missing_ok=True)
