"""Scale: peak memory of preprocessing and of training, bytes per step, throughput, at growing generated corpora.

For each size N: writes N MIDI files (benchmarks/make_corpus.py), builds them with `python -m musicgen preprocess
--format shards` (and, at the sizes of --npz-sizes, today's dataset.npz) in a child process whose tree is
sampled for peak RSS (VmHWM of the parent and of each worker), then trains 200 batches drawn from the whole
train split (a ConvGRU step each: forward, loss, backward, AdamW) in another child, reading batches from the
memory-mapped shards (a dataset.npz split is loaded whole, as the trainer does). The sizes of --ray-sizes
are built on a local Ray as well (the same index checked).

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


def run_measured(argv: list[str], env: dict) -> tuple[float, int, int, str]:
    """Run `argv`; return (seconds, peak RSS of the process in MiB, largest peak RSS of any descendant in MiB, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    peaks: dict[int, int] = {}
    done = threading.Event()

    def sample():
        while not done.is_set():
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


def train_child(data: str, batches: int, batch_size: int) -> None:
    """Body of the training child: `batches` training steps on random rows of the train split, cut from the shards."""
    import resource

    import torch

    from musicgen.config import ModelConfig, TrainConfig
    from musicgen.data.datasets import load_dataset
    from musicgen.nn.convgru import ConvGRU
    from musicgen.training.batches import Split
    from musicgen.training.losses import make_loss
    from musicgen.training.onset_metrics import model_terms
    from musicgen.training.optim import make_optimizer
    from musicgen.training.shard_batches import lazy_parts
    from musicgen.training.train import fit_model_to_data

    torch.set_num_threads(1)
    torch.manual_seed(0)
    ds = load_dataset(data)
    # A sharded split is read per batch; a dataset.npz one is loaded whole, as the trainer always did.
    lazy = lazy_parts(ds, "train", "cpu", force=True)
    split = Split(*lazy) if lazy is not None else Split.from_dataset(ds, "train", "cpu")
    model_cfg = fit_model_to_data(ModelConfig(), ds)
    cfg = TrainConfig(batch_size=batch_size, threads=1)
    model = ConvGRU(model_cfg)
    opt = make_optimizer(model.parameters(), cfg)
    loss_fn = make_loss(cfg, 0.05)
    g = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    for _ in range(batches):
        idx = torch.randint(len(split), (batch_size,), generator=g)
        inputs, targets, mask = split.batch(idx)
        _, logits, y, m = model_terms(model, inputs, targets, mask, None)
        loss = loss_fn(logits, y, m)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    # What the process holds itself (anonymous) and the shard pages it has mapped (file-backed page cache, shared
    # with every process reading them and reclaimable): VmHWM counts both.
    anon, file = (_status_kb(os.getpid(), k) // 1024 for k in ("RssAnon", "RssFile"))
    print(json.dumps({"rows": len(split), "seconds": seconds, "peak_mib": peak, "anon_mib": anon, "file_mib": file}))


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
    ap.add_argument("--train-child", nargs=3, metavar=("DATA", "BATCHES", "BATCH_SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.train_child:
        train_child(args.train_child[0], int(args.train_child[1]), int(args.train_child[2]))
        return
    from make_corpus import make_corpus

    cores = len(os.sched_getaffinity(0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MUSICGEN_HOME": tmp, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
        for n in sorted(args.sizes):
            corpus = Path(tmp) / f"corpus{n}"
            make_corpus(n, corpus, seed=0)
            builds = [("shards", "local")] + [("npz", "local")] * (n in args.npz_sizes)
            builds += [("shards", "ray")] * (n in args.ray_sizes)
            for fmt, backend in builds:
                out = Path(tmp) / f"{fmt}-{backend}-{n}"
                b = preprocess(corpus, out, fmt, env, backend)
                train = {}
                if (
                    backend == "local"
                    and (fmt == "shards" or args.train_npz)
                    and (args.train_sizes is None or n in args.train_sizes)
                ):
                    argv = [sys.executable, __file__, "--train-child", str(out), str(args.batches), str(args.batch_size)]
                    _, _, _, stdout = run_measured(argv, env)
                    train = json.loads(stdout.strip().splitlines()[-1])
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
                        train.get("peak_mib", "-"),
                        f"{train['anon_mib']} / {train['file_mib']}" if train else "-",
                        round(train["seconds"] / args.batches * 1000, 1) if train else "-",
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
        "anon / file-backed MiB at the end",
        "ms/batch",
    ]
    note = (
        f"\n\n{cores} usable cores; per-core rates divide by the 2 workers (a local Ray uses the same 2 cores). Peaks are "
        "VmHWM, sampled every 50 ms over the build's process tree (worker: the largest descendant). Training: batch "
        f"{args.batch_size} of the default ConvGRU, rows drawn at random from the whole train split, cut from the shards."
    )
    append_report(args.md, "Scale: sharded datasets", table(header, rows) + note)


if __name__ == "__main__":
    main()
