"""The Ensemble network: several ConvGRUs whose predicted probabilities are averaged (in log space).

Two rules, chosen by the members' heads:

- every member has the independent head: each note's probability is the mean of the members'
  (the per-note mean, the rule the shipped `jsb` ensemble was measured with);
- any member has the nade head: the step's joint probability is the mean of the members',
  p(step) = (1/K) sum_k p_k(step), computed as log p = logsumexp_k(log p_k) - log K. Its conditional
  for note i weighs member k by p_k(notes below i) (Bayes' rule), so the conditionals multiply to
  that mean exactly, and sampling or greedy decoding them note by note draws from the mixture itself.

`forward(x, targets)` returns logits whose BCE against `targets` summed over notes is the NLL of
the rule; `step_notes` gives a step's note distribution for generation (musicgen.nn.notes).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from musicgen.nn.convgru import ConvGRU
from musicgen.nn.notes import IndependentNotes, MixtureNotes


def _mean_prob_logits(logits: list[torch.Tensor]) -> torch.Tensor:
    """Return logit(mean of sigmoid(l_k)), computed in log space so that no probability is clamped."""
    stack = torch.stack([lg.float() for lg in logits])  # (K, ...)
    log_k = math.log(len(logits))
    log_p = torch.logsumexp(F.logsigmoid(stack), dim=0) - log_k
    log_q = torch.logsumexp(F.logsigmoid(-stack), dim=0) - log_k
    return log_p - log_q


def mixture_logits(logits: list[torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """Return the conditional logits (..., N) of `targets` under the equal mixture of members' step distributions.

    logits: each member's conditional logits (..., N) of the same targets (..., N). Note i's logit is
    log(sum_k p_k(v_<i) p_k(v_i = 1 | v_<i)) - log(sum_k p_k(v_<i) p_k(v_i = 0 | v_<i)); BCE summed over
    notes is -log((1/K) sum_k p_k(targets)).
    """
    stack = torch.stack([lg.float() for lg in logits])  # (K, ..., N)
    y = targets.float().expand_as(stack)
    observed = -F.binary_cross_entropy_with_logits(stack, y, reduction="none")  # log p_k(v_i | v_<i)
    below = torch.cat([torch.zeros_like(observed[..., :1]), observed.cumsum(-1)[..., :-1]], dim=-1)  # log p_k(v_<i)
    return torch.logsumexp(below + F.logsigmoid(stack), 0) - torch.logsumexp(below + F.logsigmoid(-stack), 0)


class Ensemble(nn.Module):
    def __init__(self, members: list[ConvGRU]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.cfg = members[0].cfg

    @property
    def independent_notes(self) -> bool:
        """True when every member has the independent head: the per-note mean, notes independent given the past."""
        return all(m.independent_notes for m in self.members)

    @property
    def rule(self) -> str:
        """Return how the members are averaged: "per-note mean" or "step mixture" (see the module docstring)."""
        return "per-note mean" if self.independent_notes else "step mixture"

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """Return logits (B, T, N) of the members' mean probability (the conditionals of `targets` for a step mixture)."""
        if self.independent_notes:
            return _mean_prob_logits([m(x) for m in self.members])
        if targets is None:
            raise ValueError("an ensemble with a nade member gives the conditionals of observed notes: call model(x, targets)")
        return mixture_logits([m(x, targets) for m in self.members], targets)

    def notes(self, x: torch.Tensor):
        """Return the note distribution of the step after each position of x (B, T, N): B*T rows."""
        if self.independent_notes:
            return IndependentNotes(self(x).flatten(0, 1))
        return MixtureNotes([m.notes(x) for m in self.members])

    def init_state(self, batch: int, device=None, dtype=torch.float32) -> tuple:
        """Return the members' initial states."""
        return tuple(m.init_state(batch, device, dtype) for m in self.members)

    def step(self, x_t: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """Feed one step (B, N) to every member; return the mean-probability logits (B, N) and the new states."""
        if not self.independent_notes:
            raise ValueError("an ensemble with a nade member has no logits before a step's notes are decided: use step_notes")
        outs = [m.step(x_t, s) for m, s in zip(self.members, state, strict=True)]
        return _mean_prob_logits([o[0] for o in outs]), tuple(o[1] for o in outs)

    def step_notes(self, x_t: torch.Tensor, state: tuple):
        """Feed one step (B, N) to every member; return the note distribution of the next step and the new states."""
        if self.independent_notes:
            logits, state = self.step(x_t, state)
            return IndependentNotes(logits), state
        outs = [m.step_notes(x_t, s) for m, s in zip(self.members, state, strict=True)]
        return MixtureNotes([o[0] for o in outs]), tuple(o[1] for o in outs)
