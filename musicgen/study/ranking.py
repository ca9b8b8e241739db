"""Compare the study's combinations over seeds: per-combination means and spreads, Welch's test, ranks with ties.

Input is the run table of `stats.run_table` (one row per run; a `config` column names the
combination, e.g. 'adamw+focal' or 'adam+bce+nade'); a combination needs at least two seeds for a difference to count.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from musicgen.errors import ConfigError

ALPHA = 0.05  # Welch p-value at or above which a difference is a tie
# Criteria the report ranks on: column -> lower is better.
CRITERIA = {
    "best_valid_nll": True,
    "best_valid_f1": False,
    "test_nll": True,
    "test_f1": False,
    "epochs_to_95": True,
    "seconds_to_95": True,
    "loss_spread": True,
    "loss_spikes": True,
    "pos_rate_error": True,
    "gen_overlap": False,
}


def group_table(table: pd.DataFrame, by: str = "config") -> pd.DataFrame:
    """Return per combination the mean and std over seeds of each numeric column, and n (runs)."""
    if by not in table:
        raise ConfigError(f"cannot group by {by!r}; columns: {sorted(table.columns)}")
    skip = {"seed", "epochs_done"}
    numeric = [c for c in table.columns if c not in skip and c != by and pd.api.types.is_numeric_dtype(table[c])]
    g = table.groupby(by, sort=True)
    out = pd.DataFrame({"n": g.size()})
    for extra in ("optimizer", "loss", "head"):
        if extra in table and extra != by:
            out[extra] = g[extra].first()
    for c in numeric:
        out[f"{c}_mean"] = g[c].mean()
        out[f"{c}_std"] = g[c].std(ddof=1)
    return out.reset_index()


def welch_p(a, b) -> float:
    """Return the two-sided Welch t-test p-value of samples a and b (NaN where it is undefined)."""
    from scipy.stats import ttest_ind  # lazy: scipy.stats loads in ~0.5 s; only rank tables need it

    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if a.std() == 0 and b.std() == 0:
        # No spread at all: the test is undefined, but equal constants are surely tied and distinct ones surely not.
        return 1.0 if a.mean() == b.mean() else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-identical seeds: scipy warns, the p-value is still right
        return float(ttest_ind(a, b, equal_var=False).pvalue)


def rank_table(
    table: pd.DataFrame, criterion: str, lower_is_better: bool, by: str = "config", alpha: float = ALPHA
) -> pd.DataFrame:
    """Rank combinations on `criterion`; a difference that Welch's test over seeds does not support (p >= alpha) is a tie.

    rank = 1 + the number of combinations significantly better; `tied_with` lists the ones it cannot be told from.
    """
    if criterion not in table:
        raise ConfigError(f"unknown criterion {criterion!r}; columns: {sorted(table.columns)}")
    samples = {c: g[criterion].to_numpy(float) for c, g in table.groupby(by)}
    means = {c: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for c, v in samples.items()}
    sign = 1 if lower_is_better else -1
    names = sorted(samples, key=lambda c: (math.isnan(means[c]), sign * means[c] if not math.isnan(means[c]) else 0, c))
    rows = []
    for c in names:
        better, tied = 0, []
        for o in names:
            if o == c:
                continue
            p = welch_p(samples[c], samples[o])
            if math.isnan(means[c]) or math.isnan(means[o]):
                continue
            if not (p < alpha):  # NaN (too few seeds) counts as a tie: nothing supports the difference
                tied.append(o)
            elif sign * means[o] < sign * means[c]:
                better += 1
        std = float(np.nanstd(samples[c], ddof=1)) if len(samples[c]) > 1 else math.nan
        rows.append(
            {
                by: c,
                "criterion": criterion,
                "mean": means[c],
                "std": std,
                "n": int(np.isfinite(samples[c]).sum()),
                "rank": better + 1 if not math.isnan(means[c]) else math.nan,
                "tied_with": ", ".join(tied),
                "p_vs_best": welch_p(samples[c], samples[names[0]]) if c != names[0] else math.nan,
            }
        )
    return pd.DataFrame(rows)
