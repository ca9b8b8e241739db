"""Prediction metrics of next-step models and of the two baselines; padding never counts.

Conventions: a batch predicts `targets = x[:, 1:]` from `inputs = x[:, :-1]`; `mask (B, T)` marks
the real predicted steps (t + 1 < length). Cells are (step, note) pairs of real steps.

Definitions that hold for every head, so that figures compare across heads:
- NLL: minus the log-probability of each real step's notes, in nats, averaged over real steps. The
  logits a model gives (`model(inputs, targets)`) are such that BCE on them summed over notes is that
  joint NLL: each note's own for the independent head, the conditionals of the observed notes for
  the nade head (the exact joint), the mixture's conditionals for an ensemble with a nade member.
- Predicted frame, and with it F1, precision, recall and frame accuracy: for the independent head a
  cell is predicted positive when its probability is >= the threshold (0.5 unless stated); the
  threshold that maximizes F1 on validation is searched on a grid of BINS. For the nade head (and
  ensembles with a nade member) the predicted frame is the greedy ancestral decoding of the step: low
  to high, a note is on when its conditional, given the notes already decided in that step, is above
  the threshold; the F1-best threshold is chosen on validation by decoding at each of THRESHOLD_GRID.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

# Threshold resolution of the F1-best search: thresholds k / BINS, k = 1..BINS-1.
BINS = 1000
BASELINES = ("silent", "copy_previous")
# Thresholds at which the greedy decoding of a note-by-note head is measured on validation (0.05, 0.10, ..., 0.95).
THRESHOLD_GRID = tuple(round(0.05 * k, 2) for k in range(1, 20))
CALIBRATION_BINS = 10  # equal-width bins of [0, 1] of the reliability diagram and the ECE


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """Return the bool mask (B, steps) of predicted positions t with t + 1 < length."""
    t = torch.arange(steps, device=lengths.device)
    return t.unsqueeze(0) + 1 < lengths.unsqueeze(1)  # (B, steps)


def nll_per_step(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> float:
    """Return the NLL per real step in nats: sum over notes of BCE, averaged over real steps."""
    cells = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")  # (B, T, N)
    m = mask.float()
    return float((cells.sum(-1) * m).sum() / m.sum().clamp(min=1))


def counts(pred: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> tuple[int, int, int]:
    """Return (tp, fp, fn) of bool predictions (B, T, N) against 0/1 targets over real cells."""
    m = mask.unsqueeze(-1).bool()
    p, y = pred.bool() & m, targets.bool() & m
    return int((p & y).sum()), int((p & ~y).sum()), int((~p & y).sum())


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Return micro (precision, recall, f1); an empty denominator gives 0."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return precision, recall, f1


def frame_accuracy(tp: int, fp: int, fn: int) -> float:
    """Return TP / (TP + FP + FN) (Bay et al. 2009); 0 when all three are 0."""
    return tp / (tp + fp + fn) if tp + fp + fn else 0.0


def baseline_probs(kind: str, inputs: torch.Tensor) -> torch.Tensor:
    """Return 0/1 'probabilities' (B, T, N) of a baseline: all silent, or the previous step copied."""
    if kind == "silent":
        return torch.zeros_like(inputs, dtype=torch.float32)
    if kind == "copy_previous":
        return inputs.float()  # position t predicts step t+1 as a copy of step t
    raise ValueError(f"unknown baseline {kind!r}; choose one of {BASELINES}")


def markov_table(rolls: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Fit the per-note two-state Markov chain on real steps: (2, N) float64, row s = P(on at t+1 | state s at t).

    rolls (n, T, N) 0/1, lengths (n,). Add-one smoothing keeps every probability inside (0, 1), so the
    chain has a finite NLL on any split: the honest yardstick for a model's NLL (0/1 baselines have none).
    """
    sums = 0
    # A sharded split's rolls (musicgen.training.shard_batches.LazyRolls) are read a chunk of rows at a time.
    chunks = rolls.chunks() if hasattr(rolls, "chunks") else [(0, rolls)]
    for lo, part in chunks:
        x = part.double()
        mask = step_mask(lengths[lo : lo + len(x)].to(x.device), x.shape[1] - 1).unsqueeze(-1).double()  # (n, T-1, 1)
        prev, nxt = x[:, :-1], x[:, 1:]
        sums = sums + torch.stack(
            [
                ((1 - prev) * nxt * mask).sum((0, 1)),
                (prev * nxt * mask).sum((0, 1)),
                ((1 - prev) * mask).sum((0, 1)),
                (prev * mask).sum((0, 1)),
            ]
        )
    on_after_off, on_after_on, n_off, n_on = sums
    return torch.stack([(on_after_off + 1) / (n_off + 2), (on_after_on + 1) / (n_on + 2)])


