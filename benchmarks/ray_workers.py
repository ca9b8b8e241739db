"""Ray Train workers against the local trainer on JSB Chorales: the loss curves at the same global batch, and the time.

Run: .venv/bin/python benchmarks/ray_workers.py [--workers 2] [--epochs 3] [--device cpu] [--mat FILE] [--md BENCHMARKS.md]
Trains the default model (dropout 0.3) with the local trainer, then on 1 and on `--workers` Ray Train workers
(a local Ray), same seed, batch 32 (the global batch), same learning rate, and reports per epoch the training loss
and validation NLL of each, and the largest difference from the local run: the tolerance the docs quote.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from common import JSB_MAT, ROOT, append_report, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--mat", default=str(JSB_MAT))
    ap.add_argument("--md", default=str(ROOT / "BENCHMARKS.md"), help="file to append to ('' prints only)")
    args = ap.parse_args()
    os.environ.setdefault("MUSICGEN_HOME", tempfile.mkdtemp(prefix="musicgen-bench-"))
    from musicgen.config import ModelConfig, TrainConfig
    from musicgen.runs import store
    from musicgen.runs.ray_cluster import init_ray
    from musicgen.study.literature import import_benchmark
    from musicgen.training.ray_train import RayBackend
    from musicgen.training.train import run_training

    folder = str(import_benchmark(args.mat))
    cfg = TrainConfig(epochs=args.epochs, device=args.device, threads=1)
    init_ray(None)
    curves, seconds = {}, {}
    for label, backend in (("local", None), ("ray x 1", RayBackend(1)), (f"ray x {args.workers}", RayBackend(args.workers))):
        t0 = time.perf_counter()
        run = run_training(folder, ModelConfig(), cfg, name=label, backend=backend)
        seconds[label] = time.perf_counter() - t0
        m = store.metrics_frame([run["id"]])
        curves[label] = {
            (int(r.epoch), r.split): r.value
            for r in m[((m.split == "train") & (m.name == "loss")) | ((m.split == "valid") & (m.name == "nll"))].itertuples()
        }
    rows = []
    for epoch in range(1, args.epochs + 1):
        row = [epoch]
        for label in curves:
            row += [round(curves[label][(epoch, "train")], 5), round(curves[label][(epoch, "valid")], 4)]
        rows.append(row)
    header = ["epoch"] + [f"{label} {what}" for label in curves for what in ("train loss", "valid NLL")]
    body = table(header, rows)
    for label in list(curves)[1:]:
        diff = max(abs(curves[label][k] - curves["local"][k]) for k in curves["local"] if k[1] == "valid")
        rel = max(abs(curves[label][k] / curves["local"][k] - 1) for k in curves["local"] if k[1] == "train")
        body += f"\n\n{label}: largest validation NLL difference from local {diff:.4f} nats, train loss {rel:.2%} relative."
    body += "\n\nWall time (start to summary, Ray's start included): " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
    body += f". Default model, batch 32 global, seed 0, {args.epochs} epochs, 1 thread per worker."
    append_report(args.md, f"Ray Train workers against the local trainer ({args.device})", body, args.device)


if __name__ == "__main__":
    main()
