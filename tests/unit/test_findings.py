"""The study's statistics and choices: Holm, CIs, Hedges' g, one-seed ranks, the lr choice, findings sentences."""

import math

import pandas as pd
import pytest

from musicgen.errors import ConfigError
from musicgen.study import findings, measures, ranking, summaries
from musicgen.study.tuning import choose_lrs, parse_lr_grid


def test_holm_against_a_hand_worked_example():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> kept monotone at 0.06
    assert ranking.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    out = ranking.holm([0.2, math.nan, 0.01])  # NaN is no test: m = 2
    assert out[0] == pytest.approx(0.2) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)
    assert ranking.holm([0.04, 0.03]) == pytest.approx([0.06, 0.06])  # 0.03·2, then 0.04·1 kept at 0.06 (monotone)
    assert ranking.holm([0.6, 0.7, 0.8]) == [1.0, 1.0, 1.0]


def test_mean_ci_uses_the_t_distribution():
    mean, lo, hi = ranking.mean_ci([1.0, 2.0, 3.0])
    # std 1, n 3, t(0.975, 2) = 4.302653: half width 4.302653 / sqrt(3)
    assert mean == 2.0 and hi - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6) and mean - lo == pytest.approx(hi - mean)
    assert math.isnan(ranking.mean_ci([5.0])[1])


def test_hedges_g_against_hand_computed_value():
    # means 2 and 5, both std 1: d = -3, correction 1 - 3 / (4·6 - 9) = 0.8
    assert ranking.hedges_g([1, 2, 3], [4, 5, 6]) == pytest.approx(-3 * 0.8)
    assert math.isnan(ranking.hedges_g([1], [4, 5]))


def _table(values: dict) -> pd.DataFrame:
    return pd.DataFrame([{"config": c, "x": v} for c, vs in values.items() for v in vs])


def test_rank_table_ranks_a_one_seed_group_by_its_mean_and_is_sorted_by_rank():
    r = ranking.rank_table(_table({"a": [1.0], "b": [9.0, 8.0, 8.5], "c": [3.0, 3.5, 3.2]}), "x", lower_is_better=True)
    assert list(r["config"]) == ["a", "c", "b"]
    assert list(r["rank"]) == [1, 2, 3]  # a: the best mean, untested; c beats b by Welch's test
    assert list(r["note"]) == [ranking.ONE_SEED, "", ""] and list(r["n"]) == [1, 3, 3]
    assert r.loc[0, "tied_with"] == ""  # a one-seed group can be tied to nothing


def test_pairwise_table_holm_adjusts_over_the_pairs():
    t = _table({"a": [1.0, 1.1, 0.9], "b": [5.0, 5.2, 4.8], "c": [1.2, 0.7, 1.5]})
    p = ranking.pairwise_table(t, "x", lower_is_better=True)
    assert list(zip(p["a"], p["b"], strict=True)) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert list(p["p_holm"]) == pytest.approx(ranking.holm(list(p["p"])))
    assert p.set_index(["a", "b"]).loc[("a", "b"), "better"] == "a"
    assert p.set_index(["a", "b"]).loc[("a", "c"), "better"] == "tie"


def _cand(opt, lr, status, nll, diverged=False):
    return {"optimizer": opt, "loss": "bce", "lr": lr, "status": status, "best_valid_nll": nll, "diverged": diverged}


def test_choose_lrs_takes_the_lowest_valid_nll_and_never_a_diverged_run():
    choices = choose_lrs(
        [
            _cand("adam", 1e-3, "finished", 5.0),
            _cand("adam", 1e-2, "finished", 4.5),
            _cand("adam", 1e-1, "failed", 1.0, diverged=True),  # lower NLL before it diverged: still not chosen
            _cand("rmsprop", 1e-3, "finished", 6.0),
            _cand("rmsprop", 1e-2, "finished", math.nan),
            _cand("sgd", 1e-3, "failed", math.nan, diverged=True),
        ]
    )
    assert choices["adam+bce"]["lr"] == 1e-2 and choices["rmsprop+bce"]["lr"] == 1e-3
    assert [c["status"] for c in choices["adam+bce"]["candidates"]] == ["finished", "finished", "diverged"]
    assert choices["sgd+bce"]["lr"] is None and "left out" in choices["sgd+bce"]["reason"]


def test_parse_lr_grid_sorts_and_rejects_bad_rates():
    assert parse_lr_grid("1e-2, 3e-4,1e-3") == [3e-4, 1e-3, 1e-2]
    for bad, match in (("1e-3,abc", "not a number"), ("0,1e-3", "positive"), ("", "empty"), ("1e-3,0.001", "repeats")):
        with pytest.raises(ConfigError, match=match):
            parse_lr_grid(bad)


def test_divergence_rate_per_optimizer():
    d = measures.divergence(
        choose_lrs([_cand("rmsprop", 1e-3, "finished", 5.0), _cand("rmsprop", 1e-2, "failed", math.nan, diverged=True)])
    ).set_index("optimizer")
    assert d.loc["rmsprop", "rate"] == 0.5 and d.loc["rmsprop", "trained_lrs"] == [1e-3]


