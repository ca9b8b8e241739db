"""Data parallelism for the trainer: one process (`Solo`, the default) or a torch.distributed group (`TorchGroup`).

The trainer asks its group a few things, and in one process each answer is what the loop did before
(`Solo`), so a single-process run is unchanged. In a group of N ranks (Ray Train's workers, see
`musicgen.training.ray_train`):

- every rank draws the same epoch order and the same transpositions (the shuffle generator is seeded
  alike), takes the global batch `batch_size` of it and trains the positions rank, rank + N, ... of it
  (`shard`): `batch_size` is the global batch whatever N is, so the learning rate needs no change;
- its loss (a mean over its real cells) is weighted by N x its share of the batch's real cells, so that
  DDP's average of the ranks' gradients is exactly the gradient of the global batch's mean loss;
- one all-reduce per step sums the batch's loss, its sequences and the stop flag (`step_totals`), so
  all ranks log the same numbers, fail on the same non-finite batch and stop after the same step;
- rank 0 validates and writes checkpoints and the store; it shares the validation figures
  (`broadcast`) so that every rank takes the same decisions (best epoch, plateau, early stop), and
  gathers every rank's dropout RNG (`gather`) into last.pt, so that a resume with as many ranks is exact.
"""

from __future__ import annotations

import torch


def real_steps(lengths: torch.Tensor) -> torch.Tensor:
    """Return the predicted real steps of sequences of `lengths` (int64): length - 1, at least 0 (training.metrics.step_mask)."""
    return (lengths - 1).clamp(min=0)


class Solo:
    """One process: the whole batch, no communication."""

    rank, size, main = 0, 1, True

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """Return the module the training steps call (the model itself)."""
        return model

    def shard(self, lengths: torch.Tensor) -> tuple[slice, float, int]:
        """Return (this rank's part of a global batch of sequences of `lengths`, the weight of its loss, its sequences)."""
        return slice(None), 1.0, len(lengths)

    def step_totals(self, loss: torch.Tensor, n_seqs: int, stop):
        """Return (the batch's loss as a float, its sequences, a callable telling whether to stop after this step).

        `loss` is this rank's loss, already weighted (`shard`); `stop` the threading.Event of a stop request.
        """
        return float(loss.detach()), n_seqs, stop.is_set

    def broadcast(self, obj):
        """Return rank 0's `obj` on every rank."""
        return obj

    def gather(self, obj) -> list:
        """Return every rank's `obj`, in rank order."""
        return [obj]


class TorchGroup(Solo):
    """The ranks of an initialised torch.distributed process group (gloo on CPU, nccl on CUDA)."""

    def __init__(self, device: torch.device):
        import torch.distributed as dist

        self.dist, self.device = dist, device
        self.rank, self.size = dist.get_rank(), dist.get_world_size()
        self.main = self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """Return `model` in DistributedDataParallel (which also makes every rank start from rank 0's weights)."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def shard(self, lengths: torch.Tensor) -> tuple[slice, float, int]:
        """Return this rank's positions (rank, rank + N, ... of the global batch), N x its share of the real cells, its count.

        A rank left without a sequence (a last batch smaller than N) trains the batch's first one with weight 0:
        DDP needs every rank's backward pass.
        """
        mine = slice(self.rank, None, self.size)
        n = len(lengths[mine])
        if n == 0:
            return slice(0, 1), 0.0, 0
        steps = real_steps(lengths)
        total = float(steps.sum())
        if total == 0:
            return mine, 1.0, n  # every loss is 0 then
        return mine, self.size * float(steps[mine].sum()) / total, n

    def step_totals(self, loss: torch.Tensor, n_seqs: int, stop):
        """All-reduce (the batch's loss, its sequences, any rank's stop request) in one call; return them as Solo does."""
        share = loss.detach().float() / self.size
        t = torch.stack([share, share.new_tensor(float(n_seqs)), share.new_tensor(float(stop.is_set()))])
        self.dist.all_reduce(t)
        total, seqs, stops = t.tolist()
        return total, int(round(seqs)), lambda: stops > 0

    def broadcast(self, obj):
        """Return rank 0's `obj` on every rank."""
        box = [obj]
        self.dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Return every rank's `obj`, in rank order, on every rank."""
        out = [None] * self.size
        self.dist.all_gather_object(out, obj)
        return out
