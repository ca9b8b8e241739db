"""The Ensemble network: several ConvGRUs whose predicted probabilities are averaged (in log space)."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from musicgen.nn.convgru import ConvGRU


def _mean_prob_logits(logits: list[torch.Tensor]) -> torch.Tensor:
    """Return logit(mean of sigmoid(l_k)), computed in log space so that no probability is clamped."""
    stack = torch.stack([lg.float() for lg in logits])  # (K, ...)
    log_k = math.log(len(logits))
    log_p = torch.logsumexp(F.logsigmoid(stack), dim=0) - log_k
    log_q = torch.logsumexp(F.logsigmoid(-stack), dim=0) - log_k
    return log_p - log_q


class Ensemble(nn.Module):
    def __init__(self, members: list[ConvGRU]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.cfg = members[0].cfg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits (B, T, N) of the members' mean probability."""
        return _mean_prob_logits([m(x) for m in self.members])

    def init_state(self, batch: int, device=None, dtype=torch.float32) -> tuple:
        """Return the members' initial states."""
        return tuple(m.init_state(batch, device, dtype) for m in self.members)

    def step(self, x_t: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """Feed one step (B, N) to every member; return the mean-probability logits (B, N) and the new states."""
        outs = [m.step(x_t, s) for m, s in zip(self.members, state, strict=True)]
        return _mean_prob_logits([o[0] for o in outs]), tuple(o[1] for o in outs)
