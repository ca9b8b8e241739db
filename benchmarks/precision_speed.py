"""bf16 autocast against fp32: training-step time per head and GRU width, and what bf16 does to a short training.

Run: .venv/bin/python benchmarks/precision_speed.py [--device cpu|cuda] [--widths 256,400,1024] [--train-epochs 4]
     [--mat FILE] [--md BENCHMARKS.md]
Part 1 times forward + backward + AdamW step of one batch of 32 JSB chorales (the longest-first batch, 160 steps) per
head, width and precision, same weights, median of `--repeats` after 2 warm-up steps; the crossover where bf16
starts to pay is what `musicgen.training.device.BF16_FROM_HIDDEN` records. Part 2 (with --train-epochs) trains the
default model (independent head) and a nade head for that many epochs in each precision from the same seed and
reports the best validation NLL (evaluated in fp32, as every run is).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time

from common import JSB_MAT, ROOT, append_report, table


def step_seconds(head: str, hidden: int, precision: str, batch, device, repeats: int) -> float:
    """Return the median seconds of one training step (forward, loss, backward, optimizer) of a fresh model."""
    import torch

    from musicgen.config import ModelConfig
    from musicgen.nn.convgru import ConvGRU
    from musicgen.training.device import autocast
    from musicgen.training.losses import bce

    torch.manual_seed(0)
    model = ConvGRU(ModelConfig(head=head, hidden=hidden, nade_hidden=hidden)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    inputs, targets, mask = batch
    times = []
    for i in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        with autocast(device, precision):
            logits = model(inputs, targets)
        loss = bce(logits, targets, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def short_training(folder: str, head: str, precision: str, device: str, epochs: int) -> tuple[float, float]:
    """Return (best validation NLL, training seconds) of `epochs` epochs of the default model with `head`."""
    from musicgen.config import ModelConfig, TrainConfig
    from musicgen.runs import store
    from musicgen.training.train import run_training

    cfg = TrainConfig(optimizer="adamw", lr=3e-3, epochs=epochs, device=device, precision=precision, threads=1)
    summary = run_training(folder, ModelConfig(head=head), cfg, name=f"prec-{head}-{precision}", stop=threading.Event())
    m = store.metrics_frame(summary["id"])
    seconds = float(m[(m.split == "train") & (m.name == "epoch_s")].value.sum())
    return summary["best"]["nll"], seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--widths", default="256,400,1024", help="GRU (and nade) widths to time")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train-epochs", type=int, default=0, help="also train each head this many epochs per precision")
    ap.add_argument("--mat", default=str(JSB_MAT))
    ap.add_argument("--md", default=str(ROOT / "BENCHMARKS.md"), help="file to append to ('' prints only)")
    args = ap.parse_args()
    os.environ.setdefault("MUSICGEN_HOME", tempfile.mkdtemp(prefix="musicgen-bench-"))
    import torch

    from musicgen.data.datasets import load_dataset
    from musicgen.study.literature import import_benchmark
    from musicgen.training.batches import Split
    from musicgen.training.device import resolve_device

    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # the trainer's default on this 2-core machine; more threads spin on a shared CPU
    folder = str(import_benchmark(args.mat))
    train = Split.from_numpy(*load_dataset(folder).split("train"), device)
    longest = torch.argsort(train.lengths, descending=True)[:32]
    batch = train.batch(longest)
    t0 = time.perf_counter()
    rows = []
    for head in ("independent", "nade"):
        for hidden in (int(w) for w in args.widths.split(",")):
            fp32 = step_seconds(head, hidden, "fp32", batch, device, args.repeats)
            bf16 = step_seconds(head, hidden, "bf16", batch, device, args.repeats)
            rows.append([head, hidden, round(fp32 * 1000, 1), round(bf16 * 1000, 1), round(fp32 / bf16, 2)])
    body = table(["head", "GRU (and nade) width", "fp32 step ms", "bf16 step ms", "bf16 speed-up"], rows)
    body += f"\n\nOne training step of 32 chorales x 160 steps, median of {args.repeats} after 2 warm-up steps."
    if args.train_epochs:
        rows = []
        for head in ("independent", "nade"):
            (nll32, s32), (nll16, s16) = (
                short_training(folder, head, p, args.device, args.train_epochs) for p in ("fp32", "bf16")
            )
            rows.append([head, round(nll32, 4), round(nll16, 4), round(nll16 - nll32, 4), round(s32, 1), round(s16, 1)])
        body += "\n\n" + table(
            ["head", "fp32 best valid NLL", "bf16 best valid NLL", "bf16 - fp32", "fp32 train s", "bf16 train s"], rows
        )
        body += f"\n\n{args.train_epochs} epochs of the default model (adamw, lr 3e-3, batch 32, seed 0), evaluated in fp32."
    body += f" {time.perf_counter() - t0:.0f} s in all."
    append_report(args.md, f"bf16 against fp32 ({device.type})", body, args.device)


if __name__ == "__main__":
    main()
