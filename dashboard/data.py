"""The Dataset page's Streamlit side: uploads to musicgen, a build with a progress bar, cached datasets and window statistics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from musicgen.data import uploads
from musicgen.data.benchmark_files import BENCHMARK_SUFFIXES
from musicgen.data.build import split_warnings
from musicgen.data.datasets import build_dataset, load_dataset
from musicgen.music import plots, quality
from musicgen.paths import ALLOWED_PATHS_ENV, REPO_ROOT, check_user_file

# The JSB Chorales benchmark file where the team keeps it (see its README). The page offers it, so this one
# file is allowed by name; any other file outside MUSICGEN_HOME needs its folder in MUSICGEN_ALLOWED_PATHS.
JSB_DEFAULT = (REPO_ROOT.parent / "shared" / "data" / "jsb" / "JSB_Chorales.mat").resolve()
BENCHMARK_HELP = (
    "JSB_Chorales.mat as distributed with the TCN repository; it keeps its own train/valid/test split. "
    f"A file under MUSICGEN_HOME, the team's JSB copy, or under a folder listed in {ALLOWED_PATHS_ENV}."
)
MAX_STAT_WINDOWS = 400  # windows measured for the histograms: a fair sample, fast on 2 cores


def save_uploads(files) -> Path:
    """Save Streamlit uploaded files with musicgen's upload store; return their folder."""
    return uploads.save_uploads((f.name, f.getvalue()) for f in files)


def benchmark_file(text: str) -> Path:
    """Return the benchmark file typed in the page, checked by the app's path rule (the team's JSB copy allowed by name)."""
    return check_user_file(text, BENCHMARK_SUFFIXES, "benchmark file", also=(JSB_DEFAULT,))


def build(sources: list[str], out: Path, cfg, bar) -> dict:
    """Build the dataset folder `out` (from `paths.dataset_dir`) from `sources`, moving the progress `bar`; return the report."""

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{done} of {total} files")

    return build_dataset(sources, out, cfg, progress=progress)


@st.cache_resource(max_entries=4, show_spinner=False)
def _dataset(path: str, dataset_id: str):
    return load_dataset(path)


def load(entry: dict):
    """Return the Dataset of a `list_datasets()` entry, cached until its content id changes."""
    return _dataset(entry["path"], entry["id"])


@st.cache_data(max_entries=8, show_spinner=False)
def _window_metrics(path: str, dataset_id: str, split: str) -> list[dict]:
    ds = _dataset(path, dataset_id)
    return quality.window_metrics(*ds.split(split), low=ds.config.low, limit=MAX_STAT_WINDOWS)


def window_figures(ds, split: str = "train") -> tuple:
    """Return (polyphony histogram, density histogram) over up to MAX_STAT_WINDOWS windows of a split."""
    return plots.window_histograms(_window_metrics(str(ds.path), ds.id, split), split)


def files_table(files: list[dict], readable=str) -> pd.DataFrame:
    """Return the per-file report of a dataset (report.json 'files') in words: kept or skipped, why, split, sizes."""
    rows = [
        {
            "file": f.get("file"),
            "status": "kept" if f.get("status") == "ok" else "skipped",
            "why skipped": readable(f.get("reason") or ""),
            "split": f.get("split") or "–",
            "notes": int(f.get("notes") or 0),
            "steps": int(f.get("steps") or 0),
            "notes outside the pitch range": int(f.get("dropped_notes") or 0),
        }
        for f in files
    ]
    return pd.DataFrame(
        rows, columns=["file", "status", "why skipped", "split", "notes", "steps", "notes outside the pitch range"]
    )


def ready_message(report: dict) -> tuple[str, list[str], list[dict]]:
    """Return (the 'ready' line, warnings about the split, the skipped files' rows) for a build's report."""
    stats = report.get("stats", {})
    windows = stats.get("windows") or {}
    skipped = [r for r in report.get("files", []) if r.get("status") != "ok"]
    how = "reused, same inputs" if report.get("cached") else "built"
    kept = stats.get("files_ok")
    files = f"{kept} file{'s' * (kept != 1)} kept, {len(skipped)} skipped; " if kept is not None else ""
    counts = " / ".join(str(windows.get(s, 0)) for s in ("train", "valid", "test"))
    line = f"Dataset **{report['name']}** ready ({how}): {files}{counts} train / valid / test windows."
    asked = tuple((report.get("config") or {}).get("split") or ())
    warnings = split_warnings(windows, asked) if windows and len(asked) == 3 else []
    return line, warnings, skipped
