"""A checkpoint's default sampling temperature, chosen on validation.

A fixed temperature tuned on one model does not carry over: at 0.8, a nade model of piano music repeated
the previous step 75% of the time (the music: 32%). So after training, each checkpoint gets the
temperature of GRID whose samples are closest to the validation music: primers of PRIMER_STEPS real steps
from consecutive validation segments, STEPS generated steps after each, and the real continuations
beside them. Closeness is the mean over STATS of |generated mean - real mean| / real std (the
segments' spread): 0 is the data's own average, 1 one standard deviation off on average.
"""

from __future__ import annotations

import math

import numpy as np

from musicgen.errors import DataError, MusicgenError
from musicgen.music.generate import generate
from musicgen.music.quality import music_metrics

GRID = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)
STATS = ("notes_per_step", "mean_polyphony", "mean_note_length", "mean_ioi", "repetition", "note_density")
PRIMER_STEPS, STEPS, SEGMENTS = 16, 128, 16


def segments(ds, length: int, count: int, split: str = "valid") -> list[np.ndarray]:
    """Return up to `count` consecutive segments of `length` real steps from the rows of `split`, spread evenly."""
    rows, lengths = ds.split(split)
    segs = [r[s : s + length] for r, n in zip(rows, lengths, strict=True) for s in range(0, int(n) - length + 1, length)]
    if len(segs) > count:
        segs = [segs[i] for i in np.linspace(0, len(segs) - 1, count).round().astype(int)]
    return segs


def stats_of(rolls, low: int) -> dict[str, tuple[float, float]]:
    """Return {stat: (mean, std)} of STATS over rolls (nan values left out)."""
    m = [music_metrics(r, low) for r in rolls]
    out = {}
    for k in STATS:
        v = np.array([x[k] for x in m], dtype=np.float64)
        v = v[np.isfinite(v)]
        out[k] = (float(v.mean()), float(v.std())) if v.size else (math.nan, math.nan)
    return out


def distance(generated: dict, real: dict) -> float:
    """Return the mean over STATS of |generated mean - real mean| / real std (std floored at 5% of the mean)."""
    terms = []
    for k in STATS:
        (g, _), (r, sd) = generated[k], real[k]
        if math.isfinite(r):
            scale = max(sd, 0.05 * abs(r), 1e-6)
            terms.append(abs(g - r) / scale if math.isfinite(g) else 10.0)  # a statistic the samples never show: far
    return float(np.mean(terms)) if terms else math.inf


def choose_temperature(model, ds, grid=GRID, primer_steps=PRIMER_STEPS, steps=STEPS, count=SEGMENTS, seed=0) -> dict:
    """Return {"temperature", "grid": [{temperature, distance, stats}], "real": stats, "segments"} for a model on `ds`.

    Raises DataError when the validation split has no segment of primer_steps + steps real steps.
    """
    segs = segments(ds, primer_steps + steps, count)
    if not segs:
        raise DataError(f"dataset {ds.name} has no validation piece of {primer_steps + steps} steps to choose a temperature on")
    low = ds.config.low
    primers = np.stack([s[:primer_steps] for s in segs])  # (S, P, N)
    real = stats_of([s[primer_steps:] for s in segs], low)
    rows = []
    for t in grid:
        rolls = generate(model, primer_steps + steps, "sample", temperature=t, primer=primers, samples=len(segs), seed=seed)
        g = stats_of(list(rolls[:, primer_steps:]), low)
        rows.append({"temperature": t, "distance": distance(g, real), "stats": {k: v[0] for k, v in g.items()}})
    best = min(rows, key=lambda r: r["distance"])
    return {
        "temperature": best["temperature"],
        "grid": rows,
        "real": {k: {"mean": v[0], "std": v[1]} for k, v in real.items()},
        "segments": len(segs),
        "steps": steps,
        "primer_steps": primer_steps,
        "split": "valid",
    }


def store_temperature(checkpoint: str) -> dict:
    """Choose a finished run's sampling temperature on its validation split and store it in the run's best.pt.

    `checkpoint` is a path in the run's folder. Returns {temperature, segments, grid}, or {error} when none could be
    chosen (the model stays usable: generation falls back to the default temperature).
    """
    from pathlib import Path

    from musicgen.data.datasets import load_dataset
    from musicgen.runs import store
    from musicgen.training.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint

    best = Path(checkpoint).parent / "best.pt"
    try:
        ckpt = load_checkpoint(best)
        config = store.get_run(ckpt["run_id"])["config"]
        ds = load_dataset(config.get("data_path") or config["data"])
        chosen = choose_temperature(model_from_checkpoint(ckpt), ds)
        save_checkpoint(best, ckpt | {"sampling": chosen})
    except MusicgenError as e:
        return {"error": str(e)}
    return {k: chosen[k] for k in ("temperature", "segments", "grid")}
