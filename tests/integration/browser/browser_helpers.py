"""Helpers of the browser tests: screenshots, opening a page, waiting for Streamlit, widget selectors."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "artifacts"


def shot(page, name: str) -> Path:
    """Save a full-page screenshot as artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # Streamlit scrolls inside its main block, so a full-page shot alone shows one screen: grow the viewport to fit.
    size = page.viewport_size
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=stMain]'); return m ? m.scrollHeight : 0; }")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 50, 8000))})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def open_page(page, url: str, path: str, title: str):
    """Open app page `path` and wait for its title and for the script to finish its first run."""
    page.goto(f"{url}/{path}")
    page.get_by_role("heading", name=title, exact=True).first.wait_for()
    settle(page)


def settle(page, timeout: float = 60) -> None:
    """Wait until Streamlit shows no running script (the status widget's stop button is gone)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"] button').first.wait_for(state="hidden", timeout=timeout * 1000)


def key(name: str) -> str:
    """Return the CSS selector of the container Streamlit gives a widget with key=`name`."""
    return f".st-key-{name}"
