import errno
import pickle

import pytest
import torch

from musicgen.config import DataConfig, ModelConfig, to_dict
from musicgen.errors import CheckpointError
from musicgen.nn.convgru import ConvGRU
from musicgen.training.checkpoint import data_config_of, load_checkpoint, load_model, resolve_checkpoint, save_checkpoint

CFG = ModelConfig(n_notes=4, conv_channels=3, hidden=5, gru_layers=1)


def payload(**extra):
    model = ConvGRU(CFG)
    return {
        "model_config": to_dict(CFG),
        "data_config": to_dict(DataConfig(low=60, high=64)),
        "model_state": model.state_dict(),
        "rng": {"torch": torch.get_rng_state()},
        "threshold": 0.3,
        **extra,
    }


def test_round_trip_by_run_id(home):
    p = payload(epoch=2)
    save_checkpoint(home / "checkpoints" / "run1" / "best.pt", p)
    assert [f.name for f in (home / "checkpoints" / "run1").iterdir()] == ["best.pt"]  # no temporary left
    model, ck = load_model("run1")
    assert ck["epoch"] == 2 and ck["threshold"] == 0.3
    assert torch.equal(ck["rng"]["torch"], p["rng"]["torch"])
    for k, v in p["model_state"].items():
        assert torch.equal(model.state_dict()[k], v)
    assert not model.training
    assert data_config_of(ck).low == 60


def test_resolve_prefers_requested_file(home):
    folder = home / "checkpoints" / "r"
    save_checkpoint(folder / "last.pt", payload())
    assert resolve_checkpoint("r", "best") == folder / "last.pt"  # falls back when best is missing
    save_checkpoint(folder / "best.pt", payload())
    assert resolve_checkpoint("r", "best") == folder / "best.pt"
    with pytest.raises(CheckpointError, match="no checkpoint found for 'nope'"):
        resolve_checkpoint("nope")


def test_corrupt_file(home):
    bad = home / "truncated.pt"
    save_checkpoint(bad, payload())
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable musicgen checkpoint"):
        load_checkpoint(bad)


def test_file_that_is_not_ours(home):
    other = home / "other.pt"
    torch.save({"weights": torch.ones(2)}, other)
    with pytest.raises(CheckpointError, match="not a musicgen checkpoint"):
        load_checkpoint(other)


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_loading_never_runs_code(home, capsys):
    evil = home / "evil.pt"
    evil.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(evil)
    assert "code ran" not in capsys.readouterr().out


def test_weights_that_do_not_fit_the_config(home):
    p = payload()
    p["model_config"] = to_dict(ModelConfig(n_notes=4, conv_channels=3, hidden=6, gru_layers=1))
    save_checkpoint(home / "x.pt", p)
    with pytest.raises(CheckpointError, match="do not fit its model config"):
        load_model(str(home / "x.pt"))


