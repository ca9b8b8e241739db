"""Scale: peak memory of preprocessing and of training, bytes per step, throughput, at growing generated corpora.

For each size N: writes N MIDI files (benchmarks/make_corpus.py), builds them with `python -m musicgen preprocess
--format shards` (and, at the sizes of --npz-sizes, today's dataset.npz) in a child process whose tree is
sampled for peak RSS (VmHWM of the parent and of each worker), then trains 200 batches with the real command,
`python -m musicgen train --data OUT --max-steps 200` (the default ConvGRU, batch 32, one thread; the run's
baselines, validation, test and temperature choice included), sampled the same way: the rows of a sharded split
past 64 MiB are read from the shards a batch at a time (a dataset.npz split is loaded whole, as the trainer
does). The sizes of --ray-sizes are built on a local Ray as well (the same index checked).

    .venv/bin/python benchmarks/scale.py --sizes 1000 50000 [--npz-sizes 1000] [--ray-sizes 1000] [--train-sizes N ...]
        [--md BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, append_report, table

BATCHES = 200


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(d))
    return out


def _status_kb(pid: int, key: str = "VmHWM") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith(f"{key}:")), 0)
    except OSError:
        return 0


def run_measured(argv: list[str], env: dict, split: dict | None = None) -> tuple[float, int, int, str]:
    """Run `argv`; return (seconds, peak RSS of the process in MiB, largest peak RSS of any descendant in MiB, stdout).

    `split`, when given, gets the largest anonymous and file-backed resident MiB of the process seen while sampling.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    peaks: dict[int, int] = {}
    done = threading.Event()

    def sample():
        while not done.is_set():
            if split is not None:
                for key in ("RssAnon", "RssFile"):
                    split[key] = max(split.get(key, 0), _status_kb(proc.pid, key) // 1024)
            todo, seen = [proc.pid], set()
            while todo:
                p = todo.pop()
                if p in seen:
                    continue
                seen.add(p)
                peaks[p] = max(peaks.get(p, 0), _status_kb(p))
                todo += _children(p)
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    done.set()
    thread.join()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.strip()[-800:]}")
    workers = [kb for p, kb in peaks.items() if p != proc.pid]
    return seconds, peaks.get(proc.pid, 0) // 1024, max(workers, default=0) // 1024, out


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def train(data: Path, env: dict, batches: int, batch_size: int) -> dict:
    """Train `batches` batches on dataset folder `data` with `python -m musicgen train --max-steps`; return its figures."""
    argv = [sys.executable, "-m", "musicgen", "train", "--data", str(data), "--max-steps", str(batches), "--epochs", "1000"]
    argv += ["--batch-size", str(batch_size), "--threads", "1", "--device", "cpu", "--seed", "0", "--json"]
    split = {}
    seconds, peak, _, stdout = run_measured(argv, env, split)
    summary = json.loads(stdout.strip().splitlines()[-1])
    if summary["status"] != "finished" or summary["steps"] != batches:
        raise SystemExit(f"the run did not take {batches} steps: {summary['status']}, {summary.get('steps')} steps")
    from musicgen.runs import store  # MUSICGEN_HOME is the benchmark's folder (main)

    m = store.metrics_frame([summary["id"]])
    rates = m[(m.split == "train") & (m.name == "seqs_per_s")].value
    return {"seconds": seconds, "peak_mib": peak, "anon_mib": split["RssAnon"], "file_mib": split["RssFile"]} | {
        "ms_batch": 1000 * batch_size / float(rates.mean()),
        "epochs": summary["epochs_done"],
    }


