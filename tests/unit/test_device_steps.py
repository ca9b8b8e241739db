"""The GPU trainer's steps on the CPU: what a CUDA graph captures must equal today's step (the graphs themselves: gpu.sh)."""

import threading

import numpy as np
import pytest
import torch
from synthetic import make_dataset

from musicgen.config import ModelConfig, TrainConfig
from musicgen.nn.convgru import ConvGRU
from musicgen.nn.nade import NadeHead
from musicgen.paths import checkpoints_dir
from musicgen.runs import store
from musicgen.training import loop
from musicgen.training.checkpoint import load_checkpoint
from musicgen.training.device_steps import DeviceSteps, max_units_on, pad_batch, padded_steps
from musicgen.training.losses import bce
from musicgen.training.metrics import step_mask
from musicgen.training.onset_metrics import model_terms
from musicgen.training.train import NonFiniteError, run_training


def test_a_nade_head_with_a_fixed_number_of_runs_gives_the_same_conditionals():
    torch.manual_seed(0)
    head = NadeHead(features=6, n_notes=12, hidden=5, layers=2)
    notes = (torch.rand(3, 7, 12) < 0.3).float()
    notes[0, 0] = 0  # a silent step: one run
    feats, bias = torch.randn(3, 7, 6), torch.randn(3, 7, 12)
    dynamic = head(feats, notes, bias)
    head.max_runs = int(notes.sum(-1).max()) + 1
    assert torch.allclose(head(feats, notes, bias), dynamic, atol=1e-6)
    head.max_runs = 12 + 1  # any bound above the notes on gives the same numbers
    assert torch.allclose(head(feats, notes, bias), dynamic, atol=1e-6)


def test_max_units_on_counts_notes_or_twice_the_sounding_ones():
    rolls = torch.zeros(2, 4, 6, dtype=torch.uint8)
    rolls[1, 2, :3] = 1
    rolls[0, 1, :2] = 2
    assert max_units_on(rolls, onsets=False) == 3
    assert max_units_on(rolls, onsets=True) == 6
    assert max_units_on(torch.zeros(0, 4, 6, dtype=torch.uint8), onsets=False) == 0
    assert [padded_steps(t) for t in (1, 16, 17, 159)] == [16, 16, 32, 160]


@pytest.mark.parametrize("head", ["independent", "nade"])
def test_padding_a_batch_to_a_fixed_shape_changes_neither_its_loss_nor_its_gradients(head):
    torch.manual_seed(0)
    cfg = ModelConfig(n_notes=12, conv_channels=8, hidden=16, gru_layers=1, dropout=0.0, head=head, nade_hidden=8)
    model = ConvGRU(cfg)
    rolls = (torch.rand(3, 11, 12) < 0.3).float()
    lengths = torch.tensor([11, 7, 4])
    inputs, targets, mask = rolls[:, :-1], rolls[:, 1:], step_mask(lengths, 10)

    def loss_and_grads(*batch):
        model.zero_grad()
        _, logits, y, m = model_terms(model, *batch)
        loss = bce(logits, y, m)
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    loss, grads = loss_and_grads(inputs, targets, mask)
    padded = pad_batch(inputs, targets, mask, None, batch_size=5, steps=16)[:3]
    assert padded[0].shape == (5, 16, 12) and padded[2].dtype == torch.bool and int(padded[2].sum()) == int(mask.sum())
    loss2, grads2 = loss_and_grads(*padded)
    assert torch.allclose(loss, loss2, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, grads2, strict=True))


