"""Music metrics of piano-rolls, and how close a set of generations is to real music.

A roll is `(steps, notes)` with column j = MIDI pitch `low + j`, onset-aware (0 off, 1 held, 2 struck)
or hold-only (0/1). A *note* is what `midi.notes_from_roll` writes: it starts where its column is
struck or starts sounding and lasts until the column falls silent or is struck again (in a hold-only
roll, a run of consecutive active steps). `compare` follows
Yang & Lerch (2018), "On the evaluation of generative models in music": for every metric, the
distribution over generated rolls against the distribution over real ones, as the overlapping
area and the KL divergence of the two histograms.
"""

from __future__ import annotations

import math

import numpy as np

from musicgen.data.midi import onset_roll
from musicgen.errors import ConfigError

# Major and natural-minor scale degrees in semitones above the tonic.
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_SCALES = np.array(
    [[(pc - tonic) % 12 in degrees for pc in range(12)] for degrees in (_MAJOR, _MINOR) for tonic in range(12)]
)  # (24, 12) bool: scale x pitch class

# Name -> what it measures (units), in the order reports show them.
METRICS = {
    "note_density": "share of active cells (steps x notes)",
    "mean_polyphony": "mean number of notes sounding per non-empty step",
    "empty_step_share": "share of steps with no note",
    "pitch_range": "highest minus lowest pitch used, in semitones",
    "pitch_classes_used": "number of distinct pitch classes (0-12)",
    "pitch_class_entropy": "entropy of the pitch-class histogram of notes, in bits (max log2 12 = 3.58)",
    "scale_consistency": "share of notes in the best-fitting major or minor scale",
    "mean_note_length": "mean note length in steps",
    "notes_per_step": "notes struck per step",
    "mean_ioi": "mean inter-onset interval: steps from one step that strikes a note to the next",
    "repetition": "share of steps that strike nothing and sound the notes of the step before",
}
# Bins (in steps, lower edges; the last is open) of the note-length and inter-onset-interval distributions.
DURATION_BINS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)


def _as_roll(roll) -> np.ndarray:
    roll = np.asarray(roll)
    if roll.ndim != 2:
        raise ConfigError(f"a roll must be 2-D (steps, notes), got shape {roll.shape}; pass one sample, not a batch")
    return roll > 0


def note_onsets(roll) -> tuple[np.ndarray, np.ndarray]:
    """Return (columns, lengths in steps) of every note (int64 (n,) each), re-struck notes apart."""
    _as_roll(roll)
    r = onset_roll(roll)
    sound = np.pad(r > 0, ((1, 1), (0, 0)))  # (steps + 2, notes)
    strike = np.pad(r == 2, ((1, 1), (0, 0)))
    ends = sound[:-1] & (~sound[1:] | strike[1:])  # (steps + 1, notes): a note of column j ends before step t
    # nonzero on the transpose walks column by column, so starts and ends pair up in order.
    start_j, start_t = np.nonzero(strike.T)
    _, end_t = np.nonzero(ends.T[:, 1:])
    return start_j, end_t + 1 - (start_t - 1)


def onset_intervals(roll) -> np.ndarray:
    """Return the steps between consecutive steps that strike at least one note (int64 (k,))."""
    struck = np.flatnonzero((onset_roll(roll) == 2).any(axis=1))
    return np.diff(struck)


def duration_histogram(values, bins=DURATION_BINS) -> list[float]:
    """Return the share of `values` (steps) in each of `bins` (lower edges; the last open), [] of nothing."""
    v = np.asarray(values, dtype=np.int64)
    if not v.size:
        return [0.0] * len(bins)
    idx = np.searchsorted(np.asarray(bins), v, side="right") - 1
    return (np.bincount(idx[idx >= 0], minlength=len(bins)) / v.size).tolist()


def duration_distributions(samples: list, real: list) -> dict:
    """Return the note-length and inter-onset-interval distributions (shares per DURATION_BINS) of generated and real rolls."""

    def pooled(rolls, fn):
        parts = [fn(r) for r in rolls]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    out = {"bins": list(DURATION_BINS)}
    for name, fn in (("note_length", lambda r: note_onsets(r)[1]), ("ioi", onset_intervals)):
        out[name] = {"generated": duration_histogram(pooled(samples, fn)), "real": duration_histogram(pooled(real, fn))}
    return out


def pitch_class_histogram(roll, low: int = 24) -> np.ndarray:
    """Return the number of notes per pitch class, float64 (12,), index 0 = C."""
    cols, _ = note_onsets(roll)
    return np.bincount((cols + low) % 12, minlength=12).astype(np.float64)


