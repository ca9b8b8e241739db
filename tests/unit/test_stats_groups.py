"""Grouping runs like with like: the identity (dataset, model, training minus the seed), labels, clipped bands."""

import math

import pandas as pd
import pytest

from musicgen.errors import ConfigError
from musicgen.study import ranking, stats
from musicgen.study.baselines import baseline_rows
from musicgen.study.curves import curve_bands_from, curve_points_from
from musicgen.study.groups import identity_of, repeats_note, run_groups, unique_runs

COLUMNS = ["run_id", "epoch", "step", "split", "name", "value", "wall_time"]


def run(run_id, dataset="bach", seed=0, lr=3e-3, optimizer="adamw", loss="bce", threads=0, hidden=8):
    return {
        "id": run_id,
        "name": run_id,
        "status": "finished",
        "dataset_id": "hash" + run_id,
        "config": {
            "data": f"builtin:{dataset}",
            "dataset": dataset,
            "model": {"hidden": hidden},
            "train": {"optimizer": optimizer, "loss": loss, "seed": seed, "lr": lr, "threads": threads},
        },
        "summary": {},
    }


def metrics(values: dict[str, list[float]], name="f1_best", epoch_s=1.0) -> pd.DataFrame:
    rows = []
    for rid, vs in values.items():
        for e, v in enumerate(vs, start=1):
            rows += [(rid, e, None, "valid", name, v, None), (rid, e, None, "train", "epoch_s", epoch_s, None)]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_two_datasets_with_the_same_optimizer_loss_and_seed_are_two_groups():
    runs = pd.DataFrame([run("a", "bach", lr=3e-3), run("b", "piano", lr=5e-4)])
    table = stats.run_table_from(runs, metrics({"a": [0.5], "b": [0.3]}))
    assert list(table["group"]) == ["adamw+bce · bach · lr 3e-3", "adamw+bce · piano · lr 5e-4"]
    assert list(table["dataset"]) == ["bach", "piano"] and list(table["lr"]) == [3e-3, 5e-4]
    bands = curve_bands_from(runs, metrics({"a": [0.5], "b": [0.3]}), "f1_best", "valid")
    assert sorted(bands["config"]) == sorted(table["group"]) and set(bands["n"]) == {1}


def test_seeds_and_speed_options_alone_make_one_group_of_two():
    runs = pd.DataFrame([run("a", seed=0, threads=1), run("b", seed=1, threads=4)])
    m = metrics({"a": [0.2, 0.4], "b": [0.4, 0.6]})
    table = stats.run_table_from(runs, m)
    assert table["group"].nunique() == 1 and table["group"][0] == "adamw+bce"
    bands = curve_bands_from(runs, m, "f1_best", "valid").set_index("x")
    assert list(bands["n"]) == [2, 2] and bands.loc[2.0, "mean"] == pytest.approx(0.5)
    assert bands.loc[1.0, "std"] == pytest.approx(math.sqrt(0.02))


def test_a_queued_run_and_its_started_twin_share_an_identity():
    # A sweep queues {data, model, train} as planned; the trainer stores the full config with its defaults.
    queued = {"data": "builtin:bach", "model": {}, "train": {"optimizer": "adam", "loss": "bce", "seed": 0}}
    started = {**queued, "dataset": "bach", "device": "cpu", "train": {**queued["train"], "weight_decay": 0.0, "seed": 3}}
    assert identity_of(queued) == identity_of(started)
    assert "seed" not in identity_of(started) and "threads" not in identity_of(started)


def test_chosen_keys_merge_what_they_leave_out_and_no_keys_give_each_run_its_line():
    runs = pd.DataFrame([run("a", "bach"), run("b", "piano"), run("c", "piano", hidden=16)])
    assert run_groups(runs, ["optimizer", "loss"]) == ["adamw+bce"] * 3
    assert run_groups(runs, ["dataset"]) == ["bach", "piano", "piano"]
    assert run_groups(runs, ["optimizer", "loss", "model size"]) == ["adamw+bce · hidden 8"] * 2 + ["adamw+bce · hidden 16"]
    assert run_groups(runs, []) == ["a", "b", "c"]
    with pytest.raises(ConfigError, match="cannot group by \\['colour'\\]"):
        run_groups(runs, ["colour"])


