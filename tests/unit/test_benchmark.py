import json
from pathlib import Path

from musicgen.cli import main
from musicgen.training.checkpoint import SHIPPED, load_checkpoint


def run_json(capsys, *args) -> dict:
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_shipped_jsb_checkpoint_beats_the_published_gru(home, jsb_mat, capsys):
    r = run_json(capsys, "benchmark", "jsb", "--mat", str(jsb_mat), "--checkpoint", "jsb", "--device", "cpu", "--json")
    assert r["test"]["steps"] == 4725 - 77  # every test step but each chorale's first is predicted
    gru = next(p["nll"] for p in r["published"] if p["model"] == "GRU")
    assert r["test"]["nll"] < gru == 8.43
    assert abs(r["test"]["nll"] - 8.116) < 0.01  # the figure in checkpoints/jsb/README.md
    assert r["model"] == "ensemble of 6: Conv1D+GRU ×4, GRU ×2"  # two members have no conv layer
    assert r["test"]["f1_best"] > r["baselines"]["copy_previous"]["f1"]


def test_shipped_nade_checkpoint_reaches_rnn_nade_territory(home, jsb_mat, capsys):
    r = run_json(capsys, "benchmark", "jsb", "--mat", str(jsb_mat), "--checkpoint", "jsb-nade", "--device", "cpu", "--json")
    assert r["heads"] == ["nade"] and r["test"]["steps"] == 4725 - 77
    assert r["model"] == "GRU+deep NADE"  # the recipe has no conv layer and 3 NADE layers: named as its config has it
    assert r["test"]["nll"] < 5.56  # RNN-NADE's published figure, beside it in the table
    assert abs(r["test"]["nll"] - 5.1832) < 0.001  # the figure in checkpoints/jsb-nade/README.md (the goal: <= 5.2)
    assert r["test"]["f1_best"] > r["baselines"]["copy_previous"]["f1"]
    assert load_checkpoint(SHIPPED["jsb-nade"]).get("optimizer_state") is None  # exported for use only


def test_recipe_with_members_trains_them_and_evaluates_their_ensemble(home, jsb_mat, tmp_path, capsys):
    recipe = tmp_path / "tiny.json"
    recipe.write_text(
        json.dumps(
            {
                "model": {"conv_channels": 8, "hidden": 16, "gru_layers": 1},
                "train": {"epochs": 1, "batch_size": 32, "threads": 1},
                "members": [{"seeds": [1, 2]}, {"seeds": [3], "model": {"conv_layers": 0}}],
                "select": 2,
            }
        )
    )
    r = run_json(capsys, "benchmark", "mat", "--mat", str(jsb_mat), "--recipe", str(recipe), "--device", "cpu", "--json")
    assert Path(r["checkpoint"]).parent.name.startswith("ensemble-")
    assert r["test"]["nll"] > 0 and r["published"] == []  # `mat` has no published table
    runs = run_json(capsys, "runs", "--json")
    assert len(runs) == 3 and all(x["status"] == "finished" for x in runs)
    ckpt = load_checkpoint(r["checkpoint"])
    assert 1 <= ckpt["ensemble"] <= 2 and [p["member"] for p in ckpt["selection"]] == ckpt["members"]
    assert set(ckpt["members"]) <= {x["id"] for x in runs}
    recipe.write_text(json.dumps({"members": [{"seeds": [1, 2]}], "select": 0}))
    assert main(["benchmark", "mat", "--mat", str(jsb_mat), "--recipe", str(recipe)]) == 2
    assert "'select' must be an integer >= 1" in capsys.readouterr().err


def test_model_name_follows_the_config():
    from musicgen.study.literature import format_benchmark, model_name

    assert model_name([{"conv_layers": 1, "head": "independent"}]) == "Conv1D+GRU"
    assert model_name([{"conv_layers": 0, "head": "nade", "nade_layers": 1}]) == "GRU+NADE"
    metrics = {"nll": 5.0, "f1": 0.3, "f1_best": 0.6, "frame_acc_best": 0.4, "threshold": 0.25}
    result = {"benchmark": "jsb", "checkpoint": "/x/jsb-nade/best.pt", "model": "GRU+deep NADE", "test": metrics}
    text = format_benchmark({**result, "valid": metrics, "published": [], "baselines": {}})
    assert "musicgen GRU+deep NADE (jsb-nade)" in text and "Conv1D" not in text


def test_bad_inputs_are_one_line_errors(home, jsb_mat, tmp_path, capsys):
    bogus = tmp_path / "bogus.mat"
    bogus.write_bytes(b"not a mat file")
    assert main(["benchmark", "jsb", "--mat", str(bogus), "--checkpoint", "jsb"]) == 2
    assert "not a benchmark file" in capsys.readouterr().err
    # The demo model has 4 steps per beat; the benchmark has one per quarter note.
    assert main(["benchmark", "jsb", "--mat", str(jsb_mat), "--checkpoint", "demo"]) == 2
    err = capsys.readouterr().err
    assert "4 steps per beat" in err and err.count("\n") == 1
    assert main(["benchmark", "jsb", "--mat", str(tmp_path / "missing.mat"), "--checkpoint", "jsb"]) == 2
    assert "does not exist" in capsys.readouterr().err
    import torch

    if not torch.cuda.is_available():
        assert main(["benchmark", "jsb", "--mat", str(jsb_mat), "--checkpoint", "jsb", "--device", "cuda"]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err
