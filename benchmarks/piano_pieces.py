"""Onset prediction piece by piece (issue 21): where a model beats the onset-aware Markov chain and where it does not.

For each whole piece of a split of an onset-aware dataset: its mean polyphony (notes sounding per sounding step), its
onsets and the share of them that strike a note already sounding (a re-strike: a repeated note, under the pedal), each
run's onset F1 and NLL per step, and the Markov chain's (fitted on train, thresholds chosen on validation, as
`evaluate` does), then the same over the pieces whose mean polyphony is at most `--max-polyphony`.

    MUSICGEN_HOME=/tmp/mgh-piano .venv/bin/python benchmarks/piano_pieces.py RUN_A,RUN_B --data piano --split test
"""

from __future__ import annotations

import argparse

import torch
from common import table  # also puts the repo root on sys.path

from musicgen.data.datasets import load_dataset
from musicgen.training.batches import Split
from musicgen.training.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint
from musicgen.training.evaluate import eval_batch, evaluate_model
from musicgen.training.onset_metrics import fit_onset_baselines, onset_baselines


def subset(split: Split, rows: list[int]) -> Split:
    """Return the rows `rows` of a split, cut to their longest real length."""
    idx = torch.tensor(rows)
    steps = int(split.lengths[idx].max())
    return Split(split.rolls[idx, :steps], split.lengths[idx], split.starts[idx], split.bar_steps[idx])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", help="run ids, comma-separated")
    ap.add_argument("--data", default="piano")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-polyphony", type=float, default=8.0, help="the pieces summed in the last rows")
    ap.add_argument("--without", default="", help="comma-separated pieces to leave out of one more summed row")
    args = ap.parse_args()
    ds = load_dataset(args.data)
    spb = ds.config.steps_per_beat
    train, valid, data = (Split.from_dataset(ds, s, "cpu") for s in ("train", "valid", args.split))
    names = [f["file"] for f in ds.report["files"] if f.get("split") == args.split and f["status"] == "ok"]
    assert len(names) == len(data), "a split of whole pieces has one row per file"
    fitted = fit_onset_baselines(train, spb)
    on_valid = onset_baselines(valid, fitted, eval_batch(valid), steps_per_beat=spb)
    chosen = {"markov": (on_valid["markov"]["threshold"], on_valid["markov"]["onset_threshold"])}
    models = []
    for run in args.runs.split(","):
        ckpt = load_checkpoint(resolve_checkpoint(run, "best"))
        onset_thr = ckpt["best_valid"]["onset_threshold"]
        models.append((run, model_from_checkpoint(ckpt, "cpu"), ckpt.get("threshold", 0.5), onset_thr))

    def scores(rows: list[int]) -> list:
        part = subset(data, rows)
        markov = onset_baselines(part, {"markov": fitted["markov"]}, eval_batch(part), chosen, spb)["markov"]
        out = [markov["onset_f1"], markov["nll"]]
        for _, model, thr, onset_thr in models:
            m = evaluate_model(model, part, threshold=thr, onset_threshold=onset_thr)
            out += [m["onset_f1"], m["nll"], m["onset_f1"] / max(markov["onset_f1"], 1e-9), markov["nll"] - m["nll"]]
        return out

    sounding = (data.rolls > 0).sum(-1)  # (pieces, steps)
    poly = [float(sounding[i][sounding[i] > 0].float().mean()) for i in range(len(data))]
    # Onsets, and the share of them that strike a note sounding on the step before (re-strikes, under the pedal mostly).
    onsets = (data.rolls[:, 1:] == 2).sum((1, 2))
    restruck = ((data.rolls[:, 1:] == 2) & (data.rolls[:, :-1] > 0)).sum((1, 2))
    rows = [
        [names[i], int(data.lengths[i]), round(poly[i], 1), int(onsets[i]), round(float(restruck[i] / onsets[i]), 2)]
        + scores([i])
        for i in range(len(data))
    ]
    low = [i for i in range(len(data)) if poly[i] <= args.max_polyphony]
    high = [i for i in range(len(data)) if poly[i] > args.max_polyphony]
    share = round(float(restruck.sum() / onsets.sum()), 2)
    rows.append(["all pieces", int(data.lengths.sum()), "", int(onsets.sum()), share, *scores(list(range(len(data))))])
    for label, group in ((f"polyphony <= {args.max_polyphony:g}", low), (f"polyphony > {args.max_polyphony:g}", high)):
        if group:
            rows.append([f"{len(group)} pieces, {label}", int(data.lengths[group].sum()), "", "", "", *scores(group)])
    if args.without:
        rest = [i for i in range(len(data)) if names[i] not in args.without.split(",")]
        rows.append([f"all but {args.without}", int(data.lengths[rest].sum()), "", "", "", *scores(rest)])
    header = ["piece", "steps", "mean polyphony", "onsets", "from a sounding note", "Markov onset F1", "Markov NLL"]
    for run, *_ in models:
        header += [f"{run} onset F1", f"{run} NLL", "onset F1 / Markov's", "NLL below Markov's"]
    print(f"dataset {args.data}, split {args.split}, whole pieces; thresholds chosen on validation")
    print(table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
