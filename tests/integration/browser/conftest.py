"""Browser fixtures: a real `streamlit run app.py` (one per session or a fresh one per test), a temporary home, Chromium.

Without /usr/bin/chromium every browser test is skipped with the reason (`make test` installs it as root).
Screenshots (browser_helpers.shot) go to artifacts/ (gitignored) so CI can keep them.
"""

from __future__ import annotations

import pytest
from appserver import CHROMIUM, CHROMIUM_ARGS, serve
from browser_helpers import shot


def pytest_collection_modifyitems(config, items):
    """Skip the browser tests, visibly, where Chromium is missing."""
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install it with `apt-get install chromium` (make test does, as root)"
    for item in items:
        if "/integration/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


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
