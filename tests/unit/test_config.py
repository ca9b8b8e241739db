"""Configs travel whole: every field of every config survives JSON, the app's job file and `train --config`."""

import dataclasses
import json

import numpy as np
import pytest

from musicgen.cli import build_parser, main
from musicgen.config import (
    DataConfig,
    ModelConfig,
    TrainConfig,
    from_dict,
    read_run_config,
    run_config,
    run_config_from_dict,
    to_dict,
)
from musicgen.runs import jobs, store

# A value other than the default for every field: False for booleans that default to True, None for
# optionals that default to a value, a value for those that default to None. A new field without an
# entry here fails test_every_field_has_a_non_default_value, so the round trips below keep covering it.
OTHER = {
    DataConfig: {
        "seq_len": 64,
        "hop": 16,
        "windows": "first",
        "steps_per_beat": None,
        "fs": 8.0,
        "low": 21,
        "high": 109,
        "split": (0.7, 0.2, 0.1),
        "seed": 5,
        "max_file_mb": 3.5,
        "pedal": False,
        "pedal_decay_s": 1.5,
    },
    ModelConfig: {
        "n_notes": 88,
        "conv_channels": 12,
        "conv_kernel": 1,
        "conv_layers": 0,
        "hidden": 24,
        "gru_layers": 3,
        "dropout": 0.0,
        "input_dropout": 0.25,
        "weight_drop": 0.4,
        "skip": False,
        "head": "nade",
        "nade_hidden": 64,
        "nade_layers": 2,
        "onsets": True,
        "position": True,
        "steps_per_beat": 4,
    },
    TrainConfig: {
        "optimizer": "sgd",
        "loss": "weighted-bce",
        "lr": 0.02,
        "weight_decay": 0.0,
        "epochs": 3,
        "batch_size": 5,
        "seed": 9,
        "device": "cpu",
        "precision": "bf16",
        "schedule": "plateau",
        "min_lr_ratio": 0.5,
        "plateau_patience": 4,
        "clip": 0.0,
        "ema": 0.9,
        "patience": 2,
        "monitor": "f1_best",
        "focal_gamma": 0.5,
        "focal_alpha": None,
        "pos_weight": 7.5,
        "asl_gamma_pos": 1.0,
        "asl_gamma_neg": 2.0,
        "asl_clip": 0.0,
        "beta1": 0.5,
        "beta2": 0.9,
        "eps": 1e-6,
        "alpha": 0.5,
        "momentum": 0.5,
        "rms_momentum": 0.25,
        "nesterov": True,
        "threads": 1,
        "bucket": False,
        "cuda_graphs": True,
        "transpose": 3,
        "max_steps": 7,
    },
}


def other(cls):
    return cls(**OTHER[cls])


@pytest.mark.parametrize("cls", list(OTHER))
def test_every_field_has_a_non_default_value(cls):
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(OTHER[cls]) == fields, f"add the new {cls.__name__} fields to OTHER: {fields - set(OTHER[cls])}"
    default = cls()
    for name in fields:
        assert getattr(other(cls), name) != getattr(default, name), name


@pytest.mark.parametrize("cls", list(OTHER))
def test_json_round_trip_is_exact(cls):
    for cfg in (cls(), other(cls)):
        assert from_dict(cls, json.loads(json.dumps(to_dict(cfg)))) == cfg


def test_the_apps_job_file_hands_the_whole_config_to_train(home):
    """False booleans and None values used to be dropped as command-line flags; the JSON file keeps them."""
    model, train = other(ModelConfig), other(TrainConfig)
    args = jobs.train_args("builtin:bach", model, train, name="my run")
    assert args[0] == "--config" and len(args) == 2
    parsed = build_parser().parse_args(["train", *args])
    assert read_run_config(parsed.config) == ("builtin:bach", "my run", model, train)
    assert json.loads(open(args[1]).read()) == run_config("builtin:bach", model, train, "my run")
    # The defaults too, which flags left out: a default must not be replaced by another default.
    assert read_run_config(jobs.train_args("d", ModelConfig(), TrainConfig())[1]) == ("d", None, ModelConfig(), TrainConfig())


