"""What the optimizer × loss (× head) study measures on each run: the run table and the curves per combination.

Pure functions over two frames shaped like the store's: runs (`store.list_runs`: id, name,
status, config, summary, ...) and metric rows (`store.metrics_frame`: run_id, epoch, step, split,
name, value, wall_time). The `study report` command, the study document and the Compare page all
call these; `run_table`/`curve_bands` read the store, the `*_from` variants take the frames
directly. Comparing combinations over seeds (means, Welch's test, ranks) is `ranking`'s.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from musicgen.errors import ConfigError
from musicgen.runs import store

K_LAST = 5  # epochs whose train-loss spread measures stability
SPIKE_WINDOW = 10  # points before a loss value that define "recent"
SPIKE_MIN_HISTORY = 5  # fewer points before it: no verdict on a spike
SPIKE_SIGMAS = 3.0
CONVERGED_SHARE = 0.95  # "converged" = reached 95% of the run's best valid F1
TABLE_COLUMNS = [
    "id",
    "name",
    "status",
    "optimizer",
    "loss",
    "head",
    "seed",
    "config",
    "epochs_done",
    "best_valid_nll",
    "best_valid_f1",
    "test_nll",
    "test_f1",
    "epochs_to_95",
    "seconds_to_95",
    "loss_spread",
    "loss_spikes",
    "pred_pos_rate",
    "density",
    "pos_rate_ratio",
    "pos_rate_error",
    "gen_overlap",
]


def _find(config: dict, key: str):
    """Return config[key], looking into nested dicts (the store may nest train/model configs)."""
    if not isinstance(config, dict):
        return None
    if key in config:
        return config[key]
    for v in config.values():
        if isinstance(v, dict):
            found = _find(v, key)
            if found is not None:
                return found
    return None


def config_label(optimizer, loss, head=None) -> str:
    """Return the name of one combination, e.g. 'adamw+focal', or 'adam+bce+nade' for a head other than the independent one."""
    return f"{optimizer}+{loss}" + (f"+{head}" if head not in (None, "independent") else "")


def head_of(config: dict) -> str:
    """Return the output head of a run's config ('independent' for runs from before heads existed)."""
    return _find(config, "head") or "independent"


def loss_spread(values, k: int = K_LAST) -> float:
    """Return the relative spread of the last `k` values: sample std over |mean| (NaN with fewer than 2).

    Relative, because the losses differ in scale (focal loss is a fraction of BCE on the same
    predictions): a raw std would call every focal run the stable one.
    """
    tail = np.asarray(values, dtype=float)[-k:]
    if len(tail) < 2 or not np.mean(tail):
        return math.nan
    return float(np.std(tail, ddof=1) / abs(np.mean(tail)))


def loss_spikes(values, window: int = SPIKE_WINDOW, sigmas: float = SPIKE_SIGMAS, min_history: int = SPIKE_MIN_HISTORY) -> int:
    """Count values above mean + sigmas·std of the `window` values before them (upward jumps only)."""
    x = np.asarray(values, dtype=float)
    count = 0
    for i in range(min_history, len(x)):
        recent = x[max(0, i - window) : i]
        mu, sd = recent.mean(), recent.std(ddof=1)
        # A flat history (sd 0) would make any rounding noise a spike: require a real std.
        if sd > 0 and x[i] > mu + sigmas * sd:
            count += 1
    return count


def epochs_to_share(f1_by_epoch: pd.Series, share: float = CONVERGED_SHARE):
    """Return the first epoch whose value reaches `share` of the series' maximum (NaN if none is > 0)."""
    s = f1_by_epoch.dropna().sort_index()
    if s.empty or not s.max() > 0:
        return math.nan
    return s.index[(s >= share * s.max()).to_numpy().argmax()]


