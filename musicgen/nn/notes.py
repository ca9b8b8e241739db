"""Distributions over the notes of one step, decided note by note (low to high), and `decide`, which decides them.

A note distribution holds R rows (the steps of a batch) and gives the conditional logit of each
note given the notes of its row decided so far. Three kinds:

- `IndependentNotes`: per-note logits that ignore the other notes (the independent head);
- `NadeNotes` (musicgen.nn.nade): a NADE's conditionals, whose hidden input grows with each note turned on;
- `MixtureNotes`: the step-level mixture (1/K) sum_k p_k(step) of K distributions; note i's
  conditional weighs member k by its probability of the notes decided before i (Bayes' rule).

What `decide` asks of a distribution (`rows` a long tensor of distinct row numbers, `start` (r,)):
- `logits(rows, start)` -> (r, N): the conditional logit of every note j >= start given the notes
  decided before `start` and the notes start..j-1 off. A note turned off changes no NADE hidden
  input, so one call covers a whole run of off notes (a mixture reweighs along the run itself).
- `commit(rows, start, first, on)`: notes start..first-1 are off, and note `first` is on where
  `on`; always called right after `logits` with the same rows.
- `select(rows)`: a distribution over those rows (repeats allowed), each with what was decided in it.
- optionally `counted` (N,) bool: the notes that count against `decide`'s max_on (all when absent;
  `OnsetNotes` (musicgen.nn.onsets) counts the units that say a note sounds, not those that say it is struck).

`decide` is event-driven: it takes the logits of all notes, finds the first note that turns on,
commits, and asks again, so a step with k notes on costs k + 1 calls instead of N. Its notes are
those of deciding one note at a time (tests/unit/test_nade.py checks it against that loop).
`decide_grid` decodes greedily at many thresholds at once, sharing the work where they agree.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


class IndependentNotes:
    """Notes whose logits (R, N) do not depend on each other."""

    def __init__(self, logits: torch.Tensor):
        self.all = logits.float()
        self.rows, self.n_notes = self.all.shape
        self.device = self.all.device

    def logits(self, rows: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        return self.all[rows]

    def commit(self, rows, start, first, on) -> None:
        pass

    def select(self, rows: torch.Tensor) -> IndependentNotes:
        return IndependentNotes(self.all[rows])


class MixtureNotes:
    """The step-level mixture, with equal weights, of K note distributions over the same rows."""

    def __init__(self, parts: list):
        self.parts = parts
        self.rows, self.n_notes, self.device = parts[0].rows, parts[0].n_notes, parts[0].device
        self.lp = torch.zeros(len(parts), self.rows, device=self.device)  # (K, R): log p_k of the notes decided so far
        self._last = None

    def logits(self, rows: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        member = torch.stack([p.logits(rows, start).float() for p in self.parts])  # (K, r, N)
        ahead = torch.arange(self.n_notes, device=self.device) >= start.unsqueeze(1)  # (r, N)
        off = torch.where(ahead, F.logsigmoid(-member), 0.0)  # log p_k(note off)
        before = torch.cat([torch.zeros_like(off[..., :1]), off.cumsum(-1)[..., :-1]], dim=-1)  # notes start..j-1 off
        prefix = self.lp[:, rows].unsqueeze(-1) + before  # (K, r, N): log p_k of everything before note j
        self._last = (member, off)
        return torch.logsumexp(prefix + F.logsigmoid(member), 0) - torch.logsumexp(prefix + F.logsigmoid(-member), 0)

    def commit(self, rows, start, first, on) -> None:
        member, off = self._last
        n = self.n_notes
        passed = torch.arange(n, device=self.device) < first.unsqueeze(1)  # (r, N)
        gained = torch.where(passed, off, 0.0).sum(-1)  # (K, r)
        at = first.clamp(max=n - 1).view(1, -1, 1).expand(len(self.parts), -1, 1)
        gained += torch.where(on, F.logsigmoid(member.gather(-1, at).squeeze(-1)), 0.0)
        self.lp[:, rows] += gained
        for p in self.parts:
            p.commit(rows, start, first, on)

    def select(self, rows: torch.Tensor) -> MixtureNotes:
        out = MixtureNotes([p.select(rows) for p in self.parts])
        out.lp = self.lp[:, rows]
        if self._last is not None:  # what `commit` needs, when the rows were selected between `logits` and `commit`
            out._last = tuple(t[:, rows] for t in self._last)
        return out


@torch.no_grad()
def decide(
    dist,
    *,
    threshold: float | torch.Tensor | None = None,
    temperature: float = 1.0,
    uniform: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    max_on: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decide the notes of every row of `dist`; return (notes (R, N) float 0/1, log-probability (R,) of them).

    threshold (a float, or one per row (R,)): greedy decoding, a note is on when its conditional
    exceeds it. Else ancestral sampling: a note is on when uniform < sigmoid(logit / temperature),
    `uniform` (R, N) in [0, 1) given or drawn from `generator` (on the CPU). max_on: no note is
    switched on in a row after that many. The log-probability is the model's own (temperature 1, no
    cap), so that it equals minus the NLL that the model's `forward` gives for the same notes.
    """
    n, device = dist.n_notes, dist.device
    total = dist.rows
    if threshold is None and uniform is None:
        uniform = torch.rand(total, n, generator=generator).to(device)
    per_row = isinstance(threshold, torch.Tensor)
    notes = torch.zeros(total, n, device=device)
    logp = torch.zeros(total, device=device)
    start = torch.zeros(total, dtype=torch.long, device=device)
    count = torch.zeros(total, dtype=torch.long, device=device)
    j = torch.arange(n, device=device)
    rows = torch.arange(total, device=device)
    counted = getattr(dist, "counted", torch.ones(n, dtype=torch.bool, device=device))
    while rows.numel():
        s = start[rows]
        logits = dist.logits(rows, s).float()  # (r, N)
        ahead = j >= s.unsqueeze(1)
        if threshold is None:
            want = uniform[rows] < torch.sigmoid(logits / temperature)
        else:
            want = torch.sigmoid(logits) > (threshold[rows].unsqueeze(1) if per_row else threshold)
        want &= ahead
        if max_on is not None:
            want &= (count[rows] < max_on).unsqueeze(1) | ~counted
        first = torch.where(want, j, n).amin(1)  # (r,): the first note switched on, n for none
        on = first < n
        passed = ahead & (j < first.unsqueeze(1))  # decided off
        gained = torch.where(passed, F.logsigmoid(-logits), 0.0).sum(1)
        at = first.clamp(max=n - 1).unsqueeze(1)
        gained += torch.where(on, F.logsigmoid(logits.gather(1, at).squeeze(1)), 0.0)
        logp[rows] += gained
        notes[rows[on], first[on]] = 1.0
        count[rows[on]] += counted[first[on]].long()
        dist.commit(rows, s, first, on)
        start[rows] = first + 1
        rows = rows[on & (first + 1 < n)]
    return notes, logp