def test_findings_say_tie_or_win_with_the_holm_p():
    rows = []
    for config, nlls in (("adam+bce", [5.0, 5.1, 4.9]), ("adamw+bce", [5.05, 5.0, 4.95]), ("rmsprop+bce", [7.0, 7.1, 6.9])):
        for i, v in enumerate(nlls):
            rows.append(
                {"config": config, "loss": "bce", "status": "finished", "test_nll": v, "final_valid_nll": v}
                | {"seconds_to_target": 10.0 * v + i, "epochs_to_95": 3.0, "gen_overlap": 0.9 - v / 10}
                | {"gen_polyphony": 3.0, "gen_note_length": 1.5, "gen_repetition": 0.01}
                | {k: 0.1 for k in ("pred_pos_rate", "density", "test_f1_at_half", "test_f1", "threshold", "ece")}
            )
    table = pd.DataFrame(rows)
    real = {"test windows": {"gen_polyphony": 3.9, "gen_note_length": 1.6, "gen_repetition": 0.1}}
    real["per-note Markov chain"] = {"gen_overlap": 0.3}
    out = findings.findings(
        {
            "runs": table,
            "pairs": measures.pairwise(table),
            "target_nll": {"bce": 7.0},
            "baselines": {"markov": {"nll": 6.0}},
            "real": real,
        }
    )
    quality = next(f for f in out if f["question"] == "generation quality")
    assert "tie on test NLL" in quality["sentence"] and "Holm-adjusted p" in quality["sentence"]
    assert "2 of 3 combinations beat the per-note Markov chain's test NLL" in quality["sentence"]
    assert "2 of 3 combinations beat the Markov chain's samples (0.3)" in quality["sentence"]  # rmsprop's 0.2 does not
    assert "polyphony 3 (real 3.9)" in quality["sentence"] and "repeated steps 0.01 (real 0.1)" in quality["sentence"]
    speed = next(f for f in out if f["question"] == "convergence speed")["sentence"]
    assert "seconds to validation NLL 7 (the worst bce combination's mean best)" in speed
    assert speed.count("Holm-adjusted p") == 2
    assert {f["question"] for f in out} == {"stability", "convergence speed", "generation quality", "sparsity and calibration"}


def test_lr_sensitivity_is_the_gap_between_the_worst_and_best_rate():
    choices = {
        "adam+bce": {"candidates": [{"lr": 1e-3, "best_valid_nll": 8.5}, {"lr": 1e-2, "best_valid_nll": 9.25}]},
        "rmsprop+bce": {"candidates": [{"lr": 1e-3, "best_valid_nll": 8.6}, {"lr": 1e-2, "status": "failed"}]},
    }
    assert measures.lr_sensitivity(choices) == {"adam+bce": pytest.approx(0.75)}  # one trained rate: no gap to state


def test_calibration_pools_counts_over_seeds():
    def run(pred, obs, count):
        bins = [{"lo": 0.0, "hi": 0.5, "count": count, "predicted": pred, "observed": obs}]
        return {
            "status": "finished",
            "config": {"train": {"optimizer": "adam", "loss": "bce"}},
            "summary": {"test": {"calibration": {"bins": bins}}},
        }

    pooled = measures.calibration_by_label(pd.DataFrame([run(0.2, 0.1, 1), run(0.4, 0.4, 3)]))
    b = pooled["adam+bce"][0]
    assert b["count"] == 4 and b["predicted"] == pytest.approx(0.35) and b["observed"] == pytest.approx(0.325)
    fig = summaries.reliability_figure(pooled)
    assert [tr.name for tr in fig.data] == ["perfectly calibrated", "adam+bce"]


def test_runs_of_one_combination_that_differ_beyond_the_seed_are_labelled_apart():
    from musicgen.study.groups import labels_apart

    labels = ["adam+bce", "adam+bce", "sgd+bce", "sgd+bce", "rms+bce", "rms+bce"]
    identities = [
        {"lr": 1e-3, "epochs": 100},
        {"lr": 0.3, "epochs": 100},
        {"lr": 1e-2, "epochs": 100},
        {"lr": 1e-2, "epochs": 100},  # seeds of one setting: one label
        {"lr": 1e-2, "epochs": 100},
        {"lr": 1e-2, "epochs": 200},  # an extended run is not a seed of the others
    ]
    assert labels_apart(labels, identities) == [
        "adam+bce · lr 1e-3",
        "adam+bce · lr 0.3",
        "sgd+bce",
        "sgd+bce",
        "rms+bce · epochs 100",
        "rms+bce · epochs 200",
    ]


def test_dynamics_frame_gives_mean_and_std_per_combination_then_the_references():
    table = pd.DataFrame(
        {
            "config": ["adam+bce", "adam+bce", "rmsprop+bce"],
            "status": ["finished", "finished", "finished"],
            "epochs_to_95": [4.0, 6.0, 9.0],
            "gen_overlap": [0.3, 0.5, 0.2],
        }
    )
    out = summaries.dynamics_frame(table, {"per-note Markov chain": {"gen_overlap": 0.25}})
    rows = out.set_index("config")
    assert rows.loc["adam+bce", "epochs to 95% of best valid F1"] == "5 ± 1.41"  # std with ddof 1: sqrt(2)
    assert rows.loc["rmsprop+bce", "overlap with real music metrics"] == "0.2"  # one seed: no ± part
    assert rows.loc["per-note Markov chain", "overlap with real music metrics"] == "0.25"
    assert list(out.columns) == ["config", "n", "epochs to 95% of best valid F1", "overlap with real music metrics"]


def test_a_lead_without_a_test_is_not_worded_as_a_win():
    table = pd.DataFrame([{"config": "adam+bce", "x": 8.531}, {"config": "adamw+bce", "x": 8.534}])
    sentence, numbers = findings._compare(table, pd.DataFrame(columns=["criterion", "a", "b"]), "x", True, "test NLL")
    assert sentence == "adam+bce and adamw+bce lead on test NLL (8.53 and 8.53); with 1 and 1 seeds no test can tell them apart."
    assert "best" not in sentence and "beats" not in sentence
