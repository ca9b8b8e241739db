"""The divergence rule (runs.divergence) and where it shows: `runs --json`, `runs`, the study table."""

import json
import math

import pandas as pd
import pytest

from musicgen.cli import main
from musicgen.runs.divergence import DIVERGED_FACTOR, NON_FINITE, RULE, diverged, run_diverged

MARKOV = {"markov": {"valid": {"nll": 7.41, "f1_best": 0.586}}}


@pytest.mark.parametrize(
    ("nll", "markov", "expected"),
    [
        (math.nan, 7.41, True),
        (math.inf, None, True),
        (482183.932, 7.41, True),  # RMSprop at lr 1000, "finished"
        (2 * 7.41 + 0.01, 7.41, True),
        (2 * 7.41, 7.41, False),  # the factor itself is still trained
        (11.3, 10.49, False),  # a focal run on JSB: worse than the chain, not diverged
        (482183.932, None, False),  # no Markov figure: only the non-finite half of the rule
        (None, 7.41, False),  # no epoch yet: not judged
    ],
)
def test_the_rule(nll, markov, expected):
    assert DIVERGED_FACTOR == 2.0 and diverged(nll, markov) is expected


def test_a_run_is_judged_by_its_summary_or_its_non_finite_failure():
    assert run_diverged({"status": "finished", "summary": {"best": {"nll": 482183.9}, "baselines": MARKOV}})
    assert not run_diverged({"status": "finished", "summary": {"best": {"nll": 8.4}, "baselines": MARKOV}})
    assert run_diverged({"status": "failed", "error": f"the training loss {NON_FINITE} at epoch 3, batch 1", "summary": {}})
    assert not run_diverged({"status": "failed", "error": "out of memory", "summary": None})
    assert not run_diverged({"status": "queued"})


def test_runs_json_and_text_mark_a_diverged_run(home, capsys):
    from musicgen.runs import store

    config = {"data": "builtin:bach", "train": {"optimizer": "rmsprop", "loss": "bce", "lr": 1000.0, "seed": 0}}
    bad = store.create_run("rmsprop-lr1000", config, dataset_id="h", status="finished")
    store.update_run(bad, epochs_done=3, summary={"best_epoch": 3, "best": {"nll": 482183.932}, "baselines": MARKOV})
    good = store.create_run("adam", {**config, "train": {**config["train"], "optimizer": "adam", "lr": 1e-3}}, dataset_id="h")
    store.update_run(good, status="finished", epochs_done=3, summary={"best": {"nll": 7.2}, "baselines": MARKOV})
    assert main(["runs", "--json"]) == 0
    records = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert records[bad]["diverged"] is True and records[good]["diverged"] is False
    assert main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if line.startswith(bad)).endswith("DIVERGED")
    assert not next(line for line in lines if line.startswith(good)).endswith("DIVERGED")
    assert f"DIVERGED: {RULE}" in lines


def test_the_study_table_carries_the_flag():
    from musicgen.study import stats

    runs = pd.DataFrame(
        [
            {"id": "a", "name": "a", "status": "finished", "config": {}, "summary": {"best": {"nll": math.inf}}},
            {"id": "b", "name": "b", "status": "finished", "config": {}, "summary": {"best": {"nll": 3.0}}},
        ]
    )
    metrics = pd.DataFrame(columns=["run_id", "epoch", "step", "split", "name", "value", "wall_time"])
    table = stats.run_table_from(runs, metrics)
    assert list(table["diverged"]) == [True, False]
