"""Compare the study's combinations over seeds: means, spreads and 95% CIs, Welch's test with Holm's correction, ranks.

Input is the run table of `stats.run_table` (one row per run; a `config` column names the
combination, e.g. 'adamw+focal' or 'adam+bce+nade'); a combination needs at least two seeds for a difference to count.
Effect sizes are Hedges' g (Cohen's d with the small-sample correction).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from musicgen.errors import ConfigError

ALPHA = 0.05  # Holm-adjusted Welch p-value at or above which a difference is a tie
ONE_SEED = "one seed: no test"  # the note of a group with fewer than two runs: ranked by its mean, never tested
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
    skip = {"seed", "epochs_done", "diverged"}
    numeric = [c for c in table.columns if c not in skip and c != by and pd.api.types.is_numeric_dtype(table[c])]
    g = table.groupby(by, sort=True)
    columns = {"n": g.size()}
    for extra in ("optimizer", "loss", "head"):
        if extra in table and extra != by:
            columns[extra] = g[extra].first()
    for c in numeric:
        columns[f"{c}_mean"] = g[c].mean()
        columns[f"{c}_std"] = g[c].std(ddof=1)
        ci = g[c].apply(lambda v: mean_ci(v)[1:])
        columns[f"{c}_ci_lo"] = pd.Series([lo for lo, _ in ci], index=ci.index)
        columns[f"{c}_ci_hi"] = pd.Series([hi for _, hi in ci], index=ci.index)
    return pd.DataFrame(columns).reset_index()  # built at once: one column at a time fragments a wide frame


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Return (mean, low, high): the mean and its `level` confidence interval from the t distribution (NaN bounds with n < 2)."""
    from scipy.stats import t as student_t  # lazy, like welch_p

    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan
    half = float(student_t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


def holm(pvalues) -> list[float]:
    """Return Holm's step-down adjusted p-values, in the given order; NaN stays NaN and does not count as a test.

    The k-th smallest of m p-values becomes max over j <= k of min(1, (m - j + 1) · p_(j)).
    """
    p = np.asarray(pvalues, float)
    out = np.full(len(p), math.nan)
    real = np.flatnonzero(~np.isnan(p))
    order = real[np.argsort(p[real], kind="stable")]
    m, running = len(order), 0.0
    for j, i in enumerate(order):
        running = max(running, min(1.0, (m - j) * p[i]))
        out[i] = running
    return out.tolist()


def hedges_g(a, b) -> float:
    """Return Hedges' g of a − b: the mean difference over the pooled std, times 1 − 3 / (4(na + nb) − 9) (NaN if undefined)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return math.nan
    return float((a.mean() - b.mean()) / pooled * (1 - 3 / (4 * (na + nb) - 9)))


def pairwise_table(table: pd.DataFrame, criterion: str, lower_is_better: bool, by: str = "config") -> pd.DataFrame:
    """Return every pair of combinations on `criterion`: means, n, Welch p, Holm-adjusted p over the pairs, Hedges' g.

    Columns: criterion, a, b, mean_a, mean_b, n_a, n_b, p, p_holm, hedges_g (of a − b), better (a, b, "tie", or "n/a"
    where a side has fewer than two seeds).
    """
    if criterion not in table:
        raise ConfigError(f"unknown criterion {criterion!r}; columns: {sorted(table.columns)}")
    samples = {c: g[criterion].to_numpy(float) for c, g in table.groupby(by)}
    names = sorted(samples)
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            va, vb = samples[a], samples[b]
            rows.append(
                {
                    "criterion": criterion,
                    "a": a,
                    "b": b,
                    "mean_a": float(np.nanmean(va)) if np.isfinite(va).any() else math.nan,
                    "mean_b": float(np.nanmean(vb)) if np.isfinite(vb).any() else math.nan,
                    "n_a": int(np.isfinite(va).sum()),
                    "n_b": int(np.isfinite(vb).sum()),
                    "p": welch_p(va, vb),
                    "hedges_g": hedges_g(va, vb),
                }
            )
    cols = ["criterion", "a", "b", "mean_a", "mean_b", "n_a", "n_b", "p", "p_holm", "hedges_g", "better"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"])
    sign = 1 if lower_is_better else -1
    out["better"] = [
        "n/a" if math.isnan(r.p_holm) else (r.a if sign * r.mean_a < sign * r.mean_b else r.b) if r.p_holm < ALPHA else "tie"
        for r in out.itertuples()
    ]
    return out[cols]


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
    """Rank every group on `criterion` by its mean, sorted by rank; a difference Welch's test does not support after
    Holm's correction over all pairs (p_holm >= alpha) is a tie, and tied groups share a rank.

    rank = 1 + the number of groups with a better mean, leaving out those a test ties with it; `tied_with` lists them.
    A group with fewer than two runs is ranked by its mean as well, and `note` says ONE_SEED: no test can tie it to
    another or set it apart. A group without a value has no rank (NaN), listed last.
    p_vs_best: Welch p against the best mean that a test can use; p_vs_best_holm: the same, Holm-adjusted.
    """
    pairs = pairwise_table(table, criterion, lower_is_better, by)
    adjusted = {(r.a, r.b): r.p_holm for r in pairs.itertuples()} | {(r.b, r.a): r.p_holm for r in pairs.itertuples()}
    samples = {c: g[criterion].to_numpy(float) for c, g in table.groupby(by)}
    means = {c: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for c, v in samples.items()}
    counts = {c: int(np.isfinite(v).sum()) for c, v in samples.items()}
    sign = 1 if lower_is_better else -1
    names = sorted(samples, key=lambda c: (math.isnan(means[c]), sign * means[c] if not math.isnan(means[c]) else 0, c))
    best = next((c for c in names if counts[c] >= 2), names[0] if names else None)  # the best mean that a test can use
    rows = []
    for c in names:
        ahead, tied = 0, []
        for o in names:
            if o == c or math.isnan(means[c]) or math.isnan(means[o]):
                continue
            tested = counts[c] >= 2 and counts[o] >= 2
            if tested and not adjusted[(c, o)] < alpha:
                tied.append(o)
            elif sign * means[o] < sign * means[c]:
                ahead += 1  # significantly better, or better by its mean where no test is possible
        rows.append(
            {
                by: c,
                "criterion": criterion,
                "mean": means[c],
                "std": float(np.nanstd(samples[c], ddof=1)) if counts[c] > 1 else math.nan,
                "n": counts[c],
                "rank": math.nan if math.isnan(means[c]) else ahead + 1,
                "tied_with": ", ".join(tied),
                "note": ONE_SEED if 0 < counts[c] < 2 else "",
                "p_vs_best": welch_p(samples[c], samples[best]) if c != best else math.nan,
                "p_vs_best_holm": adjusted[(c, best)] if c != best else math.nan,
            }
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    # By rank, then as listed (by mean); groups without a value last.
    order = sorted(range(len(out)), key=lambda i: (pd.isna(out["rank"][i]), 0 if pd.isna(out["rank"][i]) else out["rank"][i], i))
    return out.iloc[order].reset_index(drop=True)
