"""The study's generation figures: samples of a run's best checkpoint, and of the per-note Markov chain, measured
against the dataset's real test windows (music metrics of `musicgen.music.quality`), cached in the cache folder.

The generations and the measure are `piece.make_piece`'s, the same as `generate --data` and the Generate page.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from musicgen.data.datasets import load_dataset
from musicgen.music.piece import make_piece, measure, reference_windows
from musicgen.paths import atomic_write, cache_dir
from musicgen.runs import store
from musicgen.training import checkpoint
from musicgen.training.metrics import markov_table

# Report column -> the music metric of `quality.METRICS` whose generated mean it holds ("overlap": the mean overlap area).
GEN_COLUMNS = {
    "gen_overlap": "overlap",
    "gen_polyphony": "mean_polyphony",
    "gen_note_length": "mean_note_length",
    "gen_repetition": "repetition",
}


def quality_figures(comparison: dict) -> dict:
    """Return {GEN_COLUMNS: generated value, "real": {GEN_COLUMNS but the overlap: the real windows' mean}} of a comparison."""
    metrics = comparison["metrics"]
    out = {"gen_overlap": float(np.nanmean([m["overlap"] for m in metrics.values()])), "real": {}}
    for column, name in GEN_COLUMNS.items():
        if name in metrics:
            out[column] = float(metrics[name]["generated_mean"])
            out["real"][column] = float(metrics[name]["real_mean"])
    return out


def _cached(key: str, compute) -> dict:
    """Return cache[key] of the report's generation cache, computing and storing it when missing."""
    cache_path = cache_dir() / "generation_quality.json"
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key not in cache:
        cache[key] = compute()
        with atomic_write(cache_path) as tmp:
            tmp.write_text(json.dumps(cache))
    return cache[key]


def generation_quality(run_id: str, samples: int = 4, steps: int = 64, seed: int = 0) -> dict:
    """Return quality_figures of `samples` generations of a run's best checkpoint against its dataset's test windows; cached.

    The generations and the measure are `piece.make_piece`'s, the same as `generate --data` and the Generate page.
    """
    ckpt_path = checkpoint.resolve_checkpoint(run_id)

    def compute() -> dict:
        run = store.get_run(run_id)
        data = run["config"].get("data_path") or run["config"]["data"]
        piece = make_piece(run_id, steps, samples=samples, seed=seed, data=data, strategy="sample", temperature=1.0)
        return quality_figures(piece.comparison)

    return _cached(f"run:{run_id}:{ckpt_path.stat().st_mtime_ns}:{samples}:{steps}:{seed}", compute)


def generation_overlap(run_id: str, samples: int = 4, steps: int = 64, seed: int = 0) -> float:
    """Return the mean overlapping area (0..1) of generation_quality: one number for a rank table."""
    return generation_quality(run_id, samples, steps, seed)["gen_overlap"]


def markov_generation(data: str, samples: int = 4, steps: int = 64, seed: int = 0) -> dict:
    """Return quality_figures of `samples` rolls sampled from the per-note Markov chain of `data`'s training split.

    The generation baseline: each note follows its own two-state chain (P(on | on before), P(on | off before)),
    started from the first step of a test window, as a model's samples start from their primer. Cached.
    """

    def compute() -> dict:
        ds = load_dataset(data)
        rolls, lengths = ds.split("train")
        # The sounding plane of an onset-aware dataset: the two-state chain knows no re-strikes.
        table = markov_table(torch.as_tensor(rolls > 0), torch.as_tensor(lengths)).numpy()  # (2, N): row = state before
        real = reference_windows(data, steps, ds.config.low, ds.config.n_notes)
        rng = np.random.default_rng(seed)
        out = np.zeros((samples, steps, ds.config.n_notes), dtype=np.uint8)
        notes = np.arange(ds.config.n_notes)
        for i in range(samples):
            out[i, 0] = real[i % len(real)][0] > 0
            for t in range(1, steps):
                out[i, t] = rng.random(ds.config.n_notes) < table[out[i, t - 1], notes]
        _, comparison = measure(out, 1, ds.config.low, [w[: steps - 1] for w in real])
        return quality_figures(comparison)

    return _cached(f"markov:{load_dataset(data).id}:{samples}:{steps}:{seed}", compute)
