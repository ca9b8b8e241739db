"""What every benchmark shares: the repo root on sys.path, the JSB file, the machine, a table, appending to BENCHMARKS.md."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))  # appserver: serve app.py for a driven browser
JSB_MAT = ROOT.parent / "shared" / "data" / "jsb" / "JSB_Chorales.mat"  # the team's copy, beside the repo


def machine(device: str = "cpu") -> str:
    """Return a one-line description of the CPU (and GPU when `device` is cuda)."""
    import torch

    from musicgen.parallel import usable_cores

    cores = usable_cores()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = f"{platform.machine()} CPU, {cores} cores (load average {load:.1f} at start), torch {torch.__version__}"
    if device.startswith("cuda") and torch.cuda.is_available():
        text = f"{torch.cuda.get_device_name(0)}, " + text
    return text


def table(header: list[str], rows: list[list]) -> str:
    """Return a Markdown table; floats get 4 significant digits."""

    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def append_report(md: str | None, title: str, body: str, device: str = "cpu") -> None:
    """Print `body` and, unless md is None, append it under a dated heading with the machine and command."""
    print(body)
    if not md:
        return
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"\n### {title} — {stamp}\nMachine: {machine(device)}. Command: `{command}`.\n\n{body}\n"
    with open(md, "a") as f:
        f.write(text)
