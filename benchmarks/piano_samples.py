"""Samples of onset models at their validation-chosen temperature against the real test music (issue 21).

For each run: choose the sampling temperature on validation as training does (musicgen.music.temperature,
or take the one its best.pt stores), then continue PRIMER real steps of consecutive test segments by STEPS
generated steps, and compare notes struck per step, polyphony, mean note length, inter-onset interval and
repetition with the real continuations of the same segments: a statistic passes when the samples' mean lies
within one standard deviation of the real segments' mean.

    MUSICGEN_HOME=/tmp/mgh-21m .venv/bin/python benchmarks/piano_samples.py RUN_A,RUN_B [--segments 32]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from common import machine, table  # also puts the repo root on sys.path

from musicgen.data.datasets import load_dataset
from musicgen.music.generate import generate
from musicgen.music.temperature import choose_temperature, segments, stats_of
from musicgen.runs import store
from musicgen.training.checkpoint import load_model

STATS = ("notes_per_step", "mean_polyphony", "mean_note_length", "mean_ioi", "repetition")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", help="run ids, comma-separated")
    ap.add_argument("--primer", type=int, default=16)
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--segments", type=int, default=32)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    rows = []
    for run in args.runs.split(","):
        model, ckpt = load_model(run)
        config = store.get_run(run)["config"]
        ds = load_dataset(config.get("data_path") or config["data"])
        stored = (ckpt.get("sampling") or {}).get("temperature")
        t = stored if stored is not None else choose_temperature(model, ds)["temperature"]
        segs = segments(ds, args.primer + args.steps, args.segments, "test")
        primers = np.stack([s[: args.primer] for s in segs])
        real = stats_of([s[args.primer :] for s in segs], ds.config.low)
        rolls = generate(model, args.primer + args.steps, "sample", temperature=t, primer=primers, samples=len(segs), seed=0)
        gen = stats_of(list(rolls[:, args.primer :]), ds.config.low)
        for k in STATS:
            (g, _), (r, sd) = gen[k], real[k]
            rows.append([run, model.cfg.head, t, k, round(g, 3), f"{r:.3f} ± {sd:.3f}", "yes" if abs(g - r) <= sd else "no"])
    print(table(["run", "head", "temperature", "statistic", "samples' mean", "test mean ± std", "within 1 std"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