def _series(m: pd.DataFrame, split: str, name: str) -> pd.Series:
    """Return one metric per epoch (last row of each epoch), indexed by epoch."""
    rows = m[(m["split"] == split) & (m["name"] == name)]
    if rows.empty:
        return pd.Series(dtype=float)
    return rows.sort_values(["epoch"]).groupby("epoch")["value"].last().astype(float)


def _f1_series(m: pd.DataFrame) -> pd.Series:
    # f1_best (F1 at the validation-best threshold) is the one that moves early on sparse targets; 0.5 is often all-zero.
    s = _series(m, "valid", "f1_best")
    return s if not s.empty else _series(m, "valid", "f1")


def _elapsed_by_epoch(m: pd.DataFrame) -> pd.Series:
    """Return training seconds elapsed at the end of each epoch (cumulative train epoch_s, else wall_time)."""
    s = _series(m, "train", "epoch_s")
    if not s.empty:
        return s.cumsum()
    rows = m[m["split"] == "valid"].dropna(subset=["wall_time"])
    if rows.empty:
        return pd.Series(dtype=float)
    by_epoch = rows.groupby("epoch")["wall_time"].max().sort_index()
    start = m["wall_time"].dropna().min()
    return by_epoch - start


def _train_losses(m: pd.DataFrame) -> np.ndarray:
    """Return the train loss curve: per-step rows when the run logged them, else per-epoch."""
    rows = m[(m["split"] == "train") & (m["name"] == "loss")]
    per_step = rows.dropna(subset=["step"]) if "step" in rows else rows.iloc[0:0]
    if len(per_step) > 1 and per_step["step"].nunique() > rows["epoch"].nunique():
        return per_step.sort_values("step")["value"].to_numpy(float)
    return _series(m, "train", "loss").to_numpy(float)


def run_row(run: dict, m: pd.DataFrame, k: int = K_LAST) -> dict:
    """Return one run's row of the study table from its store record and its metric rows."""
    config = run.get("config") or {}
    summary = run.get("summary") or {}
    opt, loss, seed = _find(config, "optimizer"), _find(config, "loss"), _find(config, "seed")
    nll, f1 = _series(m, "valid", "nll"), _f1_series(m)
    elapsed = _elapsed_by_epoch(m)
    e95 = epochs_to_share(f1)
    test = m[m["split"] == "test"].groupby("name")["value"].last() if len(m) else pd.Series(dtype=float)
    # Positive rate against density: at the best checkpoint on test, else the best valid epoch.
    best_epoch = summary.get("best_epoch")
    if best_epoch is None and not nll.empty:
        best_epoch = nll.idxmin()
    at_best = m[(m["split"] == "valid") & (m["epoch"] == best_epoch)].groupby("name")["value"].last()
    src = test if "pred_pos_rate" in test else at_best
    losses = _train_losses(m)
    row = {
        "id": run.get("id"),
        "name": run.get("name"),
        "status": run.get("status"),
        "optimizer": opt,
        "loss": loss,
        "head": head_of(config),
        "seed": seed,
        "config": config_label(opt, loss, head_of(config)),
        "epochs_done": run.get("epochs_done", int(nll.index.max()) if not nll.empty else 0),
        "best_valid_nll": float(nll.min()) if not nll.empty else math.nan,
        "best_valid_f1": float(f1.max()) if not f1.empty else math.nan,
        "test_nll": float(test.get("nll", math.nan)),
        # On test, f1_best is the F1 at the threshold chosen on validation (the trainer passes it): not tuned on test.
        "test_f1": float(test.get("f1_best", test.get("f1", math.nan))),
        "epochs_to_95": float(e95),
        "seconds_to_95": math.nan if pd.isna(e95) else float(elapsed.get(e95, math.nan)),
        "loss_spread": loss_spread(_series(m, "train", "loss").to_numpy(float), k),
        "loss_spikes": float(loss_spikes(losses)) if len(losses) else math.nan,
        "pred_pos_rate": float(src.get("pred_pos_rate", math.nan)),
        "density": float(src.get("density", math.nan)),
        "gen_overlap": float(summary.get("gen_overlap", math.nan)),
    }
    row["pos_rate_ratio"] = row["pred_pos_rate"] / row["density"] if row["density"] > 0 else math.nan
    # |log ratio|: predicting half or twice the true positives is equally wrong; 0 = as many as the data has.
    ratio = row["pos_rate_ratio"]
    row["pos_rate_error"] = abs(math.log(ratio)) if ratio > 0 else math.nan
    return row


