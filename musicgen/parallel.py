"""Map a function over items in worker processes, so that an item that kills its worker costs only itself."""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool


def usable_cores() -> int:
    """Return the number of CPU cores this process may use (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _context():
    # fork starts a worker in milliseconds and shares the parent's imports; spawn elsewhere.
    return mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()


def _run_chunk(fn, chunk):
    return [fn(item) for item in chunk]


def _crash_message(item) -> str:
    return "the parser crashed the worker process on this file"


def map_isolated(fn, items: list, workers: int | None = None, on_crash=None, progress=None) -> list:
    """Return `[fn(item) for item in items]`, computed in up to `workers` processes (None: usable_cores(); 0: in this process).

    `fn` must be a module-level function. When a worker dies (a segfault in a C parser), the items
    of its chunk are retried one process each; an item that kills its own process gets
    `on_crash(item, message)` as its result. `progress(done, total)` is called as items finish.
    """
    items = list(items)
    total, results = len(items), [None] * len(items)
    on_crash = on_crash or (lambda item, message: None)
    progress = progress or (lambda done, total: None)
    workers = usable_cores() if workers is None else workers
    if workers == 0 or total == 0:
        for i, item in enumerate(items):
            results[i] = fn(item)
            progress(i + 1, total)
        return results
    workers = min(workers, total)
    # Several chunks per worker balance uneven files; chunks amortise the cost of each task.
    size = max(1, min(64, total // (workers * 4)))
    chunks = [list(range(i, min(i + size, total))) for i in range(0, total, size)]
    failed, done = [], 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        futures = {pool.submit(_run_chunk, fn, [items[i] for i in idx]): idx for idx in chunks}
        for fut in as_completed(futures):
            idx = futures[fut]
            try:
                for i, r in zip(idx, fut.result(), strict=True):
                    results[i] = r
                done += len(idx)
                progress(done, total)
            except BrokenProcessPool:
                failed.extend(idx)
    for i in sorted(failed):  # one process per item: a crash now names its file
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=_context()) as pool:
                results[i] = pool.submit(fn, items[i]).result()
        except BrokenProcessPool:
            results[i] = on_crash(items[i], _crash_message(items[i]))
        done += 1
        progress(done, total)
    return results