def test_device_steps_train_like_the_trainer_step_and_name_the_first_bad_batch():
    torch.manual_seed(0)
    cfg = ModelConfig(n_notes=12, conv_channels=8, hidden=16, gru_layers=1, dropout=0.0)
    model = ConvGRU(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    steps = DeviceSteps(model, opt, bce, clip=1.0, precision="fp32", device="cpu", batch_size=4, graphs=True)
    assert not steps.graphs_used  # graphs are for CUDA only
    rolls = (torch.rand(4, 9, 12) < 0.3).float()
    mask = torch.ones(4, 8, dtype=torch.bool)
    steps(0, rolls[:, :-1], rolls[:, 1:], mask)
    steps(1, rolls[:, :-1], rolls[:, 1:], mask)
    loss, norm, bad = steps.read()
    assert loss > 0 and norm > 0 and bad == [-1, -1, -1]
    assert steps.read()[:2] == (0.0, 0.0)  # read zeroes the sums
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    steps(2, rolls[:, :-1], rolls[:, 1:], mask)
    steps(3, rolls[:, :-1], rolls[:, 1:], mask)
    assert steps.read()[2][:2] == [2, 2]  # the first bad batch, not the last


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "ds")


TINY = ModelConfig(conv_channels=8, hidden=16, gru_layers=1, dropout=0.1)


def _curve(run_id):
    m = store.metrics_frame([run_id])
    return m[m.name.isin(["loss", "grad_norm", "nll"])].sort_values(["split", "name", "epoch"])["value"].to_numpy()


@pytest.mark.parametrize("head", ["independent", "nade"])
def test_the_trainer_with_device_steps_gives_the_same_run_as_with_its_own_step(home, data, monkeypatch, head):
    cfg = TrainConfig(epochs=2, batch_size=8, lr=0.01, device="cpu", threads=1, ema=0.9)
    model = ModelConfig(conv_channels=8, hidden=16, gru_layers=1, dropout=0.1, head=head, nade_hidden=8)
    plain = run_training(str(data), model, cfg)
    monkeypatch.setattr(loop, "device_steps_wanted", lambda device, group: True)
    deferred = run_training(str(data), model, cfg)
    assert plain["status"] == deferred["status"] == "finished"
    np.testing.assert_allclose(_curve(deferred["id"]), _curve(plain["id"]), rtol=1e-5)


def test_a_stop_mid_epoch_keeps_the_device_totals_and_a_nan_fails_the_run_at_the_same_batch(home, data, monkeypatch):
    blow_up = TrainConfig(epochs=1, batch_size=8, lr=1e30, device="cpu", threads=1, clip=0)
    with pytest.raises(NonFiniteError) as plain:
        run_training(str(data), TINY, blow_up)
    monkeypatch.setattr(loop, "device_steps_wanted", lambda device, group: True)
    stop = threading.Event()
    seen = []
    real = DeviceSteps.__call__

    def call(self, batch, *rest):
        seen.append(batch)
        real(self, batch, *rest)
        if batch == 1:
            stop.set()

    monkeypatch.setattr(DeviceSteps, "__call__", call)
    s = run_training(str(data), TINY, TrainConfig(epochs=2, batch_size=4, device="cpu", threads=1), stop=stop)
    assert s["status"] == "stopped" and seen == [0, 1]
    partial = load_checkpoint(checkpoints_dir() / s["id"] / "last.pt")["partial"]
    assert partial["batches"] == 2 and partial["loss"] > 0 and partial["grad_norm"] > 0  # read back at the stop
    with pytest.raises(NonFiniteError) as deferred:
        run_training(str(data), TINY, blow_up)
    assert "at epoch 1, batch" in str(plain.value) and str(deferred.value) == str(plain.value)


def test_cuda_graphs_are_stored_with_the_run(home, data):
    from musicgen.cli import main

    assert main(["train", "--data", str(data), "--epochs", "1", "--device", "cpu", "--cuda-graphs", "on", "--threads", "1"]) == 0
    run = store.list_runs().iloc[0]
    assert store.get_run(run["id"])["config"]["train"]["cuda_graphs"] is True
    assert TrainConfig().cuda_graphs is False  # opt-in until a GPU check (benchmarks/gpu.sh, section 0) has passed
    assert main(["train", "--data", str(data), "--cuda-graphs", "maybe"]) == 2


