"""The network only: a causal Conv1D front end over time, a GRU, a linear head.

`forward(x)` maps a batch of rolls `(B, T, N)` to logits `(B, T, N)` where `logits[:, t]`
predicts step t+1 from steps <= t. `step(x_t, state)` does the same one step at a time with a
GRU hidden state and a small conv input buffer, and gives the same outputs (in eval mode).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from musicgen.config import ModelConfig


class State(NamedTuple):
    """What `step` carries between steps."""

    conv: tuple[torch.Tensor, ...]  # per conv layer, its last kernel-1 inputs, (B, C_in, kernel-1)
    h: torch.Tensor  # GRU hidden state, (layers, B, hidden)


class ConvGRU(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        widths = [cfg.n_notes] + [cfg.conv_channels] * cfg.conv_layers
        self.convs = nn.ModuleList(nn.Conv1d(widths[i], widths[i + 1], cfg.conv_kernel) for i in range(cfg.conv_layers))
        self.gru = nn.GRU(
            widths[-1],
            cfg.hidden,
            cfg.gru_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.gru_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.n_notes)
        self.skip = nn.Linear(cfg.n_notes, cfg.n_notes, bias=False) if cfg.skip else None
        if self.skip is not None:
            nn.init.zeros_(self.skip.weight)  # start as the plain network; training finds the copy path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (B, T, N) for rolls x (B, T, N); position t sees only steps <= t."""
        y = x.transpose(1, 2)  # (B, N, T)
        for conv in self.convs:
            # Pad on the left only: a symmetric pad would let step t see step t+1 (the course work's leak).
            y = F.relu(conv(F.pad(y, (self.cfg.conv_kernel - 1, 0))))  # (B, C, T)
        y, _ = self.gru(y.transpose(1, 2))  # (B, T, H)
        logits = self.head(self.drop(y))  # (B, T, N)
        return logits + self.skip(x) if self.skip is not None else logits

    def init_state(self, batch: int, device=None, dtype=torch.float32) -> State:
        """Return the state before the first step: zeros, as the left padding of `forward`."""
        k = self.cfg.conv_kernel - 1
        widths = [self.cfg.n_notes] + [self.cfg.conv_channels] * self.cfg.conv_layers
        conv = tuple(torch.zeros(batch, widths[i], k, device=device, dtype=dtype) for i in range(self.cfg.conv_layers))
        h = torch.zeros(self.cfg.gru_layers, batch, self.cfg.hidden, device=device, dtype=dtype)
        return State(conv, h)

    def step(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Feed one step x_t (B, N); return the logits (B, N) of the next step and the new state."""
        y = x_t.unsqueeze(-1)  # (B, N, 1)
        new_conv = []
        for conv, buf in zip(self.convs, state.conv, strict=True):
            window = torch.cat([buf, y], dim=-1)  # (B, C_in, kernel)
            new_conv.append(window[:, :, 1:])
            y = F.relu(conv(window))  # (B, C, 1)
        out, h = self.gru(y.transpose(1, 2), state.h)  # (B, 1, H)
        logits = self.head(self.drop(out[:, 0]))  # (B, N)
        if self.skip is not None:
            logits = logits + self.skip(x_t)
        return logits, State(tuple(new_conv), h)

    @torch.no_grad()
    def init_output_bias(self, note_freq: torch.Tensor) -> None:
        """Set the head's bias to the logit of each note's frequency (N,) in the training data.

        With a zero bias every note starts at p = 0.5 on targets that are ~95% zeros, and Adam needs
        thousands of steps just to learn that; starting at the data's rates skips that phase.
        """
        p = note_freq.double().clamp(1e-4, 1 - 1e-4)
        self.head.bias.copy_(torch.log(p / (1 - p)).to(self.head.bias))


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
