"""The torch device to run on, and the mixed precision it supports."""

from __future__ import annotations
import contextlib
import torch
from musicgen.errors import ConfigError


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
