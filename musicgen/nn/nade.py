"""A NADE over the notes of one step (Larochelle & Murray 2011), its biases given by a trunk (RNN-NADE).

Notes are decided low to high; note i's conditional is

    p(v_i = 1 | v_<i, s) = sigmoid(b_i(s) + V_i . sigmoid(c(s) + sum_{j<i} v_j W_j))

where s is the trunk's feature vector for the step, b(s) and c(s) are linear in s, and W, V are
shared. With `layers` > 1 (a deep NADE, Uria et al. 2014), the sigmoid's output passes through
layers - 1 more ReLU layers of the same width before V; their input is still the one hidden input
per run of notes, so the cost grows by one (hidden x hidden) product per run, not per note.

The exact log-likelihood of a step is the sum of its N conditionals, so that BCE on the logits of
`forward` is the joint NLL.

`forward` computes all of them at once (no loop over notes), `notes` gives the distribution that
`musicgen.nn.notes.decide` decodes or samples note by note.
"""

from __future__ import annotations

import torch
from torch import nn

from musicgen.nn.notes import decide


class NadeHead(nn.Module):
    def __init__(self, features: int, n_notes: int, hidden: int, layers: int = 1):
        super().__init__()
        self.n_notes, self.hidden = n_notes, hidden
        self.deep = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers - 1))
        self.W = nn.Parameter(torch.randn(n_notes, hidden) * 0.01)  # row j: what note j adds to later notes' hidden input
        self.V = nn.Parameter(torch.randn(n_notes, hidden) * 0.01)  # row i: note i's output weights
        self.to_b = nn.Linear(features, n_notes)  # visible biases from the trunk
        self.to_c = nn.Linear(features, hidden)  # hidden biases from the trunk
        self.max_runs: int | None = None  # None: as many runs as the batch needs (see forward)

    def forward(self, feats: torch.Tensor, notes: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """Return the conditional logits (..., N) of the observed 0/1 `notes` (..., N) given `feats` (..., F).

        `bias` (..., N) is added to the visible biases (the skip path from the current step).
        """
        lead, n = notes.shape[:-1], self.n_notes
        v = notes.reshape(-1, n) > 0.5  # (R, N)
        feats = feats.reshape(-1, feats.shape[-1])
        b = self.to_b(feats) if bias is None else self.to_b(feats) + bias.reshape(-1, n)  # (R, N)
        # The hidden input changes only at a note that is on: a step with k notes on has k + 1 runs of notes that
        # share one hidden input. Computing one per run (k + 1 ~ 5 on piano-rolls) instead of one per note (N = 84)
        # is what makes training fast; the runs of all rows are stacked into P = sum(k + 1) rows.
        vl = v.long()
        run = vl.cumsum(1) - vl  # (R, N): the run of each note = the notes on below it
        count = vl.sum(1)  # (R,)
        rows = torch.arange(len(v), device=v.device)
        if self.max_runs is None:
            runs = torch.arange(int(count.max()) + 1 if v.numel() else 1, device=v.device)
            below = v.unsqueeze(1) & (run.unsqueeze(1) < runs.view(1, -1, 1))  # (R, k+1, N): the notes on before each run
            below = below[runs <= count.unsqueeze(1)]  # (P, N)
            row = rows.repeat_interleave(count + 1)  # (P,): the row of each run
            first = (count + 1).cumsum(0) - (count + 1)  # (R,): each row's first run in P
        else:
            # A fixed max_runs per row (a CUDA graph needs shapes the host knows): P = R x max_runs, the unused runs computed
            # and never read. Exact while no row has max_runs notes on (musicgen.training.device_steps checks that).
            runs = torch.arange(self.max_runs, device=v.device)
            below = (v.unsqueeze(1) & (run.unsqueeze(1) < runs.view(1, -1, 1))).flatten(0, 1)  # (P, N)
            row = rows.repeat_interleave(self.max_runs)
            first = rows * self.max_runs
        a = torch.addmm(self.to_c(feats)[row], below.to(self.W.dtype), self.W)  # (P, H): each run's hidden input
        per_run = self.outputs(a)  # (P, N)
        return (b + per_run.gather(0, first.unsqueeze(1) + run)).reshape(*lead, n)

    def outputs(self, a: torch.Tensor) -> torch.Tensor:
        """Return the visible logits (..., N), before the biases b, of hidden inputs a (..., H)."""
        h = torch.sigmoid(a)
        for layer in self.deep:
            h = torch.relu(layer(h))
        return h @ self.V.t()

    def notes(self, feats: torch.Tensor, bias: torch.Tensor | None = None) -> NadeNotes:
        """Return the note distribution (musicgen.nn.notes) of each row of `feats` (R, F), nothing decided yet."""
        b = self.to_b(feats) if bias is None else self.to_b(feats) + bias
        return NadeNotes(self, self.to_c(feats).float(), b.float())

    @torch.no_grad()
    def decide(
        self,
        feats: torch.Tensor,
        bias: torch.Tensor | None = None,
        *,
        threshold: float | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        max_on: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decide the notes of one step note by note; return (notes (B, N) float 0/1, log-probability (B,) of them).

        threshold: greedy decoding, a note is on when its conditional exceeds it; else ancestral
        sampling from the conditionals at `temperature`. max_on: stop switching notes on after that
        many. The log-probability is the model's own (temperature 1, no cap), so that it equals
        minus the NLL that `forward` gives for the same notes. (musicgen.nn.notes.decide)
        """
        dist = self.notes(feats.float(), None if bias is None else bias.float())
        return decide(dist, threshold=threshold, temperature=temperature, generator=generator, max_on=max_on)


class NadeNotes:
    """A NADE's note distribution over R rows: hidden inputs a (R, H) and visible biases b (R, N) (musicgen.nn.notes)."""

    def __init__(self, head: NadeHead, a: torch.Tensor, b: torch.Tensor):
        self.head, self.a, self.b = head, a, b
        self.rows, self.n_notes = b.shape
        self.device = b.device

    def logits(self, rows: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        if not self.head.deep:
            return torch.addmm(self.b[rows], torch.sigmoid(self.a[rows]), self.head.V.t().float())
        return self.b[rows] + self.head.outputs(self.a[rows]).float()

    def commit(self, rows, start, first, on) -> None:
        if bool(on.any()):
            self.a[rows[on]] += self.head.W[first[on]].float()

    def select(self, rows: torch.Tensor) -> NadeNotes:
        return NadeNotes(self.head, self.a[rows], self.b[rows])
