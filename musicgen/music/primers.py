"""Primers: the opening steps a generation continues, from a MIDI file or a dataset's source file.

A primer is a roll (steps, N) on the model's pitch range and time grid; `load_primer` takes a .mid path or
'DATASET:FILE:OFFSET' (as `generate --primer` and the Generate page do).
"""

from __future__ import annotations

import numpy as np

from musicgen.config import DataConfig
from musicgen.data.datasets import dataset_excerpt, dataset_exists, load_dataset
from musicgen.data.midi import roll_from_midi
from musicgen.errors import ConfigError, MidiError
from musicgen.music.strategies import MAX_STEPS


def primer_from_midi(path, cfg: DataConfig, steps: int | None = None) -> np.ndarray:
    """Return the first `steps` steps (all when None) of a MIDI file as a roll on the model's pitch range and grid.

    Only those steps are built, and never more than a piece may have (MAX_STEPS): a primer file
    with one note held for days costs its beginning, not the whole note.
    """
    no_notes = f"primer {path} has no notes between MIDI {cfg.low} and {cfg.high - 1}, the model's range"
    if steps is not None and not 0 < steps <= MAX_STEPS:
        raise ConfigError(f"primer steps must be between 1 and {MAX_STEPS}, got {steps}; e.g. --primer-steps 32")
    try:
        roll, _ = roll_from_midi(path, cfg, first_steps=MAX_STEPS + 1 if steps is None else steps)
    except MidiError as e:
        # The reader's advice (widen the range) does not apply: the checkpoint fixes the range.
        if "outside" in str(e):
            raise MidiError(f"{no_notes}; give a MIDI file with notes in that range") from None
        raise
    if roll.shape[0] > MAX_STEPS:
        raise ConfigError(
            f"primer {path} is longer than a piece may be ({MAX_STEPS:,} steps); "
            "give --primer-steps (e.g. 32) to use its beginning"
        )
    if not roll.any():
        raise MidiError(f"{no_notes} in its first {roll.shape[0]} steps; give more --primer-steps or another MIDI file")
    return roll


def primer_from_dataset(spec: str, steps: int = 32) -> np.ndarray:
    """Return `steps` steps of a dataset's source file from 'DATASET:FILE:OFFSET' (DATASET may hold ':', as builtin:bach)."""
    head, _, offset_text = spec.rpartition(":")
    if ":" not in head or not offset_text.strip().lstrip("-").isdigit():
        raise ConfigError(f"primer {spec!r} is not DATASET:FILE:OFFSET (e.g. builtin:bach:bwv1.6.mid:0) nor a .mid file")
    name, file = _split_dataset_file(head)
    offset = int(offset_text)
    if offset < 0:
        raise ConfigError(f"primer offset must be >= 0 steps, got {offset}; e.g. {name}:{file}:0")
    if not 0 < steps <= MAX_STEPS:
        raise ConfigError(f"primer steps must be between 1 and {MAX_STEPS}, got {steps}; e.g. --primer-steps 32")
    return np.asarray(dataset_excerpt(load_dataset(name), file, offset, steps))


def _split_dataset_file(head: str) -> tuple[str, str]:
    """Split 'DATASET:FILE' where either may hold ':' (builtin:bach, JSB_Chorales.mat:train/000).

    The dataset is the shortest prefix that exists.
    """
    cuts = [i for i, c in enumerate(head) if c == ":"]
    for i in cuts:
        if dataset_exists(head[:i]):
            return head[:i], head[i + 1 :]
    return head[: cuts[0]], head[cuts[0] + 1 :]  # load_dataset then names the missing dataset


def load_primer(spec: str | None, cfg: DataConfig, steps: int | None = None) -> np.ndarray | None:
    """Return the primer roll for a .mid path or 'DATASET:FILE:OFFSET', or None for no primer."""
    if not spec:
        return None
    if spec.lower().endswith((".mid", ".midi")):
        return primer_from_midi(spec, cfg, steps)
    return primer_from_dataset(spec, steps or 32)


def excerpt_spec(ds, offset: int = 0) -> str | None:
    """Return the primer spec 'DATASET:FILE:OFFSET' of a dataset's first usable source file, or None when it has none."""
    files = [f["file"] for f in ds.report.get("files", []) if f.get("status") == "ok"]
    return f"{ds.name}:{files[0]}:{offset}" if files else None