def music_metrics(roll, low: int = 24) -> dict:
    """Return the METRICS of one roll (steps, notes) as floats; ratios of nothing are nan."""
    r = _as_roll(roll)
    struck = onset_roll(roll) == 2
    steps = r.shape[0]
    per_step = r.sum(axis=1)
    sounding = per_step > 0
    cols, lengths = note_onsets(roll)
    used = np.nonzero(r.any(axis=0))[0]
    pch = pitch_class_histogram(roll, low)  # notes per pitch class
    n_notes = pch.sum()
    if n_notes:
        p = pch[pch > 0] / n_notes
        entropy = float(-(p * np.log2(p)).sum())
        scale = float((_SCALES @ pch).max() / n_notes)
    else:
        entropy, scale = math.nan, math.nan
    return {
        "note_density": float(r.mean()) if r.size else math.nan,
        "mean_polyphony": float(per_step[sounding].mean()) if sounding.any() else 0.0,
        "empty_step_share": float(1 - sounding.mean()) if steps else math.nan,
        "pitch_range": float(used[-1] - used[0]) if used.size else 0.0,
        "pitch_classes_used": float((pch > 0).sum()),
        "pitch_class_entropy": entropy,
        "scale_consistency": scale,
        "mean_note_length": float(lengths.mean()) if lengths.size else math.nan,
        "notes_per_step": float(struck.sum() / steps) if steps else math.nan,
        "mean_ioi": float(ioi.mean()) if (ioi := onset_intervals(roll)).size else math.nan,
        "repetition": float(((r[1:] == r[:-1]).all(axis=1) & ~struck[1:].any(axis=1)).mean()) if steps > 1 else math.nan,
    }


def window_metrics(rolls, lengths, low: int = 24, limit: int | None = None) -> list[dict]:
    """Return the METRICS of the first `limit` windows, each cut to its real length.

    rolls: (windows, steps, notes); lengths: real steps of each window.
    """
    return [music_metrics(r[: int(n)], low) for r, n in zip(rolls[:limit], lengths[:limit], strict=True)]


def overlap_and_kl(generated, real, bins: int = 10, eps: float = 1e-3) -> tuple[float, float]:
    """Return (overlapping area, KL(real || generated) in nats) of two samples' shared-bin histograms.

    Overlap is in [0, 1] (1 = the same histogram). The KL uses histograms mixed with `eps` of a
    uniform one so that an empty bin in the generated set gives a large finite value, not inf.
    """
    g = np.asarray(generated, dtype=np.float64)
    r = np.asarray(real, dtype=np.float64)
    g, r = g[np.isfinite(g)], r[np.isfinite(r)]
    if not g.size or not r.size:
        return math.nan, math.nan
    lo, hi = min(g.min(), r.min()), max(g.max(), r.max())
    if hi - lo < 1e-12:  # one value in both sets: identical distributions
        return 1.0, 0.0
    edges = np.linspace(lo, hi, bins + 1)
    pg = np.histogram(g, edges)[0] / g.size
    pr = np.histogram(r, edges)[0] / r.size
    overlap = float(np.minimum(pg, pr).sum())
    sg = (1 - eps) * pg + eps / bins
    sr = (1 - eps) * pr + eps / bins
    kl = float((sr * np.log(sr / sg)).sum())
    return overlap, kl


def _reading(name: str, g_mean: float, r_mean: float, overlap: float) -> str:
    if math.isnan(overlap):
        return f"{name}: undefined (no finite values in one of the sets)"
    verdict = "close to" if overlap >= 0.7 else "partly like" if overlap >= 0.4 else "far from"
    scale = max(abs(r_mean), 1e-9)
    if abs(g_mean - r_mean) / scale < 0.05:
        direction = "about the same mean"
    else:
        direction = "higher" if g_mean > r_mean else "lower"
    return f"{name}: generated {g_mean:.3g} vs real {r_mean:.3g} ({direction}); overlap {overlap:.2f}, {verdict} the data"


def compare(samples: list, real: list, low: int = 24, bins: int = 10) -> dict:
    """Compare generated rolls with real rolls metric by metric (Yang & Lerch 2018).

    Returns {"n_generated", "n_real", "metrics": {name: {generated_mean, generated_std, real_mean,
    real_std, overlap, kl, reading}}}; overlap near 1 and KL near 0 mean alike.
    """
    if not len(samples) or not len(real):
        raise ConfigError(f"compare needs at least one generated and one real roll, got {len(samples)} and {len(real)}")
    gen = [music_metrics(s, low) for s in samples]
    ref = [music_metrics(s, low) for s in real]
    out = {}
    for name in METRICS:
        g = np.array([m[name] for m in gen])
        r = np.array([m[name] for m in ref])
        overlap, kl = overlap_and_kl(g, r, bins)
        g_mean = float(np.nanmean(g)) if np.isfinite(g).any() else math.nan
        r_mean = float(np.nanmean(r)) if np.isfinite(r).any() else math.nan
        out[name] = {
            "generated_mean": g_mean,
            "generated_std": float(np.nanstd(g)) if np.isfinite(g).any() else math.nan,
            "real_mean": r_mean,
            "real_std": float(np.nanstd(r)) if np.isfinite(r).any() else math.nan,
            "overlap": overlap,
            "kl": kl,
            "reading": _reading(name, g_mean, r_mean, overlap),
        }
    return {
        "n_generated": len(samples),
        "n_real": len(real),
        "metrics": out,
        "distributions": duration_distributions(samples, real),
    }
