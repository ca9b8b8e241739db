"""The Dataset page's Streamlit side: uploads to musicgen, a build with a progress bar, cached datasets and window statistics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from musicgen.data import uploads
from musicgen.data.benchmark_files import BENCHMARK_SUFFIXES
from musicgen.data.build import split_warnings
from musicgen.data.datasets import build_dataset, load_dataset
from musicgen.data.onsets import pedal_words
from musicgen.music import plots, quality
from musicgen.paths import ALLOWED_PATHS_ENV, REPO_ROOT, check_user_file

# The JSB Chorales benchmark file where the team keeps it (see its README). The page offers it, so this one
# file is allowed by name; any other file outside MUSICGEN_HOME needs its folder in MUSICGEN_ALLOWED_PATHS.
JSB_DEFAULT = (REPO_ROOT.parent / "shared" / "data" / "jsb" / "JSB_Chorales.mat").resolve()
BENCHMARK_HELP = (
    "JSB_Chorales.mat as distributed with the TCN repository; it keeps its own train/valid/test split. "
    f"A file under MUSICGEN_HOME, the team's JSB copy, or under a folder listed in {ALLOWED_PATHS_ENV}."
)
RESTRIKE_HELP = (
    "Notes struck on the step where the previous note of their key ends (or before it): a roll without onsets "
    "would join each to the note before it."
)
MERGED_HELP = "Notes struck on the same step as another note of their key: the grid is too coarse to keep both."
FORMAT_HELP = (
    "npz: overlapping windows in one file, loaded whole (small corpora). shards: each piece once, 2 bits a cell, "
    "memory-mapped; windows are cut when read, statistics kept with the index (corpora larger than memory)."
)
MAX_STAT_WINDOWS = 400  # windows measured for the histograms: a fair sample, fast on 2 cores


def save_uploads(files) -> Path:
    """Save Streamlit uploaded files with musicgen's upload store; return their folder."""
    return uploads.save_uploads((f.name, f.getvalue()) for f in files)


def benchmark_file(text: str) -> Path:
    """Return the benchmark file typed in the page, checked by the app's path rule (the team's JSB copy allowed by name)."""
    return check_user_file(text, BENCHMARK_SUFFIXES, "benchmark file", also=(JSB_DEFAULT,))


def build(sources: list[str], out: Path, cfg, bar, layout: str = "npz") -> dict:
    """Build the dataset folder `out` (from `paths.dataset_dir`) from `sources`, moving the progress `bar`; return the report."""

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{done} of {total} files")

    return build_dataset(sources, out, cfg, progress=progress, layout=layout)


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


def row_unit(ds, split: str) -> str:
    """Return what a row of `split` is: "pieces" when valid and test hold whole pieces, else "windows"."""
    return "pieces" if split != "train" and ds.scoring == "whole pieces" else "windows"


def form_line(ds) -> str:
    """Return one sentence on what the dataset's cells hold and how its valid and test rows are scored."""
    if ds.onsets:
        pedal = pedal_words(ds.report.get("config") or {})
        form = f"Onset-aware rolls ({pedal}): each cell is off, struck at this step, or held from the step before."
    else:
        form = "Hold-only rolls (this source has no onsets): each cell is sounding or not."
    if ds.scoring == "whole pieces":
        return form + " Valid and test hold whole pieces, so each of their steps is scored once, with its whole past."
    return form + " Valid and test are windows, as train."


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
    pieces = report.get("scoring") == "whole pieces" and report.get("form") == "onsets"
    unit = "train windows / valid / test pieces" if pieces else "train / valid / test windows"
    line = f"Dataset **{report['name']}** ready ({how}): {files}{counts} {unit}."
    if report.get("form") == "onsets":
        line += (
            f" {stats.get('restrikes', 0):,} re-struck notes kept apart, {stats.get('pedal_extended', 0):,} held by the pedal."
        )
    asked = tuple((report.get("config") or {}).get("split") or ())
    # Whole pieces differ in length: judge the split on its steps (a window's worth of steps per window).
    sizes = {s: n // max(1, (report.get("config") or {}).get("hop", 64)) for s, n in stats.get("steps_per_split", {}).items()}
    warnings = split_warnings(sizes if pieces else windows, asked) if windows and len(asked) == 3 else []
    return line, warnings, skipped