def _tiny_dataset(out):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 8), ("valid", 4), ("test", 4)):
        x = (rng.random((n, 12, 12)) < 0.2).astype(np.uint8)
        arrays |= {
            split: x,
            f"{split}_lengths": np.full(n, 12, np.int64),
            f"{split}_starts": np.zeros(n, np.int64),
            f"{split}_files": np.array([f"{split}{i}.mid" for i in range(n)]),
        }
    out.mkdir(parents=True)
    np.savez(out / "dataset.npz", **arrays)
    cfg = to_dict(DataConfig(seq_len=12, low=60, high=72))
    (out / "report.json").write_text(json.dumps({"id": "tiny", "config": cfg}))
    return out


def test_train_config_file_is_the_stored_run_config(home, tmp_path, capsys):
    data = _tiny_dataset(tmp_path / "ds")
    model = ModelConfig(n_notes=12, conv_channels=4, hidden=8, gru_layers=1, dropout=0.0, skip=False)
    train = TrainConfig(optimizer="adam", epochs=1, batch_size=4, device="cpu", threads=1, bucket=False, focal_alpha=None)
    args = jobs.train_args(str(data), model, train, name="from file")
    assert main(["train", *args, "--json"]) == 0
    run = store.list_runs().iloc[0]
    assert run["name"] == "from file" and run["status"] == "finished"
    stored = run["config"]
    assert stored["model"]["skip"] is False and stored["train"]["bucket"] is False and stored["train"]["focal_alpha"] is None
    # The stored config reads back as the same run: it can be handed to `train --config` again.
    assert run_config_from_dict(stored)[1:] == (None, model, train)
    capsys.readouterr()


def test_config_file_errors_are_one_line(home, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    cases = [
        (tmp_path / "missing.json", None, "does not exist"),
        (bad, "{not json", "is not valid JSON"),
        (bad, json.dumps({"data": "d", "model": {}, "train": {"lr": -1}}), "lr must be > 0 and finite"),
        (bad, json.dumps({"data": "d", "train": {"optimiser": "adam"}}), "unknown TrainConfig keys \\['optimiser'\\]"),
        (bad, json.dumps({"data": "d", "extra": 1}), "unknown keys \\['extra'\\]"),
        (bad, json.dumps({"model": {}}), "names no dataset"),
        (bad, json.dumps([1, 2]), "must be a JSON object"),
        (bad, json.dumps({"data": "d", "model": {"hidden": "big"}}), "wrong type"),
    ]
    for path, text, match in cases:
        if text is not None:
            path.write_text(text)
        assert main(["train", "--config", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
        assert __import__("re").search(match, err), (match, err)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(run_config("d", ModelConfig(), TrainConfig())))
    assert main(["train", "--config", str(good), "--lr", "0.1", "--data", "x"]) == 2
    assert "drop --data, --lr or edit the file" in capsys.readouterr().err


def test_code_version_never_writes_the_repository(tmp_path):
    import os
    import subprocess

    from musicgen.config import code_version

    repo = tmp_path / "repo"
    (repo / "musicgen").mkdir(parents=True)
    (repo / "musicgen" / "x.py").write_text("A = 1\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    index = repo / ".git" / "index"
    os.utime(repo / "musicgen" / "x.py", (1, 1))  # stat info differs from the index: a plain `git status` rewrites it
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    assert code_version(repo).isalnum()  # a clean tree: the commit alone
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    # The control: without the flag git does refresh the stale entry and rewrite the index, so the check above can fail.
    subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], check=True, capture_output=True)
    assert index.read_bytes() != before[0]
    refreshed = (index.read_bytes(), index.stat().st_mtime_ns)
    (repo / "musicgen" / "x.py").write_text("A = 2\n")
    assert code_version(repo).endswith("+dirty")
    assert (index.read_bytes(), index.stat().st_mtime_ns) == refreshed