def markov_logits(table: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Return the chain's logits (B, T, N) for the steps after `inputs` (B, T, N): each note from its own last state."""
    p = torch.where(inputs > 0, table[1], table[0]).float()  # (B, T, N)
    return torch.log(p) - torch.log1p(-p)


def calibration_sums(probs, targets, mask, bins: int = CALIBRATION_BINS) -> torch.Tensor:
    """Return float64 (bins, 3): per equal-width bin of [0, 1] the real cells' count, sum of probabilities, sum of positives.

    probs, targets (B, T, N); mask (B, T). Sums add up over batches; `bins_from_sums` turns them into bins.
    """
    probs, targets = torch.as_tensor(probs).float(), torch.as_tensor(targets).float()
    m = torch.as_tensor(mask).bool()
    p, y = probs[m].flatten(), targets[m].flatten()  # real cells only
    idx = (p * bins).long().clamp_(0, bins - 1)  # p = 1 falls in the last bin
    out = torch.zeros(bins, 3, dtype=torch.float64, device=p.device)
    out[:, 0].index_add_(0, idx, torch.ones_like(p, dtype=torch.float64))
    out[:, 1].index_add_(0, idx, p.double())
    out[:, 2].index_add_(0, idx, y.double())
    return out


def bins_from_sums(sums: torch.Tensor) -> list[dict]:
    """Return the reliability bins of `calibration_sums`: [{lo, hi, count, predicted, observed}], None where a bin is empty."""
    n = len(sums)
    out = []
    for k, (count, p_sum, y_sum) in enumerate(sums.tolist()):
        out.append(
            {
                "lo": k / n,
                "hi": (k + 1) / n,
                "count": int(count),
                "predicted": p_sum / count if count else None,  # mean predicted probability
                "observed": y_sum / count if count else None,  # share of positives
            }
        )
    return out


def reliability_bins(probs, targets, mask, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Return per equal-width bin of [0, 1]: {lo, hi, count, predicted (mean probability), observed (positive share)}.

    probs, targets (B, T, N), mask (B, T): only real cells count. For the nade head pass the
    teacher-forced conditionals (sigmoid of `model(inputs, targets)`), see the module docstring.
    """
    return bins_from_sums(calibration_sums(probs, targets, mask, bins))


def expected_calibration_error(bins: list[dict]) -> float:
    """Return the ECE: sum over bins of count/total × |observed − predicted| (NaN when no cell was counted)."""
    total = sum(b["count"] for b in bins)
    if not total:
        return math.nan
    return float(sum(b["count"] / total * abs(b["observed"] - b["predicted"]) for b in bins if b["count"]))


class Tally:
    """Accumulate metrics over batches on the batches' device, then summarize with `result`.

    `thresholds` (a note-by-note head): the predicted frames are decoded ones, added per threshold
    as counts (`decoded` in `add`); without, they are the cells' probabilities against a threshold.
    """

    def __init__(self, device="cpu", thresholds: tuple[float, ...] | None = None):
        def z():
            return torch.zeros((), dtype=torch.float64, device=device)

        self.steps, self.cells, self.nll, self.loss = z(), z(), z(), z()
        self.has_logits = False
        self.has_loss = False
        self.hist_pos = torch.zeros(BINS, dtype=torch.float64, device=device)
        self.hist_neg = torch.zeros(BINS, dtype=torch.float64, device=device)
        self.thresholds = tuple(float(t) for t in thresholds) if thresholds is not None else None
        self.decoded = torch.zeros(len(self.thresholds or ()), 3, dtype=torch.float64, device=device)  # (tp, fp, fn) each
        self.calibration = torch.zeros(CALIBRATION_BINS, 3, dtype=torch.float64, device=device)

    def add(self, targets, mask, logits=None, probs=None, loss=None, decoded=None) -> None:
        """Add one batch: targets (B, T, N) 0/1, mask (B, T), logits or probs (B, T, N), its mean loss.

        decoded (len(thresholds), 3): (tp, fp, fn) of the batch's decoded frames at each threshold.
        """
        m = mask.bool()
        n_steps = m.sum()
        self.steps += n_steps
        self.cells += n_steps * targets.shape[-1]
        if logits is not None:
            cells = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
            self.nll += (cells.sum(-1) * m).sum()
            probs = torch.sigmoid(logits.float())
            self.has_logits = True
        if loss is not None:
            self.loss += loss.detach().double() * n_steps * targets.shape[-1]
            self.has_loss = True
        if probs is not None:
            self.calibration += calibration_sums(probs, targets, mask).to(self.calibration.device)
        if self.thresholds is not None:
            self.decoded += torch.as_tensor(decoded, dtype=torch.float64, device=self.decoded.device)
            return
        p, y = probs[m], targets[m].bool()  # (cells_in_batch / N, N)
        bins = (p * BINS).long().clamp_(0, BINS - 1)
        self.hist_pos += torch.bincount(bins[y], minlength=BINS).double()
        self.hist_neg += torch.bincount(bins[~y], minlength=BINS).double()

    def _counts_at(self, k: int) -> tuple[int, int, int]:
        if self.thresholds is not None:
            tp, fp, fn = (int(c) for c in self.decoded[k])
            return tp, fp, fn
        tp = int(self.hist_pos[k:].sum())
        fp = int(self.hist_neg[k:].sum())
        fn = int(self.hist_pos[:k].sum())
        return tp, fp, fn

    def reliability(self) -> list[dict]:
        """Return the reliability bins of every cell added so far (see `reliability_bins`)."""
        return bins_from_sums(self.calibration)

    def best_threshold(self) -> float:
        """Return the threshold k/BINS (k >= 1) that maximizes micro F1 (the lowest one on ties)."""
        if self.thresholds is not None:
            tp, fp, fn = self.decoded.unbind(1)
            f1 = 2 * tp / (2 * tp + fp + fn).clamp(min=1)
            return self.thresholds[int(torch.argmax(f1))]
        tp = self.hist_pos.flip(0).cumsum(0).flip(0)[1:]  # tp[k-1]: positives with bin >= k
        fp = self.hist_neg.flip(0).cumsum(0).flip(0)[1:]
        fn = self.hist_pos.sum() - tp
        f1 = 2 * tp / (2 * tp + fp + fn).clamp(min=1)
        return (int(torch.argmax(f1)) + 1) / BINS

    def result(self, threshold: float | None = None) -> dict:
        """Return the metric dict; `threshold` None picks the F1-best one here (validation), else reuses it (test)."""
        thr = self.best_threshold() if threshold is None else float(threshold)
        if self.thresholds is not None:
            if thr not in self.thresholds or 0.5 not in self.thresholds:
                raise ValueError(f"frames were decoded at {self.thresholds}, not at {thr} and 0.5")
            k, at_half, chosen = None, self.thresholds.index(0.5), self.thresholds.index(thr)
        else:
            k = min(max(round(thr * BINS), 1), BINS - 1)
            at_half, chosen = BINS // 2, k
        tp, fp, fn = self._counts_at(at_half)
        precision, recall, f1 = prf(tp, fp, fn)
        tpb, fpb, fnb = self._counts_at(chosen)
        pb, rb, f1b = prf(tpb, fpb, fnb)
        cells = float(self.cells)
        out = {
            "loss": float(self.loss) / cells if self.has_loss and cells else None,
            "nll": float(self.nll) / float(self.steps) if self.has_logits and float(self.steps) else None,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "f1_best": f1b,
            "threshold": k / BINS if k is not None else thr,
            "frame_acc": frame_accuracy(tp, fp, fn),
            "pred_pos_rate": (tp + fp) / cells if cells else 0.0,
            "density": (tp + fn) / cells if cells else 0.0,
            "precision_best": pb,
            "recall_best": rb,
            "frame_acc_best": frame_accuracy(tpb, fpb, fnb),
            "steps": int(self.steps),
            "ece": expected_calibration_error(self.reliability()) if float(self.steps) else None,
        }
        return {k: v for k, v in out.items() if v is not None}


def all_finite(values: dict) -> bool:
    """Return True when every float in `values` is finite."""
    return all(math.isfinite(v) for v in values.values() if isinstance(v, float))
