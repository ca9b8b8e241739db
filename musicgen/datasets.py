"""Build, cache, split and load piano-roll datasets (format: data/README.md).

A dataset folder holds `dataset.npz` (train/valid/test `(n, seq_len, notes)` uint8, with
`*_lengths`, `*_files`, `*_starts`) and `report.json`. It is keyed by a content hash of its inputs
and parameters: building again with the same inputs only reads the report.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicgen.config import DataConfig, from_dict, to_dict
from musicgen.errors import DataError
from musicgen.paths import atomic_write, data_dir

SPLITS = ("train", "valid", "test")
FORMAT, VERSION = "musicgen-dataset", 1


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset: rolls `(n, seq_len, n_notes)` uint8 per split and real lengths int64 `(n,)`."""

    name: str
    path: Path
    id: str
    config: DataConfig
    report: dict
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    train_lengths: np.ndarray
    valid_lengths: np.ndarray
    test_lengths: np.ndarray

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (rolls, lengths) of split `name`."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; use one of {list(SPLITS)}")
        return getattr(self, name), getattr(self, f"{name}_lengths")


def window_starts(steps: int, cfg: DataConfig) -> list[int]:
    """Return the first step of each window of a roll of `steps` steps; the last window reaches the end (padded)."""
    if cfg.windows == "first":
        return [0]
    starts = [0]
    while starts[-1] + cfg.seq_len < steps:
        starts.append(starts[-1] + cfg.hop)
    return starts


def assign_splits(n: int, shares: tuple[float, float, float], seed: int) -> np.ndarray:
    """Return a split index (0 train, 1 valid, 2 test) per file, shuffled with `seed`; each non-zero share gets a file when n >= 3."""
    counts = [round(n * s) for s in shares[1:]]
    if n >= 3:
        counts = [max(c, 1) if s > 0 else c for c, s in zip(counts, shares[1:])]
    n_valid, n_test = counts
    n_train = max(n - n_valid - n_test, 0)
    labels = np.array([0] * n_train + [1] * n_valid + [2] * n_test, dtype=np.int64)[:n]
    return labels[np.random.default_rng(seed).permutation(n)]


def cut_windows(rolls: list[np.ndarray], names: list[str], cfg: DataConfig, seq_len: int | None = None) -> dict:
    """Return {x, lengths, files, starts} of the non-silent windows of `rolls`, padded to `seq_len` (default cfg.seq_len)."""
    seq_len = seq_len or cfg.seq_len
    picks = []
    for k, roll in enumerate(rolls):
        active = np.flatnonzero(roll.any(axis=1))  # sounding steps: a window without any is dropped
        for s in window_starts(len(roll), cfg):
            n = min(seq_len, len(roll) - s)
            if n > 0 and np.any((active >= s) & (active < s + n)):
                picks.append((k, s, n))
    n_notes = rolls[0].shape[1] if rolls else cfg.n_notes
    x = np.zeros((len(picks), seq_len, n_notes), dtype=np.uint8)
    for j, (k, s, n) in enumerate(picks):
        x[j, :n] = rolls[k][s : s + n]
    return {
        "x": x,
        "lengths": np.array([p[2] for p in picks], dtype=np.int64),
        "files": np.array([names[p[0]] for p in picks], dtype=str),
        "starts": np.array([p[1] for p in picks], dtype=np.int64),
    }


def roll_statistics(rolls: list[np.ndarray]) -> dict:
    """Return density, polyphony, empty-step share and pitch histogram over the real steps of `rolls`."""
    steps = sum(len(r) for r in rolls)
    if steps == 0:
        return {"steps": 0, "density": 0.0, "mean_polyphony": 0.0, "empty_step_share": 0.0, "pitch_histogram": []}
    hist = np.sum([r.sum(axis=0, dtype=np.int64) for r in rolls], axis=0)
    per_step = np.concatenate([r.sum(axis=1, dtype=np.int64) for r in rolls])
    sounding = per_step > 0
    return {
        "steps": int(steps),
        "density": float(hist.sum() / (steps * rolls[0].shape[1])),
        "mean_polyphony": float(per_step[sounding].mean()) if sounding.any() else 0.0,  # over sounding steps
        "empty_step_share": float(1 - sounding.mean()),
        "pitch_histogram": hist.tolist(),
    }


def write_dataset(out: Path, splits: dict, report: dict) -> None:
    """Write `dataset.npz` (splits: {name: cut_windows result}) and `report.json` atomically into `out`."""
    arrays = {}
    for name in SPLITS:
        w = splits[name]
        arrays.update({name: w["x"], f"{name}_lengths": w["lengths"], f"{name}_files": w["files"], f"{name}_starts": w["starts"]})
    out = Path(out)
    with atomic_write(out / "dataset.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # uncompressed: loads in milliseconds; rolls are small
    with atomic_write(out / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))


