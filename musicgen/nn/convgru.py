"""The network only: a causal Conv1D front end over time and a GRU (the trunk), then a head.

The trunk maps a batch of rolls `(B, T, N)` to features `(B, T, hidden)`; position t sees steps
<= t and predicts step t+1. A linear skip path from step t adds to the head's note biases. Heads
(`ModelConfig.head`):

- "independent": a linear layer; each note of step t+1 gets its own probability, independent of
  the other notes given the past. `forward(x)` returns their logits `(B, T, N)`.
- "nade": a NADE (musicgen.nn.nade) decides the notes of step t+1 low to high, each given the
  notes below it. `forward(x, targets)` returns the conditional logits `(B, T, N)` of the observed
  next steps `targets` (teacher forcing); BCE on them summed over notes is the exact joint NLL.

For both, `forward(x, targets)` returns logits whose BCE against `targets` is the NLL, which is
what training and evaluation call.

An onset model (`ModelConfig.onsets`, musicgen.nn.onsets) reads `input_from_steps` of three-state
rolls (the sounding and onset planes, and the rhythm one-hots with `position`) and predicts 2N units
per step (s_i sounds, a_i struck, interleaved): the logits and `targets` above are those units, and
only the free ones count (`units_from_steps`); its note distributions force the other a units.

One step at a time, `step_features(x_t, state)` gives the features, the skip bias and the new
state (the same numbers as `forward`, in eval mode);
`step_notes` wraps them as a note distribution (musicgen.nn.notes) for generation, and `step`
gives the logits of the independent head.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from musicgen.config import ModelConfig
from musicgen.nn.nade import NadeHead
from musicgen.nn.notes import IndependentNotes
from musicgen.nn.onsets import OnsetNotes, input_width, output_width


class State(NamedTuple):
    """What `step` carries between steps."""

    conv: tuple[torch.Tensor, ...]  # per conv layer, its last kernel-1 inputs, (B, C_in, kernel-1)
    h: torch.Tensor  # GRU hidden state, (layers, B, hidden)


class ConvGRU(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        widths = [input_width(cfg)] + [cfg.conv_channels] * cfg.conv_layers
        n_in, n_out = widths[0], output_width(cfg)
        self.convs = nn.ModuleList(nn.Conv1d(widths[i], widths[i + 1], cfg.conv_kernel) for i in range(cfg.conv_layers))
        self.gru = nn.GRU(
            widths[-1],
            cfg.hidden,
            cfg.gru_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.gru_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.head == "nade":
            self.head = NadeHead(cfg.hidden, n_out, cfg.nade_hidden, cfg.nade_layers)
        else:
            self.head = nn.Linear(cfg.hidden, n_out)
        self.skip = nn.Linear(n_in, n_out, bias=False) if cfg.skip else None
        if self.skip is not None:
            nn.init.zeros_(self.skip.weight)  # start as the plain network; training finds the copy path

    @property
    def independent_notes(self) -> bool:
        """True when the notes of a step are independent given the past (the independent head)."""
        return self.cfg.head != "nade"

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return the trunk's features (B, T, H), after dropout, and the skip bias (B, T, N) (None without skip)."""
        # Input dropout hides notes of the history from the trunk while training (the skip path still sees
        # them): with teacher forcing the trunk otherwise leans on an exact past it never has when it generates.
        y = F.dropout(x, self.cfg.input_dropout, self.training).transpose(1, 2)  # (B, N, T)
        for conv in self.convs:
            # Pad on the left only: a symmetric pad would let step t see step t+1 (the course work's leak).
            y = F.relu(conv(F.pad(y, (self.cfg.conv_kernel - 1, 0))))  # (B, C, T)
        y, _ = self._gru(y.transpose(1, 2))  # (B, T, H)
        return self.drop(y), self.skip(x) if self.skip is not None else None

    def _gru(self, y: torch.Tensor):
        """Run the GRU; while training with weight_drop, on hidden-to-hidden weights with a fresh dropout mask."""
        if not (self.training and self.cfg.weight_drop > 0):
            return self.gru(y)
        names = [f"weight_hh_l{k}" for k in range(self.cfg.gru_layers)]
        # One mask per batch, shared by every step of the sequence; the parameters themselves stay untouched.
        dropped = {n: F.dropout(getattr(self.gru, n), self.cfg.weight_drop) for n in names}
        return functional_call(self.gru, dropped, (y,))

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Return logits (B, T, N) for rolls x (B, T, N); position t sees only steps <= t.

        Independent head: each note's logit (targets are ignored). Nade head: the conditional logits of
        `targets` (B, T, N), the observed next steps, which it needs.
        """
        feats, bias = self.features(x)
        return self._head_logits(feats, bias, targets)

    def _head_logits(self, feats, bias, targets):
        if self.cfg.head == "nade":
            if targets is None:
                raise ValueError("the nade head gives the conditionals of observed notes: call model(x, targets)")
            return self.head(feats, targets, bias)
        logits = self.head(feats)  # (..., N)
        return logits + bias if bias is not None else logits

    def notes(self, x: torch.Tensor):
        """Return the note distribution (musicgen.nn.notes) of the step after each position of x (B, T, C): B*T rows."""
        feats, bias = self.features(x)
        return self.head_notes(feats.flatten(0, 1), None if bias is None else bias.flatten(0, 1), x.flatten(0, 1))

    def head_notes(self, feats: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor | None = None):
        """Return the note distribution of rows of features (R, H) and skip biases (R, N) after input rows x (R, C).

        An onset model needs x (its sounding plane forces the a units: musicgen.nn.onsets.OnsetNotes).
        """
        dist = self.head.notes(feats, bias) if self.cfg.head == "nade" else IndependentNotes(self._head_logits(feats, bias, None))
        if not self.cfg.onsets:
            return dist
        if x is None:
            raise ValueError("an onset model's note distribution needs the current step: pass x")
        return OnsetNotes(dist, x[:, : self.cfg.n_notes] > 0)

    def init_state(self, batch: int, device=None, dtype=torch.float32) -> State:
        """Return the state before the first step: zeros, as the left padding of `forward`."""
        k = self.cfg.conv_kernel - 1
        widths = [input_width(self.cfg)] + [self.cfg.conv_channels] * self.cfg.conv_layers
        conv = tuple(torch.zeros(batch, widths[i], k, device=device, dtype=dtype) for i in range(self.cfg.conv_layers))
        h = torch.zeros(self.cfg.gru_layers, batch, self.cfg.hidden, device=device, dtype=dtype)
        return State(conv, h)

    def step_features(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, torch.Tensor | None, State]:
        """Feed one step x_t (B, C); return the next step's features (B, H) and skip bias (B, N) (or None), and the new state."""
        y = x_t.unsqueeze(-1)  # (B, N, 1)
        new_conv = []
        for conv, buf in zip(self.convs, state.conv, strict=True):
            window = torch.cat([buf, y], dim=-1)  # (B, C_in, kernel)
            new_conv.append(window[:, :, 1:])
            y = F.relu(conv(window))  # (B, C, 1)
        out, h = self.gru(y.transpose(1, 2), state.h)  # (B, 1, H)
        return self.drop(out[:, 0]), self.skip(x_t) if self.skip is not None else None, State(tuple(new_conv), h)

    def step(self, x_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Feed one step x_t (B, N); return the logits (B, N) of the next step and the new state (independent head)."""
        if self.cfg.head == "nade":
            raise ValueError("the nade head has no logits before a step's notes are decided: use step_notes")
        feats, bias, state = self.step_features(x_t, state)
        return self._head_logits(feats, bias, None), state

    def step_notes(self, x_t: torch.Tensor, state: State):
        """Feed one step x_t (B, C); return the note distribution (musicgen.nn.notes) of the next step and the new state.

        x_t is the model's input of the current step (musicgen.nn.onsets.input_from_steps; the 0/1 notes
        of a hold-only model). An onset model's distribution is over 2N units (decode them with
        musicgen.nn.notes.decide, then musicgen.nn.onsets.step_from_units).
        """
        feats, bias, state = self.step_features(x_t, state)
        return self.head_notes(feats, bias, x_t), state

    @torch.no_grad()
    def init_from_chain(self, logits: torch.Tensor) -> None:
        """Start an onset model as the per-note three-state Markov chain: logits (3, 2, N) of s_i and a_i after each state.

        Row k is the note's state at t (off, held, struck); [k, 0] the logit of s_i at t+1, [k, 1] that of a_i
        (row 0's is unused: a_i is forced after silence). The head's bias takes the off row, the skip path's
        weights from the note's own sounding and onset inputs the differences, so that with the trunk's
        term at zero the model's units are the chain's; training then starts from that yardstick instead of
        finding the copy path weight by weight (the skip path starts at zero for a hold-only model).
        """
        n, ls, la = self.cfg.n_notes, logits[:, 0].float(), logits[:, 1].float()
        bias = self.head.to_b.bias if self.cfg.head == "nade" else self.head.bias
        bias[0::2], bias[1::2] = ls[0], la[1]
        if self.skip is not None:
            w, notes = self.skip.weight, torch.arange(n)
            w.zero_()
            w[2 * notes, notes] = ls[1] - ls[0]  # sounding at t
            w[2 * notes, n + notes] = ls[2] - ls[1]  # struck at t
            w[2 * notes + 1, n + notes] = la[2] - la[1]

    @torch.no_grad()
    def init_output_bias(self, note_freq: torch.Tensor) -> None:
        """Set the head's bias to the logit of each note's (each unit's) frequency (N,) in the training data.

        With a zero bias every note starts at p = 0.5 on targets that are ~95% zeros, and Adam needs
        thousands of steps just to learn that; starting at the data's rates skips that phase.
        """
        p = note_freq.double().clamp(1e-4, 1 - 1e-4)
        bias = self.head.to_b.bias if self.cfg.head == "nade" else self.head.bias  # nade: its weights V start near 0
        bias.copy_(torch.log(p / (1 - p)).to(bias))


def count_parameters(model: nn.Module) -> int:
    """Return the number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