def test_a_text_file_named_pt(home):
    text = home / "notes.pt"
    text.write_text("hello world, not weights\n")
    with pytest.raises(CheckpointError, match=r"notes.pt is not a musicgen checkpoint: torch.save did not write it \(it starts"):
        load_checkpoint(text)
    (home / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty.pt is not a musicgen checkpoint: .*\(it is empty\)"):
        load_checkpoint(home / "empty.pt")


@pytest.mark.parametrize(
    "data_config, match",
    [
        ([60, 64], "a list, not a dict"),
        (None, "a NoneType, not a dict"),
        ({"high": 64}, "no low"),
        ({"low": "60", "high": "64"}, "low has the wrong type"),
        ({"low": 60, "high": 64, "sample_rate": 16000}, r"unknown DataConfig keys \['sample_rate'\]"),
    ],
)
def test_a_foreign_data_config(home, data_config, match):
    path = home / "foreign.pt"
    save_checkpoint(path, payload(data_config=data_config))
    with pytest.raises(CheckpointError, match=f"foreign.pt has a data_config that this musicgen cannot use \\({match}"):
        load_checkpoint(path)


def test_an_unsafe_checkpoint_is_refused_with_the_whole_reason(home):
    evil = home / "evil.pt"
    torch.save({"format": "musicgen-checkpoint", "hook": Evil()}, evil)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(evil)
    msg = str(e.value)
    assert "Unsupported global" in msg and "loading it unsafely could run code" in msg and "\n" not in msg, msg
    assert msg.endswith("use a checkpoint written by musicgen")


def test_weights_that_do_not_fit_name_the_keys_on_one_line(home):
    p = payload()
    p["model_state"] = {"stray.weight": torch.ones(1)}
    save_checkpoint(home / "x.pt", p)
    with pytest.raises(CheckpointError) as e:
        load_model(str(home / "x.pt"))
    msg = str(e.value)
    assert "Missing key(s)" in msg and "more" in msg and 'Unexpected key(s) in state_dict: "stray.weight"' in msg, msg
    assert "\n" not in msg


class DiskFull:
    """A file whose writes fail as on a full disk once `room` bytes are written: what torch.save's writer meets."""

    def __init__(self, path, mode, room=1000):
        self.f, self.room = open(path, mode), room

    def write(self, data):
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_a_full_disk_inside_torch_save_keeps_the_old_checkpoint(home, monkeypatch):
    import musicgen.training.checkpoint as ckpt_mod

    path = home / "checkpoints" / "r" / "last.pt"
    save_checkpoint(path, payload(epoch=1))
    monkeypatch.setattr(ckpt_mod, "open", DiskFull, raising=False)
    with pytest.raises(CheckpointError) as e:
        save_checkpoint(path, payload(epoch=2))
    assert str(e.value) == f"cannot write checkpoint {path} (No space left on device); free some disk space or write elsewhere"
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1 and [f.name for f in path.parent.iterdir()] == ["last.pt"]


def test_a_checkpoint_path_that_cannot_be_written(home):
    (home / "blocker").write_text("a file")
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*blocker/x.pt \(.*blocker is a file, not a folder\)"):
        save_checkpoint(home / "blocker" / "x.pt", payload())
    (home / "dir.pt").mkdir()
    with pytest.raises(CheckpointError, match=r"cannot write checkpoint .*dir.pt \(it is a folder\); give a file name"):
        save_checkpoint(home / "dir.pt", payload())


def test_a_shipped_checkpoint_from_before_heads_loads_as_independent(home):
    from musicgen.nn.ensemble import Ensemble

    model, ck = load_model("jsb")
    configs = ck["model_configs"]
    assert all("head" not in c for c in configs)  # written before the nade head existed
    assert all(m.cfg.head == "independent" for m in model.members) and model.independent_notes and isinstance(model, Ensemble)
    assert model.rule == "per-note mean"  # jsb: 6 members (its 8.116 on test: tests/unit/test_benchmark.py)


def test_demo_is_the_nade_head_with_its_figures(home, capsys):
    import json

    from musicgen.cli import main

    model, ck = load_model("demo")
    assert model.cfg.head == "nade" and not model.independent_notes and "optimizer_state" not in ck
    # demo's figures on the builtin Bach test split (whole pieces, its sounding plane), as in checkpoints/demo/README.md.
    assert main(["evaluate", "demo", "--data", "builtin:bach", "--split", "test", "--device", "cpu", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["metrics"]
    assert (round(m["nll"], 3), round(m["f1_best"], 3), m["threshold"]) == (2.663, 0.826, 0.5)


def test_export_keeps_what_a_checkpoint_is_used_for_and_halves_the_weights(home, tmp_path, capsys):
    import json

    from musicgen.cli import main

    opt = torch.optim.Adam(ConvGRU(CFG).parameters())
    save_checkpoint(home / "checkpoints" / "run1" / "best.pt", payload(epoch=2, optimizer_state=opt.state_dict(), run_id="run1"))
    out = tmp_path / "slim.pt"
    assert main(["export", "run1", "--out", str(out), "--half", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["half"] is True
    slim = load_checkpoint(out)
    assert "optimizer_state" not in slim and "rng" not in slim
    assert (slim["run_id"], slim["threshold"], slim["epoch"]) == ("run1", 0.3, 2)
    assert all(v.dtype == torch.float16 for v in slim["model_state"].values() if v.is_floating_point())
    full, _ = load_model("run1")
    half, _ = load_model(str(out))
    x = (torch.rand(2, 6, 4) < 0.5).float()
    assert torch.allclose(full(x), half(x), atol=1e-2)  # float16 weights, float32 model
    assert main(["export", "run1", "--out", str(tmp_path / "x.txt")]) == 2
    assert "must end in .pt" in capsys.readouterr().err
