"""`train --max-steps N`: a run ends after N optimizer steps, as a finished run (validated, checkpointed, tested)."""

import json

import pytest
import torch
from synthetic import TINY_ARGS, make_dataset

from musicgen.cli import main
from musicgen.paths import checkpoints_dir
from musicgen.runs import store
from musicgen.training.checkpoint import load_checkpoint


@pytest.fixture
def steps_taken(monkeypatch):
    taken = []
    real_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        taken.append(1)
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    return taken


@pytest.mark.parametrize(("max_steps", "epochs_done"), [(3, 1), (8, 2)])  # 24 train rows: 6 steps an epoch
def test_a_run_takes_exactly_max_steps_and_finishes(home, tmp_path, capsys, steps_taken, max_steps, epochs_done):
    data = make_dataset(tmp_path / "ds")
    argv = ["train", "--data", str(data), "--batch-size", "4", "--epochs", "5", "--threads", "1", "--device", "cpu"]
    assert main([*argv, "--json", "--max-steps", str(max_steps), *TINY_ARGS]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert len(steps_taken) == max_steps and summary["steps"] == max_steps
    assert summary["status"] == "finished" and summary["epochs_done"] == epochs_done and summary["test"]["nll"] > 0
    run = store.get_run(summary["id"])
    assert run["status"] == "finished" and run["config"]["train"]["max_steps"] == max_steps
    metrics = store.metrics_frame([summary["id"]])
    assert sorted(set(metrics[metrics.split == "valid"].epoch)) == list(range(1, epochs_done + 1))
    assert set(metrics[metrics.split == "test"].name) >= {"nll", "f1_best"}
    folder = checkpoints_dir() / summary["id"]
    assert load_checkpoint(folder / "last.pt")["steps"] == max_steps and (folder / "best.pt").is_file()


def test_without_max_steps_the_epochs_decide_and_a_bad_value_is_refused(home, tmp_path, capsys, steps_taken):
    data = make_dataset(tmp_path / "ds")
    argv = ["train", "--data", str(data), "--batch-size", "4", "--epochs", "2", "--threads", "1", "--device", "cpu"]
    assert main([*argv, "--json", *TINY_ARGS]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert len(steps_taken) == summary["steps"] == 12 and summary["epochs_done"] == 2
    assert main([*argv, "--max-steps", "-1", *TINY_ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "max_steps" in err.replace("-", "_")
