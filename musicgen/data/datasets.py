"""Build, cache, split and load piano-roll datasets (format: data/README.md).

A dataset folder holds `dataset.npz` (train/valid/test `(n, seq_len, notes)` uint8, with
`*_lengths`, `*_files`, `*_starts`) and `report.json`. It is keyed by a content hash of its inputs
and parameters: building again with the same inputs only reads the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from musicgen.config import DataConfig, from_dict
from musicgen.data.benchmark_files import BENCHMARK_SUFFIXES, build_from_benchmark
from musicgen.data.build import build_from_midi
from musicgen.data.corpora import BUILTINS
from musicgen.data.rolls import SPLITS, Dataset
from musicgen.data.shards import INDEX, LAYOUT, load_sharded, piece_steps
from musicgen.errors import DataError
from musicgen.paths import check_user_file, data_dir, is_dataset_name


def build_dataset(
    sources: list[str],
    out: Path,
    cfg: DataConfig | None = None,
    workers=None,
    progress=None,
    parser: str = "symusic",
    layout: str = "npz",
    backend: str = "local",
    ray_address: str | None = None,
) -> dict:
    """Build a dataset folder from MIDI files, folders, zips, `builtin:bach`, or one .mat/.pickle benchmark; return the report.

    `progress(done, total)` is called as files finish. `layout` "npz" writes dataset.npz (windows), "shards" the
    sharded format (musicgen.data.shards: whole pieces, read a window at a time; MIDI inputs only), on the `backend`
    "local" (worker processes) or "ray" (the cluster at `ray_address`). Raises DataError when no file is usable.
    """
    if layout not in ("npz", LAYOUT):
        raise DataError(f"unknown dataset format {layout!r}; use npz or {LAYOUT}")
    if backend != "local" and layout != LAYOUT:
        raise DataError(f"--backend {backend} builds the {LAYOUT} format only; add --format {LAYOUT}")
    sources = [str(s) for s in sources]
    if not sources:
        raise DataError("no inputs given; pass MIDI files, folders, zip archives, builtin:bach or a .mat/.pickle file")
    bench = [s for s in sources if s.lower().endswith(BENCHMARK_SUFFIXES)]
    if bench:
        if len(sources) > 1:
            raise DataError(
                f"{bench[0]} is a benchmark file with its own split; preprocess it alone, without {sources[1:] or sources[:1]}"
            )
        # Where the file may lie is the caller's rule (the app confines it); its kind is checked here for all.
        path = check_user_file(bench[0], BENCHMARK_SUFFIXES, "benchmark file", confine=False)
        if layout == LAYOUT:
            raise DataError(f"{bench[0]} is a benchmark file: it builds as dataset.npz only; drop --format {LAYOUT}")
        return build_from_benchmark(path, Path(out), cfg)
    if layout == LAYOUT:
        from musicgen.data.shard_build import build_sharded

        cfg = cfg or DataConfig()
        return build_sharded(sources, Path(out), cfg, workers, progress, parser, backend=backend, ray_address=ray_address)
    return build_from_midi(sources, Path(out), cfg or DataConfig(), workers=workers, progress=progress, parser=parser)


def _folders(ref: str) -> tuple[Path, ...]:
    """Where dataset `ref` may live: a bare name under data_dir() first (never `data_dir() / '../x'`), then a folder."""
    return (data_dir() / ref, Path(ref).expanduser()) if is_dataset_name(ref, new=False) else (Path(ref).expanduser(),)


def has_dataset(folder: Path) -> bool:
    """Return True when `folder` holds a dataset: a dataset.npz, or a sharded one's index.npz."""
    return (folder / "dataset.npz").is_file() or (folder / INDEX).is_file()


def dataset_exists(ref: str) -> bool:
    """Return True when `load_dataset(ref)` finds a dataset (a `builtin:` name counts: it is built on first use)."""
    return ref.startswith("builtin:") or any(has_dataset(p) for p in _folders(ref))


