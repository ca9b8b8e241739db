"""The Generate page's Streamlit side: cached models, the primer from the form, one piece ready to show."""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import numpy as np
import streamlit as st

from musicgen.data import uploads
from musicgen.data.datasets import has_dataset, list_datasets, load_dataset
from musicgen.errors import ConfigError, RunNotFoundError
from musicgen.music import audio as sound
from musicgen.music import piece as pieces
from musicgen.music import plots
from musicgen.music.generate import step_seconds
from musicgen.music.primers import excerpt_spec
from musicgen.paths import check_user_file, dataset_dir, home_dir
from musicgen.runs import store
from musicgen.training import checkpoint
from musicgen.training.checkpoint import load_model, resolve_checkpoint

PRIMER_KINDS = ("none", "a MIDI file", "a dataset excerpt")
OWN = "(each model's own)"  # the reference choice: every model against the dataset it was trained on
FALLBACK = "bach"  # the reference of a model whose training dataset is unknown (when built)
LABEL_CHARS = 24  # a card's title; the rest goes to its hover help, so titles never wrap the cards out of line
LISTEN_FORMAT = "ogg"  # what the page sends to the browser: a 2,048-step WAV is 27 MB, its OGG 2 MB (BENCHMARKS.md)


def short_label(label: str, limit: int = LABEL_CHARS) -> str:
    """Return `label` cut to `limit` characters (an ellipsis marks a cut)."""
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def reference_for(ckpt: dict, choice: str | None, built: list[dict]) -> tuple[str | None, str]:
    """Return (the dataset to measure a model against, a line saying which and why) for the page's reference `choice`.

    `choice` OWN: the model's own training dataset, else FALLBACK when it is built (and the line says so);
    None: not measured; a dataset name: that one for every model.
    """
    if choice is None:
        return None, "not measured against a dataset"
    if choice != OWN:
        return choice, f"measured against {choice} (chosen)"
    names = {d["name"] for d in built}
    own = pieces.training_dataset(ckpt, built)
    if own:
        return own, f"measured against {own}, its training dataset"
    if FALLBACK in names:
        return FALLBACK, f"training dataset unknown or not built here; measured against {FALLBACK}"
    return None, f"training dataset unknown or not built here; not measured (build {FALLBACK} on the Dataset page)"


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
    if not name.startswith("builtin:") and not has_dataset(dataset_dir(name, new=False)):
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


def file_stem(ref: str) -> str:
    """Return a file-name-safe stem for a checkpoint ref: its run's name when it is a run, else its own name."""
    try:
        name = store.get_run(str(ref))["name"] or str(ref)
    except RunNotFoundError:
        name = Path(str(ref)).stem if str(ref).endswith(".pt") else Path(str(ref)).name
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "piece"


def durations(refs: list[str], steps: int, tempo_bpm: float) -> str:
    """Return how long `steps` steps last on each model's time grid: '12.8 s', or '12.8 s (a) / 6.4 s (b)' when they differ."""
    seconds = {ref: steps * step_seconds(checkpoint.data_config_of(load(ref)[1]), tempo_bpm) for ref in refs}
    if len({round(s, 2) for s in seconds.values()}) <= 1:
        return f"{next(iter(seconds.values())):.1f} s"
    return " / ".join(f"{s:.1f} s ({short_label(file_stem(ref))})" for ref, s in seconds.items())


def note_by_note(refs: list[str]) -> bool:
    """Return whether one of the models decides a step's notes one by one (a nade head: no min notes, no topk)."""
    return any(not load(ref)[0].independent_notes for ref in refs)


def generate_one(ref: str, primer: str | None, primer_steps: int, data: str | None, options: dict) -> dict:
    """Generate one piece with a model, write its MIDI, WAV and OGG under home/generated/; return what the page shows.

    `data` is a dataset name, None (not measured) or OWN (the model's training dataset: `reference_for`).
    """
    o = dict(options)
    steps, tempo, seed = o.pop("steps"), o.pop("tempo_bpm"), o.pop("seed")
    model = load(ref)
    data, reference_note = reference_for(model[1], data, list_datasets())
    piece = pieces.make_piece(
        model, steps, primer=primer, primer_steps=primer_steps if primer else None, seed=seed, data=data, **o
    )
    slug = f"{file_stem(ref)}-{piece.options['strategy']}-seed{seed}"
    folder = home_dir() / "generated" / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        piece = pieces.write_piece(piece, folder / f"{slug}.mid", folder / f"{slug}.wav", tempo_bpm=tempo)
    written = piece.files[0]
    note = "; ".join(str(w.message) for w in caught) if written["backend"] != "fluidsynth" else ""
    wav = Path(written["wav"]).read_bytes()
    samples, rate = sound.read_wav(written["wav"])
    listen = sound.write_audio(samples, folder / f"{slug}.{LISTEN_FORMAT}", rate).read_bytes()
    cfg = piece.data_config
    return {
        "ref": ref,
        "slug": slug,
        "roll": piece.rolls[0],
        "low": cfg.low,
        "steps_per_beat": cfg.steps_per_beat,  # None on a fixed grid in Hz (DataConfig.fs)
        "seconds_per_step": step_seconds(cfg, tempo),
        "primer_steps": piece.primer_steps,
        "title": f"{steps} steps, {piece.options['strategy']}",
        "wav": wav,
        "audio": listen,
        "audio_mime": sound.MIME[LISTEN_FORMAT],
        "midi": Path(written["midi"]).read_bytes(),
        "reference": data,
        "reference_note": reference_note,
        "metrics": [{**row, "metric": row["metric"].replace("_", " ")} for row in pieces.metrics_rows(piece)],  # words
        "comparison": piece.comparison,
        "audio_note": note,
        "folder": str(folder),
    }


def shared_pitch_range(results: list[dict], margin: int = 2) -> tuple[int, int]:
    """Return (lowest, highest) MIDI pitch sounding in any result's roll, widened by `margin`: one y axis for every card."""
    pitches = [int(r["low"] + j) for r in results for j in np.flatnonzero(np.asarray(r["roll"]).any(axis=0))]
    if not pitches:
        return (60 - 12, 60 + 12)
    return (max(0, min(pitches) - margin), min(127, max(pitches) + margin))


def roll_figure(res: dict, pitch_range: tuple[int, int]):
    """Return the card's plotly roll: time in beats (a beat's seconds in the axis title), the shared pitch axis."""
    return plots.roll_figure(
        res["roll"],
        low=res["low"],
        steps_per_beat=res["steps_per_beat"],
        primer_steps=res["primer_steps"],
        pitch_range=pitch_range,
        seconds_per_step=res["seconds_per_step"],
        height=300,
    )
