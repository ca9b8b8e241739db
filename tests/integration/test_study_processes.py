"""A two-stage study end to end through the CLI: the lr stage's choice, the seed stage at it, resume, the report."""

import json

import pytest
from synthetic import make_dataset

from musicgen.cli import main
from musicgen.runs import store
from musicgen.study import stats
from musicgen.study.plan import latest_runs

STUDY = [
    "study", "--data", "syn", "--optimizers", "adam,rmsprop", "--losses", "bce", "--lr-grid", "1e-3,3e-1",
    "--seeds", "2", "--max-epochs", "2", "--patience", "1", "--workers", "2",
    "--conv-channels", "4", "--hidden", "8", "--gru-layers", "1", "--batch-size", "8", "--threads", "1", "--json",
]  # fmt: skip


def run_study(capsys) -> dict:
    assert main(STUDY) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_study_tunes_lr_then_trains_seeds_resumes_and_reports(home, capsys):
    make_dataset(home / "data" / "syn")
    result = run_study(capsys)

    # Stage 1: each optimizer at each rate, one seed; the chosen rate has the lowest stored best validation NLL.
    lr_runs = list(latest_runs(result["lr_sweep_id"]).values())
    assert len(lr_runs) == 4 and {r["config"]["train"]["seed"] for r in lr_runs} == {0}
    table = stats.run_table([r["id"] for r in lr_runs])
    for opt in ("adam", "rmsprop"):
        rows = table[table["optimizer"] == opt]
        best_lr = float(rows.loc[rows["best_valid_nll"].idxmin(), "lr"])
        assert result["choices"][f"{opt}+bce"]["lr"] == best_lr

    # Stage 2: every seed of each combination at its chosen rate.
    seed_runs = latest_runs(result["seed_sweep_id"])
    assert len(seed_runs) == 4 and all(r["status"] == "finished" for r in seed_runs.values())
    for r in seed_runs.values():
        train = r["config"]["train"]
        assert train["lr"] == result["choices"][f"{train['optimizer']}+bce"]["lr"]
        assert train["epochs"] == 2 and train["patience"] == 1 and train["monitor"] == "nll"
    config = store.get_sweep(result["seed_sweep_id"])["config"]
    assert config["study"]["lr_grid"] == [1e-3, 3e-1] and config["study"]["budget"]["max_epochs"] == 2

    # The same command again finds both stages and trains nothing.
    ids = {s: sorted(store.list_runs(result[s])["id"]) for s in ("lr_sweep_id", "seed_sweep_id")}
    again = run_study(capsys)
    assert (again["lr_sweep_id"], again["seed_sweep_id"]) == (result["lr_sweep_id"], result["seed_sweep_id"])
    assert again["lr"]["skipped"] == 4 and again["seeds"]["skipped"] == 4 and again["seeds"]["outcome"] == {}
    assert {s: sorted(store.list_runs(result[s])["id"]) for s in ids} == ids

    # An interrupted study: one seed-stage run left failed; the next call trains that one alone.
    broken = next(iter(seed_runs.values()))["id"]
    store.update_run(broken, status="failed", error="process died")
    resumed = run_study(capsys)
    assert list(resumed["seeds"]["outcome"]) == [broken] and resumed["seeds"]["outcome"][broken] == "finished"
    assert resumed["lr"]["outcome"] == {} and resumed["seeds"]["skipped"] == 3

    # The report opens with findings and carries the lr stage, baselines, Holm-corrected p-values and calibration.
    assert main(["report", result["seed_sweep_id"], "--format", "json", "--samples", "0"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {f["question"] for f in report["findings"]} >= {"stability", "generation quality", "sparsity and calibration"}
    assert report["lr_stage"]["choices"] == result["choices"]
    assert {"silent", "copy_previous", "markov"} <= set(report["baselines"])
    assert report["pairs"] and all("p_holm" in p for p in report["pairs"])
    assert set(report["calibration"]) == {"adam+bce", "rmsprop+bce"}
    # The verdict first: one sentence per criterion, each naming what to use or why there is no verdict.
    assert list(report)[0] == "verdict"
    criteria = [v["criterion"] for v in report["verdict"]]
    assert set(criteria) >= {"likelihood", "F1 at the validation threshold", "convergence speed", "stability"}
    assert all(v["sentence"].endswith(".") and "\n" not in v["sentence"] for v in report["verdict"])
    assert main(["report", result["seed_sweep_id"], "--samples", "0"]) == 0
    md = capsys.readouterr().out
    assert md.index("## Verdict") < md.index("## Findings") < md.index("## Learning-rate stage") < md.index("## Runs")
    assert report["verdict"][0]["sentence"] in md

    # The lr stage's own report keeps its rates apart: one row per rate, never a mean over rates called seeds.
    assert main(["report", result["lr_sweep_id"], "--format", "json", "--samples", "0"]) == 0
    lr_report = json.loads(capsys.readouterr().out)
    assert set(lr_report["calibration"]) == {f"{c} · lr {r}" for c in ("adam+bce", "rmsprop+bce") for r in ("1e-3", "0.3")}
    assert main(["report", result["lr_sweep_id"], "--samples", "0"]) == 0
    md = capsys.readouterr().out
    assert "| adam+bce · lr 1e-3 | 1 |" in md and "| adam+bce | " not in md and "Grid ," not in md
