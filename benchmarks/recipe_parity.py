"""Precision parity of the shipped recipes: test NLL per seed and precision, trained as parallel CLI processes.

Run: .venv/bin/python benchmarks/recipe_parity.py --device cuda [--recipes configs/jsb.json,configs/jsb-nade.json]
     [--seeds 0,1,2] [--precisions auto,fp32,bf16] [--parallel 6] [--mat FILE] [--md BENCHMARKS.md]
Each (recipe, precision, seed) is `python -m musicgen train --data <jsb> --recipe R --seed S --precision P`, up to
`--parallel` at once on the one device (small models leave a large GPU mostly idle). A precision that resolves to
one already trained (auto -> fp32 today) is not trained twice: its row says which it equals. The table gives each
seed's test NLL, the mean and the spread (sample std), to set beside the recipe's CPU figures in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import JSB_MAT, ROOT, append_report, table


def resolved(precision: str, recipe: str, device: str) -> str:
    """Return what `precision` becomes for the recipe's model on `device` (the trainer's own rule)."""
    from musicgen.study.recipes import load_recipe
    from musicgen.training.device import resolve_device, resolve_precision

    return resolve_precision(precision, resolve_device(device), load_recipe(recipe)["model"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--recipes", default="configs/jsb.json,configs/jsb-nade.json")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--precisions", default="auto,fp32,bf16")
    ap.add_argument("--parallel", type=int, default=6)
    ap.add_argument("--cuda-graphs", default="on", choices=("on", "off"), help="the trainer's --cuda-graphs (default on)")
    ap.add_argument("--mat", default=str(JSB_MAT))
    ap.add_argument("--md", default=str(ROOT / "BENCHMARKS.md"), help="file to append to ('' prints only)")
    args = ap.parse_args()
    os.environ.setdefault("MUSICGEN_HOME", tempfile.mkdtemp(prefix="musicgen-bench-"))
    from musicgen.study.literature import import_benchmark

    folder = str(import_benchmark(args.mat))
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs, same = [], {}
    for recipe in args.recipes.split(","):
        trained = {}
        for precision in args.precisions.split(","):
            ran = resolved(precision, recipe, args.device)
            if ran in trained:
                same[(recipe, precision)] = trained[ran]
                continue
            trained[ran] = precision
            jobs += [(recipe, precision, seed) for seed in seeds]
    t0 = time.perf_counter()
    results, running = {}, []
    while jobs or running:
        while jobs and len(running) < args.parallel:
            recipe, precision, seed = job = jobs.pop(0)
            cmd = [sys.executable, "-m", "musicgen", "train", "--data", folder, "--recipe", recipe, "--seed", str(seed)]
            cmd += ["--precision", precision, "--device", args.device, "--json", "--name", f"{recipe}-{precision}-{seed}"]
            cmd += ["--cuda-graphs", args.cuda_graphs] if args.device == "cuda" else []
            running.append((job, subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)))
        time.sleep(1)
        for item in [r for r in running if r[1].poll() is not None]:
            running.remove(item)
            job, proc = item
            lines = proc.stdout.read().strip().splitlines()
            summary = json.loads(lines[-1]) if proc.returncode == 0 and lines else {}
            results[job] = (summary.get("test") or {}).get("nll")
    rows = []
    for recipe in args.recipes.split(","):
        for precision in args.precisions.split(","):
            source = same.get((recipe, precision), precision)
            nlls = [results.get((recipe, source, s)) for s in seeds]
            done = [x for x in nlls if isinstance(x, float)]
            mean = statistics.mean(done) if done else float("nan")
            spread = statistics.stdev(done) if len(done) > 1 else float("nan")
            label = precision if source == precision else f"{precision} (= {source})"
            per_seed = " / ".join(f"{x:.3f}" if isinstance(x, float) else "failed" for x in nlls)
            rows.append([recipe, label, per_seed, round(mean, 3), round(spread, 3)])
    body = table(["recipe", "--precision", f"test NLL, seeds {args.seeds}", "mean", "std"], rows)
    body += f"\n\nDevice {args.device}; {len(results)} runs, {args.parallel} at a time, {time.perf_counter() - t0:.0f} s in all"
    body += f", --cuda-graphs {args.cuda_graphs}." if args.device == "cuda" else "."
    append_report(args.md, f"Recipe parity across precisions ({args.device})", body, args.device)


if __name__ == "__main__":
    main()
