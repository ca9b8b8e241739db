"""Onset-aware steps: what an onset model reads and predicts (Johnson 2017's play / articulate units).

An onset-aware roll holds three states per cell (musicgen.data): 0 off, 1 held (sounding, continuing
from the previous step), 2 onset (sounding, struck at this step). An onset model (`ModelConfig.onsets`)

- reads, per step, the sounding plane (x > 0) and the onset plane (x == 2), N values each, then with
  `ModelConfig.position` a one-hot of the position in the beat (steps_per_beat values) and one of the
  beat in the bar (BAR_BEATS values; zeros where the bar is unknown): `input_from_steps`;
- predicts, per note i of the next step, two binary units in the order s_0, a_0, s_1, a_1, ...
  (`units_from_steps`): s_i, the note sounds; a_i, it is struck. a_i is free only when s_i = 1 and
  the note sounds at the current step; otherwise it is forced: s_i = 0 gives a_i = 0 (a silent note
  is not struck), and s_i = 1 after silence gives a_i = 1 (a note that starts sounding was struck).
  Forced units have probability 1 and carry no term of the likelihood, so "held after silence" gets
  probability exactly 0 by structure (the forced unit's logit is +-inf when decoding, and
  `log_prob_steps` gives -inf), never a large finite logit. The likelihood of a step is the sum
  over its free units of their conditionals' log-probabilities: the NLL's sounding part (the s
  units) plus its onset part (the free a units).

For generation (musicgen.music.generate), one step at a time:

    state = model.init_state(S)
    x = input_from_steps(step, model.cfg, position, bar_steps)   # (S, C): the step just decided, three-state
    dist, state = model.step_notes(x, state)                     # the next step's units (musicgen.nn.notes)
    units, logp = decide(dist, temperature=T)                    # or threshold=...; max_on caps sounding notes
    step = step_from_units(units)                                # (S, N) uint8 three-state

`position` (S,) is the absolute step index of `step` in its piece, `bar_steps` (S,) the steps per bar (0 when unknown).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

# Slots of the beat-in-bar one-hot; the beats of longer bars from the last slot on share it.
BAR_BEATS = 8


def input_width(cfg) -> int:
    """Return the width of one step of a model's input: N for a hold-only model, 2N (+ the rhythm one-hots) for onsets."""
    if not cfg.onsets:
        return cfg.n_notes
    return 2 * cfg.n_notes + (cfg.steps_per_beat + BAR_BEATS if cfg.position else 0)


def output_width(cfg) -> int:
    """Return the units a model predicts per step: N notes, or 2N (s_i, a_i) for an onset model."""
    return 2 * cfg.n_notes if cfg.onsets else cfg.n_notes


def describe_inputs(cfg) -> str:
    """Return what a model reads per step, in words (for the CLI and the pages)."""
    if not cfg.onsets:
        return "the notes that sound"
    return "the notes that sound and those struck" + (", the position in the beat and the bar" if cfg.position else "")


