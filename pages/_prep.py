"""The Dataset page's calls into musicgen: saving uploads, building, and the statistics figures."""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from musicgen.paths import REPO_ROOT
from musicgen.paths import atomic_write, home_dir
from musicgen.data.datasets import build_dataset
from musicgen.paths import data_dir
from musicgen.data.datasets import load_dataset
from musicgen.music.quality import music_metrics
from musicgen.music import plots

# The JSB Chorales benchmark file where the team keeps it (see its README); any .mat/.pickle path works.
JSB_DEFAULT = (REPO_ROOT.parent / "shared" / "data" / "jsb" / "JSB_Chorales.mat").resolve()
MAX_STAT_WINDOWS = 400  # windows measured for the histograms: a fair sample, fast on 2 cores


def save_uploads(files) -> Path:
    """Write uploaded files under home/uploads/<hash of their contents>/ and return that folder."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + f.getvalue())
    folder = home_dir() / "uploads" / h.hexdigest()[:16]
    for f in files:
        target = folder / Path(f.name).name  # the browser's name, never a path
        if not target.is_file():
            with atomic_write(target) as tmp:
                tmp.write_bytes(f.getvalue())
    return folder


def build(sources: list[str], name: str, cfg, bar) -> dict:
    """Build dataset `name` under data_dir() from `sources`, moving the Streamlit progress `bar`; return the report."""
    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{done} of {total} files")

    return build_dataset(sources, data_dir() / name, cfg, progress=progress)


def pitch_figure(stats: dict, low: int):
    """Return a bar chart of how often each pitch sounds (active steps per MIDI pitch)."""
    import plotly.graph_objects as go

    counts = stats.get("pitch_histogram") or []
    fig = go.Figure(go.Bar(x=list(range(low, low + len(counts))), y=counts))
    fig.update_layout(title="pitch histogram (active steps per pitch)", xaxis_title="MIDI pitch", yaxis_title="steps",
                      template="plotly_white")
    return fig


@st.cache_resource(max_entries=4, show_spinner=False)
def _dataset(path: str, dataset_id: str):
    return load_dataset(path)


def load(entry: dict):
    """Return the Dataset of a `list_datasets()` entry, cached until its content id changes."""
    return _dataset(entry["path"], entry["id"])


@st.cache_data(max_entries=8, show_spinner=False)
def _window_metrics(path: str, dataset_id: str, split: str) -> list[dict]:
    ds = _dataset(path, dataset_id)
    rolls, lengths = ds.split(split)
    return [music_metrics(r[: int(n)], ds.config.low) for r, n in zip(rolls[:MAX_STAT_WINDOWS], lengths[:MAX_STAT_WINDOWS])]


def window_figures(ds, split: str = "train") -> tuple:
    """Return (polyphony histogram, density histogram) over up to MAX_STAT_WINDOWS windows of a split."""
    metrics = _window_metrics(str(ds.path), ds.id, split)
    poly = plots.histogram_figure({split: [m["mean_polyphony"] for m in metrics]}, "mean polyphony per window",
                                  "notes per sounding step")
    dens = plots.histogram_figure({split: [m["note_density"] for m in metrics]}, "note density per window", "share of active cells")
    return poly, dens


def window_figure(ds, split: str, index: int):
    """Return the piano-roll heatmap of one window (its real steps only)."""
    rolls, lengths = ds.split(split)
    return plots.roll_figure(rolls[index][: int(lengths[index])], low=ds.config.low, title=f"{split} window {index}")
