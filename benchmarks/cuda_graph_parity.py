"""CUDA graphs change how a step is launched, not what it computes: the same runs with graphs on and off, compared.

Run: python benchmarks/cuda_graph_parity.py [--epochs 3] [--tolerance 0.01] [--mat FILE] [--md BENCHMARKS.md]
Both heads (the default model, and the jsb-nade recipe's model) train on JSB Chorales from the same seed,
dropout off (a graph replays draw their dropout masks from other offsets of the same generator), with
--cuda-graphs on and off; the table gives each epoch's training loss and validation NLL of both and their
largest relative difference. Exits 1 when that exceeds --tolerance (gpu.sh then trains its recipes without graphs).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile

from common import JSB_MAT, ROOT, append_report, table


def curves(run_id: str) -> list[float]:
    from musicgen.runs import store

    m = store.metrics_frame([run_id])
    m = m[((m.split == "train") & (m.name == "loss")) | ((m.split == "valid") & (m.name == "nll"))]
    return list(m.sort_values(["split", "epoch"])["value"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--mat", default=str(JSB_MAT))
    ap.add_argument("--md", default=str(ROOT / "BENCHMARKS.md"), help="file to append to ('' prints only)")
    args = ap.parse_args()
    os.environ.setdefault("MUSICGEN_HOME", tempfile.mkdtemp(prefix="musicgen-bench-"))
    import threading

    from musicgen.config import ModelConfig, TrainConfig
    from musicgen.study.literature import import_benchmark
    from musicgen.study.recipes import load_recipe
    from musicgen.training.train import run_training

    folder = str(import_benchmark(args.mat))
    nade = load_recipe(str(ROOT / "configs/jsb-nade.json"))["model"]
    models = {
        "independent (defaults)": dataclasses.replace(ModelConfig(), dropout=0.0),
        "nade (jsb-nade recipe)": dataclasses.replace(nade, dropout=0.0, input_dropout=0.0),
    }
    rows, worst = [], 0.0
    for label, model in models.items():
        for bs in (32, 8):
            got = {}
            for graphs in (True, False):
                cfg = TrainConfig(optimizer="adam", lr=1e-3, batch_size=bs, epochs=args.epochs, device="cuda", cuda_graphs=graphs)
                s = run_training(folder, model, cfg, name=f"graphs-{graphs}", stop=threading.Event())
                got[graphs] = curves(s["id"])
            diff = max(abs(a - b) / max(abs(b), 1e-9) for a, b in zip(got[True], got[False], strict=True))
            worst = max(worst, diff)
            n = args.epochs
            rows.append(
                [
                    label,
                    bs,
                    round(got[True][n - 1], 4),
                    round(got[False][n - 1], 4),
                    round(got[True][-1], 4),
                    round(got[False][-1], 4),
                    f"{diff:.2e}",
                ]
            )
    body = table(
        ["model", "batch", "train loss, graphs", "no graphs", "valid NLL, graphs", "no graphs", "largest rel. diff"], rows
    )
    body += f"\n\n{args.epochs} epochs, Adam 1e-3, dropout off, seed 0; last epoch shown, every epoch compared."
    body += f" Tolerance {args.tolerance}."
    append_report(args.md, "CUDA graphs against eager steps (cuda)", body, "cuda")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
