"""The untrained baselines a run's summary stores (silent, copy previous, Markov chain, beat prior) as lines and rows.

Every dataset's runs store the same baselines (`summary.baselines`): charts draw them as reference lines,
the Compare page and the verdict read them beside the models.
"""

from __future__ import annotations

import math

import pandas as pd

from musicgen.study import groups, stats

BASELINE_LABELS = {
    "silent": "always silent",
    "copy_previous": "copy previous step",
    "markov": "per-note Markov chain",
    "beat_prior": "beat-position onset prior",  # onset-aware datasets only
}


def baseline_lines(summary: dict, metric: str, split: str = "valid") -> dict[str, float]:
    """Return {label: value} of the baselines in a run summary that have `metric` on `split` (for reference lines)."""
    out = {}
    for kind, label in BASELINE_LABELS.items():
        value = ((summary or {}).get("baselines", {}).get(kind, {}).get(split) or {}).get(metric)
        if isinstance(value, int | float) and math.isfinite(value):
            out[label] = float(value)
    return out


def dataset_baselines(runs: pd.DataFrame) -> dict[str, dict]:
    """Return {dataset name: the `baselines` of a run summary}, from the first run of each dataset that stored them."""
    out = {}
    for run in runs.to_dict("records"):
        name = groups.dataset_name(run.get("config") or {}, run.get("dataset_id"))
        found = (run.get("summary") or {}).get("baselines")
        if found and name not in out:
            out[name] = found
    return out


def baseline_rows(runs: pd.DataFrame, split: str = "valid") -> pd.DataFrame:
    """Return one row per dataset × baseline: dataset, baseline, nll, f1_best, threshold, f1 (F1 at 0.5) on `split`."""
    rows = []
    for name, baselines in dataset_baselines(runs).items():
        for kind, label in BASELINE_LABELS.items():
            values = (baselines.get(kind) or {}).get(split) or {}
            if values:
                rows.append(
                    {
                        "dataset": name,
                        "baseline": label,
                        **{k: stats.number_or_nan(values.get(k)) for k in ("nll", "f1_best", "threshold", "f1", "onset_f1")},
                    }
                )
    return pd.DataFrame(rows, columns=["dataset", "baseline", "nll", "f1_best", "threshold", "f1", "onset_f1"])
