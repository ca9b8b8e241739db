"""Tiny synthetic rolls, datasets and configs that unit and integration tests share (pyproject.toml puts tests/ on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from musicgen.config import DataConfig, ModelConfig, TrainConfig, to_dict

# The command-line flags of a tiny model (`python -m musicgen train … *TINY_ARGS`).
TINY_ARGS = ["--conv-channels", "8", "--hidden", "16", "--gru-layers", "1"]

# The sweep tests' model and training: one epoch of a few hundred parameters.
SWEEP_MODEL = ModelConfig(conv_channels=4, hidden=8, gru_layers=1, dropout=0.0)
SWEEP_TRAIN = TrainConfig(epochs=1, batch_size=8, threads=1)


def crafted_roll(steps: int = 200, n_notes: int = 84, seed: int = 0) -> np.ndarray:
    """Return a random sparse roll (steps, n_notes) uint8 with chords and held notes."""
    rng = np.random.default_rng(seed)
    return (rng.random((steps, n_notes)) < 0.04).astype(np.uint8)


def make_dataset(out: Path, n=(24, 8, 8), steps=16, low=60, high=72, seed=0) -> Path:
    """Write a learnable synthetic dataset folder: two voices rising by 2 semitones a step (mod 12)."""
    rng = np.random.default_rng(seed)
    notes = high - low
    arrays = {}
    for name, k in zip(("train", "valid", "test"), n, strict=True):
        x = np.zeros((k, steps, notes), np.uint8)
        lengths = rng.integers(steps // 2, steps + 1, size=k)
        for i in range(k):
            s = rng.integers(0, notes)
            for t in range(lengths[i]):
                x[i, t, (s + 2 * t) % notes] = x[i, t, (s + 2 * t + 4) % notes] = 1
        arrays |= {
            name: x,
            f"{name}_lengths": lengths.astype(np.int64),
            f"{name}_starts": np.zeros(k, np.int64),
            f"{name}_files": np.array([f"f{i}.mid" for i in range(k)]),
        }
    out.mkdir(parents=True)
    np.savez(out / "dataset.npz", **arrays)
    cfg = to_dict(DataConfig(seq_len=steps, low=low, high=high))
    (out / "report.json").write_text(json.dumps({"id": f"synthetic-{seed}-{low}", "config": cfg, "params": cfg}))
    return out


def sweep_plan(data, seeds=2, epochs=1, **kw):
    """Plan the adam/rmsprop × bce/focal grid on SWEEP_MODEL over dataset `data`."""
    from musicgen.study.plan import plan_sweep

    return plan_sweep(
        data, ["adam", "rmsprop"], ["bce", "focal"], seeds, SWEEP_MODEL, TrainConfig(epochs=epochs, batch_size=8, threads=1), **kw
    )
