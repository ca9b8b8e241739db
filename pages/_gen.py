"""The Generate page's calls into musicgen: models, primers, one generation with its files, figure and metrics."""

from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path

import pandas as pd
import streamlit as st

from musicgen.errors import CheckpointError
from musicgen.training import checkpoint
from musicgen.runs import store
from musicgen.training.checkpoint import load_model
from musicgen.training.checkpoint import resolve_checkpoint
from musicgen.paths import atomic_write, home_dir
from musicgen.training.checkpoint import data_config_of
from musicgen.errors import ConfigError
from musicgen.music.generate import primer_from_dataset, primer_from_midi
from musicgen.data.datasets import list_datasets
from musicgen.data.datasets import load_dataset
from musicgen.music import quality
from musicgen.music import audio, plots
from musicgen.music.generate import default_threshold, generate
from musicgen.data.midi import write_midi

MAX_REAL = 64  # reference sequences for the music-metric comparison: enough for a distribution, fast


def checkpoint_choices() -> dict[str, str]:
    """Return {checkpoint ref: label}: the shipped ones, then every run that has a checkpoint."""
    out = {}
    for name in checkpoint.SHIPPED:
        try:
            checkpoint.resolve_checkpoint(name)
            out[name] = f"{name} (shipped)"
        except CheckpointError:
            pass
    runs = store.list_runs()
    for r in runs.to_dict("records"):
        try:
            checkpoint.resolve_checkpoint(r["id"])
        except CheckpointError:
            continue
        out[r["id"]] = f"{r['name']} ({r['id']}, {r['status']})"
    return out


@st.cache_resource(max_entries=8, show_spinner=False)
def _model(ref: str, mtime: float):
    return load_model(ref)


def load(ref: str):
    """Return (model, ckpt) for a checkpoint ref, cached until its file changes."""
    return _model(ref, resolve_checkpoint(ref).stat().st_mtime)


def _save_upload(upload) -> Path:
    data = upload.getvalue()
    path = home_dir() / "uploads" / "primers" / f"{hashlib.sha256(data).hexdigest()[:16]}-{Path(upload.name).name}"
    if not path.is_file():
        with atomic_write(path) as tmp:
            tmp.write_bytes(data)
    return path


def primer_of(ref: str, kind: str, upload, excerpt: str, steps: int):
    """Return the primer roll for one model (on its pitch range and grid), or None for 'none'."""
    if kind == "none":
        return None
    if kind == "a MIDI file":
        if upload is None:
            raise ConfigError("no primer MIDI uploaded; upload a .mid file or choose primer 'none'")
        return primer_from_midi(_save_upload(upload), data_config_of(load(ref)[1]), steps)
    return primer_from_dataset(excerpt.strip(), steps)


def built_datasets() -> list[str]:
    """Return the names of the datasets already built (never triggers a build)."""
    return [d["name"] for d in list_datasets()]


@st.cache_data(max_entries=16, show_spinner=False)
def _first_file(path: str, dataset_id: str) -> str | None:
    files = [f["file"] for f in load_dataset(path).report.get("files", []) if f.get("status") == "ok"]
    return files[0] if files else None


def default_excerpt() -> str:
    """Return 'DATASET:FILE:0' for the first usable file of the first built dataset ('' when there is none)."""
    for d in list_datasets():
        first = _first_file(d["path"], d["id"])
        if first:
            return f"{d['name']}:{first}:0"
    return ""


def reference_rolls(dataset_ref: str) -> list:
    """Return up to MAX_REAL test sequences of a dataset, each cut to its real length."""
    rolls, lengths = load_dataset(dataset_ref).split("test")
    return [r[: int(n)] for r, n in zip(rolls[:MAX_REAL], lengths[:MAX_REAL])]


def metrics_table(roll, real, low: int) -> pd.DataFrame:
    """Return the music metrics of a roll, against the reference rolls when there are some."""
    if not real:
        return pd.DataFrame([{"metric": k, "generated": v} for k, v in quality.music_metrics(roll, low).items()])
    cmp = quality.compare([roll], real, low)["metrics"]
    return pd.DataFrame([{"metric": k, "generated": m["generated_mean"], "dataset": m["real_mean"], "dataset std": m["real_std"],
                          "reading": m["reading"]} for k, m in cmp.items()])


def generate_one(ref: str, primer, real, options: dict) -> dict:
    """Generate one roll with a model; write its MIDI and WAV under home; return what the page shows."""
    o = dict(options)
    model, ckpt = load(ref)
    dcfg = data_config_of(ckpt)
    steps, tempo = o.pop("steps"), o.pop("tempo_bpm")
    o["threshold"] = o["threshold"] or default_threshold(ckpt)
    roll = generate(model, steps, primer=primer, samples=1, **o)[0]  # (steps, N)
    slug = f"{Path(str(ref)).stem}-{o['strategy']}-seed{o['seed']}"
    folder = home_dir() / "generated" / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    grid = {"low": dcfg.low, "steps_per_beat": dcfg.steps_per_beat, "fs": dcfg.fs, "tempo_bpm": tempo}
    midi_path = write_midi(roll, folder / f"{slug}.mid", **grid)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = audio.render_wav(roll, folder / f"{slug}.wav", **grid)
    note = "; ".join(str(w.message) for w in caught) if info.get("backend") != "fluidsynth" else ""
    fig = plots.roll_figure(roll, low=dcfg.low, title=f"{steps} steps, {o['strategy']}")
    if primer is not None and len(primer):
        fig.add_vrect(x0=-0.5, x1=len(primer) - 0.5, fillcolor="orange", opacity=0.2, line_width=0,
                      annotation_text="primer", annotation_position="top left")
    return {"ref": ref, "slug": slug, "figure": fig, "wav": Path(info["path"]).read_bytes(), "midi": Path(midi_path).read_bytes(),
            "metrics": metrics_table(roll, real, dcfg.low), "audio_note": note, "folder": str(folder)}
