"""Metrics of onset-aware datasets (three states per cell, musicgen.nn.onsets), for models and baselines.

A step t+1 is measured on two planes:

- the sounding plane (x > 0): today's frame metrics (`f1`, `f1_best`, `threshold`, `precision_best`, ...);
  a note is predicted sounding from p(s_i);
- the onset plane (x == 2): `onset_precision`, `onset_recall`, `onset_f1` at `onset_threshold`, the
  threshold that maximizes onset F1 on validation, reused on test. A predicted onset at t+1 counts
  when that note is struck at t+1. Independent units predict an onset with
  p(onset_i) = p(s_i) * (sounds at t ? p(a_i) : 1); a nade head's frames are its greedy decodings at
  each threshold of THRESHOLD_GRID, as for frame F1, and a decoded a_i = 1 is a predicted onset.

NLL per step = `nll_sound` (the s units) + `nll_onset` (the free a units), in nats.

Baselines (`onset_baselines`): 'silent' and 'copy_previous' (no onsets: onset F1 0); 'markov', the
per-note chain over the three states (P(state at t+1 | state at t), 3 x 3 per note, add-one
smoothed over the possible states, fitted on train); 'beat_prior', the rate of onsets of each note at
each position in the beat, fitted on train (onset metrics only: it predicts no sounding plane and
has no likelihood of a step). A note held after silence is read as struck (`canonical_steps`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from musicgen.nn.onsets import canonical_steps, input_from_steps, units_from_steps
from musicgen.training.metrics import Tally, step_mask

CHUNK = 256  # rows of a split counted at once when fitting a baseline


def model_terms(model, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, where=None):
    """Return (x, logits, y, m) of a batch: the model's input, its logits, their 0/1 targets and the cells that count.

    inputs, targets (B, T, N) as `Split.batch` gives them; mask (B, T). A hold-only model reads and
    predicts the sounding plane (m = mask). An onset model reads `input_from_steps` (`where` =
    (position, bar_steps) of the inputs, for `position`) and predicts the units (B, T, 2N), of which
    the free ones count (m (B, T, 2N)).
    """
    cfg = getattr(model, "module", model).cfg  # a data-parallel wrapper (DDP) holds the model as .module
    if not cfg.onsets:
        x, y = (inputs > 0).float(), (targets > 0).float()
        return x, model(x, y), y, mask
    y, free = units_from_steps(inputs, canonical_steps(inputs, targets))
    x = input_from_steps(inputs, cfg, *(where or (None, None)))
    return x, model(x, y), y, free & mask.bool().unsqueeze(-1)


def _chunks(rolls: torch.Tensor, lengths: torch.Tensor):
    """Yield (prev, nxt, mask) of the real predicted steps, CHUNK rows at a time (nxt canonical, float)."""
    for lo in range(0, len(rolls), CHUNK):
        x = rolls[lo : lo + CHUNK].long()
        prev, nxt = x[:, :-1], x[:, 1:]
        yield prev, canonical_steps(prev, nxt), step_mask(lengths[lo : lo + CHUNK].to(x.device), x.shape[1] - 1)


def markov3_table(rolls: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Fit the per-note three-state chain: (3, 3, N) float64, [s, s'] = P(state s' at t+1 | state s at t).

    Add-one smoothing over the possible next states (held is impossible after off), so every possible
    step has a finite NLL.
    """
    counts = None
    for prev, nxt, m in _chunks(rolls, lengths):
        pair = (prev.clamp(max=2) * 3 + nxt.clamp(max=2))[m]  # (R, N): 0..8
        c = F.one_hot(pair, 9).sum(0).t().double()  # (9, N)
        counts = c if counts is None else counts + c
    counts = counts.reshape(3, 3, -1) + 1
    counts[0, 1] = 0  # off -> held
    return counts / counts.sum(1, keepdim=True)


def chain_logits(table: torch.Tensor) -> torch.Tensor:
    """Return the chain's unit logits (3, 2, N) after each state (off, held, struck): of s_i, and of a_i where it is free.

    Clamped to +-20: after silence a_i is forced (its row is unused), and a smoothed table has no other infinity.
    """
    p = table.permute(0, 2, 1)  # (3 states before, N, 3 after)
    p_s = p[..., 1] + p[..., 2]
    p_a = p[..., 2] / p_s
    logit = torch.stack([torch.log(p_s) - torch.log1p(-p_s), torch.log(p_a) - torch.log1p(-p_a)], dim=1)  # (3, 2, N)
    return logit.clamp(-20, 20)


