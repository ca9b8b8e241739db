"""Onset models through the CLI: train, evaluate and runs on an onset-aware dataset; hold-only datasets unchanged."""

import json

import numpy as np
import pytest
from synthetic import TINY_ARGS

from musicgen.cli import main
from musicgen.config import DataConfig, to_dict

ONSET_KEYS = ("onset_f1", "onset_precision", "onset_recall", "onset_threshold", "nll_sound", "nll_onset")


def synthetic_steps(n, steps, notes, rng):
    """Three-state rolls (n, steps, notes): notes of 1-5 steps struck on the beat (4 steps), often struck again at once."""
    x = np.zeros((n, steps, notes), np.uint8)
    for r in range(n):
        for i in range(notes):
            t = int(rng.integers(0, 4)) * 4
            while t < steps:
                length = int(rng.integers(1, 6))
                x[r, t, i] = 2
                x[r, t + 1 : t + length, i] = 1
                t += 4 * int(rng.integers(1, 3)) if rng.random() < 0.7 else length  # re-strike where the note ends
    return x


def write_dataset(folder, form="onsets", notes=6, seed=0):
    """Write an onset-aware (or hold-only) dataset folder as the data layer does: whole pieces in valid and test."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    arrays = {}
    for name, n, steps in (("train", 16, 32), ("valid", 2, 70), ("test", 2, 80)):
        x = synthetic_steps(n, steps, notes, rng)
        lengths = np.full(n, steps, np.int64)
        lengths[-1] -= 9
        x[-1, lengths[-1] :] = 0
        arrays |= {
            name: x if form == "onsets" else (x > 0).astype(np.uint8),
            f"{name}_lengths": lengths,
            f"{name}_files": np.array([f"song{k}.mid" for k in range(n)]),
            f"{name}_starts": np.arange(n, dtype=np.int64) * 16 if name == "train" else np.zeros(n, np.int64),
            f"{name}_bar_steps": np.full(n, 16, np.int64),
        }
    np.savez(folder / "dataset.npz", **arrays)
    cfg = to_dict(DataConfig(low=60, high=60 + notes, seq_len=32, hop=16))
    report = {"id": f"synthetic-{form}", "config": cfg, "files": [], "stats": {}}
    if form == "onsets":
        report |= {"form": "onsets", "scoring": "whole pieces"}
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def run_json(capsys, *argv):
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("head", ["independent", "nade"])
def test_an_onset_model_trains_and_reports_onset_f1_for_itself_and_each_baseline(home, tmp_path, capsys, head):
    data = write_dataset(tmp_path / "onsets")
    extra = ["--position", "--monitor", "onset_f1"] if head == "independent" else ["--nade-hidden", "8"]
    s = run_json(
        capsys, "train", "--data", str(data), "--head", head, "--epochs", "1", "--threads", "1", "--json", *TINY_ARGS, *extra
    )
    assert s["onsets"] and s["scoring"] == "whole pieces"
    for key in ONSET_KEYS:
        assert key in s["best"] and key in s["test"]
    assert s["best"]["nll"] == pytest.approx(s["best"]["nll_sound"] + s["best"]["nll_onset"])
    assert set(s["baselines"]) == {"silent", "copy_previous", "markov", "beat_prior"}
    assert all("onset_f1" in b["test"] for b in s["baselines"].values())
    assert s["baselines"]["copy_previous"]["test"]["onset_f1"] == 0

    r = run_json(capsys, "evaluate", s["id"], "--json")
    assert r["scoring"] == "whole pieces" and r["metrics"]["onset_f1"] == pytest.approx(s["test"]["onset_f1"])
    assert r["onset_threshold"] == s["best"]["onset_threshold"]  # chosen on validation, reused
    assert all("onset_f1" in m for m in r["baselines"].values())
    assert r["baselines"]["markov"]["nll"] == pytest.approx(s["baselines"]["markov"]["test"]["nll"])

    (record,) = run_json(capsys, "runs", "--json")
    assert record["best"]["onset_f1"] == s["best"]["onset_f1"] and "onset_f1" in record["test"]

    assert main(["evaluate", s["id"]]) == 0
    text = capsys.readouterr().out
    assert "scored on whole pieces" in text and text.splitlines()[1].startswith("model: onset_f1")
    reads = "struck, the position in the beat and the bar" if head == "independent" else "struck at each step"
    assert reads in text  # which inputs the checkpoint uses

    assert main(["ensemble", s["id"], s["id"], "--out", str(tmp_path / "e.pt")]) == 2
    assert "ensembles of onset models are not supported" in capsys.readouterr().err


def test_hold_only_datasets_keep_todays_metrics_and_refuse_position(home, tmp_path, capsys):
    data = write_dataset(tmp_path / "hold", form="hold")
    s = run_json(capsys, "train", "--data", str(data), "--epochs", "1", "--threads", "1", "--json", *TINY_ARGS)
    assert not s["onsets"] and s["scoring"] == "windows"
    assert not any(key in s["best"] or key in s["test"] for key in ONSET_KEYS)
    assert set(s["baselines"]) == {"silent", "copy_previous", "markov"}
    assert main(["evaluate", s["id"]]) == 0
    assert "scored on windows" in capsys.readouterr().out
    assert main(["train", "--data", str(data), "--epochs", "1", "--position", *TINY_ARGS]) == 2
    assert "--position reads the beat of onset-aware data" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--epochs", "1", "--monitor", "onset_f1", *TINY_ARGS]) == 2
    assert "has no onset F1" in capsys.readouterr().err
