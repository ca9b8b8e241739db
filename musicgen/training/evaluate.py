"""Evaluation: a model or a baseline over one dataset split, with the metrics of `training.metrics`.

A model with the nade head (or an ensemble with a nade member) is measured on frames it decodes
greedily, note by note, at each threshold of `metrics.THRESHOLD_GRID` (validation) or at the chosen
one and 0.5 (test): `decoded_counts`.

An onset model (musicgen.nn.onsets) on an onset-aware dataset gets the metrics of
`training.onset_metrics` (onset F1 beside frame F1, the NLL's sounding and onset parts) and the
onset baselines; a hold-only model on such a dataset is measured on its sounding plane. Long
sequences (whole pieces) are evaluated in batches of at most EVAL_STEPS padded steps.
"""

from __future__ import annotations

import torch

from musicgen.config import TrainConfig, from_dict
from musicgen.data.datasets import load_dataset
from musicgen.errors import ConfigError, DataError
from musicgen.nn.notes import decide_grid
from musicgen.nn.onsets import describe_inputs
from musicgen.runs.divergence import diverged
from musicgen.training.batches import Split
from musicgen.training.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint
from musicgen.training.device import one_thread, resolve_device
from musicgen.training.losses import make_loss
from musicgen.training.metrics import BASELINES, THRESHOLD_GRID, Tally, baseline_probs, markov_logits, markov_table
from musicgen.training.onset_metrics import OnsetTally, fit_onset_baselines, model_terms, onset_baselines

EVAL_BATCH = 128  # sequences per evaluation batch
# Padded steps per evaluation batch: whole pieces thousands of steps long go a few at a time (a nade head's
# teacher-forced pass holds ~10 runs x its hidden units per step).
EVAL_STEPS = 128 * 256
# Real steps decoded at once by `decoded_counts`: bounds the memory of greedy decoding (each step becomes at
# most one row per threshold, each holding a nade head's hidden input, 300 floats by default, and every note's logit).
DECODE_ROWS = 4096


