"""What the optimizer × loss (× head) study measures on each run: one row of the run table per run.

Pure functions over two frames shaped like the store's: runs (`store.list_runs`: id, name,
status, config, summary, ...) and metric rows (`store.metrics_frame`: run_id, epoch, step, split,
name, value, wall_time). The `study report` command, the study document and the Compare page all
call these; `run_table` reads the store, `run_table_from` takes the frames directly. Which runs
belong together is `groups`', their curves `curves`', the baselines `baselines`'; comparing
combinations over seeds (means, Welch's test, ranks) is `ranking`'s.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from musicgen.runs import store
from musicgen.runs.divergence import run_diverged
from musicgen.study import groups

K_LAST = 5  # epochs whose train-loss spread measures stability
SPIKE_WINDOW = 10  # points before a loss value that define "recent"
SPIKE_MIN_HISTORY = 5  # fewer points before it: no verdict on a spike
SPIKE_SIGMAS = 3.0
CONVERGED_SHARE = 0.95  # "converged" = reached 95% of the run's best valid F1
TABLE_COLUMNS = [
    "id",
    "name",
    "status",
    "diverged",
    "dataset",
    "optimizer",
    "loss",
    "lr",
    "weight_decay",
    "epochs",
    "best_epoch",
    "head",
    "seed",
    "config",
    "group",
    "epochs_done",
    "best_valid_nll",
    "best_valid_f1",
    "threshold",
    "best_valid_f1_05",
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
    # Onset-aware datasets (musicgen.training.onset_metrics): NaN for hold-only ones.
    "best_valid_onset_f1",
    "test_onset_f1",
]


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


def metric_series(m: pd.DataFrame, split: str, name: str) -> pd.Series:
    """Return one metric per epoch (last row of each epoch), indexed by epoch."""
    rows = m[(m["split"] == split) & (m["name"] == name)]
    if rows.empty:
        return pd.Series(dtype=float)
    return rows.sort_values(["epoch"]).groupby("epoch")["value"].last().astype(float)


def _f1_series(m: pd.DataFrame) -> pd.Series:
    # f1_best (F1 at the validation-best threshold) is the one that moves early on sparse targets; 0.5 is often all-zero.
    s = metric_series(m, "valid", "f1_best")
    return s if not s.empty else metric_series(m, "valid", "f1")


def elapsed_by_epoch(m: pd.DataFrame) -> pd.Series:
    """Return training seconds elapsed at the end of each epoch (cumulative train epoch_s, else wall_time)."""
    s = metric_series(m, "train", "epoch_s")
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
    return metric_series(m, "train", "loss").to_numpy(float)


def run_row(run: dict, m: pd.DataFrame, k: int = K_LAST) -> dict:
    """Return one run's row of the study table from its store record and its metric rows."""
    config = run.get("config") or {}
    summary = run.get("summary") or {}
    opt, loss, seed = (groups.config_value(config, k) for k in ("optimizer", "loss", "seed"))
    nll, f1 = metric_series(m, "valid", "nll"), _f1_series(m)
    elapsed = elapsed_by_epoch(m)
    e95 = epochs_to_share(f1)
    test = m[m["split"] == "test"].groupby("name")["value"].last() if len(m) else pd.Series(dtype=float)
    # Positive rate against density: at the best checkpoint on test, else the best valid epoch.
    best_epoch = summary.get("best_epoch")
    if best_epoch is None and not nll.empty:
        best_epoch = nll.idxmin()
    at_best = m[(m["split"] == "valid") & (m["epoch"] == best_epoch)].groupby("name")["value"].last()
    src = test if "pred_pos_rate" in test else at_best
    losses = _train_losses(m)
    ident = groups.identity_of(config, run.get("dataset_id"))
    row = {
        "id": run.get("id"),
        "name": run.get("name"),
        "status": run.get("status"),
        "diverged": run_diverged(run),
        "dataset": ident["dataset"],
        "optimizer": opt,
        "loss": loss,
        "lr": number_or_nan(ident.get("lr")),
        "weight_decay": number_or_nan(ident.get("weight_decay")),
        "epochs": number_or_nan(ident.get("epochs")),
        "best_epoch": number_or_nan(best_epoch),
        "head": groups.head_of(config),
        "seed": seed,
        "config": groups.config_label(opt, loss, groups.head_of(config)),
        "epochs_done": run.get("epochs_done", int(nll.index.max()) if not nll.empty else 0),
        "best_valid_nll": float(nll.min()) if not nll.empty else math.nan,
        "best_valid_f1": float(f1.max()) if not f1.empty else math.nan,
        # The threshold validation chose for best_valid_f1 (None before the first epoch); F1 at 0.5 for comparison.
        "threshold": number_or_nan(summary.get("threshold")),
        "best_valid_f1_05": float(f05.max()) if not (f05 := metric_series(m, "valid", "f1")).empty else math.nan,
        "test_nll": float(test.get("nll", math.nan)),
        # On test, f1_best is the F1 at the threshold chosen on validation (the trainer passes it): not tuned on test.
        "test_f1": float(test.get("f1_best", test.get("f1", math.nan))),
        "epochs_to_95": float(e95),
        "seconds_to_95": math.nan if pd.isna(e95) else float(elapsed.get(e95, math.nan)),
        "loss_spread": loss_spread(metric_series(m, "train", "loss").to_numpy(float), k),
        "loss_spikes": float(loss_spikes(losses)) if len(losses) else math.nan,
        "pred_pos_rate": float(src.get("pred_pos_rate", math.nan)),
        "density": float(src.get("density", math.nan)),
        "gen_overlap": float(summary.get("gen_overlap", math.nan)),
        "best_valid_onset_f1": float(onset.max()) if not (onset := metric_series(m, "valid", "onset_f1")).empty else math.nan,
        "test_onset_f1": float(test.get("onset_f1", math.nan)),
    }
    row["pos_rate_ratio"] = row["pred_pos_rate"] / row["density"] if row["density"] > 0 else math.nan
    # |log ratio|: predicting half or twice the true positives is equally wrong; 0 = as many as the data has.
    ratio = row["pos_rate_ratio"]
    row["pos_rate_error"] = abs(math.log(ratio)) if ratio > 0 else math.nan
    return row


def number_or_nan(value) -> float:
    """Return a number (not a bool) as a float, anything else as NaN."""
    return float(value) if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool) else math.nan


def run_table_from(runs: pd.DataFrame, metrics: pd.DataFrame, k: int = K_LAST, by: list[str] | None = None) -> pd.DataFrame:
    """Return one row per run (TABLE_COLUMNS) from a runs frame and a metric-rows frame; `group` as `run_groups(runs, by)`."""
    rows = []
    for run in runs.to_dict("records"):
        m = metrics[metrics["run_id"] == run["id"]] if len(metrics) else metrics
        rows.append(run_row(run, m, k))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["group"] = groups.run_groups(runs, by) if len(runs) else []
    return table


def run_table(run_ids: list[str], k: int = K_LAST, by: list[str] | None = None) -> pd.DataFrame:
    """Return one row per run of the store (see TABLE_COLUMNS)."""
    runs = pd.DataFrame([store.get_run(r) for r in run_ids])
    metrics = store.metrics_frame(list(run_ids)) if run_ids else pd.DataFrame(columns=["run_id"])
    if runs.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    return run_table_from(runs, metrics, k, by)