@torch.no_grad()
def decide_grid(dist, thresholds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decode every row of `dist` greedily at each of K increasing `thresholds`; return the distinct decodings.

    Returns (row (L,), lo (L,), hi (L,), notes (L, N) float 0/1): row `row[i]` decodes to `notes[i]`
    at thresholds lo[i] <= k < hi[i]; every (row, threshold) pair is covered once. The same as
    `decide(dist, threshold=t)` for each t, but a row's thresholds are decoded as one until they
    disagree on a note: the first note switched on at threshold t is the first whose conditional
    exceeds t, i.e. where the running maximum of the conditionals first exceeds t, which is
    non-decreasing in t, so the thresholds that agree form ranges.
    """
    n, device = dist.n_notes, dist.device
    k = len(thresholds)
    if dist.rows == 0:
        none = torch.zeros(0, dtype=torch.long, device=device)
        return none, none, none, torch.zeros(0, n, device=device)
    j = torch.arange(n, device=device)
    row = torch.arange(dist.rows, device=device)  # each node: a row and a range of thresholds that agree so far
    lo = torch.zeros_like(row)
    hi = torch.full_like(row, k)
    start = torch.zeros_like(row)
    notes = torch.zeros(dist.rows, n, device=device)
    leaves = []
    while row.numel():
        nodes = torch.arange(len(row), device=device)
        p = torch.where(j >= start.unsqueeze(1), torch.sigmoid(dist.logits(nodes, start).float()), -1.0)  # (M, N)
        first = torch.searchsorted(p.cummax(1).values, thresholds.expand(len(row), k).contiguous(), right=True)  # (M, K)
        # The groups: (node, threshold) pairs in range, a new group where the first note switched on changes.
        kk = torch.arange(k, device=device)
        inside = (kk >= lo.unsqueeze(1)) & (kk < hi.unsqueeze(1))  # (M, K)
        node_of, thr_of = inside.nonzero(as_tuple=True)  # sorted by node, then threshold
        f = first[node_of, thr_of]
        new = torch.ones_like(f, dtype=torch.bool)
        new[1:] = (node_of[1:] != node_of[:-1]) | (f[1:] != f[:-1])
        heads = new.nonzero().squeeze(1)
        ends = torch.cat([heads[1:], torch.tensor([len(f)], device=device)])
        parent, g_first = node_of[heads], f[heads]
        g_lo, g_hi = thr_of[heads], thr_of[ends - 1] + 1
        on = g_first < n
        g_notes = notes[parent]
        g_notes[on.nonzero().squeeze(1), g_first[on]] = 1.0
        done = ~on | (g_first + 1 >= n)
        leaves.append((row[parent][done], g_lo[done], g_hi[done], g_notes[done]))
        keep = (~done).nonzero().squeeze(1)  # the groups that go on, one node each, their note switched on
        dist = dist.select(parent[keep])
        dist.commit(torch.arange(len(keep), device=device), start[parent[keep]], g_first[keep], on[keep])
        row, lo, hi, start, notes = row[parent][keep], g_lo[keep], g_hi[keep], g_first[keep] + 1, g_notes[keep]
    return tuple(torch.cat(parts) for parts in zip(*leaves, strict=True))
