"""Map a function over items in worker processes, so that an item that kills its worker costs only itself.

Each item runs under a memory ceiling (RLIMIT_AS, on Linux): an item that would take the
machine's memory gets a MemoryError in its own worker instead, and costs only itself.

Workers start from a fresh server process (forkserver; spawn where there is none), never as a copy
of the caller. A copy holds the caller's freed heap inside its address space: a worker could fill
it without growing that space, past its ceiling (a long test session or app frees hundreds of MB).
And forking a process that runs threads, as the app does, can deadlock the copy. The cost: a
script that calls this must guard its top level with `if __name__ == "__main__":`, as for any
multiprocessing code.
"""

from __future__ import annotations

import multiprocessing as mp
import numbers
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool

from musicgen.errors import ConfigError
from musicgen.processes import proc_kb

try:
    import resource
except ImportError:  # Windows has no resource module: workers run without a ceiling there
    resource = None

# The most memory one item may add to what its worker holds when the item starts. The largest file the data limits let
# through (musicgen.data.midi.MAX_STEPS_PER_FILE steps x 128 notes) needs under 1 GiB to read and roll.
WORKER_MEMORY_CAP = 4 * 2**30
WORKER_MEMORY_FLOOR = 512 * 2**20  # on a small machine with many workers, still room for an ordinary file
# What the worker server imports once, so that each worker starts with it (missing ones are skipped).
_PRELOAD = ["numpy", "symusic", "musicgen.data.sources", "musicgen.data.corpora"]


def usable_cores() -> int:
    """Return the number of CPU cores this process may use (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def total_memory() -> int:
    """Return the machine's physical memory in bytes."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no sysconf names: assume a small machine
        return 8 * 2**30


def usable_memory() -> int:
    """Return the memory in bytes that this process could take now without swapping (MemAvailable on Linux)."""
    available = proc_kb("/proc/meminfo", "MemAvailable")
    return available if available is not None else total_memory() // 2


def worker_memory(workers: int) -> int:
    """Return the memory ceiling in bytes of each of `workers` worker processes: a share of the machine, at most the cap.

    The parent keeps one share, since it gathers the workers' results.
    """
    return max(WORKER_MEMORY_FLOOR, min(WORKER_MEMORY_CAP, total_memory() // (workers + 1)))


def check_workers(workers) -> None:
    """Raise ConfigError unless `workers` is None (all usable cores) or a whole number >= 0 (0: in this process)."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 0):
        raise ConfigError(
            f"workers must be a whole number >= 0 (0: no worker processes), got {workers!r}; e.g. --workers {usable_cores()}"
        )


_outer_limit = None  # the soft limit this worker started with: each item's ceiling stays under it


def _limit_memory(budget: int) -> None:
    """Cap this process's address space at what it holds now plus `budget` bytes."""
    global _outer_limit
    mapped = proc_kb("/proc/self/status", "VmSize")
    if mapped is None or resource is None:  # not Linux: RLIMIT_AS is not enforced the same way; run without a ceiling
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if _outer_limit is None:
        _outer_limit = soft
    limit = mapped + budget
    for cap in (_outer_limit, hard):
        if cap != resource.RLIM_INFINITY:
            limit = min(limit, cap)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


class _Failed:
    """An item whose call ran out of memory; the parent turns it into `on_crash(item, message)`."""

    def __init__(self, message: str):
        self.message = message


def _call(fn, item, budget: int | None):
    if budget:
        # Measured here, once the item and its function's module are loaded: the budget is the item's own.
        _limit_memory(budget)
    try:
        return fn(item)
    except MemoryError:  # numpy, C++ (bad_alloc) and Python allocations all end here at the ceiling
        if budget:
            return _Failed(f"needs more than its worker's memory ceiling of {_size(budget)} (WORKER_MEMORY_CAP)")
        return _Failed("needs more memory than this machine has available")


def _ready() -> bool:
    return True


def _run_chunk(fn, chunk, budget):
    return [_call(fn, item, budget) for item in chunk]


def _context():
    if "forkserver" not in mp.get_all_start_methods():  # Windows
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)  # read when the server starts, the first time a pool needs it
    return ctx


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=_context())


def _started_pool(workers: int) -> ProcessPoolExecutor:
    """Return a pool with one worker started: if none can start, say why once, instead of once per item."""
    pool = _pool(workers)
    try:
        pool.submit(_ready).result()
    except BrokenProcessPool:
        pool.shutdown()
        raise ConfigError(
            "worker processes do not start; run from a script, its top-level code must sit under "
            '`if __name__ == "__main__":` (or pass workers=0 / --workers 0)'
        ) from None
    return pool


