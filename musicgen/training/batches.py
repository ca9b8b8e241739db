"""Batches: a split resident on a device, length-bucketed order, random transposition, a step's memory need."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from musicgen.config import ModelConfig
from musicgen.errors import ConfigError
from musicgen.nn.onsets import input_width, output_width
from musicgen.parallel import usable_memory
from musicgen.training.metrics import step_mask
from musicgen.training.shard_batches import lazy_parts


@dataclass
class Split:
    """One dataset split resident on a device: rolls (n, steps, N) uint8 and lengths (n,) int64.

    Rolls are 0/1 (hold-only) or three-state (0 off, 1 held, 2 struck: an onset-aware dataset). `starts`
    (n,) is each row's first step in its file and `bar_steps` (n,) its steps per bar (0 unknown), where known.
    """

    rolls: torch.Tensor
    lengths: torch.Tensor
    starts: torch.Tensor | None = None
    bar_steps: torch.Tensor | None = None

    @classmethod
    def from_numpy(cls, rolls: np.ndarray, lengths: np.ndarray, device, starts=None, bar_steps=None) -> Split:
        """Move a split (uint8 rolls, int64 lengths, optional int64 starts and bar_steps) to `device`."""

        def longs(a):
            return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.int64)).to(device)

        return cls(
            torch.from_numpy(np.ascontiguousarray(rolls, dtype=np.uint8)).to(device),
            longs(lengths),
            longs(starts),
            longs(bar_steps),
        )

    @classmethod
    def from_dataset(cls, ds, name: str, device) -> Split:
        """Move split `name` of a loaded dataset to `device`, with each row's start and steps per bar where it has them.

        A large split of a sharded dataset stays on disk: rows are cut per batch (musicgen.training.shard_batches).
        """
        lazy = lazy_parts(ds, name, device)
        if lazy is not None:
            return cls(*lazy)
        rolls, lengths = ds.split(name)
        starts, bar_steps = ds.positions(name)
        return cls.from_numpy(rolls, lengths, device, starts, bar_steps)

    def where(self, idx: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (position (B, steps) long, bar_steps (B, 1) long) of the first `steps` steps of sequences `idx`.

        Position is the absolute step in the file (`starts` + t, t from 0 when starts are unknown).
        """
        t = torch.arange(steps, device=self.rolls.device)
        start = self.starts[idx] if self.starts is not None else torch.zeros(len(idx), dtype=torch.long, device=t.device)
        bar = self.bar_steps[idx] if self.bar_steps is not None else torch.zeros_like(start)
        return start.unsqueeze(1) + t, bar.unsqueeze(1)

    def __len__(self) -> int:
        return int(self.rolls.shape[0])

    def batch(self, idx: torch.Tensor, steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return (inputs (B, T-1, N) float, targets (B, T-1, N) float, mask (B, T-1)) of sequences `idx`.

        Trimmed to the longest sequence of the batch (`steps`, when the caller knows it without asking
        the device): the model is causal, so the padding after that changes nothing it predicts at real steps.
        """
        lengths = self.lengths[idx]
        t = max(int(lengths.max()) if steps is None else steps, 2)
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
    if hasattr(rolls, "chunks"):  # a sharded split read per batch (musicgen.training.shard_batches): a chunk at a time
        parts = [pitch_bounds(x) for _, x in rolls.chunks()]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
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


NADE_RUNS = 16  # runs of notes per step that a nade head's memory is counted for (15 notes on)


def step_memory_bytes(cfg: ModelConfig, batch_size: int, steps: int) -> int:
    """Return an estimate (bytes, on the high side) of what one training step of `batch_size` x `steps` needs.

    Weights, gradients and AdamW's two moments (4 floats per weight), plus the activations kept for
    the backward pass and their gradients, per sequence and step: the notes and the loss's terms
    (8 per note), each conv layer's padded input and output (twice), 12 per GRU unit and layer (the
    three gates, their two projections and the output), the dropout before the head; plus 64 MiB of
    workspace. The nade head adds its weights and, per step, its hidden inputs and outputs for each run
    of notes between two notes that are on (musicgen.nn.nade), counted for steps of up to 15 notes.
    Measured on CPU (growth of ru_maxrss over two steps, torch 2.13): 155 MiB for the
    defaults (estimate 201), 1,780 MiB for batch 32 x 512 steps at hidden 1024 (estimate 2,003),
    3,739 MiB for 64 x 1024 steps with 2 conv layers of 512 (estimate 4,968).
    """
    n, c, h = input_width(cfg), cfg.conv_channels, cfg.hidden
    out = output_width(cfg)  # N notes, or 2N units of an onset model
    widths = [n] + [c] * cfg.conv_layers
    conv_weights = sum(widths[i] * c * cfg.conv_kernel + c for i in range(cfg.conv_layers))
    gru_weights = sum(3 * h * (w + h + 2) for w in [widths[-1]] + [h] * (cfg.gru_layers - 1))
    weights = conv_weights + gru_weights + h * out + out + (n * out if cfg.skip else 0)
    per_step = 4 * n + 4 * out + sum(2 * (widths[i] + 2 * c) for i in range(cfg.conv_layers)) + 12 * h * cfg.gru_layers + 2 * h
    if cfg.head == "nade":
        k = cfg.nade_hidden
        weights += 2 * out * k + (h + 1) * k
        per_step += 4 * (NADE_RUNS * (k + out) + k) + 4 * out
    return 4 * (4 * weights + batch_size * steps * per_step) + 64 * 2**20


def check_step_memory(cfg: ModelConfig, batch_size: int, steps: int, device, available: int | None = None) -> None:
    """Raise ConfigError, before anything is built, when one training step needs more memory than `device` has free.

    `available` in bytes defaults to the free memory of the GPU, or MemAvailable for the CPU (and MPS,
    which shares it). `steps` is the dataset's window length.
    """
    need = step_memory_bytes(cfg, batch_size, steps)
    device = torch.device(device)
    if available is None:
        available = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else usable_memory()
    if need <= available:
        return
    raise ConfigError(
        f"one training step needs about {need / 2**30:,.1f} GiB (batch {batch_size} x {steps} steps x {cfg.n_notes} notes; "
        f"conv {cfg.conv_layers} x {cfg.conv_channels} channels, kernel {cfg.conv_kernel}; GRU {cfg.gru_layers} x {cfg.hidden}) "
        f"but {device.type} has {available / 2**30:,.1f} GiB free; lower --batch-size, --hidden, --conv-channels, "
        f"--gru-layers{', --nade-hidden' if cfg.head == 'nade' else ''} or --conv-layers, or build shorter windows (--seq-len)"
    )
