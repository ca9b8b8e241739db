"""Build a sharded dataset (musicgen.data.shards) from MIDI inputs, in local worker processes or on a Ray cluster.

The inputs are cut into tasks of `task_files(n)` files in input order (a function of the number of inputs alone:
never of the backend or the number of workers): task k parses its files, packs each roll (2 bits a cell) and
writes them, in order, into shards `shards-<id>/kkkkk-jj.npy` of at most SHARD_BYTES each (a new one when the
next piece would pass it), and its index rows (each piece's row and windows) into `shards-<id>/rows/kkkkk.npz`;
it returns only sums (pieces, shards, statistics) and the rows of the files it left out. So the same inputs give
the same shards and index on either backend, no process ever holds more than one task's pieces, and the parent's
memory does not grow with the corpus: the inputs are walked lazily (musicgen.data.build.Inputs) and handed to
the workers a few tasks at a time, and musicgen.data.shard_index streams the tasks' rows into index.npz.

Ray tasks, not Ray Data: a task is a plain function of a list of files that writes files and returns rows, the
same function the local pool runs, so both backends share every line that decides the output; Ray Data would add
a block model and pyarrow between them for no gain here. The shards go to the output folder, which every node
must reach (a shared filesystem; on one machine, any folder).
"""

from __future__ import annotations

import itertools
import shutil
import time
from pathlib import Path

import numpy as np

from musicgen.config import DataConfig
from musicgen.data.build import Inputs, crashed_row, skip_long
from musicgen.data.rolls import cached_report, window_picks
from musicgen.data.shard_index import ROW_COUNTS, ROWS, assemble
from musicgen.data.shards import INDEX, LAYOUT, pack
from musicgen.data.sources import load_item, read_zip_members
from musicgen.errors import ConfigError
from musicgen.parallel import imap_isolated, map_isolated
from musicgen.paths import atomic_write

CHUNK_FILES = 256  # files per task at most (a large corpus)
MIN_CHUNK_FILES = 16  # files per task at least
TASKS_AT_LEAST = 64  # between those, a corpus is cut into this many tasks: a small one balances over the cores too
SHARD_BYTES = 64 * 2**20  # a shard is cut before the piece that would take it past this (a longer piece alone)
BACKENDS = ("local", "ray")
PIECE_COLUMNS = ("source", "shard", "offset", "length", "bar_steps", "counts")  # index.npz's per-piece columns from a task