class Recorded:
    """A CUDA graph's stand-in on the CPU: nothing runs at capture; replay runs the step again, reading the learning
    rate from the tensors the capture saw (as the captured optimizer kernels do)."""

    def __init__(self, fn, optimizer):
        self.fn, self.optimizer, self.replays = fn, optimizer, 0
        self.lr = [g["lr"] for g in optimizer.param_groups]
        assert all(isinstance(t, torch.Tensor) for t in self.lr)

    def replay(self):
        self.replays += 1
        groups = self.optimizer.param_groups
        floats = [g["lr"] for g in groups]
        for g, t in zip(groups, self.lr, strict=True):
            g["lr"] = t
        try:
            self.fn()
        finally:
            for g, lr in zip(groups, floats, strict=True):
                g["lr"] = lr


@pytest.mark.parametrize("head", ["independent", "nade"])
def test_graphed_steps_replay_each_shape_with_fresh_batches_and_the_scheduled_lr(head, monkeypatch):
    """The bookkeeping around the graphs (padding, static inputs refreshed, one graph per shape, the lr tensor kept in
    step with the schedule, the nade head's fixed runs) trains exactly as plain steps do."""
    cfg = ModelConfig(n_notes=12, conv_channels=8, hidden=16, gru_layers=1, dropout=0.0, head=head, nade_hidden=8)
    gen = torch.Generator().manual_seed(1)
    batches = []
    for i, (b, t) in enumerate([(4, 20), (4, 18), (4, 40), (4, 19), (3, 33), (4, 17), (4, 38), (4, 20), (2, 5), (4, 30)]):
        rolls = (torch.rand(b, t + 1, 12, generator=gen) < 0.25).float()
        lengths = torch.randint(t // 2 + 1, t + 2, (b,), generator=gen)
        lengths[0] = t + 1
        batches.append((i, rolls[:, :-1], rolls[:, 1:], step_mask(lengths, t)))
    runs = int(max(int(x[2].sum(-1).max()) for x in batches)) + 1

    def train(graphed: bool):
        torch.manual_seed(0)
        model = ConvGRU(cfg)
        opt = torch.optim.Adam(model.parameters(), lr=0.01, foreach=False)
        steps = DeviceSteps(model, opt, bce, clip=1.0, precision="fp32", device="cpu", batch_size=4, graphs=False, runs=runs)
        if graphed:
            steps.graphs_used = True
            monkeypatch.setattr(steps, "capture", lambda fn, pool: Recorded(fn, opt))
            monkeypatch.setattr(steps, "warm", lambda fn, device: fn())
        for i, *batch in batches:
            if i == 6:
                opt.param_groups[0]["lr"] = 0.002  # as a scheduler writes it
            steps(i, *batch)
        assert steps.read()[2] == [-1, -1, -1]
        return model, steps

    plain, _ = train(False)
    graphed, steps = train(True)
    assert set(steps.graph) == {(4, 32), (4, 48)}  # the shapes met twice or more: one eager step, then a graph
    assert [g.replays for g in steps.graph.values()] == [5, 2]  # 6 and 3 batches of them: all but the warm-up
    for a, b in zip(plain.parameters(), graphed.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), "graphed steps trained differently"


def test_max_steps_with_device_steps_reads_the_totals_of_the_steps_taken(home, data, monkeypatch):
    cfg = TrainConfig(epochs=5, batch_size=4, lr=0.01, device="cpu", threads=1, max_steps=3)
    plain = run_training(str(data), TINY, cfg)
    monkeypatch.setattr(loop, "device_steps_wanted", lambda device, group: True)
    deferred = run_training(str(data), TINY, cfg)
    assert deferred["status"] == "finished" and deferred["steps"] == plain["steps"] == 3
    np.testing.assert_allclose(_curve(deferred["id"]), _curve(plain["id"]), rtol=1e-5)
