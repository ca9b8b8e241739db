"""The dataset format: windows cut from rolls, their statistics, and the npz + report.json files.

A dataset has a form (report.json "form"): "onsets" (built from MIDI: cells OFF/HELD/ONSET, musicgen.data.midi)
or "hold" (benchmark files, and datasets built before onsets: 0/1, 1 sounding). Its valid and test splits are
scored on whole pieces ("scoring": "whole pieces": one row per file, each step once with its whole past) or
on windows ("windows": overlapping ones from `--windows first` builds made before, or one per file).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicgen.config import DataConfig, to_dict
from musicgen.errors import DataError
from musicgen.paths import atomic_write

SPLITS = ("train", "valid", "test")


FORMAT, VERSION = "musicgen-dataset", 2  # 2: form, scoring and *_bar_steps
ONSETS, HOLD = "onsets", "hold"

# Limits checked before the windows are allocated. One file may give at most 4,096 windows: 9 hours of
# music at the defaults (4 steps per beat, hop 64), where a crafted 36-byte file (one note held a million
# steps) gave 16,381 windows of that one note. A dataset holds at most 2 GiB of windows (uint8 cells, all
# splits): the trainer keeps the whole dataset in memory (or on the GPU) and the npz is written uncompressed.
MAX_WINDOWS_PER_FILE = 4096
MAX_DATASET_CELLS = 2**31


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
    # Where each row lies in its piece: its first step (int64 (n,)) and the steps per bar of its piece
    # (int64 (n,), 0 when unknown); {split: array}. Empty for datasets that do not store them.
    starts: dict = dataclasses.field(default_factory=dict)
    bar_steps: dict = dataclasses.field(default_factory=dict)

    @property
    def onsets(self) -> bool:
        """True when the rolls are onset-aware (OFF/HELD/ONSET cells), False for hold-only 0/1 rolls."""
        return self.report.get("form") == ONSETS

    @property
    def scoring(self) -> str:
        """How valid and test rows are cut: "whole pieces" or "windows"."""
        return self.report.get("scoring", "windows")

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (rolls, lengths) of split `name`."""
        if name not in SPLITS:
            raise DataError(f"unknown split {name!r}; use one of {list(SPLITS)}")
        return getattr(self, name), getattr(self, f"{name}_lengths")

    def positions(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (first step, steps per bar) int64 (n,) of the rows of split `name` (zeros where not stored)."""
        n = len(self.split(name)[0])
        zeros = np.zeros(n, dtype=np.int64)
        return self.starts.get(name, zeros), self.bar_steps.get(name, zeros)


def window_starts(steps: int, cfg: DataConfig) -> list[int]:
    """Return the first step of each window of a roll of `steps` steps; the last window reaches the end (padded)."""
    return list(range(0, window_count(steps, cfg) * cfg.hop, cfg.hop)) if cfg.windows == "all" else [0]


def window_count(steps: int, cfg: DataConfig) -> int:
    """Return how many windows (silent ones included) a roll of `steps` steps gives, without listing them."""
    if cfg.windows == "first":
        return 1
    return 1 + max(0, -(-(steps - cfg.seq_len) // cfg.hop))  # ceil((steps - seq_len) / hop) more after the first


def too_many_windows(steps: int, cfg: DataConfig) -> str | None:
    """Return why a roll of `steps` steps gives more windows than MAX_WINDOWS_PER_FILE (a skip reason), or None."""
    n = window_count(steps, cfg)
    if n <= MAX_WINDOWS_PER_FILE:
        return None
    return (
        f"{steps:,} steps make {n:,} windows, over the limit of {MAX_WINDOWS_PER_FILE:,} windows per file "
        f"(MAX_WINDOWS_PER_FILE); raise --hop, use --windows first, or cut the file"
    )


def check_dataset_cells(windows: int, seq_len: int, n_notes: int, cells: int | None = None) -> None:
    """Raise DataError when `windows` windows of (seq_len, n_notes) (or `cells` given) exceed MAX_DATASET_CELLS, before
    they are allocated."""
    cells = windows * seq_len * n_notes if cells is None else cells
    if cells > MAX_DATASET_CELLS:
        raise DataError(
            f"the dataset would hold {windows:,} windows of {seq_len:,} steps x {n_notes} notes = {cells:,} cells "
            f"({cells / 2**30:,.1f} GiB), over the limit of {MAX_DATASET_CELLS:,} (MAX_DATASET_CELLS); raise --hop, "
            f"lower --seq-len or --steps-per-beat, or build from fewer files"
        )


def assign_splits(n: int, shares: tuple[float, float, float], seed: int) -> np.ndarray:
    """Return a split index (0 train, 1 valid, 2 test) per file, shuffled with `seed`.

    Each non-zero share gets at least one file when n >= 3.
    """
    counts = [round(n * s) for s in shares[1:]]
    if n >= 3:
        counts = [max(c, 1) if s > 0 else c for c, s in zip(counts, shares[1:], strict=True)]
    n_valid, n_test = counts
    n_train = max(n - n_valid - n_test, 0)
    labels = np.array([0] * n_train + [1] * n_valid + [2] * n_test, dtype=np.int64)[:n]
    return labels[np.random.default_rng(seed).permutation(n)]


def window_picks(rolls: list[np.ndarray], cfg: DataConfig, seq_len: int | None = None) -> list[tuple[int, int, int]]:
    """Return (roll index, first step, real steps) of each non-silent window of `rolls`, `seq_len` (default cfg.seq_len) long."""
    seq_len = seq_len or cfg.seq_len
    picks = []
    for k, roll in enumerate(rolls):
        active = np.flatnonzero(roll.any(axis=1))  # sounding steps (sorted): a window without any is dropped
        starts = np.asarray(window_starts(len(roll), cfg), dtype=np.int64)
        n = np.minimum(seq_len, len(roll) - starts)
        sounding = np.searchsorted(active, starts + n) > np.searchsorted(active, starts)
        picks += [(k, int(s), int(m)) for s, m in zip(starts[(n > 0) & sounding], n[(n > 0) & sounding], strict=True)]
    return picks


def piece_picks(rolls: list[np.ndarray]) -> list[tuple[int, int, int]]:
    """Return (roll index, 0, steps) of each roll with a sounding step: whole pieces, each step scored once."""
    return [(k, 0, len(r)) for k, r in enumerate(rolls) if len(r) and r.any()]


def cut_windows(
    rolls: list[np.ndarray], names: list[str], cfg: DataConfig, seq_len: int | None = None, picks=None, bar_steps=None
) -> dict:
    """Return {x, lengths, files, starts, bar_steps} of the non-silent windows of `rolls`, padded to `seq_len` (default
    cfg.seq_len); `bar_steps` (one int per roll, steps per bar of its piece) defaults to 0.

    `picks` (from `window_picks` or `piece_picks`) saves listing them again. Raises DataError past MAX_DATASET_CELLS.
    """
    seq_len = seq_len or cfg.seq_len
    picks = window_picks(rolls, cfg, seq_len) if picks is None else picks
    n_notes = rolls[0].shape[1] if rolls else cfg.n_notes
    check_dataset_cells(len(picks), seq_len, n_notes)
    bars = np.zeros(len(rolls), dtype=np.int64) if bar_steps is None else np.asarray(bar_steps, dtype=np.int64)
    x = np.zeros((len(picks), seq_len, n_notes), dtype=np.uint8)
    for j, (k, s, n) in enumerate(picks):
        x[j, :n] = rolls[k][s : s + n]
    return {
        "x": x,
        "lengths": np.array([p[2] for p in picks], dtype=np.int64),
        "files": np.array([names[p[0]] for p in picks], dtype=str),
        "starts": np.array([p[1] for p in picks], dtype=np.int64),
        "bar_steps": bars[[p[0] for p in picks]] if picks else np.zeros(0, dtype=np.int64),
    }


def roll_statistics(rolls: list[np.ndarray]) -> dict:
    """Return density, polyphony, empty-step share and pitch histogram over the real steps of `rolls` (sounding cells)."""
    steps = sum(len(r) for r in rolls)
    if steps == 0:
        return {"steps": 0, "density": 0.0, "mean_polyphony": 0.0, "empty_step_share": 0.0, "pitch_histogram": []}
    hist = np.sum([(r > 0).sum(axis=0, dtype=np.int64) for r in rolls], axis=0)
    per_step = np.concatenate([(r > 0).sum(axis=1, dtype=np.int64) for r in rolls])
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
        arrays[f"{name}_bar_steps"] = w.get("bar_steps", np.zeros(len(w["x"]), dtype=np.int64))
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
    if report.get("id") == key and any((Path(out) / f).is_file() for f in ("dataset.npz", "index.npz")):
        return report
    return None


def now_iso() -> str:
    """Return the local time as an ISO string (seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def base_report(key: str, out: Path, sources: list[str], cfg: DataConfig, **extra) -> dict:
    """Return the common head of a report.json."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "id": key,
        "name": Path(out).name,
        "created": now_iso(),
        "sources": sources,
        "config": to_dict(cfg),
        **extra,
    }