def preprocess(corpus: Path, out: Path, fmt: str, env: dict, backend: str = "local") -> dict:
    argv = [sys.executable, "-m", "musicgen", "preprocess", str(corpus), "--out", str(out), "--format", fmt, "--json"]
    argv += ["--backend", backend] if backend != "local" else ["--workers", "2"]
    seconds, parent, worker, stdout = run_measured(argv, env)
    summary = json.loads(stdout.strip().splitlines()[-1])
    steps = summary["steps"]
    return {
        "seconds": seconds,
        "parent": parent,
        "worker": worker,
        "steps": steps,
        "files": summary["files_ok"],
        "disk": disk_bytes(out),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 50000], help="corpus sizes (files)")
    ap.add_argument("--npz-sizes", type=int, nargs="*", default=[1000], help="sizes also built as dataset.npz (today's format)")
    ap.add_argument("--ray-sizes", type=int, nargs="*", default=[1000], help="sizes also built on a local Ray")
    ap.add_argument("--train-npz", action="store_true", help="train on the dataset.npz builds too (the split loaded whole)")
    ap.add_argument("--train-sizes", type=int, nargs="*", default=None, help="sizes whose local builds train (default: all)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=BATCHES, help=f"training batches per corpus (default {BATCHES})")
    ap.add_argument("--md", default=None, help="append the table to this Markdown file (e.g. BENCHMARKS.md)")
    args = ap.parse_args()
    from make_corpus import make_corpus

    cores = len(os.sched_getaffinity(0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MUSICGEN_HOME"] = tmp  # the runs' store, read back here
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
        for n in sorted(args.sizes):
            corpus = Path(tmp) / f"corpus{n}"
            make_corpus(n, corpus, seed=0)
            builds = [("shards", "local")] + [("npz", "local")] * (n in args.npz_sizes)
            builds += [("shards", "ray")] * (n in args.ray_sizes)
            for fmt, backend in builds:
                out = Path(tmp) / f"{fmt}-{backend}-{n}"
                b = preprocess(corpus, out, fmt, env, backend)
                train_figures = {}
                if (
                    backend == "local"
                    and (fmt == "shards" or args.train_npz)
                    and (args.train_sizes is None or n in args.train_sizes)
                ):
                    train_figures = train(out, env, args.batches, args.batch_size)
                if backend == "ray":
                    local = Path(tmp) / f"shards-local-{n}"
                    same = (out / "index.npz").read_bytes() == (local / "index.npz").read_bytes()
                    backend += " (same index)" if same else " (INDEX DIFFERS)"
                rows.append(
                    [
                        n,
                        f"{fmt}, {backend}",
                        round(b["seconds"], 1),
                        round(b["files"] / b["seconds"] / 2, 1),
                        round(b["steps"] / b["seconds"] / 2 / 1000, 1),
                        b["parent"],
                        b["worker"],
                        round(b["disk"] / b["steps"], 1),
                        train_figures.get("peak_mib", "-"),
                        f"{train_figures['anon_mib']} / {train_figures['file_mib']}" if train_figures else "-",
                        round(train_figures["ms_batch"], 1) if train_figures else "-",
                        round(train_figures["seconds"], 1) if train_figures else "-",
                    ]
                )
                print(rows[-1], flush=True)
    header = [
        "files",
        "format, backend",
        "build s",
        "files/s per core",
        "k steps/s per core",
        "parent peak MiB",
        "worker peak MiB",
        "bytes/step on disk",
        f"train {args.batches} batches peak MiB",
        "anon / file-backed peak MiB",
        "ms/batch",
        "train command s",
    ]
    note = (
        f"\n\n{cores} usable cores; per-core rates divide by the 2 workers (a local Ray uses the same 2 cores). Peaks are "
        "VmHWM, sampled every 50 ms over the build's process tree (worker: the largest descendant). Training: "
        f"`python -m musicgen train --data OUT --max-steps {args.batches} --batch-size {args.batch_size} --threads 1` "
        "(the default ConvGRU; the whole command: dataset, baselines, validation, test, temperature); anon / file-backed: "
        "the largest RssAnon and RssFile sampled; ms/batch from the run's training sequences per second."
    )
    append_report(args.md, "Scale: sharded datasets", table(header, rows) + note)


if __name__ == "__main__":
    main()
