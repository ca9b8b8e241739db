"""Generation and rendering speed: step-by-step state vs recomputing the prefix; FluidSynth x real time.

Run: .venv/bin/python benchmarks/generate_speed.py [--steps 512] [--threads 1] [--checkpoint demo]
Prints a Markdown table. The step-by-step rows and the recompute rows use the same seed and must
give identical rolls ("same" column). Without --checkpoint the model is the default ModelConfig
(hidden 256, 2 GRU layers) with random weights: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

import musicgen.music.generate as gen_mod
from musicgen.config import ModelConfig
from musicgen.music.audio import fluidsynth_available, read_wav, render_wav
from musicgen.nn.convgru import ConvGRU, count_parameters


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the CLI generates on 1)")
    ap.add_argument("--checkpoint", help="run id, .pt or 'demo' (default: random default-size model)")
    ap.add_argument("--render-steps", type=int, default=512, help="steps of the rendered roll (120 bpm, 4 steps/beat)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.checkpoint:
        from musicgen.training.checkpoint import load_model

        model, _ = load_model(args.checkpoint)
        name = args.checkpoint
    else:
        torch.manual_seed(0)
        model, name = ConvGRU(ModelConfig()).eval(), "random default ModelConfig"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
        f"torch {torch.__version__}, {args.threads} thread(s); model: {name}, {count_parameters(model):,} parameters\n"
    )
    print("| samples | steps | method | seconds | steps/s | x recompute | same rolls |")
    print("|---|---|---|---|---|---|---|")
    opts = {"strategy": "sample", "temperature": 1.0, "seed": 0}
    for samples in (1, 16):
        gen_mod.generate(model, 16, samples=samples, **opts)  # warm-up
        fast, t_fast = timed(lambda s=samples: gen_mod.generate(model, args.steps, samples=s, **opts))
        fast_ok = gen_mod._fast_ok
        gen_mod._fast_ok = lambda m: False  # nn.GRU through ConvGRU.step, for reference
        try:
            plain, t_plain = timed(lambda s=samples: gen_mod.generate(model, args.steps, samples=s, **opts))
        finally:
            gen_mod._fast_ok = fast_ok
        slow, t_slow = timed(lambda s=samples: gen_mod.generate(model, args.steps, samples=s, recompute=True, **opts))
        for method, roll, t in (
            ("step-by-step (fused cells)", fast, t_fast),
            ("step-by-step (ConvGRU.step)", plain, t_plain),
            ("recompute prefix", slow, t_slow),
        ):
            same = "yes" if np.array_equal(roll, slow) else "NO"
            print(f"| {samples} | {args.steps} | {method} | {t:.2f} | {args.steps / t:,.0f} | {t_slow / t:.1f}x | {same} |")

    print("\n| renderer | audio s | render s | x real time |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(0)
    roll = np.zeros((args.render_steps, 84), np.uint8)
    for t0 in range(0, args.render_steps, 4):  # a four-note chord per beat, like a chorale
        roll[t0 : t0 + 4, rng.choice(np.arange(24, 72), 4, replace=False)] = 1
    with tempfile.TemporaryDirectory() as d:
        render_wav(roll[:16], Path(d) / "warm.wav")
        info, t = timed(lambda: render_wav(roll, Path(d) / "x.wav"))
        audio, _ = read_wav(Path(d) / "x.wav")
        assert np.abs(audio).max() > 0.5
    backend = info["backend"] + ("" if fluidsynth_available() else " (libfluidsynth missing)")
    print(f"| {backend}, TimGM6mb.sf2, 44.1 kHz mono | {info['duration_s']:.1f} | {t:.2f} | {info['duration_s'] / t:.0f}x |")


if __name__ == "__main__":
    main()
