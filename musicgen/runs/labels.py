"""Short labels of how a stored run trained (its precision, its backend), for run lists in the CLI and the app."""

from __future__ import annotations


def precision_of(config: dict) -> str:
    """Return the precision a run trained in: "fp32" or "bf16" ("auto" resolved), from its stored config.

    Runs stored before the precision policy have no such field: the trainer then used bf16 autocast on CUDA
    and fp32 elsewhere, which their stored device tells.
    """
    config = config if isinstance(config, dict) else {}
    if config.get("precision"):
        return config["precision"]
    chosen = (config.get("train") or {}).get("precision")
    if chosen and chosen != "auto":
        return chosen
    return "bf16" if str(config.get("device", "")).startswith("cuda") else "fp32"


def backend_label(config: dict) -> str:
    """Return where a run trained: "local" (one process) or "ray x N" (N data-parallel Ray Train workers)."""
    backend = (config if isinstance(config, dict) else {}).get("backend") or {}
    return f"ray x {backend.get('workers', 1)}" if backend.get("name") == "ray" else "local"
