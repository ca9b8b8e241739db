"""The study's answer for a student: per criterion, which combination(s) to use, with the test behind it.

A pure function of the study table (`measures.study_table_from`: one row per run, `config` names its
group, `status`, `diverged`, the criteria's columns), the runs' baselines and the generation references.
Choices stated once:
- Only finished runs that did not diverge (`runs.divergence`) count; the verdict says which it left out.
- The best group is the best mean. Every other group whose difference from it Welch's test does not support
  (Holm-adjusted over all pairs of the criterion, as in the report's pairwise table: p >= ranking.ALPHA) is
  named with it as a tie, never as a loser; a group of one run can be neither tested nor tied, and is said so.
- "Beats the baseline" means a better mean than the best baseline on the same split (the Markov chain's NLL,
  the best F1 at the validation threshold of the three baselines, the Markov chain's samples for generation);
  when no group does, that criterion's sentence says so first, and it comes first in the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from musicgen.runs.divergence import RULE
from musicgen.study import ranking
from musicgen.study.baselines import BASELINE_LABELS

MARKOV_SAMPLES = "per-note Markov chain"  # the generation reference of the Markov chain's samples (document.study_tables)


@dataclass(frozen=True)
class Criterion:
    """One question of the verdict: the table column that answers it and how its figure reads."""

    name: str  # as the student reads it, e.g. "likelihood"
    columns: tuple[str, ...]  # the run-table column, then fallbacks (a sweep without a test split)
    lower_is_better: bool
    what: str  # the figure, e.g. "test NLL"
    unit: str = ""
    baseline_metric: str | None = None  # the baselines' metric on the same split (None: no baseline has this figure)


CRITERIA = (
    Criterion("likelihood", ("test_nll", "best_valid_nll"), True, "NLL", " nats per step", "nll"),
    Criterion(
        "F1 at the validation threshold", ("test_f1", "best_valid_f1"), False, "F1 at the validation threshold", "", "f1_best"
    ),
    Criterion("convergence speed", ("epochs_to_95",), True, "epochs to 95% of the run's best validation F1"),
    Criterion("stability", ("loss_spread",), True, "train-loss spread over the last epochs, std/mean"),
    Criterion("generation quality", ("gen_overlap",), False, "overlap of the samples' music metrics with the real music"),
)
SPLIT_OF = {"test_nll": "test", "test_f1": "test", "best_valid_nll": "valid", "best_valid_f1": "valid"}
NOT_MEASURED = {"generation quality": "no samples were measured (`python -m musicgen report` generates them)"}


def _f(x: float, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def _p(op: str, p: float) -> str:
    """Return 'Holm-adjusted p <op> p', as '< 0.001' below it (Welch's p of two constant, different samples is 0)."""
    return "Holm-adjusted p < 0.001" if p < 0.001 else f"Holm-adjusted p {'=' if p >= 1 else op} {_f(p, 2)}"


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _counts(counts: list[int]) -> str:
    return f"n {counts[0]} each" if len(set(counts)) == 1 else "n " + _names([str(c) for c in counts])


def best_baseline(criterion: Criterion, column: str, baselines: dict, real: dict) -> tuple[str, float] | None:
    """Return (label, value) of the best baseline on `criterion`'s figure, or None when no baseline has it.

    baselines: {kind: {"valid": metrics, "test": metrics}} as in a run summary; real: {name: generation figures}.
    """
    if column == "gen_overlap":
        value = (real.get(MARKOV_SAMPLES) or {}).get("gen_overlap")
        return ("the per-note Markov chain's samples", float(value)) if isinstance(value, int | float) else None
    if criterion.baseline_metric is None:
        return None
    split = SPLIT_OF.get(column, "valid")
    found = []
    for kind, by_split in (baselines or {}).items():
        value = ((by_split or {}).get(split) or {}).get(criterion.baseline_metric)
        if isinstance(value, int | float) and math.isfinite(value):
            found.append((f"the {BASELINE_LABELS.get(kind, kind)}", float(value)))
    if not found:
        return None
    sign = 1 if criterion.lower_is_better else -1
    return min(found, key=lambda lv: sign * lv[1])


def judge(table: pd.DataFrame, criterion: Criterion, baselines: dict | None = None, real: dict | None = None) -> dict:
    """Return the verdict on one criterion: {criterion, sentence, use (the groups to use), tie, beats_baseline, numbers}.

    table: the eligible runs only (finished, not diverged), `config` naming each run's group.
    """
    column = next((c for c in criterion.columns if c in table and table[c].notna().any()), None)
    out = {"criterion": criterion.name, "column": column, "use": [], "tie": False, "beats_baseline": None, "numbers": {}}
    title = criterion.name[0].upper() + criterion.name[1:]
    if column is None:
        why = NOT_MEASURED.get(criterion.name, "no finished run has this figure")
        return out | {"sentence": f"{title}: no verdict, {why}."}
    what = ("test " if column.startswith("test_") else "validation " if column.startswith("best_valid") else "") + (
        criterion.what
    )
    values = {c: g[column].to_numpy(float) for c, g in table.groupby("config")}
    values = {c: v[np.isfinite(v)] for c, v in values.items() if np.isfinite(v).any()}
    sign = 1 if criterion.lower_is_better else -1
    means = {c: float(v.mean()) for c, v in values.items()}
    order = sorted(means, key=lambda c: (sign * means[c], c))
    n = {c: len(values[c]) for c in order}
    best = order[0]
    pairs = ranking.pairwise_table(table[table["config"].isin(order)], column, criterion.lower_is_better)
    p = {(r.a, r.b): r.p_holm for r in pairs.itertuples()} | {(r.b, r.a): r.p_holm for r in pairs.itertuples()}

    def fig(c: str) -> str:
        return f"{c} {_f(means[c])}"

    others = order[1:]
    untested = [o for o in others if n[best] < 2 or n[o] < 2]
    tied = [o for o in others if o not in untested and not p[(best, o)] < ranking.ALPHA]
    beaten = [o for o in others if o not in untested and o not in tied]
    use = [best, *tied]
    numbers = {"means": means, "n": n, "p_holm_vs_best": {o: p.get((best, o), math.nan) for o in others}}
    if len(order) == 1:
        choice = f"only {best} has a figure ({what} {_f(means[best])}{criterion.unit}, n {n[best]}); nothing to compare"
    elif n[best] < 2:
        choice = (
            f"{best} has the best mean but one seed, so no test backs it ({what}: {', '.join(fig(c) for c in order[:3])}"
            f"{criterion.unit}; one seed: no test)"
        )
    elif tied:
        tie_p = min(p[(best, o)] for o in tied)
        choice = (
            f"{_names(use)} tie, use any of them ({what}: {', '.join(fig(c) for c in use)}{criterion.unit}; "
            f"{_p('=' if len(tied) == 1 else '≥', tie_p)}; {_counts([n[c] for c in use])})"
        )
    else:
        choice = f"use {best} ({what} {_f(means[best])}{criterion.unit}, n {n[best]})"
    if beaten and n[best] >= 2:
        subject = "it beats" if len(use) == 1 else "they beat"
        worst_p = max(p[(best, o)] for o in beaten)
        if len(beaten) <= 2:
            choice += f"; {subject} {', '.join(fig(o) for o in beaten)} ({_p('≤', worst_p)})"
        else:
            rest = "every other combination" if not untested else f"the {len(beaten)} others tested"
            choice += f"; {subject} {rest} (next best {fig(beaten[0])}; {_p('≤', worst_p)})"
    if untested and n[best] >= 2:
        choice += f"; {_names(untested)} {'has' if len(untested) == 1 else 'have'} one seed: no test"
    sentence = f"{title}: {choice}."
    base = best_baseline(criterion, column, baselines or {}, real or {})
    if base is not None:
        label, value = base
        beats = sign * means[best] < sign * value
        out["beats_baseline"] = beats
        numbers["baseline"] = {"label": label, "value": value}
        if beats:
            sentence = f"{title}: {choice}; better than the best baseline, {label} ({_f(value)})."
        else:
            sentence = (
                f"{title}: no combination beats the best baseline, {label} ({what} {_f(value)}{criterion.unit} against the "
                f"best combination, {best}'s {_f(means[best])}); among the combinations, {choice}."
            )
    return out | {"sentence": sentence, "use": use if n[best] >= 2 else [], "tie": bool(tied), "numbers": numbers}


def verdict(
    table: pd.DataFrame,
    baselines: dict | None = None,
    real: dict | None = None,
    repeats: list[dict] | None = None,
) -> list[dict]:
    """Return the verdict: one item per criterion (see `judge`), those no combination wins against the baseline first,
    then one item `left out` naming diverged and unfinished runs and repeated seeds, when there are any.

    table: the study table (every run); baselines: {kind: {"valid", "test"}} of a run summary; real: generation
    references ({name: figures}); repeats: `groups.unique_runs`' runs counted once.
    """
    if table.empty or not (table["status"] == "finished").any():
        return [{"criterion": "all", "sentence": "No run has finished yet: no verdict.", "use": []}]
    diverged = table["diverged"].fillna(False).astype(bool) if "diverged" in table else pd.Series(False, index=table.index)
    eligible = table[(table["status"] == "finished") & ~diverged]
    items = [judge(eligible, c, baselines, real) for c in CRITERIA] if len(eligible) else []
    items.sort(key=lambda item: item.get("beats_baseline") is not False)  # stable: "no combination beats" first
    left = []
    if diverged.any():
        names = [f"{r['config']} (seed {r['seed']})" if "seed" in r else r["config"] for _, r in table[diverged].iterrows()]
        left.append(f"{len(names)} diverged run{'s' if len(names) > 1 else ''}, {', '.join(names)} ({RULE})")
    unfinished = int(((table["status"] != "finished") & ~diverged).sum())
    if unfinished:
        left.append(f"{unfinished} run{'s' if unfinished > 1 else ''} that did not finish")
    if repeats:
        left.append(
            f"{len(repeats)} repeated run{'s' if len(repeats) > 1 else ''} (the same configuration and seed as a later run)"
        )
    if not len(eligible):
        items.append({"criterion": "all", "sentence": "No finished run is left to judge: no verdict.", "use": []})
    if left:
        items.append(
            {"criterion": "left out", "sentence": "Left out of the verdict and the ranks: " + "; ".join(left) + ".", "use": []}
        )
    return items


def verdict_lines(items: list[dict]) -> list[str]:
    """Return the verdict as text lines, one sentence each."""
    return [item["sentence"] for item in items]
