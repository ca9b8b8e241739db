"""The Generate page's Streamlit side: cached models, the primer from the form, one piece ready to show."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import streamlit as st

from musicgen.data import uploads
from musicgen.data.datasets import list_datasets, load_dataset
from musicgen.errors import ConfigError
from musicgen.music import piece as pieces
from musicgen.music import plots
from musicgen.music.generate import excerpt_spec
from musicgen.paths import check_user_file, dataset_dir, home_dir
from musicgen.training.checkpoint import load_model, resolve_checkpoint

PRIMER_KINDS = ("none", "a MIDI file", "a dataset excerpt")


@st.cache_resource(max_entries=8, show_spinner=False)
def _model(ref: str, mtime: float):
    return load_model(ref)


def load(ref: str):
    """Return (model, ckpt) for a checkpoint ref, cached until its file changes."""
    return _model(ref, resolve_checkpoint(ref).stat().st_mtime)


def primer_spec(kind: str, upload, excerpt: str) -> str | None:
    """Return the primer as `piece.make_piece` takes it (a saved .mid path or DATASET:FILE:OFFSET), None for 'none'."""
    if kind == "none":
        return None
    if kind == "a MIDI file":
        if upload is None:
            raise ConfigError("no primer MIDI uploaded; upload a .mid file or choose primer 'none'")
        return str(uploads.save_uploads([(upload.name, upload.getvalue())]) / Path(upload.name).name)
    text = excerpt.strip()
    if not text:
        raise ConfigError(
            "no dataset excerpt given; type DATASET:FILE:OFFSET (e.g. builtin:bach:<file>:0) or choose primer 'none'"
        )
    if text.lower().endswith((".mid", ".midi")):  # a MIDI file on the server: the app's path rule
        return str(check_user_file(text, (".mid", ".midi"), "primer MIDI file"))
    name = ":".join(text.split(":")[:2]) if text.startswith("builtin:") else text.split(":", 1)[0]
    if not name.startswith("builtin:") and not (dataset_dir(name, new=False) / "dataset.npz").is_file():
        names = [d["name"] for d in list_datasets()]
        raise ConfigError(f"no dataset {name!r} under MUSICGEN_HOME/data; start the excerpt with one of {names} or builtin:bach")
    return text


@st.cache_data(max_entries=16, show_spinner=False)
def _excerpt(path: str, dataset_id: str) -> str | None:
    return excerpt_spec(load_dataset(path))


def default_excerpt() -> str:
    """Return 'DATASET:FILE:0' for the first usable file of the first built dataset ('' when there is none)."""
    for d in list_datasets():
        spec = _excerpt(d["path"], d["id"])
        if spec:
            return spec
    return ""


def generate_one(ref: str, primer: str | None, primer_steps: int, data: str | None, options: dict) -> dict:
    """Generate one piece with a model, write its MIDI and WAV under home/generated/; return what the page shows."""
    o = dict(options)
    steps, tempo, seed = o.pop("steps"), o.pop("tempo_bpm"), o.pop("seed")
    piece = pieces.make_piece(
        load(ref), steps, primer=primer, primer_steps=primer_steps if primer else None, seed=seed, data=data, **o
    )
    slug = f"{Path(str(ref)).stem}-{piece.options['strategy']}-seed{seed}"
    folder = home_dir() / "generated" / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        piece = pieces.write_piece(piece, folder / f"{slug}.mid", folder / f"{slug}.wav", tempo_bpm=tempo)
    written = piece.files[0]
    note = "; ".join(str(w.message) for w in caught) if written["backend"] != "fluidsynth" else ""
    cfg = piece.data_config
    fig = plots.roll_figure(
        piece.rolls[0], low=cfg.low, title=f"{steps} steps, {piece.options['strategy']}", primer_steps=piece.primer_steps
    )
    return {
        "ref": ref,
        "slug": slug,
        "figure": fig,
        "wav": Path(written["wav"]).read_bytes(),
        "midi": Path(written["midi"]).read_bytes(),
        "metrics": pieces.metrics_rows(piece),
        "comparison": piece.comparison,
        "audio_note": note,
        "folder": str(folder),
    }
