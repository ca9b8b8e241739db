"""Serve the app: `python -m dashboard.serve [streamlit run options]` runs `streamlit run app.py` in this process.

Before the server starts, it imports what the pages import (pandas, plotly, musicgen, torch last). Streamlit runs
every page script in this same process, so a deep link opened on a freshly started server finds them loaded
instead of importing them for seconds under a skeleton (BENCHMARKS.md, Dashboard cold start); the server answers
that much later after its start. Not in a thread beside the server: importing plotly there while Streamlit's
start-up imports it too crashed the server (a module used half-initialised).
"""

from __future__ import annotations

import importlib
import logging
import runpy
import sys

# What the pages import, lightest first (Home, Dataset, Train and Compare show without torch; Generate and Listen
# need it). Only musicgen and libraries: the dashboard's own modules are light once these are loaded, and they
# declare Streamlit caches, which belong to the server's runtime.
PRELOAD = (
    "pandas",
    "plotly.graph_objects",
    "musicgen.runs.store",
    "musicgen.runs.jobs",
    "musicgen.data.datasets",
    "musicgen.study.findings",
    "musicgen.music.piece",
    "musicgen.music.listening",
    "musicgen.study.document",
)


def preload(modules=PRELOAD) -> None:
    """Import `modules` one by one; one that fails is logged and left to the page that needs it (which says why)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 — a page shows the real error when it imports the module itself
            logging.getLogger("musicgen.app").warning("preloading %s failed: %s", name, e)


def main(argv: list[str] | None = None) -> None:
    """Preload the pages' modules, then run `streamlit run app.py` with `argv` as its options, in this process."""
    preload()
    sys.argv = ["streamlit", "run", "app.py", *(sys.argv[1:] if argv is None else argv)]
    runpy.run_module("streamlit", run_name="__main__")  # `python -m streamlit`, without a second process


if __name__ == "__main__":
    main()
