"""When a run counts as diverged: the one rule that `runs`, `evaluate`, the pages and the study all apply.

A run has diverged when training stopped it because its loss or gradient became NaN or infinite (status failed,
the trainer's NonFiniteError), or when the validation NLL of the checkpoint it keeps (its best epoch's, `summary["best"]["nll"]`)
is not finite, or is more than DIVERGED_FACTOR times the per-note Markov chain's validation NLL on the same data.
The Markov chain (each note a two-state chain fitted on the training split) is the weakest model worth training:
a network at twice its NLL has learned less than nothing, as RMSprop at lr 1000 does (482,184 nats per step
against the chain's 7.4). Focal runs, whose probabilities are not calibrated, stay far inside the factor on the
study's data (the worst, 12.0 nats on JSB Chorales, is 1.15 times the chain's 10.5: docs/study/jsb-report.md). Without a Markov
figure (no training split) only the first half of the rule applies. A run without a validation NLL yet (queued, or
no epoch finished) is not judged.
"""

from __future__ import annotations

import math

NON_FINITE = "became NaN or infinite"  # in the error of a run the trainer stopped (training.train._fail)
DIVERGED_FACTOR = 2.0  # a validation NLL above this many times the Markov chain's marks a run diverged
RULE = (
    f"a run has diverged when its loss became NaN or infinite, or when its best validation NLL is not finite or above "
    f"{DIVERGED_FACTOR:g}× the per-note Markov chain's on the same data"
)


def diverged(nll, markov_nll=None) -> bool:
    """Return whether an NLL (nats per step) is not finite or above DIVERGED_FACTOR × the Markov chain's (None: not judged)."""
    if nll is None:
        return False
    if not isinstance(nll, int | float) or not math.isfinite(nll):
        return True
    return isinstance(markov_nll, int | float) and math.isfinite(markov_nll) and nll > DIVERGED_FACTOR * markov_nll


def run_diverged(run: dict) -> bool:
    """Return whether a stored run (a row of `store.list_runs`) has diverged: stopped as non-finite, or by its summary."""
    if run.get("status") == "failed" and NON_FINITE in str(run.get("error") or ""):
        return True
    summary = run.get("summary") if isinstance(run.get("summary"), dict) else {}
    best = summary.get("best") if isinstance(summary.get("best"), dict) else {}
    markov = ((summary.get("baselines") or {}).get("markov") or {}).get("valid") or {}
    return diverged(best.get("nll"), markov.get("nll"))
