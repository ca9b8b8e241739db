"""Time to quality: seconds until validation NLL <= a target on JSB Chorales, trainer against the reference loop.

Run: .venv/bin/python benchmarks/time_to_quality.py [--device cpu|cuda] [--target 8.6] [--max-seconds 120]
     [--recipe configs/jsb-nade.json --precision auto --no-reference] [--md BENCHMARKS.md]
Both start from scratch on the same data and model config and are timed from the call that starts
them (dataset loading, evaluation after every epoch and checkpoints included). The trainer runs
with its defaults (TrainConfig()), or a recipe's model and training settings (--recipe; its epochs lifted so that
only the target or --max-seconds ends it); the reference is benchmarks/reference_loop.py (--no-reference skips it,
e.g. for a target only the nade head reaches).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from dataclasses import replace

from common import JSB_MAT, ROOT, append_report, table


class _StopAt:
    """A reporter that writes the store and sets `stop` once valid NLL reaches the target or time runs out."""

    def __init__(self, target: float, max_seconds: float, stop: threading.Event):
        from musicgen.runs.reporters import StoreReporter

        self.inner, self.target, self.max_seconds, self.stop = StoreReporter(), target, max_seconds, stop
        self.t0, self.reached, self.best = time.perf_counter(), None, float("inf")

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def log_metrics(self, run_id, epoch, split, values, step=None, wall_time=None):
        self.inner.log_metrics(run_id, epoch, split, values, step, wall_time)
        if split == "valid":
            elapsed = time.perf_counter() - self.t0
            self.best = min(self.best, values["nll"])
            if values["nll"] <= self.target and self.reached is None:
                self.reached = (elapsed, epoch)
            if self.reached or elapsed > self.max_seconds:
                self.stop.set()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--target", type=float, default=8.6)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--recipe", help="train a recipe's settings (e.g. configs/jsb-nade.json) instead of the defaults")
    ap.add_argument("--precision", default="auto", help="the trainer's --precision (default auto)")
    ap.add_argument("--cuda-graphs", default="on", choices=("on", "off"), help="the trainer's --cuda-graphs (default on)")
    ap.add_argument("--no-reference", dest="reference", action="store_false", help="time the trainer only")
    ap.add_argument("--mat", default=str(JSB_MAT))
    ap.add_argument("--md", default=str(ROOT / "BENCHMARKS.md"), help="file to append to ('' prints only)")
    args = ap.parse_args()
    os.environ.setdefault("MUSICGEN_HOME", tempfile.mkdtemp(prefix="musicgen-bench-"))
    from reference_loop import reference_training

    from musicgen.config import ModelConfig, TrainConfig
    from musicgen.data.datasets import load_dataset
    from musicgen.study.literature import import_benchmark
    from musicgen.training.train import run_training

    folder = str(import_benchmark(args.mat))
    stop = threading.Event()
    rep = _StopAt(args.target, args.max_seconds, stop)
    model, train = ModelConfig(), TrainConfig()
    if args.recipe:
        from musicgen.study.recipes import load_recipe

        recipe = load_recipe(args.recipe)
        model, train = recipe["model"], replace(recipe["train"], patience=0)
    train = replace(train, epochs=10_000, device=args.device, precision=args.precision, cuda_graphs=args.cuda_graphs == "on")
    summary = run_training(folder, model, train, name="time-to-quality", reporter=rep, stop=stop)
    t0 = time.perf_counter()
    ref = []
    if args.reference:
        ref = reference_training(
            load_dataset(folder),
            ModelConfig(),
            args.device,
            max_epochs=10_000,
            max_seconds=args.max_seconds,
            target_nll=args.target,
        )
    ref_hit = next(((r["wall_s"], r["epoch"]) for r in ref if r["valid_nll"] <= args.target), None)
    ref_best = min((r["valid_nll"] for r in ref), default=float("nan"))

    def show(hit):
        return f"{hit[0]:.1f} s (epoch {hit[1]})" if hit else f"not within {args.max_seconds:.0f} s"

    from musicgen.runs import store

    ran = store.get_run(summary["id"])["config"]["precision"]
    what = f"musicgen trainer, {args.recipe or 'defaults'}, --precision {args.precision} ({ran})"
    what += f", --cuda-graphs {args.cuda_graphs}" if args.device == "cuda" else ""
    rows = [["reference: DataLoader, batch 32, fp32, Adam 1e-3", show(ref_hit), round(ref_best, 3)]] if args.reference else []
    rows.append([what, show(rep.reached), round(rep.best, 3)])
    ratio = f"{ref_hit[0] / rep.reached[0]:.1f}×" if ref_hit and rep.reached else "n/a (one side did not reach the target)"
    body = table([f"loop ({args.device})", f"time to valid NLL ≤ {args.target}", "best valid NLL seen"], rows)
    if args.reference:
        body += (
            f"\n\nSpeed-up, reference time / trainer time: {ratio}. "
            f"Reference measured {time.perf_counter() - t0:.0f} s after the trainer."
        )
    append_report(args.md, f"Time to quality ({args.device})", body, args.device)


if __name__ == "__main__":
    main()