def markov3_logits(table: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Return the chain's unit logits (B, T, 2N) for the steps after three-state `inputs` (B, T, N)."""
    logits, state = chain_logits(table).float(), inputs.long().clamp(max=2)  # (3, 2, N), (B, T, N)
    notes = torch.arange(state.shape[-1], device=state.device)
    return torch.stack([logits[state, 0, notes], logits[state, 1, notes]], dim=-1).flatten(-2)


def beat_prior_table(rolls: torch.Tensor, lengths: torch.Tensor, starts, steps_per_beat: int) -> torch.Tensor:
    """Fit the rate of onsets (steps_per_beat, N) float64 of each note at each position in the beat (add-one smoothed)."""
    onsets = total = 0
    for lo in range(0, len(rolls), CHUNK):
        x = rolls[lo : lo + CHUNK].long()
        prev, nxt = x[:, :-1], x[:, 1:]
        m = step_mask(lengths[lo : lo + CHUNK].to(x.device), x.shape[1] - 1)
        pos = _beat_positions(starts, lo, len(x), x.shape[1] - 1, steps_per_beat, x.device)
        hot = F.one_hot(pos[m], steps_per_beat).double()  # (R, P)
        onsets = onsets + hot.t() @ (canonical_steps(prev, nxt)[m] == 2).double()  # (P, N)
        total = total + hot.sum(0)
    return (onsets + 1) / (total.unsqueeze(1) + 2)


def _beat_positions(starts, lo: int, rows: int, steps: int, steps_per_beat: int, device) -> torch.Tensor:
    """Return the position in the beat (rows, steps) of the predicted steps (t + 1) of rows lo..lo+rows."""
    first = starts[lo : lo + rows].to(device) if starts is not None else torch.zeros(rows, dtype=torch.long, device=device)
    return (first.unsqueeze(1) + 1 + torch.arange(steps, device=device)) % steps_per_beat


class OnsetTally:
    """Accumulate the metrics of onset-aware steps over batches (see the module docstring), then `result`."""

    def __init__(self, device="cpu", thresholds: tuple[float, ...] | None = None, frames: bool = True):
        self.frames = Tally(device, thresholds) if frames else None
        self.onsets = Tally(device, thresholds)
        self.sound = torch.zeros((), dtype=torch.float64, device=device)
        self.onset = torch.zeros((), dtype=torch.float64, device=device)
        self.has_nll = False

    def add(self, y, free, mask, logits=None, sounding=None, probs=None, decoded=None, loss=None) -> None:
        """Add a batch: units y and the cells that count free (B, T, 2N), mask (B, T).

        logits (B, T, 2N) of the units, with `sounding` (B, T, N) bool of the current step; or probs =
        (p_sound or None, p_onset) (B, T, N) of a baseline. decoded = ((tp, fp, fn) of the frames,
        of the onsets), each (K, 3), for a note-by-note head.
        """
        if logits is not None:
            # A forced unit's logit may be infinite (the Markov chain's): its term is dropped, not multiplied by 0.
            cells = torch.where(free, F.binary_cross_entropy_with_logits(logits.float(), y, reduction="none"), 0.0)
            self.sound += cells[..., 0::2].sum().double()
            self.onset += cells[..., 1::2].sum().double()
            self.has_nll = True
            p_s = torch.sigmoid(logits[..., 0::2].float())
            probs = (p_s, p_s * torch.where(sounding, torch.sigmoid(logits[..., 1::2].float()), 1.0))
        dec = decoded or (None, None)
        if self.frames is not None:
            self.frames.add(y[..., 0::2], mask, probs=probs[0], loss=loss, decoded=dec[0])
        self.onsets.add(y[..., 1::2], mask, probs=probs[1], decoded=dec[1])

    def reliability(self) -> list[dict]:
        """Return the reliability bins of the sounding plane's cells (see `Tally.reliability`)."""
        return self.frames.reliability() if self.frames is not None else []

    def result(self, threshold: float | None = None, onset_threshold: float | None = None) -> dict:
        """Return the metric dict; thresholds None pick the F1-best ones here (validation), else reuse them (test)."""
        on = self.onsets.result(onset_threshold)
        out = self.frames.result(threshold) if self.frames is not None else {"steps": on["steps"]}
        out |= {
            "onset_f1": on["f1_best"],
            "onset_precision": on["precision_best"],
            "onset_recall": on["recall_best"],
            "onset_threshold": on["threshold"],
            "onset_density": on["density"],
        }
        steps = max(out["steps"], 1)
        if self.has_nll:
            out |= {"nll": float(self.sound + self.onset) / steps, "nll_sound": float(self.sound) / steps}
            out["nll_onset"] = float(self.onset) / steps
        return out


@torch.no_grad()
def onset_baselines(
    split, fitted: dict, batch_size: int, thresholds: dict | None = None, steps_per_beat: int | None = None
) -> dict:
    """Return {baseline: metrics} of onset-aware `split`; `fitted` = {'markov': table, 'beat_prior': table or None}.

    `thresholds` {baseline: (frame threshold, onset threshold)}: reused (test); None chooses them here (validation).
    """
    out = {}
    for kind in ("silent", "copy_previous", "markov", "beat_prior"):
        if kind == "beat_prior" and fitted.get("beat_prior") is None:
            continue
        tally = OnsetTally(split.rolls.device, frames=kind != "beat_prior")
        for lo in range(0, len(split), batch_size):
            idx = torch.arange(lo, min(lo + batch_size, len(split)), device=split.rolls.device)
            inputs, targets, mask = split.batch(idx)
            y, free = units_from_steps(inputs, canonical_steps(inputs, targets))
            free = free & mask.unsqueeze(-1)
            if kind == "markov":
                tally.add(y, free, mask, logits=markov3_logits(fitted["markov"], inputs), sounding=inputs > 0)
            elif kind == "beat_prior":
                pos = _beat_positions(split.starts, lo, len(idx), inputs.shape[1], steps_per_beat, inputs.device)
                tally.add(y, free, mask, probs=(None, fitted["beat_prior"].float()[pos]))
            else:
                sound = (inputs > 0).float() if kind == "copy_previous" else torch.zeros_like(inputs)
                tally.add(y, free, mask, probs=(sound, torch.zeros_like(inputs)))
        fixed = (0.5, 0.5) if kind in ("silent", "copy_previous") else (thresholds or {}).get(kind, (None, None))
        out[kind] = tally.result(*fixed)
    return out


def fit_onset_baselines(train, steps_per_beat: int | None) -> dict:
    """Fit the onset baselines on the training split: {'markov': (3, 3, N), 'beat_prior': (P, N) or None (no beat grid)}."""
    prior = None
    if steps_per_beat:
        prior = beat_prior_table(train.rolls, train.lengths, train.starts, steps_per_beat)
    return {"markov": markov3_table(train.rolls, train.lengths), "beat_prior": prior}
