"""Learning curves per group of runs: mean ± std over seeds on epochs or training seconds, and every run's own points.

Pure functions over the store's runs and metric-rows frames (`curve_bands` reads the store); the Compare
and Train pages and the study document draw them. `metric_range` bounds a metric (bands clip to it, axes
start at its low end).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from musicgen.errors import ConfigError
from musicgen.runs import store
from musicgen.study import groups, stats

# The range a metric can take (`metric_range`): bands are clipped to it and the charts' y axes start at its low end.
METRIC_RANGES = {
    "f1": (0.0, 1.0),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "frame_acc": (0.0, 1.0),
    "onset_f1": (0.0, 1.0),
    "nll": (0.0, math.inf),
    "loss": (0.0, math.inf),
}


def metric_range(metric: str) -> tuple[float, float]:
    """Return (low, high) of a metric, the same for its value at the validation threshold (`f1_best` as `f1`)."""
    return METRIC_RANGES.get(metric.removesuffix("_best"), (-math.inf, math.inf))


BAND_COLUMNS = ["config", "x", "mean", "std", "n", "lo", "hi", "real"]


def _curves(runs: pd.DataFrame, metrics: pd.DataFrame, metric: str, split: str, x: str, by) -> dict[str, list]:
    """Return {group label: [(run id, series of the metric indexed by x)]} of the runs that have the metric."""
    if x not in ("epoch", "seconds"):
        raise ConfigError(f"x must be 'epoch' or 'seconds', got {x!r}")
    curves = {}
    for run, label in zip(runs.to_dict("records"), groups.run_groups(runs, by), strict=True):
        m = metrics[metrics["run_id"] == run["id"]] if len(metrics) else metrics
        s = stats.metric_series(m, split, metric) if len(m) else pd.Series(dtype=float)
        if x == "seconds" and not s.empty:
            s.index = stats.elapsed_by_epoch(m).reindex(s.index).to_numpy()
            s = s[~np.isnan(s.index.to_numpy(float))]
        if not s.empty:
            curves.setdefault(label, []).append((run["id"], s))
    return curves


def curve_bands_from(
    runs: pd.DataFrame,
    metrics: pd.DataFrame,
    metric: str,
    split: str,
    x: str = "epoch",
    points: int = 50,
    by: list[str] | None = None,
) -> pd.DataFrame:
    """Return mean ± std over seeds of one metric curve per group (`groups.run_groups(runs, by)`): columns BAND_COLUMNS.

    lo/hi are mean ∓ std clipped to the metric's range (metric_range); `real` is False where the value is interpolated.
    x="seconds" puts each run on its training-seconds axis; a group of several runs is interpolated onto a shared grid
    of `points`, never beyond a run's last point (so n can shrink towards the right); a lone run keeps its own points.
    """
    low, high = metric_range(metric)
    rows = []
    for label, curves in sorted(_curves(runs, metrics, metric, split, x, by).items()):
        series = [s for _, s in curves]
        real = x == "epoch" or len(series) == 1
        if real:
            frame = pd.concat(series, axis=1)
        else:
            hi = max(float(s.index.max()) for s in series)
            grid = np.linspace(0, hi, points)
            cols = []
            for s in series:
                xs, ys = s.index.to_numpy(float), s.to_numpy(float)
                v = np.interp(grid, xs, ys)
                v[(grid < xs.min()) | (grid > xs.max())] = np.nan
                cols.append(pd.Series(v, index=grid))
            frame = pd.concat(cols, axis=1)
        for xv, vals in frame.sort_index().iterrows():
            v = vals.dropna().to_numpy(float)
            if len(v):
                mean, std = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
                lo, hi_ = float(np.clip(mean - std, low, high)), float(np.clip(mean + std, low, high))
                rows.append(
                    {"config": label, "x": float(xv), "mean": mean, "std": std, "n": len(v), "lo": lo, "hi": hi_, "real": real}
                )
    return pd.DataFrame(rows, columns=BAND_COLUMNS)


def curve_points_from(
    runs: pd.DataFrame, metrics: pd.DataFrame, metric: str, split: str, x: str = "epoch", by: list[str] | None = None
) -> pd.DataFrame:
    """Return every run's own measured points of one metric: columns config (its group), run_id, x, value."""
    rows = [
        {"config": label, "run_id": run_id, "x": float(xv), "value": float(v)}
        for label, curves in sorted(_curves(runs, metrics, metric, split, x, by).items())
        for run_id, s in curves
        for xv, v in s.items()
        if not math.isnan(v)
    ]
    return pd.DataFrame(rows, columns=["config", "run_id", "x", "value"])


def curve_bands(run_ids: list[str], metric: str, split: str, x: str = "epoch", by: list[str] | None = None) -> pd.DataFrame:
    """Return mean ± std bands per group of one metric of the store's runs (see curve_bands_from)."""
    runs = pd.DataFrame([store.get_run(r) for r in run_ids])
    if runs.empty:
        return pd.DataFrame(columns=BAND_COLUMNS)
    return curve_bands_from(runs, store.metrics_frame(list(run_ids)), metric, split, x, by=by)
