"""Batches: a split resident on a device, length-bucketed order, random transposition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from musicgen.training.metrics import step_mask


@dataclass
class Split:
    """One dataset split resident on a device: rolls (n, steps, N) uint8 and lengths (n,) int64."""

    rolls: torch.Tensor
    lengths: torch.Tensor

    @classmethod
    def from_numpy(cls, rolls: np.ndarray, lengths: np.ndarray, device) -> Split:
        """Move a split (uint8 rolls, int64 lengths) to `device`."""
        return cls(
            torch.from_numpy(np.ascontiguousarray(rolls, dtype=np.uint8)).to(device),
            torch.from_numpy(np.asarray(lengths, dtype=np.int64)).to(device),
        )

    def __len__(self) -> int:
        return int(self.rolls.shape[0])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (inputs (B, T-1, N) float, targets (B, T-1, N) float, mask (B, T-1)) of sequences `idx`.

        Trimmed to the longest sequence of the batch: the model is causal, so the padding after
        that changes nothing it predicts at real steps.
        """
        lengths = self.lengths[idx]
        t = max(int(lengths.max()), 2)
        x = self.rolls[idx, :t].float()  # (B, t, N)
        return x[:, :-1], x[:, 1:], step_mask(lengths, t - 1)


def bucketed_order(lengths: torch.Tensor, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Return a permutation (n,) whose consecutive batches hold sequences of similar length, batches in random order.

    A batch is trimmed to its longest sequence, so mixing a 25-step chorale with a 160-step one runs
    the GRU over 135 steps of padding. Lengths get a random jitter of 10% of their spread before
    sorting, so that batches differ from epoch to epoch.
    """
    lengths = lengths.detach().cpu().double()
    n = len(lengths)
    spread = float(lengths.max() - lengths.min()) if n else 0.0
    key = lengths + (torch.rand(n, generator=generator, dtype=torch.float64) - 0.5) * 0.2 * max(spread, 1.0)
    order = torch.argsort(key)
    batches = list(torch.split(order, batch_size))
    return torch.cat([batches[int(b)] for b in torch.randperm(len(batches), generator=generator)]) if batches else order


def pitch_bounds(rolls: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the lowest and highest active column (n,) of each sequence of `rolls` (n, T, N); 0 and N-1 when empty."""
    active = (rolls != 0).any(dim=1)  # (n, N) bool
    n_notes = active.shape[1]
    lo = torch.where(active.any(dim=1), active.float().argmax(dim=1), 0)
    hi = torch.where(active.any(dim=1), n_notes - 1 - active.flip(1).float().argmax(dim=1), n_notes - 1)
    return lo.cpu(), hi.cpu()


def random_shifts(lo: torch.Tensor, hi: torch.Tensor, k: int, n_notes: int, generator: torch.Generator) -> torch.Tensor:
    """Return one shift per sequence, uniform over [-k, k] cut to the shifts that keep its notes lo..hi in range."""
    low = torch.clamp(-lo, min=-k)
    high = torch.clamp(n_notes - 1 - hi, max=k)
    return low + (torch.rand(len(lo), generator=generator, dtype=torch.float64) * (high - low + 1)).long()


def transpose_rolls(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Return rolls x (B, T, N) with sequence b moved up by shifts[b] semitones; what leaves the range is dropped."""
    if not bool(shifts.any()):
        return x
    b, t, n = x.shape
    k = int(shifts.abs().max())
    padded = torch.nn.functional.pad(x, (k, k))  # zeros on both sides of the note axis
    src = torch.arange(n, device=x.device) + k - shifts.to(x.device).view(b, 1)  # (B, N): column read for each output column
    return padded.gather(2, src.view(b, 1, n).expand(b, t, n))
