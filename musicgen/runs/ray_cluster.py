"""A Ray cluster for the ray backends (sweeps, data-parallel training): probe an address, connect or start one, ship a dataset.

Ray is optional (requirements-ray.txt): it is imported only when a ray backend is used. Probing and connecting
live in musicgen.ray_connect (the shared ground: dataset builds use them too) and are re-exported here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from musicgen.data.datasets import load_dataset
from musicgen.ray_connect import PROBE_TIMEOUT_S, _own_signal_handlers, init_ray, probe_address  # noqa: F401


def dataset_files(data_ref: str) -> tuple[dict, str]:
    """Return ({file name: bytes} of the dataset folder, its path here), for workers without a shared filesystem.

    A sharded dataset's shards lie in a subfolder: names are paths relative to the folder.
    """
    root = Path(load_dataset(data_ref).path)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}, str(root)


def write_dataset_files(files: dict, folder: Path) -> Path:
    """Write what `dataset_files` returned into `folder` (on a worker); return the folder."""
    for name, blob in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(blob)
    return folder


@contextlib.contextmanager
def private_home(folder: str):
    """Point MUSICGEN_HOME at `folder` for the block, then back (Ray reuses a worker process for other tasks)."""
    old = os.environ.get("MUSICGEN_HOME")
    os.environ["MUSICGEN_HOME"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MUSICGEN_HOME", None)
        else:
            os.environ["MUSICGEN_HOME"] = old