def eval_batch(split, batch_size: int = EVAL_BATCH) -> int:
    """Return the sequences per evaluation batch of `split`: `batch_size`, fewer for long sequences (EVAL_STEPS)."""
    return max(1, min(batch_size, EVAL_STEPS // max(int(split.rolls.shape[1]), 1)))


@torch.no_grad()
def decoded_counts(model, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, thresholds, planes: int = 1):
    """Return (tp, fp, fn) float64 (K, 3) of the greedy decoding of every real step at each of K increasing thresholds.

    planes=2 (an onset model's units): a pair, counted on the s units (sounding) and on the a units (onsets).

    Each step's frame is decoded low to high given the real past (`model.notes`): a note is on when
    its conditional, given the notes already decided in that step, is above the threshold
    (`notes.decide_grid`). On one CPU thread: decoding is many small ops, whose threads spin-wait on
    a shared CPU (measured: 2-7x slower with 2 threads on a busy 2-core machine).
    """
    dist = model.notes(inputs)  # B*T rows
    real = mask.flatten().nonzero().squeeze(1)  # (R,)
    y = targets.flatten(0, 1)[real].bool()  # (R, N)
    k = len(thresholds)
    thr = torch.tensor(thresholds, dtype=torch.float32, device=inputs.device)
    per_threshold = torch.zeros(planes, k + 1, 3, dtype=torch.float64, device=inputs.device)  # differences: + at lo, - at hi
    with one_thread():
        for lo in range(0, len(real), DECODE_ROWS):
            rows = torch.arange(lo, min(lo + DECODE_ROWS, len(real)), device=inputs.device)
            row, first, last, notes = decide_grid(dist.select(real[rows]), thr)
            for p in range(planes):
                pred, truth = notes.bool()[:, p::planes], y[rows[row]][:, p::planes]
                counts = torch.stack([(pred & truth).sum(1), (pred & ~truth).sum(1), (~pred & truth).sum(1)], dim=1).double()
                per_threshold[p].index_add_(0, first, counts)
                per_threshold[p].index_add_(0, last, -counts)
    out = per_threshold.cumsum(1)[:, :k]
    return out[0] if planes == 1 else tuple(out)


@torch.no_grad()
def evaluate_model(
    model,
    split: Split,
    loss_fn=None,
    threshold: float | None = None,
    batch_size: int = EVAL_BATCH,
    calibration: bool = False,
    onset_threshold: float | None = None,
) -> dict:
    """Return the metrics of `model` on `split`; threshold None picks the F1-best one (validation).

    An onset model's onset threshold likewise: `onset_threshold` None picks the onset-F1-best one.
    A note-by-note model (nade head) is decoded at every threshold of THRESHOLD_GRID for validation,
    at `threshold` (and `onset_threshold`) and 0.5 otherwise. `ece` is always there; `calibration` adds
    {"calibration": {"bins": metrics.reliability_bins' list, "ece"}} (the nade head's probabilities
    are its teacher-forced conditionals, see training.metrics).
    """
    if len(split) == 0:
        raise DataError("the split to evaluate has no sequences; rebuild the dataset with a non-zero share for it")
    was_training = model.training
    model.eval()
    device = split.rolls.device
    onsets = bool(model.cfg.onsets)
    thresholds = None
    if not model.independent_notes:
        chosen = {threshold, onset_threshold} if onsets else {threshold}
        thresholds = THRESHOLD_GRID if None in chosen else tuple(sorted({0.5, *(float(t) for t in chosen)}))
    tally = OnsetTally(device, thresholds) if onsets else Tally(device, thresholds)
    batch_size = eval_batch(split, batch_size)
    try:
        for start in range(0, len(split), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(split)), device=device)
            inputs, targets, mask = split.batch(idx)
            where = split.where(idx, inputs.shape[1]) if onsets and model.cfg.position else None
            # Float32 whatever the run trained in: a run's metrics do not depend on its precision, and a threshold
            # decision on a bfloat16 logit could flip. The independent head ignores the targets; the nade head gives
            # their conditionals.
            x, logits, y, m = model_terms(model, inputs, targets, mask, where)
            decoded = decoded_counts(model, x, y, mask, thresholds, 2 if onsets else 1) if thresholds else None
            logits = logits.float()
            loss = loss_fn(logits, y, m) if loss_fn is not None else None
            if onsets:
                tally.add(y, m, mask, logits=logits, sounding=inputs > 0, decoded=decoded, loss=loss)
            else:
                tally.add(y, mask, logits=logits, loss=loss, decoded=decoded)
    finally:
        model.train(was_training)
    out = tally.result(threshold, onset_threshold) if onsets else tally.result(threshold)
    if calibration:
        out["calibration"] = {"bins": tally.reliability(), "ece": out.get("ece")}
    return out


@torch.no_grad()
def baseline_metrics(split: Split, batch_size: int = EVAL_BATCH, markov=None, markov_threshold: float | None = None) -> dict:
    """Return {baseline: metrics} on `split`: 'silent', 'copy_previous' and, given a fitted `markov_table`, 'markov'.

    The 0/1 guesses have no NLL and are the same at every threshold: they are reported at 0.5. The
    Markov chain has both: its threshold is chosen on this split when `markov_threshold` is None
    (validation), else reused (test), as for a model.
    """
    out = {}
    kinds = (*BASELINES, "markov") if markov is not None else BASELINES
    for kind in kinds:
        tally = Tally(split.rolls.device)
        for start in range(0, len(split), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(split)), device=split.rolls.device)
            inputs, targets, mask = split.batch(idx)
            if kind == "markov":
                tally.add(targets, mask, logits=markov_logits(markov.to(inputs.device), inputs))
            else:
                tally.add(targets, mask, probs=baseline_probs(kind, inputs))
        out[kind] = tally.result(threshold=markov_threshold if kind == "markov" else 0.5)
    return out


def split_baselines(
    train: Split, valid: Split, other: Split | None = None, onsets: bool = False, steps_per_beat: int | None = None
) -> tuple[dict, dict | None]:
    """Return the baselines on `valid` and on `other` (or None); the Markov chain is fitted on `train`, its threshold on valid.

    onsets: the splits are onset-aware, and the baselines those of `training.onset_metrics` (the beat
    prior needs `steps_per_beat`).
    """
    if onsets:
        fitted = fit_onset_baselines(train, steps_per_beat)
        on_valid = onset_baselines(valid, fitted, eval_batch(valid), steps_per_beat=steps_per_beat)
        if other is None:
            return on_valid, None
        chosen = {k: (m.get("threshold"), m["onset_threshold"]) for k, m in on_valid.items()}
        return on_valid, onset_baselines(other, fitted, eval_batch(other), chosen, steps_per_beat)
    table = markov_table(train.rolls, train.lengths)
    on_valid = baseline_metrics(valid, markov=table)
    if other is None:
        return on_valid, None
    return on_valid, baseline_metrics(other, markov=table, markov_threshold=on_valid["markov"]["threshold"])


