"""The nade head against the independent head: training throughput, evaluation and generation speed, same trunk.

Run: .venv/bin/python benchmarks/nade_speed.py [--batches 20] [--steps 512] [--md BENCHMARKS.md]
Both models are the default ModelConfig (conv 128, 2 x 256 GRU, skip path; nade_hidden 300) on
`builtin:bach` (windows of 128 steps, 84 notes), batch 32, AdamW, BCE (for nade: the exact NLL).
Training: forward, backward and optimizer step on the trainer's thread count, heads timed in
alternation so that a change of load hits both; the median sequences/s over the timed batches.
Evaluation: `evaluate_model` on the validation split (the nade head decodes every step at 19
thresholds). Generation: `generate` with strategy sample, temperature 1, from the models as
trained above (their polyphony drives the nade head's cost: "notes/step"). A third row times
the head of configs/jsb-nade.json (a deep NADE, 3 layers of 400) on the same trunk.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from common import ROOT, append_report, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=20, help="timed training batches per head (after 2 warm-up batches)")
    ap.add_argument("--steps", type=int, default=512, help="generated steps per sample")
    ap.add_argument("--md", default=str(ROOT / "BENCHMARKS.md"), help="file to append to ('' prints only)")
    args = ap.parse_args()
    os.environ.setdefault("MUSICGEN_HOME", tempfile.mkdtemp(prefix="musicgen-bench-"))
    import torch

    from musicgen.config import ModelConfig, TrainConfig
    from musicgen.data.datasets import load_dataset
    from musicgen.music.generate import generate
    from musicgen.nn.convgru import ConvGRU, count_parameters
    from musicgen.training.batches import Split
    from musicgen.training.device import set_threads
    from musicgen.training.evaluate import evaluate_model
    from musicgen.training.losses import bce
    from musicgen.training.optim import make_optimizer

    device = torch.device("cpu")
    set_threads(0, device)  # the trainer's default: half the usable cores
    ds = load_dataset("builtin:bach")
    train = Split.from_numpy(*ds.split("train"), device)
    valid = Split.from_numpy(*ds.split("valid"), device)
    note_freq = train.rolls.sum(dim=(0, 1), dtype=torch.float64) / float(train.lengths.sum())
    batch = 32
    configs = {
        "independent": ModelConfig(),
        "nade": ModelConfig(head="nade"),
        "nade, 3 layers of 400 (jsb-nade's head)": ModelConfig(head="nade", nade_hidden=400, nade_layers=3),
    }
    heads = tuple(configs)
    models, optims = {}, {}
    for head in heads:
        torch.manual_seed(0)
        models[head] = ConvGRU(configs[head]).train()
        models[head].init_output_bias(note_freq)
        optims[head] = make_optimizer(models[head].parameters(), TrainConfig())
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    speeds: dict[str, list[float]] = {h: [] for h in heads}
    t_all = time.perf_counter()
    for b in range(args.batches + 2):
        idx = order[(b * batch) % len(train) :][:batch]
        inputs, targets, mask = train.batch(idx)
        for head in heads:
            model, opt = models[head], optims[head]
            t = time.perf_counter()
            loss = bce(model(inputs, targets), targets, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if b >= 2:
                speeds[head].append(len(idx) / (time.perf_counter() - t))
    rows = []
    for head in heads:
        model = models[head].eval()
        t = time.perf_counter()
        valid_m = evaluate_model(model, valid)
        eval_s = time.perf_counter() - t
        generate(model, 16, seed=0)  # warm-up
        gen = {}
        for samples in (1, 16):
            t = time.perf_counter()
            rolls = generate(model, args.steps, samples=samples, seed=0, strategy="sample", temperature=1.0)
            gen[samples] = (args.steps / (time.perf_counter() - t), float(rolls.sum(-1).mean()))
        rows.append(
            [
                head,
                f"{count_parameters(model):,}",
                round(statistics.median(speeds[head]), 1),
                round(eval_s, 2),
                round(valid_m["nll"], 2),
                round(gen[1][0]),
                round(gen[16][0] * 16),
                round(gen[1][1], 1),
            ]
        )
    ratio, deep_ratio = rows[1][2] / rows[0][2], rows[2][2] / rows[0][2]
    body = table(
        [
            "head",
            "parameters",
            "training sequences/s (batch 32 x 127 steps)",
            f"evaluate valid ({len(valid)} windows), s",
            f"valid NLL after {args.batches + 2} batches",
            "generation steps/s, 1 sample",
            "generated steps/s, 16 samples (all samples)",
            "notes/step generated (1 sample)",
        ],
        rows,
    )
    body += (
        f"\n\nnade / independent training throughput: {ratio:.2f}x (target >= 0.5); nade generation, one sample: "
        f"{rows[1][5]:,} steps/s (target >= 500); the deep head: {deep_ratio:.2f}x and {rows[2][5]:,} steps/s. "
        f"Threads: {torch.get_num_threads()} for training and evaluation, "
        f"1 for generation (as the CLI). {time.perf_counter() - t_all:.0f} s in all."
    )
    append_report(args.md, "The nade head against the independent head (cpu)", body)


if __name__ == "__main__":
    main()
