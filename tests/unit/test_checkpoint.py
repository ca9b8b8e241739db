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
