"""Training throughput: the musicgen trainer against the reference loop, same model and data, one run.

Run: .venv/bin/python benchmarks/train_speed.py [--device cpu|cuda] [--epochs 3] [--batches 32,8]
     [--precisions auto,fp32,bf16] [--graphs on,off] [--reference-batches 32,8,4] [--mat FILE] [--md BENCHMARKS.md]
Sequences per second of training (validation excluded), the first epoch dropped as warm-up, on the
JSB Chorales training split (229 whole chorales, 25-160 steps). The reference is
benchmarks/reference_loop.py (DataLoader, fp32, padded to the longest chorale), at batch 32 and, with
--reference-batches, at the trainer's other batch sizes too: each trainer row is set against the reference
at batch 32 and at its own batch size.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

from common import JSB_MAT, ROOT, append_report, table


def trainer_speed(
    data: str, device: str, batch_size: int, epochs: int, precision: str = "auto", graphs: bool = True
) -> tuple[float, str]:
    """Return the trainer's mean training sequences/s over epochs 2..epochs+1, and the precision it ran in."""
    from musicgen.config import ModelConfig, TrainConfig
    from musicgen.runs import store
    from musicgen.training.train import run_training

    cfg = TrainConfig(
        optimizer="adam",
        lr=1e-3,
        batch_size=batch_size,
        epochs=epochs + 1,
        device=device,
        precision=precision,
        cuda_graphs=graphs,
    )
    summary = run_training(data, ModelConfig(), cfg, name=f"speed-b{batch_size}-{precision}", stop=threading.Event())
    m = store.metrics_frame(summary["id"])
    speeds = m[(m.split == "train") & (m.name == "seqs_per_s") & (m.epoch > 1)].value
    return float(speeds.mean()), store.get_run(summary["id"])["config"]["precision"]


def reference_speed(ds, device: str, epochs: int, batch_size: int = 32) -> float:
    """Return the reference loop's mean training sequences/s over epochs 2..epochs+1."""
    from reference_loop import reference_training

    from musicgen.config import ModelConfig

    rows = reference_training(ds, ModelConfig(), device, batch_size=batch_size, max_epochs=epochs + 1, evaluate=False)[1:]
    return sum(r["seqs"] for r in rows) / sum(r["train_s"] for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    ap.add_argument("--batches", default="", help="trainer batch sizes, e.g. 32,8,4 (default: 32, and 128 on cuda)")
    ap.add_argument("--precisions", default="auto", help="trainer precisions to time, e.g. auto,fp32,bf16")
    ap.add_argument("--graphs", default="on", help="on cuda: the trainer with CUDA graphs on, off or both (on,off)")
    ap.add_argument("--reference-batches", default="32", help="batch sizes of the reference loop, 32 among them")
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
    refs = {int(b): reference_speed(ds, args.device, args.epochs, int(b)) for b in args.reference_batches.split(",")}
    ref = refs[32]
    rows = [[f"reference: DataLoader, batch {b}, fp32", round(r, 1), round(r / ref, 2), 1.0] for b, r in refs.items()]
    batches = [int(b) for b in args.batches.split(",")] if args.batches else [32, 128] if args.device == "cuda" else [32]
    graphs = [g == "on" for g in args.graphs.split(",")] if args.device == "cuda" else [False]
    for bs in batches:
        for precision in args.precisions.split(","):
            for graphed in graphs:
                s, ran = trainer_speed(folder, args.device, bs, args.epochs, precision, graphed)
                what = f"musicgen trainer: batch {bs}, length buckets, --precision {precision} ({ran})"
                if args.device == "cuda":
                    what += ", fused Adam" + (", CUDA graphs" if graphed else ", no CUDA graphs")
                same = round(s / refs[bs], 2) if bs in refs else "-"
                rows.append([what, round(s, 1), round(s / ref, 2), same])
    body = table(["loop", "training sequences/s", "× reference at batch 32", "× reference at its batch"], rows)
    body += (
        f"\n\n{args.epochs} timed epochs each after one warm-up; default model (ModelConfig()); "
        f"{time.perf_counter() - t:.0f} s in all."
    )
    append_report(args.md, f"Training throughput ({args.device})", body, args.device)


if __name__ == "__main__":
    main()