def position_features(position: torch.Tensor, bar_steps: torch.Tensor, steps_per_beat: int) -> torch.Tensor:
    """Return one-hots (..., steps_per_beat + BAR_BEATS) of the position in the beat and the beat in the bar.

    position (...) long: absolute step index in the piece; bar_steps (...) long, broadcast to it:
    steps per bar, 0 when unknown (the bar one-hot is then all zeros).
    """
    position = position.long()
    bar_steps = torch.as_tensor(bar_steps, device=position.device).long().expand_as(position)
    in_beat = F.one_hot(position % steps_per_beat, steps_per_beat)
    known = bar_steps > 0
    beat = torch.where(known, (position % bar_steps.clamp(min=1)) // steps_per_beat, 0).clamp(max=BAR_BEATS - 1)
    in_bar = F.one_hot(beat, BAR_BEATS) * known.unsqueeze(-1)
    return torch.cat([in_beat, in_bar], dim=-1).float()


def input_from_steps(steps: torch.Tensor, cfg, position=None, bar_steps=None) -> torch.Tensor:
    """Return a model's input (..., input_width(cfg)) float of three-state steps (..., N) (0/1 rolls for hold-only).

    A hold-only model reads the sounding plane. An onset model with `cfg.position` needs the
    absolute step index `position` (...) of each step and `bar_steps` (a number or (...)).
    """
    sounding = (steps > 0).float()
    if not cfg.onsets:
        return sounding
    parts = [sounding, (steps == 2).float()]
    if cfg.position:
        if position is None:
            raise ValueError("this model reads the position in the beat: give the steps' positions")
        parts.append(position_features(position, 0 if bar_steps is None else bar_steps, cfg.steps_per_beat))
    return torch.cat(parts, dim=-1)


def canonical_steps(prev: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Return `steps` with a note held after silence marked as struck: the only state it can be in.

    A hold-only roll (0/1) becomes three-state this way: every note that starts sounding is an onset.
    """
    return torch.where((steps == 1) & ~(prev > 0), torch.full_like(steps, 2), steps)


def units_from_steps(prev: torch.Tensor, steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the units (..., 2N) float 0/1 of three-state `steps` (..., N) after `prev` (..., N), and which are free (bool).

    Units interleave s_i (sounds) and a_i (struck); a_i is free when s_i = 1 and the note sounds in `prev`.
    """
    s, a = steps > 0, steps == 2
    units = torch.stack([s, a], dim=-1).flatten(-2).float()
    free = torch.stack([torch.ones_like(s), s & (prev > 0)], dim=-1).flatten(-2)
    return units, free


def step_from_units(units: torch.Tensor) -> torch.Tensor:
    """Return the three-state step (..., N) uint8 of decided units (..., 2N): 0 off, 1 held, 2 struck."""
    s, a = units[..., 0::2] > 0.5, units[..., 1::2] > 0.5
    return (s.to(torch.uint8) + (s & a).to(torch.uint8)).to(torch.uint8)


def log_prob_steps(logits: torch.Tensor, prev: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Return log p (...) of three-state `steps` (..., N) after `prev` given the conditional unit logits (..., 2N).

    The sum of the free units' log-probabilities; -inf when a note is held after silence (impossible).
    """
    units, free = units_from_steps(prev, steps)
    terms = -F.binary_cross_entropy_with_logits(logits.float(), units, reduction="none")
    logp = torch.where(free, terms, 0.0).sum(-1)
    impossible = ((steps == 1) & ~(prev > 0)).any(-1)
    return torch.where(impossible, torch.full_like(logp, -torch.inf), logp)


class OnsetNotes:
    """A note distribution (musicgen.nn.notes) over the 2N units of onset-aware steps, forcing the a units.

    `inner` gives the conditionals of all 2N units (independent or NADE); `sounding` (R, N) bool marks the
    notes that sound at the current step. When `decide` asks for unit j = 2i + 1 (a_i): if start == j, s_i
    was just switched on, and a_i is free when note i sounds, else forced on (logit +inf); if start < j,
    s_i is off in the run being asked about, and a_i is forced off (logit -inf). Only s units count
    against `decide`'s max_on, so that it caps the notes that sound.
    """

    def __init__(self, inner, sounding: torch.Tensor):
        self.inner, self.sounding = inner, sounding.bool()
        self.rows, self.n_notes, self.device = inner.rows, inner.n_notes, inner.device
        self.counted = torch.arange(self.n_notes, device=self.device) % 2 == 0

    def logits(self, rows: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        lg = self.inner.logits(rows, start).float()  # (r, 2N)
        j = torch.arange(self.n_notes, device=self.device)
        is_a = (j % 2 == 1).unsqueeze(0)
        start = start.unsqueeze(1)
        just_on = is_a & (j == start)
        sounds = self.sounding[rows].repeat_interleave(2, dim=1)  # (r, 2N): note j // 2 sounds now
        lg = torch.where(just_on & ~sounds, torch.inf, lg)
        return torch.where(is_a & (j > start), -torch.inf, lg)

    def commit(self, rows, start, first, on) -> None:
        self.inner.commit(rows, start, first, on)

    def select(self, rows: torch.Tensor) -> OnsetNotes:
        return OnsetNotes(self.inner.select(rows), self.sounding[rows])
