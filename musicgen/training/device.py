"""The torch device to run on, and the arithmetic (precision) of the training steps on it.

Precision policy (`TrainConfig.precision`): "fp32" trains in float32; "bf16" runs the forward pass
under bfloat16 autocast (matrix products, convolutions and the GRU in bf16; the loss and the
optimizer in float32); "auto" resolves per device and head to bf16 only where it was measured to
keep results equal to fp32 and to be faster (`BF16_FROM_HIDDEN`), fp32 everywhere else. Evaluation
is always float32, so a run's metrics do not depend on the precision it trained in.
"""

from __future__ import annotations

import contextlib
import ctypes

import torch

from musicgen.config import ModelConfig
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


# (device type, head) -> the GRU width from which "auto" trains in bf16; None: bf16 never paid where measured.
# CPU: bf16 autocast is slower than fp32 at every width measured (BENCHMARKS.md, precision_speed.py) and only
# approximates it. CUDA (H200, torch 2.11, issue 25): fp32 was both faster (1.41x the reference loop at batch 32
# against 1.01x under bf16) and more accurate (jsb-nade test NLL 5.179 against 5.253, mean of seeds 0-2) at the
# recipes' sizes (hidden 256-400); a crossover for wider models is not measured yet: benchmarks/gpu.sh measures it.
BF16_FROM_HIDDEN: dict[tuple[str, str], int | None] = {
    ("cpu", "independent"): None,
    ("cpu", "nade"): None,
    ("cuda", "independent"): None,
    ("cuda", "nade"): None,
    ("mps", "independent"): None,
    ("mps", "nade"): None,
}


def resolve_precision(precision: str, device: torch.device, model_cfg: ModelConfig) -> str:
    """Return "fp32" or "bf16": `precision` itself, or for "auto" what BF16_FROM_HIDDEN says for the device and head."""
    if precision != "auto":
        return precision
    width = BF16_FROM_HIDDEN.get((torch.device(device).type, model_cfg.head))
    return "bf16" if width is not None and model_cfg.hidden >= width else "fp32"


def autocast(device: torch.device, precision: str = "fp32"):
    """Return the autocast context of a resolved `precision` on `device`: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def check_threads(threads: int) -> None:
    """Raise ConfigError when `threads` asks for more CPU threads than this process has cores (they would only spin-wait)."""
    if threads > usable_cores():
        raise ConfigError(
            f"threads {threads} is more than the {usable_cores()} CPU cores this process may use; "
            f"give --threads 1 to {usable_cores()}, or 0 for the default"
        )


HEAP_MMAP_BYTES = 4 * 2**20  # allocations past this always get pages of their own, returned to the system when freed


def bound_heap() -> None:
    """Fix glibc's mmap threshold at HEAP_MMAP_BYTES (a no-op elsewhere).

    By default glibc raises the threshold to the size of each large block freed, so tensors of a few MB come from
    the heap, whose holes are never returned: a trainer sweeping a large corpus (thousands of batches and chunks
    of varying shapes) kept 316 MiB after a pass over 109,000 windows that kept 180 MiB with it fixed (BENCHMARKS.md).
    """
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, HEAP_MMAP_BYTES)  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


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
