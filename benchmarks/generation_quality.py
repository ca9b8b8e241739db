"""Generation quality of checkpoints against a dataset's real windows, over temperatures: the tables in BENCHMARKS.md.

Each (checkpoint, temperature) is one `music.piece.make_piece` call, the path of `generate --json`: `samples`
samples of `steps` steps (strategy `sample`, the given seed, no primer), compared with the dataset's test
windows cut to the same length. The mean overlap is the mean of the metrics' overlap areas (1 = the same
distribution as the data).

    MUSICGEN_HOME=/tmp/jsbhome .venv/bin/python benchmarks/generation_quality.py --data JSB_DATASET \
        --checkpoints jsb,jsb-nade --steps 64
    MUSICGEN_HOME=/tmp/jsbhome .venv/bin/python benchmarks/generation_quality.py --data builtin:bach \
        --checkpoints demo,RUN_ID --steps 128 --temperatures 0.8,1.0
"""

from __future__ import annotations

import argparse
import sys

from common import machine, table

from musicgen.music.piece import make_piece, reference_windows
from musicgen.music.quality import pitch_class_histogram

SHOWN = ("repetition", "mean_polyphony", "mean_note_length", "note_density")
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_class_shares(rolls, low: int):
    """Return the share of note onsets per pitch class (12,) over all `rolls` (steps, notes)."""
    counts = sum(pitch_class_histogram(r, low) for r in rolls)
    return counts / max(counts.sum(), 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the reference dataset (its test windows)")
    ap.add_argument("--checkpoints", required=True, help="comma-separated checkpoint refs")
    ap.add_argument("--temperatures", default="0.6,0.8,1.0")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rows, best = [], {}
    for ref in args.checkpoints.split(","):
        for temp in (float(t) for t in args.temperatures.split(",")):
            piece = make_piece(ref, args.steps, samples=args.samples, seed=args.seed, data=args.data, temperature=temp)
            m = piece.comparison["metrics"]
            overlap = sum(v["overlap"] for v in m.values()) / len(m)
            rows.append([ref, temp, round(overlap, 3), *(round(m[k]["generated_mean"], 3) for k in SHOWN)])
            if overlap > best.get(ref, (-1, None))[0]:
                best[ref] = (overlap, temp, m, piece)
    real = next(iter(best.values()))[2]
    header = ["checkpoint", "temperature", "mean overlap", *(f"{k} (real {real[k]['real_mean']:.3g})" for k in SHOWN)]
    print(f"{machine()}; {args.samples} samples x {args.steps} steps, seed {args.seed}, against {args.data}\n")
    print(table(header, rows))
    refs = list(best)
    per_metric = [
        [
            k,
            *(
                f"{best[r][2][k]['generated_mean']:.3f} / {best[r][2][k]['real_mean']:.3f} ({best[r][2][k]['overlap']:.2f})"
                for r in refs
            ),
        ]
        for k in real
    ]
    print(
        "\nAt each checkpoint's best temperature ("
        + ", ".join(f"{r}: {best[r][1]}" for r in refs)
        + "): generated / real (overlap)\n"
    )
    print(table(["metric", *refs], per_metric))

    # The pitch-class histogram of note onsets, at each checkpoint's best temperature, beside the real test windows'.
    first = best[refs[0]][3]
    low = first.data_config.low
    real_rolls = reference_windows(args.data, args.steps, low, first.rolls.shape[2])
    shares = {"real test windows": pitch_class_shares(real_rolls, low)}
    for r in refs:
        piece = best[r][3]
        shares[r] = pitch_class_shares(piece.rolls[:, piece.primer_steps :], low)
    rows = [[pc, *(f"{v[i]:.3f}" for v in shares.values())] for i, pc in enumerate(PITCH_CLASSES)]
    rows.append(["L1 distance to real", *(f"{abs(v - shares['real test windows']).sum():.3f}" for v in shares.values())])
    print("\nPitch classes: share of note onsets at each checkpoint's best temperature\n")
    print(table(["pitch class", *shares], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
