"""How a group of ranks shares a global batch (musicgen.training.distributed): every sequence trained once, and the
weighted losses average to the global batch's loss, so DDP's averaged gradient is the global batch's gradient."""

import threading

import pytest
import torch

from musicgen.training.distributed import Solo, TorchGroup
from musicgen.training.losses import bce
from musicgen.training.metrics import step_mask


def rank(r: int, size: int) -> TorchGroup:
    g = object.__new__(TorchGroup)  # the shard arithmetic needs no process group
    g.rank, g.size, g.main = r, size, r == 0
    return g


@pytest.mark.parametrize("size", [1, 2, 3])
def test_the_ranks_share_the_batch_and_their_weighted_losses_average_to_the_global_loss(size):
    torch.manual_seed(0)
    lengths = torch.tensor([9, 3, 7, 1, 9, 5, 2])  # one sequence with no predicted step
    logits, x = torch.randn(7, 9, 5), (torch.rand(7, 10, 5) < 0.3).float()
    whole = bce(logits, x[:, 1:], step_mask(lengths, 9))
    positions, average, seqs = [], 0.0, 0
    for r in range(size):
        mine, weight, n = rank(r, size).shard(lengths)
        positions += list(range(7))[mine]
        average += weight * bce(logits[mine], x[mine, 1:], step_mask(lengths[mine], 9)) / size  # what DDP averages
        seqs += n
    assert sorted(positions) == list(range(7)) and seqs == 7
    assert float(average) == pytest.approx(float(whole), rel=1e-6)


def test_a_rank_without_a_sequence_trains_one_with_weight_zero():
    lengths = torch.tensor([6, 4])
    shares = [rank(r, 3).shard(lengths) for r in range(3)]
    assert [(w > 0, n) for _, w, n in shares] == [(True, 1), (True, 1), (False, 0)]
    assert shares[2][0] == slice(0, 1)  # DDP needs its backward pass all the same
    assert sum(w for _, w, _ in shares) == pytest.approx(3.0)


def test_one_process_is_the_loop_as_it_was():
    solo, stop = Solo(), threading.Event()
    assert solo.shard(torch.tensor([5, 3])) == (slice(None), 1.0, 2)
    loss, seqs, stopping = solo.step_totals(torch.tensor(0.25), 2, stop)
    assert (loss, seqs, stopping()) == (0.25, 2, False)
    stop.set()
    assert stopping()  # read when asked, after the step, as the loop always did
    assert solo.broadcast({"nll": 1.0}) == {"nll": 1.0} and solo.gather(3) == [3]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--workers", "2"], "--workers train on Ray: add --backend ray"),
        (["--ray-address", "127.0.0.1:6379", "--backend", "local"], "--ray-address train on Ray: add --backend ray"),
        (["--backend", "ray", "--workers", "0"], "--workers must be a whole number from 1 to 1024, got 0"),
    ],
)
def test_backend_options_that_do_not_fit_are_one_line_errors(home, tmp_path, capsys, extra, message):
    from synthetic import make_dataset

    from musicgen.cli import main

    data = make_dataset(tmp_path / "ds")
    assert main(["train", "--data", str(data), "--epochs", "1", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
