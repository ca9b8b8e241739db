"""Browser fixtures: a real `streamlit run app.py` (one per session or a fresh one per test), a temporary home, Chromium.

Without /usr/bin/chromium every browser test is skipped with the reason (`make test` installs it as root).
Screenshots (browser_helpers.shot) go to artifacts/ (gitignored) so CI can keep them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from browser_helpers import shot

ROOT = Path(__file__).resolve().parents[3]
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


def pytest_collection_modifyitems(config, items):
    """Skip the browser tests, visibly, where Chromium is missing."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install it with `apt-get install chromium` (make test does, as root)"
    for item in items:
        if "/integration/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until Streamlit answers its health check; fail with its output if it dies first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {proc.stdout.read().decode(errors='replace')[-2000:]}")
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
def serve(home: Path):
    """Run `streamlit run app.py` on a free port with MUSICGEN_HOME=`home`; yield its URL; stop it and the jobs it started."""
    port = free_port()
    env = {**os.environ, "MUSICGEN_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
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
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        stop_jobs(home)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """Serve app.py on a free port with an empty temporary MUSICGEN_HOME, for the whole session; yield (url, home)."""
    home = tmp_path_factory.mktemp("musicgen-home")
    with serve(home) as url:
        yield url, home


@pytest.fixture
def fresh_server(tmp_path):
    """Serve app.py for this test only (a server no browser has visited yet), with an empty MUSICGEN_HOME; yield its url."""
    with serve(tmp_path / "home") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Launch Debian's Chromium through Playwright (no downloaded browsers)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh tab, 1400×1000, with a generous default timeout for 2 shared cores."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failed browser test, save what the tab showed as artifacts/FAILED-<test>.png."""
    outcome = yield
    report = outcome.get_result()
    tab = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and tab is not None:
        try:
            shot(tab, f"FAILED-{item.name}")
        except Exception as e:  # noqa: BLE001 — a failed screenshot must not hide the real failure
            print(f"could not save a screenshot of the failure: {e}")
