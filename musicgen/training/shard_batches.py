"""Batches of a sharded dataset (musicgen.data.shards), cut from the shards' pieces when they are drawn.

A large split of a sharded dataset becomes a `Split` (musicgen.training.batches) whose rolls are `LazyRolls`:
`split.rolls[idx]` (and `split.batch(idx)`, which the trainer and evaluation call) unpacks those rows only, so
training memory follows the batch, not the corpus. Only the per-row lengths, starts and bars (8 bytes each)
are held. Whole-split passes (note frequencies, pitch bounds, the baselines' tables) read it CHUNK rows at a
time.
"""

from __future__ import annotations

import numpy as np
import torch

CHUNK = 256  # rows a whole-split pass unpacks at a time
# A sharded split whose dense rows would take more than this is read per batch; a smaller one is loaded whole
# (as a dataset.npz split is), since per-batch unpacking costs time that only a large corpus repays. Small, so
# that what a trainer holds stays nearly flat as the corpus grows (at most this much per split loaded whole).
LAZY_BYTES = 64 * 2**20


class LazyRolls:
    """The rows of a RowView as a read-only uint8 tensor-like: `rolls[idx]`, `rolls[idx, :t]`, `rolls[a:b]` cut those rows."""

    dtype = torch.uint8

    def __init__(self, view, device, cap: int | None = None):
        self.view, self.device, self.cap = view, torch.device(device), cap
        self.shape = torch.Size(view.shape)

    def clamp(self, max: int) -> LazyRolls:  # noqa: A002 - torch's name: a hold-only model reads the sounding plane
        """Return these rows with every cell capped at `max` when cut."""
        return LazyRolls(self.view, self.device, max)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> torch.Tensor:
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(rows, torch.Tensor):
            rows = rows.detach().cpu().numpy()
        x = torch.from_numpy(np.asarray(self.view[rows])).to(self.device)
        if self.cap is not None:
            x = x.clamp(max=self.cap)
        return x[(slice(None),) * (x.dim() == 3) + rest] if rest else x

    def chunks(self):
        """Yield (first row, rows (k, T, N) uint8 tensor) over the whole split, CHUNK rows at a time."""
        for lo in range(0, len(self), CHUNK):
            yield lo, self[lo : lo + CHUNK]


def lazy_parts(ds, name: str, device, force: bool = False) -> tuple | None:
    """Return (LazyRolls, lengths, starts, bars) of split `name` of a sharded dataset, the tensors on `device`, when its
    dense rows would take more than LAZY_BYTES (or `force`); None otherwise, and for a dataset.npz one."""
    view = ds.split(name)[0]
    if getattr(view, "shards", None) is None or (int(np.prod(view.shape)) <= LAZY_BYTES and not force):
        return None
    lengths = ds.split(name)[1]
    starts, bars = ds.positions(name)

    def longs(a):
        return torch.from_numpy(np.asarray(a, dtype=np.int64)).to(device)

    return LazyRolls(view, device), longs(lengths), longs(starts), longs(bars)


def note_frequency(split) -> torch.Tensor:
    """Return each note's sounding rate (N,) float64 over the real steps of `split`, a chunk at a time when it is lazy."""
    real = max(float(split.lengths.sum()), 1.0)
    if not isinstance(split.rolls, LazyRolls):
        return (split.rolls > 0).sum(dim=(0, 1), dtype=torch.float64) / real  # padding is all zeros
    total = torch.zeros(split.rolls.shape[2], dtype=torch.float64)
    for _, x in split.rolls.chunks():
        total += (x > 0).sum(dim=(0, 1), dtype=torch.float64).cpu()
    return (total / real).to(split.lengths.device)
