"""The Dataset page's Streamlit side: uploads to musicgen, a build with a progress bar, cached datasets and window statistics."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from musicgen.data import uploads
from musicgen.data.datasets import build_dataset, load_dataset
from musicgen.music import plots, quality
from musicgen.paths import REPO_ROOT, data_dir

# The JSB Chorales benchmark file where the team keeps it (see its README); any .mat/.pickle path works.
JSB_DEFAULT = (REPO_ROOT.parent / "shared" / "data" / "jsb" / "JSB_Chorales.mat").resolve()
MAX_STAT_WINDOWS = 400  # windows measured for the histograms: a fair sample, fast on 2 cores


def save_uploads(files) -> Path:
    """Save Streamlit uploaded files with musicgen's upload store; return their folder."""
    return uploads.save_uploads((f.name, f.getvalue()) for f in files)


def build(sources: list[str], name: str, cfg, bar) -> dict:
    """Build dataset `name` under data_dir() from `sources`, moving the Streamlit progress `bar`; return the report."""

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{done} of {total} files")

    return build_dataset(sources, data_dir() / name, cfg, progress=progress)


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
