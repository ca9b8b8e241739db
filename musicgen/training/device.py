"""The torch device to run on, and the mixed precision it supports."""

from __future__ import annotations

import contextlib

import torch

from musicgen.errors import ConfigError
from musicgen.parallel import usable_cores


def resolve_device(name: str) -> torch.device:
    """Return the torch device for 'auto' (cuda, then mps, then cpu), 'cpu', 'cuda' or 'mps'."""
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device auto or --device cpu")
    if name == "mps" and not has_mps:
        raise ConfigError("device 'mps' was asked for but this torch has no MPS backend; use --device auto or --device cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unknown device {name!r}; choose one of auto, cpu, cuda, mps")
    return torch.device(name)


def autocast(device: torch.device):
    """Return the autocast context for `device`: bf16 on CUDA, nothing elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def check_threads(threads: int) -> None:
    """Raise ConfigError when `threads` asks for more CPU threads than this process has cores (they would only spin-wait)."""
    if threads > usable_cores():
        raise ConfigError(
            f"threads {threads} is more than the {usable_cores()} CPU cores this process may use; "
            f"give --threads 1 to {usable_cores()}, or 0 for the default"
        )


def set_threads(threads: int | None, device: torch.device) -> None:
    """Set torch's CPU threads: `threads`, or by default half the usable cores, at most 4 (nothing on a GPU)."""
    if device.type != "cpu":
        return
    # A small GRU gains little from more, and OpenMP threads that share cores with other processes
    # spin-wait (measured: 2 threads on a busy 2-core machine ran a batch 40x slower than 1 thread).
    torch.set_num_threads(threads or max(1, min(usable_cores() // 2, 4)))


@contextlib.contextmanager
def one_thread():
    """Run the block on one torch CPU thread, then restore the count the process had.

    For loops of small ops (a step of generation): on a shared CPU, the threads of a parallel op on a
    tiny tensor mostly spin-wait (measured: a nade step 250x slower with 2 threads on a busy 2-core machine).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
