"""A study's figures: the study table (the run table with the study's own columns), per-combination statistics,
pairwise tests, the lr grid's divergence and sensitivity, pooled calibration bins.

Pure functions over the frames of `stats` (runs, metric rows, the run table) and the stage-2 sweep's
"study" config (`tuning`); `findings` puts them into sentences, the document and the Compare page into tables.

Choices stated once:
- Time to a fixed NLL: the target is, per loss, the worst combination's mean best validation NLL, so that every
  combination reaches it on average and the comparison is one of speed, not of final quality. Per loss, because a
  focal run's NLL is far from a BCE run's (its probabilities are not calibrated): one target shared by both would
  be reached by every BCE run in its first epoch and compare nothing.
- Grad-norm statistics leave out the first GRAD_SKIP epochs (the warm-up spikes of every optimizer).
- Effect sizes are Hedges' g; p-values are Welch's, Holm-adjusted over all pairs of one criterion.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from musicgen.runs.divergence import run_diverged
from musicgen.study import groups, ranking, stats

GRAD_SKIP = 2  # epochs left out of the grad-norm statistics


# Criteria whose pairwise tests the report prints, with lower-is-better.
TESTED = {
    "test_nll": True,
    "test_f1": False,
    "best_valid_nll": True,
    "epochs_to_95": True,
    "seconds_to_target": True,
    "gen_overlap": False,
    "ece": True,
}


EXTRA_COLUMNS = [
    "id",
    "final_valid_nll",
    "final_valid_f1",
    "grad_norm_mean",
    "grad_norm_max_over_median",
    "test_f1_at_half",
    "ece",
]


def extra_row(run: dict, m: pd.DataFrame) -> dict:
    """Return the study's figures of one run that `stats.run_row` lacks (see EXTRA_COLUMNS)."""
    summary = run.get("summary") or {}
    nll, f1 = stats.metric_series(m, "valid", "nll"), stats.metric_series(m, "valid", "f1_best")
    grad = stats.metric_series(m, "train", "grad_norm")
    grad = grad[grad.index > GRAD_SKIP]
    test = summary.get("test") or {}
    median = float(grad.median()) if len(grad) else math.nan
    return {
        "id": run.get("id"),
        "final_valid_nll": float(nll.iloc[-1]) if len(nll) else math.nan,
        "final_valid_f1": float(f1.iloc[-1]) if len(f1) else math.nan,
        "grad_norm_mean": float(grad.mean()) if len(grad) else math.nan,
        "grad_norm_max_over_median": float(grad.max()) / median if median > 0 else math.nan,
        "test_f1_at_half": float(test.get("f1", math.nan)),
        "ece": float(test.get("ece", math.nan)),
    }


def to_target(m: pd.DataFrame, target: float) -> tuple[float, float]:
    """Return (epochs, seconds) until validation NLL first reaches `target` or lower (NaN, NaN if never)."""
    nll = stats.metric_series(m, "valid", "nll")
    hit = nll[nll <= target]
    if hit.empty:
        return math.nan, math.nan
    epoch = hit.index[0]
    return float(epoch), float(stats.elapsed_by_epoch(m).get(epoch, math.nan))