def run_table_from(runs: pd.DataFrame, metrics: pd.DataFrame, k: int = K_LAST) -> pd.DataFrame:
    """Return one row per run (TABLE_COLUMNS) from a runs frame and a metric-rows frame."""
    rows = []
    for run in runs.to_dict("records"):
        m = metrics[metrics["run_id"] == run["id"]] if len(metrics) else metrics
        rows.append(run_row(run, m, k))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def run_table(run_ids: list[str], k: int = K_LAST) -> pd.DataFrame:
    """Return one row per run of the store (see TABLE_COLUMNS)."""
    runs = pd.DataFrame([store.get_run(r) for r in run_ids])
    metrics = store.metrics_frame(list(run_ids)) if run_ids else pd.DataFrame(columns=["run_id"])
    if runs.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    return run_table_from(runs, metrics, k)


def curve_bands_from(
    runs: pd.DataFrame, metrics: pd.DataFrame, metric: str, split: str, x: str = "epoch", points: int = 50
) -> pd.DataFrame:
    """Return mean ± std over seeds of one metric curve per combination: columns config, x, mean, std, n.

    x="seconds" puts each run on its training-seconds axis and interpolates onto a shared grid,
    never beyond a run's last point (so n can shrink towards the right).
    """
    if x not in ("epoch", "seconds"):
        raise ConfigError(f"x must be 'epoch' or 'seconds', got {x!r}")
    curves = {}
    for run in runs.to_dict("records"):
        m = metrics[metrics["run_id"] == run["id"]] if len(metrics) else metrics
        s = _series(m, split, metric) if len(m) else pd.Series(dtype=float)
        if s.empty:
            continue
        if x == "seconds":
            s.index = _elapsed_by_epoch(m).reindex(s.index).to_numpy()
            s = s[~np.isnan(s.index.to_numpy(float))]
        config = run.get("config") or {}
        label = config_label(_find(config, "optimizer"), _find(config, "loss"), head_of(config))
        curves.setdefault(label, []).append(s)
    rows = []
    for label, series in sorted(curves.items()):
        if x == "epoch":
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
        for xv, vals in frame.iterrows():
            v = vals.dropna().to_numpy(float)
            if len(v):
                rows.append(
                    {
                        "config": label,
                        "x": float(xv),
                        "mean": float(v.mean()),
                        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                        "n": len(v),
                    }
                )
    return pd.DataFrame(rows, columns=["config", "x", "mean", "std", "n"])


def curve_bands(run_ids: list[str], metric: str, split: str, x: str = "epoch") -> pd.DataFrame:
    """Return mean ± std bands per combination of one metric of the store's runs (see curve_bands_from)."""
    runs = pd.DataFrame([store.get_run(r) for r in run_ids])
    if runs.empty:
        return pd.DataFrame(columns=["config", "x", "mean", "std", "n"])
    return curve_bands_from(runs, store.metrics_frame(list(run_ids)), metric, split, x)


BASELINE_LABELS = {"silent": "always silent", "copy_previous": "copy previous step", "markov": "per-note Markov chain"}


def baseline_lines(summary: dict, metric: str, split: str = "valid") -> dict[str, float]:
    """Return {label: value} of the baselines in a run summary that have `metric` on `split` (for reference lines)."""
    out = {}
    for kind, label in BASELINE_LABELS.items():
        value = ((summary or {}).get("baselines", {}).get(kind, {}).get(split) or {}).get(metric)
        if isinstance(value, int | float) and math.isfinite(value):
            out[label] = float(value)
    return out
