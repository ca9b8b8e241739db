"""Training throughput: the musicgen trainer against the reference loop, same model and data, one run.

Run: .venv/bin/python benchmarks/train_speed.py [--device cpu|cuda] [--epochs 3] [--batches 32,8]
     [--precisions auto,fp32,bf16] [--mat FILE] [--md BENCHMARKS.md]
Sequences per second of training (validation excluded), the first epoch dropped as warm-up, on the
JSB Chorales training split (229 whole chorales, 25-160 steps). The reference is
benchmarks/reference_loop.py (DataLoader, batch 32, fp32, padded to the longest chorale).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

from common import JSB_MAT, ROOT, append_report, table


def trainer_speed(data: str, device: str, batch_size: int, epochs: int, precision: str = "auto") -> tuple[float, str]:
    """Return the trainer's mean training sequences/s over epochs 2..epochs+1, and the precision it ran in."""
    from musicgen.config import ModelConfig, TrainConfig
    from musicgen.runs import store
    from musicgen.training.train import run_training

    cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=batch_size, epochs=epochs + 1, device=device, precision=precision)
    summary = run_training(data, ModelConfig(), cfg, name=f"speed-b{batch_size}-{precision}", stop=threading.Event())
    m = store.metrics_frame(summary["id"])
    speeds = m[(m.split == "train") & (m.name == "seqs_per_s") & (m.epoch > 1)].value
    return float(speeds.mean()), store.get_run(summary["id"])["config"]["precision"]


def reference_speed(ds, device: str, epochs: int) -> float:
    """Return the reference loop's mean training sequences/s over epochs 2..epochs+1."""
    from reference_loop import reference_training

    from musicgen.config import ModelConfig

    rows = reference_training(ds, ModelConfig(), device, max_epochs=epochs + 1, evaluate=False)[1:]
    return sum(r["seqs"] for r in rows) / sum(r["train_s"] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    ap.add_argument("--batches", default="", help="trainer batch sizes, e.g. 32,8,4 (default: 32, and 128 on cuda)")
    ap.add_argument("--precisions", default="auto", help="trainer precisions to time, e.g. auto,fp32,bf16")
    ap.add_argument("--mat", default=str(JSB_MAT))
    ap.add_argument("--md", default=str(ROOT / "BENCHMARKS.md"), help="file to append to ('' prints only)")
    args = ap.parse_args()
    os.environ.setdefault("MUSICGEN_HOME", tempfile.mkdtemp(prefix="musicgen-bench-"))
    import torch

    from musicgen.data.datasets import load_dataset
    from musicgen.study.literature import import_benchmark

    if args.device == "cpu":
        torch.set_num_threads(max(1, min(4, (os.cpu_count() or 2) // 2)))  # the trainer's own default
    folder = str(import_benchmark(args.mat))
    ds = load_dataset(folder)
    t = time.perf_counter()
    ref = reference_speed(ds, args.device, args.epochs)
    rows = [["reference: DataLoader, batch 32, fp32", round(ref, 1), 1.0]]
    batches = [int(b) for b in args.batches.split(",")] if args.batches else [32, 128] if args.device == "cuda" else [32]
    for bs in batches:
        for precision in args.precisions.split(","):
            s, ran = trainer_speed(folder, args.device, bs, args.epochs, precision)
            what = f"musicgen trainer: batch {bs}, length buckets, --precision {precision} ({ran})"
            rows.append([what + (", fused Adam" if args.device == "cuda" else ""), round(s, 1), round(s / ref, 2)])
    body = table(["loop", "training sequences/s", "× reference"], rows)
    body += (
        f"\n\n{args.epochs} timed epochs each after one warm-up; default model (ModelConfig()); "
        f"{time.perf_counter() - t:.0f} s in all."
    )
    append_report(args.md, f"Training throughput ({args.device})", body, args.device)


if __name__ == "__main__":
    main()