def imap_isolated(fn, items, workers: int | None = None, on_crash=None, in_flight: int | None = None):
    """Yield (position, fn(item)) for the items of the iterable `items` as they finish, in up to `workers` processes.

    As `map_isolated`, but the items are drawn from `items` as workers free up, at most `in_flight` (default twice
    the workers) submitted at a time: neither the items nor their results are ever all held. An item whose worker
    dies or runs out of memory gets `on_crash(item, message)`; the pool is then started afresh for the rest (the
    items in flight with it get `on_crash` too: the caller retries them as it sees fit).
    """
    check_workers(workers)
    on_crash = on_crash or (lambda item, message: None)
    workers = usable_cores() if workers is None else int(workers)
    numbered = enumerate(items)
    if workers == 0:
        for i, item in numbered:
            r = _call(fn, item, None)
            yield i, on_crash(item, r.message) if isinstance(r, _Failed) else r
        return
    budget = worker_memory(workers)
    limit = in_flight or 2 * workers
    pool, pending, more = None, {}, True
    try:
        while True:
            while more and len(pending) < limit:
                nxt = next(numbered, None)
                if nxt is None:
                    more = False
                    break
                pool = pool or _started_pool(workers)
                pending[pool.submit(_call, fn, nxt[1], budget)] = (*nxt, pool)
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i, item, owner = pending.pop(fut)
                try:
                    r = fut.result()
                except MemoryError:  # sending the result back hit the ceiling
                    r = _Failed(f"its result does not fit its worker's memory ceiling of {_size(budget)} (WORKER_MEMORY_CAP)")
                except BrokenProcessPool:  # every item in flight in that pool ends here; the rest go to a new one
                    r = _Failed(f"the worker process died on it (a crash in the parser, or its {_size(budget)} memory ceiling)")
                    if owner is pool:
                        pool.shutdown(wait=False)
                        pool = None
                yield i, on_crash(item, r.message) if isinstance(r, _Failed) else r
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def map_isolated(
    fn, items: list, workers: int | None = None, on_crash=None, progress=None, memory_bytes: int | None = None
) -> list:
    """Return `[fn(item) for item in items]`, computed in up to `workers` processes (None: usable_cores(); 0: in this process).

    `fn` must be a module-level function. Each item may add `memory_bytes` to what its worker holds when it starts
    (None: `worker_memory(workers)`). When a worker dies (a segfault in a C parser), the items of
    its chunk are retried one process each; an item that kills its own process, or that runs out of
    memory, gets `on_crash(item, message)` as its result. `progress(done, total)` is called as items finish.
    """
    check_workers(workers)
    items = list(items)
    total, results = len(items), [None] * len(items)
    on_crash = on_crash or (lambda item, message: None)
    progress = progress or (lambda done, total: None)
    workers = usable_cores() if workers is None else int(workers)

    def settle(i, r):
        results[i] = on_crash(items[i], r.message) if isinstance(r, _Failed) else r

    if workers == 0 or total == 0:
        for i, item in enumerate(items):
            settle(i, _call(fn, item, None))
            progress(i + 1, total)
        return results
    workers = min(workers, total)
    budget = memory_bytes or worker_memory(workers)
    # Several chunks per worker balance uneven files; chunks amortise the cost of each task.
    size = max(1, min(64, total // (workers * 4)))
    chunks = [list(range(i, min(i + size, total))) for i in range(0, total, size)]
    failed, done = [], 0
    with _started_pool(workers) as pool:
        futures = {pool.submit(_run_chunk, fn, [items[i] for i in idx], budget): idx for idx in chunks}
        for fut in as_completed(futures):
            idx = futures[fut]
            try:
                for i, r in zip(idx, fut.result(), strict=True):
                    settle(i, r)
                done += len(idx)
                progress(done, total)
            except (BrokenProcessPool, MemoryError):  # MemoryError: sending a result back hit the ceiling
                failed.extend(idx)
    for i in sorted(failed):  # one process per item: a crash now names its file
        try:
            with _pool(1) as pool:
                settle(i, pool.submit(_call, fn, items[i], budget).result())
        except MemoryError:
            message = f"its result does not fit its worker's memory ceiling of {_size(budget)} (WORKER_MEMORY_CAP)"
            results[i] = on_crash(items[i], message)
        except BrokenProcessPool:
            results[i] = on_crash(
                items[i], f"the worker process died on it (a crash in the parser, or its {_size(budget)} memory ceiling)"
            )
        done += 1
        progress(done, total)
    return results
