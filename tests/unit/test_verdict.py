"""The verdict's wording on frames: a win, a tie, no combination beating the baseline, one seed, runs left out."""

import pandas as pd
import pytest

from musicgen.study import ranking
from musicgen.study.verdict import CRITERIA, judge, verdict

LIKELIHOOD = next(c for c in CRITERIA if c.name == "likelihood")
MARKOV_TEST = {"markov": {"valid": {"nll": 9.9}, "test": {"nll": 10.5, "f1_best": 0.11}}}


def _table(values: dict, column: str = "test_nll", **extra) -> pd.DataFrame:
    rows = [
        {"config": c, "seed": i, "status": "finished", "diverged": False, column: v, **extra}
        for c, vs in values.items()
        for i, v in enumerate(vs)
    ]
    return pd.DataFrame(rows)


def test_a_win_names_one_combination_with_its_test():
    t = _table({"adam+bce": [8.50, 8.58, 8.45], "rmsprop+bce": [8.70, 8.82, 8.69]})
    item = judge(t, LIKELIHOOD, MARKOV_TEST)
    p = ranking.pairwise_table(t, "test_nll", True)["p_holm"].iloc[0]
    assert 0.001 < p < ranking.ALPHA
    assert item["use"] == ["adam+bce"] and not item["tie"] and item["beats_baseline"]
    assert item["sentence"] == (
        "Likelihood: use adam+bce (test NLL 8.51 nats per step, n 3); it beats rmsprop+bce 8.74 "
        f"(Holm-adjusted p ≤ {p:.2g}); better than the best baseline, the per-note Markov chain (10.5)."
    )
    # Far apart: the p-value reads '< 0.001', never '≤ 0' (two constant, different samples have Welch p 0).
    far = judge(_table({"adam+bce": [8.5, 8.5], "rmsprop+bce": [9.5, 9.5]}), LIKELIHOOD)
    assert "it beats rmsprop+bce 9.5 (Holm-adjusted p < 0.001)" in far["sentence"]


def test_a_tie_is_named_as_a_tie_never_as_a_win():
    # The report once said "adam+bce has the best test NLL (8.53 against adamw+bce's 8.53)".
    t = _table({"adam+bce": [8.53, 8.50, 8.56], "adamw+bce": [8.52, 8.57, 8.51], "rmsprop+focal": [11.1, 11.0, 11.2]})
    item = judge(t, LIKELIHOOD, MARKOV_TEST)
    assert item["tie"] and sorted(item["use"]) == ["adam+bce", "adamw+bce"]
    s = item["sentence"]
    pairs = ranking.pairwise_table(t, "test_nll", True).set_index(["a", "b"])
    tie_p = pairs.loc[("adam+bce", "adamw+bce"), "p_holm"]
    assert tie_p >= ranking.ALPHA
    assert s.startswith(
        f"Likelihood: adam+bce and adamw+bce tie, use any of them (test NLL: adam+bce 8.53, adamw+bce 8.53 nats per step; "
        f"Holm-adjusted p = {tie_p:.2g}; n 3 each)"
    )
    assert "they beat rmsprop+focal 11.1" in s and "use adam+bce (" not in s and "beats" not in s


def test_no_combination_beating_the_baseline_comes_first():
    t = _table({"adam+bce": [8.53, 8.50, 8.56], "rmsprop+bce": [9.0, 9.1, 9.05]}, test_f1=0.4)
    baselines = {"markov": {"test": {"nll": 7.41, "f1_best": 0.2}}, "copy_previous": {"test": {"f1_best": 0.36}}}
    items = verdict(t, baselines)
    assert [i["criterion"] for i in items][:2] == ["likelihood", "F1 at the validation threshold"]
    first = items[0]["sentence"]
    assert first.startswith(
        "Likelihood: no combination beats the best baseline, the per-note Markov chain (test NLL 7.41 nats per step "
        "against the best combination, adam+bce's 8.53); among the combinations, use adam+bce"
    )
    assert items[0]["beats_baseline"] is False and items[1]["beats_baseline"] is True  # F1 0.4 beats copy's 0.36
    # The best F1 baseline is the best of the three (copy previous step's 0.36, not the Markov chain's 0.2).
    assert items[1]["numbers"]["baseline"] == {"label": "the copy previous step", "value": 0.36}


def test_one_seed_groups_get_no_test_and_no_choice():
    item = judge(_table({"adam+bce": [8.41], "adamw+bce": [7.21]}), LIKELIHOOD)
    assert item["use"] == []
    assert item["sentence"].startswith("Likelihood: adamw+bce has the best mean but one seed, so no test backs it")
    assert "one seed: no test" in item["sentence"]


def test_diverged_unfinished_and_repeated_runs_are_left_out_and_said():
    t = _table({"adam+bce": [8.5, 8.51, 8.52], "rmsprop+bce": [1.0, 9.9, 9.8, 9.85]})
    t.loc[3, "diverged"] = True  # rmsprop's seed 0: a figure that would win, had it counted
    t.loc[len(t)] = {"config": "adamw+bce", "seed": 0, "status": "stopped", "diverged": False, "test_nll": 0.5}
    items = verdict(t, repeats=[{"dropped": "r1", "kept": "r2"}])
    assert items[0]["use"] == ["adam+bce"] and "adamw+bce" not in items[0]["sentence"]
    left = items[-1]
    assert left["criterion"] == "left out"
    assert "1 diverged run, rmsprop+bce (seed 0)" in left["sentence"]
    assert "1 run that did not finish" in left["sentence"] and "1 repeated run" in left["sentence"]


def test_missing_figures_say_why_and_no_finished_run_says_so():
    items = verdict(_table({"adam+bce": [8.5, 8.6]}))
    gen = next(i for i in items if i["criterion"] == "generation quality")
    assert "no samples were measured" in gen["sentence"] and "report" in gen["sentence"]
    none = verdict(_table({"adam+bce": [8.5]}).assign(status="running"))
    assert [i["sentence"] for i in none] == ["No run has finished yet: no verdict."]


@pytest.mark.parametrize("lower", [True, False])
def test_judge_follows_the_direction_of_the_criterion(lower):
    spec = next(c for c in CRITERIA if c.lower_is_better is lower and c.baseline_metric is None)
    t = _table({"a": [1.0, 1.1, 0.9], "b": [5.0, 5.1, 4.9]}, column=spec.columns[0])
    assert judge(t, spec)["use"] == (["a"] if lower else ["b"])