def check_pitch_range(ckpt_data_config: dict, dataset) -> None:
    """Raise DataError when `dataset` has another pitch range than the checkpoint was trained on."""
    lo, hi = ckpt_data_config.get("low"), ckpt_data_config.get("high")
    if (lo, hi) != (dataset.config.low, dataset.config.high):
        raise DataError(
            f"dataset {dataset.name} covers MIDI {dataset.config.low}..{dataset.config.high - 1} but the checkpoint was trained "
            f"on MIDI {lo}..{hi - 1}; rebuild the dataset with --low {lo} --high {hi}"
        )


def evaluate_checkpoint(
    ref: str, data_ref: str, split: str = "test", device: str = "auto", threshold: float | None = None
) -> dict:
    """Recompute a checkpoint's metrics on a dataset split; threshold None reuses the checkpoint's own.

    Returns {run_id, checkpoint, dataset, split, scoring, threshold, onset_threshold, inputs, metrics, baselines, diverged};
    `scoring` says how the split's rows were cut: "whole pieces" (each step once, with its whole past) or "windows";
    `diverged` is `runs.divergence.diverged` on this split's NLL against the Markov chain's on the same split.
    """
    if split not in ("train", "valid", "test"):
        raise ConfigError(f"unknown split {split!r}; choose one of train, valid, test")
    if threshold is not None and not 0 < threshold < 1:  # NaN fails the comparison too
        raise ConfigError(
            f"--threshold must be a note probability between 0 and 1 (exclusive), got {threshold}; e.g. --threshold 0.3, "
            "or leave it out for the checkpoint's validation-best one"
        )
    path = resolve_checkpoint(ref, "best")
    ckpt = load_checkpoint(path)
    ds = load_dataset(data_ref)
    check_pitch_range(ckpt["data_config"], ds)
    dev = resolve_device(device)
    model = model_from_checkpoint(ckpt, dev)
    onsets = bool(model.cfg.onsets)
    if onsets and not ds.onsets:
        raise DataError(
            f"checkpoint {path} predicts onsets but dataset {ds.name} is hold-only (a benchmark file, or built before "
            "onsets); evaluate it on a dataset built from MIDI files with `python -m musicgen preprocess`"
        )
    data = _split(ds, split, dev, onsets)
    loss_fn = None
    if ckpt.get("train_config"):
        tcfg = from_dict(TrainConfig, ckpt["train_config"])
        loss_fn = make_loss(tcfg, float(ckpt.get("train_density") or 0.05))
    thr = threshold if threshold is not None else ckpt.get("threshold", 0.5)
    onset_thr = (ckpt.get("best_valid") or {}).get("onset_threshold") if onsets else None
    metrics = evaluate_model(model, data, loss_fn, threshold=thr, calibration=True, onset_threshold=onset_thr)
    baselines = _baselines_on(ds, split, data, dev, onsets)
    return {
        "run_id": ckpt.get("run_id"),
        "checkpoint": str(path),
        "dataset": ds.name,
        "dataset_id": ds.id,
        "split": split,
        "scoring": ds.scoring,
        "threshold": thr,
        "onset_threshold": metrics.get("onset_threshold"),
        "inputs": describe_inputs(model.cfg),
        "metrics": metrics,
        "baselines": baselines,
        "diverged": diverged(metrics.get("nll"), (baselines.get("markov") or {}).get("nll")),
    }


def _split(ds, name: str, dev, onsets: bool) -> Split:
    """Return split `name` of `ds` on `dev`; its sounding plane (0/1) when a hold-only model reads an onset-aware dataset."""
    data = Split.from_dataset(ds, name, dev)
    if not onsets and ds.onsets:
        data.rolls = data.rolls.clamp(max=1)
    return data


def _baselines_on(ds, split: str, data: Split, dev, onsets: bool = False) -> dict:
    """Return the baselines on split `split` of `ds` (already on `dev` as `data`); the Markov chain needs a training split."""
    spb = ds.config.steps_per_beat
    train = _split(ds, "train", dev, onsets)
    if len(train) == 0:
        return baseline_metrics(data) if not onsets else {}
    if split == "valid":
        return split_baselines(train, data, None, onsets, spb)[0]
    valid = _split(ds, "valid", dev, onsets)
    if len(valid) == 0:
        return baseline_metrics(data, markov=markov_table(train.rolls, train.lengths)) if not onsets else {}
    return split_baselines(train, valid, data, onsets, spb)[1]