def _resolve(ref: str) -> Path:
    if ref.startswith("builtin:"):
        if ref not in BUILTINS:
            raise DataError(f"unknown built-in dataset {ref!r}; use one of {list(BUILTINS)}")
        out = data_dir() / ref.split(":", 1)[1]
        if not (out / "dataset.npz").is_file():
            build_dataset([ref], out, DataConfig())
        return out
    for p in _folders(ref):
        if has_dataset(p):
            return p
    names = [d["name"] for d in list_datasets()]
    raise DataError(f"no dataset {ref!r}: give a dataset folder, one of {names} under {data_dir()}, or builtin:bach")


def load_dataset(ref: str) -> Dataset:
    """Load a dataset by folder, by name under data_dir(), or `builtin:bach` (built on first use)."""
    path = _resolve(str(ref))
    try:
        report = json.loads((path / "report.json").read_text())
        if report.get("layout") == LAYOUT:
            return load_sharded(path, report, from_dict(DataConfig, report["config"]))
        with np.load(path / "dataset.npz") as z:
            arrays = {k: z[k] for k in z.files}
        cfg = from_dict(DataConfig, report["config"])
        fields = {name: arrays[name] for name in SPLITS} | {f"{s}_lengths": arrays[f"{s}_lengths"] for s in SPLITS}
        # Datasets of version 1 have no bar lengths (and hold-only rolls); Dataset.positions gives zeros then.
        fields["starts"] = {s: arrays[f"{s}_starts"] for s in SPLITS if f"{s}_starts" in arrays}
        fields["bar_steps"] = {s: arrays[f"{s}_bar_steps"] for s in SPLITS if f"{s}_bar_steps" in arrays}
    except (OSError, ValueError, KeyError) as e:
        raise DataError(
            f"{path} is not a readable dataset ({str(e)[:120]}); rebuild it with `python -m musicgen preprocess`"
        ) from None
    return Dataset(name=path.name, path=path, id=report["id"], config=cfg, report=report, **fields)


def list_datasets() -> list[dict]:
    """Return one summary dict per dataset folder under data_dir(): name, path, id, created, stats and config."""
    out = []
    root = data_dir()
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            report = json.loads((d / "report.json").read_text())
        except (OSError, ValueError):
            continue
        if has_dataset(d):
            out.append(
                {
                    "name": d.name,
                    "path": str(d),
                    "id": report.get("id"),
                    "created": report.get("created"),
                    "sources": report.get("sources"),
                    "config": report.get("config"),
                    "stats": report.get("stats", {}),
                }
            )
    return out


def dataset_excerpt(ds: Dataset, file: str, offset: int, steps: int) -> np.ndarray:
    """Return `steps` steps `(steps, n_notes)` uint8 of source `file` from step `offset`, rebuilt from its windows."""
    if ds.report.get("layout") == LAYOUT:
        full = piece_steps(ds, file)
        return _excerpt(full, file, offset, steps)
    with np.load(ds.path / "dataset.npz") as z:
        for s in SPLITS:
            files = z[f"{s}_files"]
            idx = np.flatnonzero(files == file)
            if len(idx):
                starts, lengths, x = z[f"{s}_starts"][idx], z[f"{s}_lengths"][idx], z[s][idx]
                break
        else:
            raise DataError(f"{file!r} is not a file of dataset {ds.name}; pick one from its report.json 'files'")
    end = int((starts + lengths).max())
    full = np.zeros((end, x.shape[2]), dtype=np.uint8)
    for s0, n, w in zip(starts, lengths, x, strict=True):
        full[s0 : s0 + n] = w[:n]  # silent windows were dropped: their steps stay zero, which they were
    return _excerpt(full, file, offset, steps)


def _excerpt(full: np.ndarray, file: str, offset: int, steps: int) -> np.ndarray:
    end = len(full)
    if offset < 0 or steps < 1 or offset + steps > end:
        raise DataError(
            f"excerpt {offset}..{offset + steps} lies outside {file!r}, which has {end} steps; choose offset + steps <= {end}"
        )
    return full[offset : offset + steps]