@pytest.mark.parametrize(
    ("metric", "values", "lo", "hi"),
    [
        ("f1_best", ([0.9, 0.1], [0.9, 0.95]), 0.0, 1.0),
        ("precision_best", ([0.9, 0.1], [0.9, 0.95]), 0.0, 1.0),  # every rate at its threshold, not only F1
        ("nll", ([0.1, 9.0], [0.1, 0.2]), 0.0, math.inf),
    ],
)
def test_bands_are_clipped_to_the_metric_range(metric, values, lo, hi):
    runs = pd.DataFrame([run("a", seed=0), run("b", seed=1)])
    m = metrics({"a": values[0], "b": values[1]}, name=metric)
    b = curve_bands_from(runs, m, metric, "valid")
    assert (b["lo"] >= lo).all() and (b["hi"] <= hi).all()
    assert (b["mean"] - b["std"] < lo).any() or (b["mean"] + b["std"] > hi).any()  # the clip did something
    assert ((b["lo"] == b["mean"] - b["std"]) | (b["lo"] == lo)).all()


def test_seconds_bands_keep_a_lone_run_on_its_real_points_and_mark_interpolation():
    alone = pd.DataFrame([run("a")])
    b = curve_bands_from(alone, metrics({"a": [0.1, 0.2, 0.3]}, epoch_s=2.0), "f1_best", "valid", x="seconds")
    assert list(b["x"]) == [2.0, 4.0, 6.0] and b["real"].all()
    pair = pd.DataFrame([run("a", seed=0), run("b", seed=1)])
    m = metrics({"a": [0.1, 0.2, 0.3], "b": [0.2, 0.4]})
    b = curve_bands_from(pair, m, "f1_best", "valid", x="seconds", points=7)
    assert not b["real"].any()
    points = curve_points_from(pair, m, "f1_best", "valid", x="seconds")
    assert sorted(zip(points["run_id"], points["x"], strict=True)) == [("a", 1.0), ("a", 2.0), ("a", 3.0), ("b", 1.0), ("b", 2.0)]


def test_baseline_rows_are_per_dataset():
    a, b = run("a", "bach"), run("b", "piano")
    a["summary"] = {"baselines": {"copy_previous": {"valid": {"f1": 0.77, "f1_best": 0.77}}}}
    b["summary"] = {"baselines": {"markov": {"valid": {"nll": 4.2, "f1_best": 0.5, "threshold": 0.3}}}}
    rows = baseline_rows(pd.DataFrame([a, b]))
    assert list(zip(rows["dataset"], rows["baseline"], strict=True)) == [
        ("bach", "copy previous step"),
        ("piano", "per-note Markov chain"),
    ]
    assert rows["nll"].iloc[1] == 4.2 and math.isnan(rows["nll"].iloc[0])


def test_a_repeated_seed_counts_once_and_every_group_is_ranked_by_its_mean():
    # The case: an lr-stage run and its seed-stage twin (same config, same seed) pooled as "n 2, std 0" and
    # ranked first (valid NLL 8.41) while the better group (7.21, one run) got no rank.
    lr_stage = {**run("lr-stage", lr=1e-3, seed=0), "created": "2026-11-27T00:35:00"}
    seed_stage = {**run("seed-stage", lr=1e-3, seed=0), "created": "2026-11-27T00:41:00"}
    other = {**run("other", lr=3e-3, seed=0), "created": "2026-11-27T00:41:00"}
    runs = pd.DataFrame([lr_stage, seed_stage, other])
    kept, repeats = unique_runs(runs)
    assert list(kept["id"]) == ["seed-stage", "other"] and repeats == [{"dropped": "lr-stage", "kept": "seed-stage"}]
    assert "lr-stage (repeats seed-stage)" in repeats_note(repeats) and repeats_note([]) == ""
    table = stats.run_table_from(kept, metrics({"lr-stage": [8.41], "seed-stage": [8.41], "other": [7.21]}, name="nll"))
    ranks = ranking.rank_table(table, "best_valid_nll", True, by="group")
    assert list(ranks["group"]) == ["adamw+bce · lr 3e-3", "adamw+bce · lr 1e-3"]
    assert list(ranks["rank"]) == [1, 2] and list(ranks["n"]) == [1, 1]
    assert list(ranks["note"]) == [ranking.ONE_SEED] * 2 and list(ranks["mean"]) == [7.21, 8.41]


def test_a_two_seed_group_and_a_one_run_group_are_both_ranked():
    runs = pd.DataFrame([run("a0", seed=0), run("a1", seed=1), run("b0", seed=0, lr=1e-2)])
    m = metrics({"a0": [5.0], "a1": [5.2], "b0": [6.0]}, name="nll")
    ranks = ranking.rank_table(stats.run_table_from(runs, m), "best_valid_nll", True, by="group").set_index("group")
    assert ranks.loc["adamw+bce · lr 3e-3", "rank"] == 1 and ranks.loc["adamw+bce · lr 3e-3", "n"] == 2
    assert ranks.loc["adamw+bce · lr 3e-3", "note"] == ""
    assert ranks.loc["adamw+bce · lr 0.01", "rank"] == 2 and ranks.loc["adamw+bce · lr 0.01", "note"] == ranking.ONE_SEED