def task_files(n: int) -> int:
    """Return the files per task of a build of `n` inputs: a function of `n` alone, so that every backend cuts alike."""
    return min(CHUNK_FILES, max(MIN_CHUNK_FILES, -(-n // TASKS_AT_LEAST)))


def _piece_stats(roll: np.ndarray) -> dict:
    sounding = roll > 0
    per_step = sounding.sum(axis=1)
    return {
        "hist": sounding.sum(axis=0, dtype=np.int64),
        "sounding_steps": int((per_step > 0).sum()),
        "onsets": int((roll == 2).sum()),
    }


def write_chunk(k: int, results, cfg: DataConfig, folder: str, shard_bytes: int = SHARD_BYTES) -> dict:
    """Pack the parsed files `results` (load_item results, in input order) of task `k` into shards under `folder`.

    Return the pieces' columns (source, shard: into parts, the task's shard paths, offset, length, bar_steps,
    sounding, counts), windows: (piece in task, start, steps) of each non-silent window, skipped: rows of the
    files left out, and the statistics' sums (hist, sounding_steps, onsets).
    """
    folder = Path(folder)
    ok, skipped, windows = [], [], []
    hist = np.zeros(cfg.n_notes, dtype=np.int64)
    sounding = onsets = 0
    buf, size, part = [], 0, 0

    def flush():
        nonlocal buf, size, part
        if buf:
            name = f"{k:05d}-{part:02d}.npy"
            with atomic_write(folder / name) as tmp, open(tmp, "wb") as f:
                np.save(f, np.concatenate(buf))
            part, buf, size = part + 1, [], 0

    for r in results:
        r = skip_long(r, cfg)
        if r["status"] != "ok":
            skipped.append({"file": r["file"], "status": "skipped", "reason": r["reason"]})
            continue
        roll, packed = r["roll"], pack(r["roll"])
        if size and size + packed.nbytes > shard_bytes:
            flush()
        stats = _piece_stats(roll)
        hist += stats["hist"]
        sounding += stats["sounding_steps"]
        onsets += stats["onsets"]
        windows += [(len(ok), s, n) for _, s, n in window_picks([roll], cfg)]
        counts = [int(r["info"].get(c, 0)) for c in ROW_COUNTS]
        ok.append(
            (
                r["file"],
                part,
                size // max(packed.shape[1], 1),
                len(roll),
                int(r["info"]["bar_steps"]),
                stats["sounding_steps"] > 0,
                counts,
            )
        )
        buf.append(packed)
        size += packed.nbytes
    flush()
    # Columns, not a dict per piece: what the parent gathers from every task stays a few dozen bytes a piece.
    file, shard, offset, length, bar_steps, has_sound, counts = zip(*ok, strict=True) if ok else ([],) * 7
    return {
        "source": np.array(file, dtype=str),
        "parts": [f"{folder.name}/{k:05d}-{j:02d}.npy" for j in range(part)],
        "shard": np.array(shard, dtype=np.int32),
        "offset": np.array(offset, dtype=np.int64),
        "length": np.array(length, dtype=np.int64),
        "bar_steps": np.array(bar_steps, dtype=np.int64),
        "sounding": np.array(has_sound, dtype=bool),
        "counts": np.array(counts, dtype=np.int64).reshape(len(ok), len(ROW_COUNTS)),
        "windows": np.array(windows, dtype=np.int64).reshape(-1, 3),
        "skipped": skipped,
        "hist": hist,
        "sounding_steps": sounding,
        "onsets": onsets,
    }


def save_rows(k: int, packed: dict, folder: str, files: int) -> dict:
    """Write task `k`'s index rows (write_chunk's columns) to `folder`/rows; return what the parent keeps of the task.

    That is: its number, `files` (inputs handed to it), pieces, shards, the rows of the files it left out and the
    statistics' sums: a few hundred bytes a task, whatever its files.
    """
    rows = Path(folder) / ROWS
    rows.mkdir(exist_ok=True)
    with atomic_write(rows / f"{k:05d}.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **{c: packed[c] for c in (*PIECE_COLUMNS, "sounding", "windows")})
    kept = ("skipped", "hist", "sounding_steps", "onsets")
    return {"task": k, "files": files, "pieces": len(packed["length"]), "parts": len(packed["parts"])} | {
        c: packed[c] for c in kept
    }


def build_chunk(args) -> dict:
    """Task body (a local worker or a Ray task): parse files `items` of task `k`, write their shards and index rows."""
    k, items, cfg, parser, folder, shard_bytes, files = args
    packed = write_chunk(k, (load_item((item, cfg, parser)) for item in items), cfg, folder, shard_bytes)
    return save_rows(k, packed, folder, files)


class _ChunkCrashed:
    def __init__(self, args, message):
        self.args, self.message = args, message


def _retry_per_file(failed: _ChunkCrashed) -> dict:
    """Rebuild a task whose process died: each file in a process of its own (a crash then costs only its file)."""
    k, items, cfg, parser, folder, shard_bytes, files = failed.args
    results = map_isolated(load_item, [(i, cfg, parser) for i in items], workers=1, on_crash=crashed_row)
    return save_rows(k, write_chunk(k, results, cfg, folder, shard_bytes), folder, files)


def _tasks(inputs: Inputs, cfg: DataConfig, parser: str, folder: Path, refused: list):
    """Yield the arguments of each task as the inputs are walked (their zip entries read then); `refused` gets the
    rows of the entries that could not be read."""
    size, it = task_files(len(inputs)), iter(inputs)
    opened = {}  # zip archives stay open across tasks: their directories are read once
    try:
        for k, chunk in enumerate(iter(lambda: list(itertools.islice(it, size)), [])):
            read, skipped = read_zip_members(chunk, int(cfg.max_file_mb * 2**20), opened)
            refused += skipped
            yield (k, read, cfg, parser, str(folder), SHARD_BYTES, len(chunk))
    finally:
        for z in opened.values():
            z.close()


def _run_local(tasks, workers):
    """Yield the result of each task (in the order they finish), run in `workers` processes of this machine."""
    for _, r in imap_isolated(build_chunk, tasks, workers=workers, on_crash=_ChunkCrashed):
        yield _retry_per_file(r) if isinstance(r, _ChunkCrashed) else r


def _run_ray(tasks, address: str | None):
    """Yield the result of each task (in the order they finish), run as Ray tasks, twice the cluster's CPUs in flight."""
    from musicgen.ray_connect import init_ray

    ray = init_ray(address)
    remote = ray.remote(build_chunk).options(max_retries=0)
    limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    pending, more = {}, True
    while more or pending:
        while more and len(pending) < limit:
            t = next(tasks, None)
            if t is None:
                more = False
            else:
                pending[remote.remote(t)] = t
        if not pending:
            break
        ready, _ = ray.wait(list(pending), num_returns=1)
        t = pending.pop(ready[0])
        try:
            yield ray.get(ready[0])
        except ray.exceptions.RayError as e:  # the worker died (a parser crash, out of memory): one file at a time here
            yield _retry_per_file(_ChunkCrashed(t, str(e)))


def _run_tasks(inputs: Inputs, cfg, parser, folder: Path, backend: str, where, progress) -> tuple[list[dict], list[dict]]:
    """Run the build's tasks on `backend` (`where`: the workers, or the Ray address); return (their results, rows of the
    zip entries refused), the results sorted by task."""
    counted = progress or (lambda done, total: None)
    refused, results, done = [], [], 0
    tasks = _tasks(inputs, cfg, parser, folder, refused)
    for r in (_run_ray if backend == "ray" else _run_local)(tasks, where):
        results.append(r)
        done += r["files"]
        counted(done, len(inputs))
    return sorted(results, key=lambda r: r["task"]), refused


def build_sharded(
    sources: list[str],
    out: Path,
    cfg: DataConfig,
    workers=None,
    progress=None,
    parser: str = "symusic",
    backend: str = "local",
    ray_address: str | None = None,
) -> dict:
    """Build (or reuse) the sharded dataset of MIDI inputs in `out`; return its report.

    `backend` "local" parses in `workers` processes of this machine, "ray" in Ray tasks on the cluster at
    `ray_address` (None: a local Ray); both write the same shards and index. `progress(done, total)` counts files.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; use one of {list(BACKENDS)}")
    t0 = time.perf_counter()
    out = Path(out)
    given = list(sources)
    inputs = Inputs(given, cfg, workers, parser, layout=LAYOUT)
    hit = cached_report(out, inputs.key)
    if hit is not None and hit.get("layout") == LAYOUT and (out / INDEX).is_file():
        return hit | {"cached": True, "seconds": time.perf_counter() - t0}
    if backend == "ray":
        from musicgen.ray_connect import init_ray

        init_ray(ray_address)  # a wrong address fails here, before anything is written
    folder = out / f"shards-{inputs.key}"
    shutil.rmtree(folder, ignore_errors=True)  # a build of these inputs cut short before
    folder.mkdir(parents=True)
    try:
        where = ray_address if backend == "ray" else workers
        results, refused = _run_tasks(inputs, cfg, parser, folder, backend, where, progress)
        report = assemble(results, inputs.skipped + refused, given, out, cfg, parser, inputs.key, folder)
    except BaseException:  # interrupted, or the disk filled: no half-written shards left behind
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return report | {"cached": False, "seconds": time.perf_counter() - t0, "backend": backend}