def study_table_from(runs: pd.DataFrame, metrics: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Return (the run table with EXTRA_COLUMNS and epochs/seconds_to_target merged on id, {loss: its target NLL})."""
    table = stats.run_table_from(runs, metrics)
    by_run = {r: metrics[metrics["run_id"] == r] for r in runs["id"]} if len(metrics) else {}
    extra = pd.DataFrame(
        [extra_row(run, by_run.get(run["id"], metrics.iloc[0:0])) for run in runs.to_dict("records")], columns=EXTRA_COLUMNS
    )
    table = table.merge(extra, on="id", how="left")
    identity = {r["id"]: groups.identity_of(r.get("config") or {}, r.get("dataset_id")) for r in runs.to_dict("records")}
    table["config"] = groups.labels_apart(list(table["config"]), [identity[i] for i in table["id"]])
    done = counted(table)
    means = done.groupby(["loss", "config"])["best_valid_nll"].mean().dropna()
    targets = {loss: float(means[loss].max()) for loss in means.index.get_level_values(0).unique()}
    reached = [
        to_target(by_run.get(r, metrics.iloc[0:0]), targets.get(loss, math.nan))
        for r, loss in zip(table["id"], table["loss"], strict=True)
    ]
    table["epochs_to_target"] = [e for e, _ in reached]
    table["seconds_to_target"] = [s for _, s in reached]
    return table, targets


def counted(table: pd.DataFrame) -> pd.DataFrame:
    """Return the runs of a study table that its statistics count: finished, and not diverged (runs.divergence)."""
    if table.empty:
        return table
    diverged = table["diverged"].fillna(False).astype(bool) if "diverged" in table else False
    return table[(table["status"] == "finished") & ~diverged]


def combination_stats(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Return per combination and column: mean, std, 95% CI (t distribution) and n, in long form."""
    rows = []
    for config, g in table.groupby("config"):
        for c in columns:
            if c not in g:
                continue
            v = g[c].to_numpy(float)
            mean, lo, hi = ranking.mean_ci(v)
            n = int(np.isfinite(v).sum())
            std = float(np.nanstd(v, ddof=1)) if n > 1 else math.nan
            rows.append({"config": config, "column": c, "mean": mean, "std": std, "ci_lo": lo, "ci_hi": hi, "n": n})
    return pd.DataFrame(rows, columns=["config", "column", "mean", "std", "ci_lo", "ci_hi", "n"])


def pairwise(table: pd.DataFrame) -> pd.DataFrame:
    """Return the Holm-corrected pairwise Welch tests with Hedges' g of every TESTED criterion the table has values for."""
    parts = [ranking.pairwise_table(table, c, lower) for c, lower in TESTED.items() if c in table and table[c].notna().any()]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def divergence(choices: dict) -> pd.DataFrame:
    """Return per optimizer over the lr grid: runs, diverged (or failed) ones, their share, and the rates that trained."""
    rows = {}
    for c in (choices or {}).values():
        r = rows.setdefault(c["optimizer"], {"optimizer": c["optimizer"], "runs": 0, "diverged": 0, "trained_lrs": set()})
        for cand in c["candidates"]:
            r["runs"] += 1
            if cand["status"] == "finished":
                r["trained_lrs"].add(cand["lr"])
            else:
                r["diverged"] += 1
    out = []
    for r in rows.values():
        out.append({**r, "rate": r["diverged"] / r["runs"] if r["runs"] else math.nan, "trained_lrs": sorted(r["trained_lrs"])})
    return pd.DataFrame(out, columns=["optimizer", "runs", "diverged", "rate", "trained_lrs"])


def lr_sensitivity(choices: dict) -> dict[str, float]:
    """Return per combination how much worse (nats) its worst trained rate of the lr grid is than its best (best valid NLL)."""
    out = {}
    for label, c in (choices or {}).items():
        nlls = [cand["best_valid_nll"] for cand in c["candidates"] if cand.get("best_valid_nll") is not None]
        if len(nlls) > 1:
            out[label] = float(max(nlls) - min(nlls))
    return out


def calibration_by_label(runs: pd.DataFrame, labels: dict[str, str] | None = None) -> dict[str, list[dict]]:
    """Return {combination: reliability bins} pooled over its finished runs' test calibration (counts added up).

    labels: {run id: combination}, e.g. the study table's; by default optimizer+loss(+head).
    """
    pooled: dict[str, list[dict]] = {}
    for run in runs.to_dict("records"):
        # The test split's reliability bins at best.pt (evaluate_model(..., calibration=True) in the trainer).
        bins = (((run.get("summary") or {}).get("test") or {}).get("calibration") or {}).get("bins")
        if run.get("status") != "finished" or not bins or run_diverged(run):
            continue
        config = run.get("config") or {}
        train = config.get("train") or {}
        label = (labels or {}).get(run.get("id"))
        label = label or groups.config_label(train.get("optimizer"), train.get("loss"), groups.head_of(config))
        acc = pooled.setdefault(label, [{"lo": b["lo"], "hi": b["hi"], "count": 0, "p": 0.0, "y": 0.0} for b in bins])
        for a, b in zip(acc, bins, strict=True):
            if b["count"]:
                a["count"] += b["count"]
                a["p"] += b["predicted"] * b["count"]
                a["y"] += b["observed"] * b["count"]
    return {
        label: [
            {
                "lo": a["lo"],
                "hi": a["hi"],
                "count": a["count"],
                "predicted": a["p"] / a["count"] if a["count"] else None,
                "observed": a["y"] / a["count"] if a["count"] else None,
            }
            for a in acc
        ]
        for label, acc in sorted(pooled.items())
    }
