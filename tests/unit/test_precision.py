"""The precision policy: the choice is validated, `auto` resolves as documented, it reaches the model, it is stored and
shown, bf16 stays within a bound of fp32 on CPU, and runs stored before the policy still load and resume."""

import pytest
import torch
from synthetic import TINY_ARGS, make_dataset

from musicgen.cli import main
from musicgen.config import ModelConfig, TrainConfig, from_dict, to_dict
from musicgen.errors import ConfigError
from musicgen.nn.convgru import ConvGRU
from musicgen.runs import store
from musicgen.runs.labels import precision_of
from musicgen.training import device as device_mod
from musicgen.training import loop as loop_mod
from musicgen.training.device import autocast, resolve_precision
from musicgen.training.losses import bce
from musicgen.training.train import run_training

TINY = ModelConfig(conv_channels=8, hidden=16, gru_layers=1, dropout=0.0)
CPU = torch.device("cpu")


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "ds")


def cfg(**kw):
    return TrainConfig(**{"epochs": 1, "batch_size": 8, "lr": 0.01, "device": "cpu", "threads": 1, **kw})


def test_an_unknown_precision_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="unknown precision 'fp16'; choose one of auto, fp32, bf16"):
        TrainConfig(precision="fp16")


def test_auto_resolves_per_device_and_head_as_the_table_says(monkeypatch):
    for head in ("independent", "nade"):
        for dev in ("cpu", "cuda"):
            assert resolve_precision("auto", torch.device(dev), ModelConfig(head=head)) == "fp32"  # today's measurements
        assert resolve_precision("bf16", CPU, ModelConfig(head=head)) == "bf16"
        assert resolve_precision("fp32", CPU, ModelConfig(head=head)) == "fp32"
    # A measured crossover is followed: bf16 from that width on, for that device and head only.
    monkeypatch.setitem(device_mod.BF16_FROM_HIDDEN, ("cuda", "nade"), 512)
    assert resolve_precision("auto", torch.device("cuda"), ModelConfig(head="nade", hidden=512)) == "bf16"
    assert resolve_precision("auto", torch.device("cuda"), ModelConfig(head="nade", hidden=256)) == "fp32"
    assert resolve_precision("auto", torch.device("cuda"), ModelConfig(head="independent", hidden=512)) == "fp32"
    assert resolve_precision("auto", CPU, ModelConfig(head="nade", hidden=512)) == "fp32"


@pytest.mark.parametrize("head", ["independent", "nade"])
def test_bf16_forward_and_backward_stay_within_the_bound_of_fp32_on_cpu(head):
    # Measured (torch 2.13, CPU): loss 3e-5 (independent) and 3e-6 (nade) relative; gradients 2.5e-3 and 1.8e-3 of
    # their norm. The bound leaves room for other CPUs' bf16 kernels, and fails on a gross error (a wrong cast).
    torch.manual_seed(0)
    model = ConvGRU(ModelConfig(head=head, conv_channels=32, hidden=64, nade_hidden=64, dropout=0.0))
    x = (torch.rand(6, 33, 84) < 0.06).float()
    inputs, targets, mask = x[:, :-1], x[:, 1:], torch.ones(6, 32, dtype=torch.bool)
    results = {}
    for precision in ("fp32", "bf16"):
        model.zero_grad(set_to_none=True)
        with autocast(CPU, precision):
            logits = model(inputs, targets)
        assert logits.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
        loss = bce(logits, targets, mask)
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        results[precision] = (float(loss.detach()), grads)
    (l32, g32), (l16, g16) = results["fp32"], results["bf16"]
    assert abs(l16 - l32) <= 5e-4 * l32
    assert float((g16 - g32).norm() / g32.norm()) <= 0.01
    assert not torch.equal(g16, g32)  # bf16 really ran: the numbers differ, within the bound


def test_the_chosen_precision_reaches_the_model_and_is_stored_and_shown(home, data, monkeypatch, capsys):
    seen = []

    class Recording(ConvGRU):
        def forward(self, x, targets=None):
            out = super().forward(x, targets)
            if self.training:
                seen.append(out.dtype)
            return out

    monkeypatch.setattr(loop_mod, "ConvGRU", Recording)
    runs = {}
    for precision in ("auto", "bf16", "fp32"):
        seen.clear()
        runs[precision] = run_training(str(data), TINY, cfg(precision=precision), name=f"p-{precision}")
        assert set(seen) == {torch.bfloat16 if precision == "bf16" else torch.float32}
        config = store.get_run(runs[precision]["id"])["config"]
        assert config["train"]["precision"] == precision  # the choice
        assert config["precision"] == ("bf16" if precision == "bf16" else "fp32")  # what it became on this CPU
        assert precision_of(config) == config["precision"]
    # Same seed and data: only the arithmetic differs, and it shows in the numbers.
    assert runs["auto"]["best"]["nll"] == runs["fp32"]["best"]["nll"]
    assert runs["bf16"]["best"]["nll"] != runs["fp32"]["best"]["nll"]
    assert runs["bf16"]["best"]["nll"] == pytest.approx(runs["fp32"]["best"]["nll"], rel=0.02)
    assert main(["runs"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "prec" in table[0] and "where" in table[0]
    row = next(line for line in table if line.startswith(runs["bf16"]["id"]))
    assert " bf16 " in row and " local " in row


def test_the_cli_takes_precision_and_refuses_a_bad_one(home, data, capsys):
    argv = ["train", "--data", str(data), "--epochs", "1", "--batch-size", "8", "--threads", "1", *TINY_ARGS]
    assert main([*argv, "--precision", "bf16", "--json"]) == 0
    run_id = capsys.readouterr().out.splitlines()[0].removeprefix("run: ")
    assert store.get_run(run_id)["config"]["precision"] == "bf16"
    assert main([*argv, "--precision", "half"]) == 2
    assert "unknown precision 'half'" in capsys.readouterr().err


def test_runs_stored_before_the_precision_policy_still_load_show_and_resume(home, data):
    first = run_training(str(data), TINY, cfg(epochs=1))
    run = store.get_run(first["id"])
    old = dict(run["config"])
    old.pop("precision")
    old["train"] = {k: v for k, v in old["train"].items() if k != "precision"}
    store.update_run(first["id"], config=old, status="stopped")
    assert from_dict(TrainConfig, old["train"]).precision == "auto"
    assert precision_of(old) == "fp32" and precision_of({**old, "device": "cuda"}) == "bf16"  # what the old trainer did
    resumed = run_training(None, resume=first["id"], epochs=2)
    assert resumed["status"] == "finished" and resumed["epochs_done"] == 2
    assert store.get_run(first["id"])["config"]["precision"] == "fp32"


def test_a_checkpoint_without_a_precision_field_still_evaluates(home, data, capsys):
    from musicgen.paths import checkpoints_dir
    from musicgen.training.checkpoint import load_checkpoint, save_checkpoint

    run = run_training(str(data), TINY, cfg(epochs=1))
    path = checkpoints_dir() / run["id"] / "best.pt"
    ckpt = load_checkpoint(path)
    ckpt["train_config"] = {k: v for k, v in to_dict(cfg(epochs=1)).items() if k != "precision"}
    save_checkpoint(path, ckpt)
    assert main(["evaluate", str(path), "--data", str(data), "--json"]) == 0
    assert '"nll"' in capsys.readouterr().out
