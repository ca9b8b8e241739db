"""Serve the app: `python -m dashboard.serve [streamlit run options]` runs `streamlit run app.py` in this process.

Beside the server, a thread imports what the pages import (pandas, plotly, musicgen, torch last) while the
server starts and waits for its first visitor. Streamlit runs every page script in this same process, so a
deep link opened on a freshly started server finds them loaded instead of importing them for seconds under
a skeleton (BENCHMARKS.md, Dashboard cold start). A visit that comes before they are loaded waits on the
same imports, never longer than without the thread.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time

# What the pages need, lightest first: Home, Dataset, Train and Compare show without torch; Generate and Listen need it.
PRELOAD = (
    "pandas",
    "plotly.graph_objects",
    "dashboard.home",
    "dashboard.data",
    "dashboard.live",
    "dashboard.compare",
    "musicgen.study.findings",
    "dashboard.generate",
    "dashboard.listen",
    "musicgen.study.document",
)


def preload(modules=PRELOAD, wait_s: float = 30.0) -> None:
    """Import `modules` one by one; one that fails is logged and left to the page that needs it (which says why).

    The dashboard's modules declare Streamlit caches, which look for the server's runtime: they wait for it
    (up to `wait_s`), so that Streamlit does not log that it fell back to a cache of its own.
    """
    from streamlit import runtime

    deadline = time.monotonic() + wait_s
    for name in modules:
        while name.startswith("dashboard.") and not runtime.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 — a page shows the real error when it imports the module itself
            logging.getLogger("musicgen.app").warning("preloading %s failed: %s", name, e)


def main(argv: list[str] | None = None) -> None:
    """Start the preloading thread, then `streamlit run app.py` with `argv` as its options."""
    from streamlit.web import cli

    threading.Thread(target=preload, name="preload", daemon=True).start()
    cli.main(["run", "app.py", *(sys.argv[1:] if argv is None else argv)], prog_name="streamlit")


if __name__ == "__main__":
    main()
