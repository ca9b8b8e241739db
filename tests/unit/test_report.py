"""The study's statistics against synthetic metric rows with known means, spreads and t-test outcomes."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_ind

from musicgen.errors import ConfigError
from musicgen.study import ranking
from musicgen.study import stats as report
from musicgen.study.baselines import baseline_lines
from musicgen.study.curves import curve_bands_from


def fake_run(run_id, optimizer, loss, seed, valid_nll, valid_f1, train_loss, epoch_s=2.0, test=None, summary=None):
    """Return (run record, metric rows) of one synthetic run; lists are per epoch starting at 1."""
    run = {
        "id": run_id,
        "name": f"{optimizer}+{loss}/s{seed}",
        "status": "finished",
        "epochs_done": len(valid_nll),
        "config": {"train": {"optimizer": optimizer, "loss": loss, "seed": seed}, "model": {"hidden": 8}},
        "summary": summary or {},
    }
    rows = []
    for e, (n, f, t) in enumerate(zip(valid_nll, valid_f1, train_loss, strict=True), start=1):
        rows += [
            (run_id, e, None, "valid", "nll", n, None),
            (run_id, e, None, "valid", "f1_best", f, None),
            (run_id, e, None, "valid", "pred_pos_rate", 0.02 * e, None),
            (run_id, e, None, "valid", "density", 0.04, None),
            (run_id, e, None, "train", "loss", t, None),
            (run_id, e, None, "train", "epoch_s", epoch_s, None),
        ]
    for name, v in (test or {}).items():
        rows.append((run_id, len(valid_nll), None, "test", name, v, None))
    return run, rows


def frames(specs):
    runs, rows = [], []
    for spec in specs:
        r, m = fake_run(*spec[:7], **(spec[7] if len(spec) > 7 else {}))
        runs.append(r)
        rows += m
    cols = ["run_id", "epoch", "step", "split", "name", "value", "wall_time"]
    return pd.DataFrame(runs), pd.DataFrame(rows, columns=cols)


def test_run_row_reads_bests_convergence_and_rates():
    runs, m = frames(
        [
            (
                "r1",
                "adam",
                "bce",
                0,
                [9.0, 7.0, 8.0, 7.5],
                [0.2, 0.5, 0.9, 1.0],
                [5, 4, 3, 3],
                {"test": {"nll": 7.7, "f1": 0.1, "f1_best": 0.6, "pred_pos_rate": 0.03, "density": 0.05}},
            )
        ]
    )
    row = report.run_table_from(runs, m).iloc[0]
    assert row["config"] == "adam+bce" and row["seed"] == 0
    assert row["best_valid_nll"] == 7.0 and row["best_valid_f1"] == 1.0
    assert row["test_nll"] == 7.7 and row["test_f1"] == 0.6
    # 95% of the best F1 (1.0) is first reached at epoch 4 (0.9 < 0.95); elapsed = 4 epochs x 2 s.
    assert row["epochs_to_95"] == 4 and row["seconds_to_95"] == 8.0
    assert row["loss_spread"] == pytest.approx(np.std([5, 4, 3, 3], ddof=1) / np.mean([5, 4, 3, 3]))
    # The test split's rates win over the valid ones.
    assert row["pred_pos_rate"] == 0.03 and row["density"] == 0.05 and row["pos_rate_ratio"] == pytest.approx(0.6)
    assert row["pos_rate_error"] == pytest.approx(abs(math.log(0.6)))


def test_rates_fall_back_to_the_best_valid_epoch():
    runs, m = frames([("r1", "adam", "bce", 0, [9.0, 7.0, 8.0], [0.2, 0.5, 0.9], [5, 4, 3])])
    row = report.run_table_from(runs, m).iloc[0]
    assert row["pred_pos_rate"] == pytest.approx(0.04)  # epoch 2, the lowest valid NLL
    assert math.isnan(row["test_nll"])


def test_loss_spread_uses_the_last_k_epochs():
    assert report.loss_spread([100, 1, 2, 3], k=3) == pytest.approx(0.5)  # std 1 over mean 2
    assert math.isnan(report.loss_spread([1.0], k=3))
    # Scale-free: a loss ten times smaller with the same relative noise is as stable, not ten times more.
    assert report.loss_spread([10, 11, 9, 10], k=4) == pytest.approx(report.loss_spread([1.0, 1.1, 0.9, 1.0], k=4))


def test_loss_spikes_counts_only_jumps_beyond_three_sigma():
    rng = np.random.default_rng(0)
    x = 1.0 + 0.01 * rng.standard_normal(40)
    assert report.loss_spikes(x) == 0
    x[20] += 1.0
    x[33] += 1.0  # more than a window after the first, whose jump would widen the recent σ
    assert report.loss_spikes(x) == 2
    x[38] -= 1.0  # a drop is progress, not instability
    assert report.loss_spikes(x) == 2


def test_epochs_to_share_is_nan_when_nothing_was_learned():
    assert math.isnan(report.epochs_to_share(pd.Series([0.0, 0.0], index=[1, 2])))
    assert report.epochs_to_share(pd.Series([0.1, 0.96, 1.0], index=[1, 2, 3])) == 2


def _grouped_specs():
    # adam+bce: best nll 7, 8, 9 (mean 8, std 1); rmsprop+focal: 10, 10.5, 11 (mean 10.5, std 0.5).
    specs = []
    for i, v in enumerate([7.0, 8.0, 9.0]):
        specs.append((f"a{i}", "adam", "bce", i, [v + 1, v], [0.5, 0.6], [3, 2]))
    for i, v in enumerate([10.0, 10.5, 11.0]):
        specs.append((f"b{i}", "rmsprop", "focal", i, [v, v + 1], [0.4, 0.3], [3, 2]))
    return specs


def test_group_table_gives_known_means_stds_and_counts():
    t = report.run_table_from(*frames(_grouped_specs()))
    g = ranking.group_table(t).set_index("config")
    assert g.loc["adam+bce", "n"] == 3
    assert g.loc["adam+bce", "best_valid_nll_mean"] == pytest.approx(8.0)
    assert g.loc["adam+bce", "best_valid_nll_std"] == pytest.approx(1.0)
    assert g.loc["rmsprop+focal", "best_valid_nll_mean"] == pytest.approx(10.5)
    assert g.loc["rmsprop+focal", "best_valid_nll_std"] == pytest.approx(0.5)
    assert g.loc["rmsprop+focal", "optimizer"] == "rmsprop"
    with pytest.raises(ConfigError, match="cannot group by 'nope'"):
        ranking.group_table(t, by="nope")


def _table(values: dict) -> pd.DataFrame:
    return pd.DataFrame([{"config": c, "x": v} for c, vs in values.items() for v in vs])


def test_rank_table_separates_what_welch_supports_and_ties_the_rest():
    a, b, c = [1.0, 1.1, 0.9, 1.05], [5.0, 5.2, 4.8, 5.1], [1.2, 0.7, 1.5, 0.9]
    assert ttest_ind(a, b, equal_var=False).pvalue < 0.05 and ttest_ind(a, c, equal_var=False).pvalue >= 0.05
    r = ranking.rank_table(_table({"a": a, "b": b, "c": c}), "x", lower_is_better=True).set_index("config")
    assert r.loc["a", "rank"] == 1 and r.loc["c", "rank"] == 1  # a's edge over c is not supported: a tie
    assert r.loc["b", "rank"] == 3  # both others are significantly lower
    assert "c" in r.loc["a", "tied_with"] and r.loc["b", "tied_with"] == ""
    assert r.loc["b", "p_vs_best"] == pytest.approx(ttest_ind(b, a, equal_var=False).pvalue)
    assert r.index[0] == "a"  # ordered by mean
    flipped = ranking.rank_table(_table({"a": a, "b": b, "c": c}), "x", lower_is_better=False).set_index("config")
    assert flipped.loc["b", "rank"] == 1 and flipped.loc["a", "rank"] == 2


def test_rank_table_ranks_one_seed_groups_by_their_mean_and_marks_them():
    r = ranking.rank_table(_table({"a": [1.0], "b": [9.0]}), "x", lower_is_better=True)
    assert list(r["rank"]) == [1, 2] and list(r["note"]) == [ranking.ONE_SEED, ranking.ONE_SEED]


def test_welch_p_handles_constant_samples():
    assert ranking.welch_p([2, 2], [2, 2]) == 1.0
    assert ranking.welch_p([2, 2], [3, 3]) == 0.0
    assert math.isnan(ranking.welch_p([1], [2, 3]))


def test_rank_table_rejects_an_unknown_criterion():
    with pytest.raises(ConfigError, match="unknown criterion 'nope'"):
        ranking.rank_table(_table({"a": [1.0]}), "nope", True)


def test_curve_bands_by_epoch_give_mean_std_and_n():
    runs, m = frames(
        [
            ("r1", "adam", "bce", 0, [9.0, 7.0], [0.1, 0.2], [3, 2]),
            ("r2", "adam", "bce", 1, [11.0, 8.0, 6.0], [0.1, 0.2, 0.3], [3, 2, 1]),
        ]
    )
    b = curve_bands_from(runs, m, "nll", "valid").set_index("x")
    assert b.loc[1.0, "mean"] == 10.0 and b.loc[1.0, "std"] == pytest.approx(math.sqrt(2)) and b.loc[1.0, "n"] == 2
    assert b.loc[3.0, "mean"] == 6.0 and b.loc[3.0, "n"] == 1


def test_curve_bands_by_seconds_interpolate_without_extrapolating():
    runs, m = frames(
        [
            ("r1", "adam", "bce", 0, [9.0, 7.0], [0.1, 0.2], [3, 2], {"epoch_s": 1.0}),
            ("r2", "adam", "bce", 1, [9.0, 5.0], [0.1, 0.2], [3, 2], {"epoch_s": 2.0}),
        ]
    )
    b = curve_bands_from(runs, m, "nll", "valid", x="seconds", points=5)  # grid 0, 1, 2, 3, 4 s
    b = b.set_index("x")
    assert 0.0 not in b.index  # before the first epoch ended there is no value to show
    assert b.loc[1.0, "n"] == 1 and b.loc[1.0, "mean"] == 9.0
    assert b.loc[2.0, "n"] == 2 and b.loc[2.0, "mean"] == pytest.approx((7.0 + 9.0) / 2)
    assert b.loc[4.0, "n"] == 1 and b.loc[4.0, "mean"] == 5.0
    with pytest.raises(ConfigError, match="x must be 'epoch' or 'seconds'"):
        curve_bands_from(runs, m, "nll", "valid", x="steps")


def test_baseline_lines_give_each_baseline_that_has_the_metric():
    from musicgen.music import plots

    summary = {
        "baselines": {
            "silent": {"valid": {"f1": 0.0, "nll": None}},
            "copy_previous": {"valid": {"f1": 0.77, "nll": None}},
            "markov": {"valid": {"f1": 0.76, "nll": 6.1}, "test": {"nll": 6.3}},
        }
    }
    assert baseline_lines(summary, "nll") == {"per-note Markov chain": 6.1}
    assert baseline_lines(summary, "nll", "test") == {"per-note Markov chain": 6.3}
    assert baseline_lines(summary, "f1") == {
        "always silent": 0.0,
        "copy previous step": 0.77,
        "per-note Markov chain": 0.76,
    }
    assert baseline_lines({}, "f1") == {}
    fig = plots.add_reference_lines(plots.histogram_figure({"x": [1, 2]}, "t"), baseline_lines(summary, "f1"))
    assert [s.y0 for s in fig.layout.shapes] == [0.0, 0.77, 0.76]
    assert "per-note Markov chain 0.76" in [a.text for a in fig.layout.annotations]


def test_reliability_frame_is_the_diagram_as_a_table():
    from musicgen.study.summaries import reliability_frame

    bins = {
        "adam+bce": [
            {"lo": 0.0, "hi": 0.5, "count": 90, "predicted": 0.1, "observed": 0.12},
            {"lo": 0.5, "hi": 1.0, "count": 0, "predicted": None, "observed": None},
        ],
        "adam+focal": [
            {"lo": 0.0, "hi": 0.5, "count": 95, "predicted": 0.05, "observed": 0.2},
            {"lo": 0.5, "hi": 1.0, "count": 5, "predicted": 0.6, "observed": 1.0},
        ],
    }
    frame = reliability_frame(bins)
    assert list(frame.columns) == ["bin", "adam+bce", "adam+focal"]
    assert frame.to_dict("records") == [
        {"bin": "0.0–0.5", "adam+bce": "0.100 → 0.120 (90)", "adam+focal": "0.050 → 0.200 (95)"},
        {"bin": "0.5–1.0", "adam+bce": "–", "adam+focal": "0.600 → 1.000 (5)"},
    ]


def _seed_sweep() -> str:
    """Return a sweep in the store: adam+bce and rmsprop+bce, 3 seeds each, with test figures; rmsprop seed 9 diverged."""
    from musicgen.runs import store

    sid = store.create_sweep("grid", {"data": "builtin:bach"})
    baselines = {"markov": {"valid": {"nll": 6.0, "f1_best": 0.5}, "test": {"nll": 6.1, "f1_best": 0.5, "f1": 0.4}}}
    for opt, base in (("adam", 3.4), ("rmsprop", 3.7)):
        for seed in (0, 1, 2, 9) if opt == "rmsprop" else (0, 1, 2):
            config = {"data": "builtin:bach", "train": {"optimizer": opt, "loss": "bce", "seed": seed, "lr": 1e-3}}
            rid = store.create_run(f"{opt}-{seed}", config, dataset_id="h", sweep_id=sid, status="running")
            nll = 1e6 if seed == 9 else base + 0.01 * seed
            for epoch in (1, 2):
                store.log_metrics(rid, epoch, "train", {"loss": 1 / epoch, "epoch_s": 1.0})
                store.log_metrics(rid, epoch, "valid", {"nll": nll + 1 / epoch, "f1_best": 0.8, "threshold": 0.4})
            store.log_metrics(rid, 2, "test", {"nll": nll + 0.2, "f1_best": 0.8, "f1": 0.79})
            summary = {"best_epoch": 2, "best": {"nll": nll + 0.5}, "baselines": baselines, "test": {"nll": nll + 0.2}}
            store.update_run(rid, status="finished", epochs_done=2, summary=summary)
    return sid


def test_every_format_of_the_report_opens_with_the_verdict(home):
    from musicgen.study import document

    t = document.study_tables(_seed_sweep(), generation=False)
    lines = [item["sentence"] for item in t["study"]["verdict"]]
    assert lines[0].startswith("Likelihood: use adam+bce (test NLL 3.61 nats per step, n 3); it beats rmsprop+bce 3.91")
    assert lines[-1].startswith("Left out of the verdict and the ranks: 1 diverged run, rmsprop+bce (seed 9)")
    md = document.render(t, "md").splitlines()
    assert md[0].startswith("# Sweep ") and md[2] == "## Verdict" and md[4] == f"- {lines[0]}"
    assert "(1 of them diverged, left out)" in "\n".join(md)
    csv = document.render(t, "csv").splitlines()
    assert csv[: len(lines)] == [f"# {line}" for line in lines] and csv[len(lines)].startswith("id,")
    out = json.loads(document.render(t, "json"))
    assert list(out)[0] == "verdict" and [v["sentence"] for v in out["verdict"]] == lines
    assert out["verdict"][0]["use"] == ["adam+bce"]
    html = document.render(t, "html")
    assert html.index("<h2>Verdict</h2>") < html.index("<h2>Findings</h2>") and "Likelihood: use adam+bce" in html
    # The diverged run is in the run table and in no statistic.
    assert int(t["runs"]["diverged"].sum()) == 1 and set(t["ranks"]["n"]) == {3}