def cached_report(out: Path, key: str) -> dict | None:
    """Return the report of the dataset in `out` when it was built from inputs with hash `key`, else None."""
    try:
        report = json.loads((Path(out) / "report.json").read_text())
    except (OSError, ValueError):
        return None
    if report.get("id") == key and (Path(out) / "dataset.npz").is_file():
        return report
    return None


def build_dataset(sources: list[str], out: Path, cfg: DataConfig | None = None, workers=None, progress=None,
                  parser: str = "symusic") -> dict:
    """Build a dataset folder from MIDI files, folders, zips, `builtin:bach`, or one .mat/.pickle benchmark file; return the report.

    `progress(done, total)` is called as files finish. Raises DataError when no file is usable.
    """
    from musicgen.builder import build_from_midi
    from musicgen.importers import BENCHMARK_SUFFIXES, build_from_benchmark

    sources = [str(s) for s in sources]
    if not sources:
        raise DataError("no inputs given; pass MIDI files, folders, zip archives, builtin:bach or a .mat/.pickle file")
    bench = [s for s in sources if s.lower().endswith(BENCHMARK_SUFFIXES)]
    if bench:
        if len(sources) > 1:
            raise DataError(f"{bench[0]} is a benchmark file with its own split; preprocess it alone, without {sources[1:] or sources[:1]}")
        return build_from_benchmark(Path(bench[0]), Path(out), cfg)
    return build_from_midi(sources, Path(out), cfg or DataConfig(), workers=workers, progress=progress, parser=parser)


def _folders(ref: str) -> tuple[Path, Path]:
    """Where a dataset named `ref` may live: the folder itself, or a name under data_dir()."""
    return Path(ref).expanduser(), data_dir() / ref


def dataset_exists(ref: str) -> bool:
    """Return True when `load_dataset(ref)` finds a dataset (a `builtin:` name counts: it is built on first use)."""
    return ref.startswith("builtin:") or any((p / "dataset.npz").is_file() for p in _folders(ref))


def _resolve(ref: str) -> Path:
    if ref.startswith("builtin:"):
        from musicgen.corpora import BUILTINS

        if ref not in BUILTINS:
            raise DataError(f"unknown built-in dataset {ref!r}; use one of {list(BUILTINS)}")
        out = data_dir() / ref.split(":", 1)[1]
        if not (out / "dataset.npz").is_file():
            build_dataset([ref], out, DataConfig())
        return out
    for p in _folders(ref):
        if (p / "dataset.npz").is_file():
            return p
    names = [d["name"] for d in list_datasets()]
    raise DataError(f"no dataset {ref!r}: give a dataset folder, one of {names} under {data_dir()}, or builtin:bach")


def load_dataset(ref: str) -> Dataset:
    """Load a dataset by folder, by name under data_dir(), or `builtin:bach` (built on first use)."""
    path = _resolve(str(ref))
    try:
        report = json.loads((path / "report.json").read_text())
        with np.load(path / "dataset.npz") as z:
            arrays = {k: z[k] for k in z.files}
        cfg = from_dict(DataConfig, report["config"])
        fields = {name: arrays[name] for name in SPLITS} | {f"{s}_lengths": arrays[f"{s}_lengths"] for s in SPLITS}
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path} is not a readable dataset ({str(e)[:120]}); rebuild it with `python -m musicgen preprocess`") from None
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
        if (d / "dataset.npz").is_file():
            out.append({"name": d.name, "path": str(d), "id": report.get("id"), "created": report.get("created"),
                        "sources": report.get("sources"), "config": report.get("config"), "stats": report.get("stats", {})})
    return out


def dataset_excerpt(ds: Dataset, file: str, offset: int, steps: int) -> np.ndarray:
    """Return `steps` steps `(steps, n_notes)` uint8 of source `file` from step `offset`, rebuilt from its windows."""
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
    if offset < 0 or steps < 1 or offset + steps > end:
        raise DataError(f"excerpt {offset}..{offset + steps} lies outside {file!r}, which has {end} steps; choose offset + steps <= {end}")
    full = np.zeros((end, x.shape[2]), dtype=np.uint8)
    for s0, n, w in zip(starts, lengths, x):
        full[s0 : s0 + n] = w[:n]  # silent windows were dropped: their steps stay zero, which they were
    return full[offset : offset + steps]


def now_iso() -> str:
    """Return the local time as an ISO string (seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def base_report(key: str, out: Path, sources: list[str], cfg: DataConfig, **extra) -> dict:
    """Return the common head of a report.json."""
    return {"format": FORMAT, "version": VERSION, "id": key, "name": Path(out).name, "created": now_iso(),
            "sources": sources, "config": to_dict(cfg), **extra}
