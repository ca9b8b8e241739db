"""The sharded dataset format: each piece once, whole, 2 bits a cell, in shards read a window at a time (data/README.md).

A sharded dataset folder holds `report.json` (as a dataset.npz one: config, stats, skipped files), `index.npz`
(one row per piece: file, split, shard, offset, length, bar_steps, counts; and the rows of each split: piece,
first step, real steps) and `shards-<id>/NNNNN-KK.npy`, each `(steps, ceil(notes / 4))` uint8, four cells a
byte (0 off, 1 held, 2 struck). Nothing is read until a row is asked for: a window's steps are read at their
offset in the shard (through the page cache, which every process reading the shards shares; never mapped, so
they do not stay in the reader's memory) and unpacked when it is cut.
`RowView` makes a split look like the dense `(n, seq_len, notes)` array of a dataset.npz, so the
trainer, evaluation and the Dataset page read either; `WindowSampler` cuts training batches from the shards,
so that memory depends on the batch and not on the corpus.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from musicgen.data.npz_columns import npy_header, read_columns
from musicgen.data.rolls import SPLITS, Dataset
from musicgen.errors import DataError

INDEX = "index.npz"
LAYOUT = "shards"  # report.json "layout"; absent (or "npz") for dataset.npz folders
MAX_LISTED = 10_000  # pieces listed in a loaded dataset's report "files" (all of them are in the index)
_SHIFTS = np.array([0, 2, 4, 6], dtype=np.uint8)


def row_bytes(n_notes: int) -> int:
    """Return the bytes one step of `n_notes` cells takes packed (2 bits a cell)."""
    return -(-n_notes // 4)


def pack(roll: np.ndarray) -> np.ndarray:
    """Return roll (steps, notes) of cells 0..3 packed four a byte: (steps, row_bytes(notes)) uint8, cell j at bits 2*(j%4)."""
    steps, n = roll.shape
    padded = np.zeros((steps, row_bytes(n) * 4), dtype=np.uint8)
    padded[:, :n] = roll
    q = padded.reshape(steps, -1, 4)
    return q[..., 0] | (q[..., 1] << 2) | (q[..., 2] << 4) | (q[..., 3] << 6)


def unpack(packed: np.ndarray, n_notes: int) -> np.ndarray:
    """Return the (..., n_notes) uint8 cells of packed rows (..., row_bytes) (the inverse of `pack`)."""
    cells = (np.asarray(packed)[..., None] >> _SHIFTS) & 3
    return cells.reshape(*packed.shape[:-1], -1)[..., :n_notes]


class Shards:
    """The shards of one dataset folder; `steps(piece, start, n)` reads and unpacks one slice of a piece.

    A slice is read at its offset (np.fromfile: a positioned read through the page cache, which every process
    reading the shards shares), not through a memory mapping: pages of a mapping stay in the reader's resident
    set once touched, so a trainer drawing windows from the whole corpus grew with the corpus (BENCHMARKS.md,
    Scale). Only each shard's header is read when it is first used.
    """

    def __init__(self, folder: Path, index: dict, n_notes: int):
        self.folder, self.index, self.n_notes = Path(folder), index, n_notes
        self._at: dict[int, tuple[Path, int, int, int]] = {}  # shard -> (path, data offset, bytes a step, steps)

    def where(self, k: int) -> tuple[Path, int, int, int]:
        """Return (path, offset of its first step, bytes a step, steps) of shard `k`, from its .npy header."""
        if k not in self._at:
            path = self.folder / str(self.index["shards"][k])
            try:
                with open(path, "rb") as f:
                    shape, fortran, dtype = npy_header(f)
                    offset = f.tell()
            except (OSError, ValueError) as e:
                raise DataError(
                    f"shard {path} cannot be read ({e}); rebuild the dataset (python -m musicgen preprocess)"
                ) from None
            if len(shape) != 2 or fortran or dtype != np.uint8:
                raise DataError(f"shard {path} is not a packed roll; rebuild the dataset (python -m musicgen preprocess)")
            self._at[k] = (path, offset, shape[1], shape[0])
        return self._at[k]

    def steps(self, piece: int, start: int, n: int) -> np.ndarray:
        """Return steps start..start+n of `piece` as (n, n_notes) uint8 cells."""
        path, offset, width, total = self.where(int(self.index["shard"][piece]))
        at = int(self.index["offset"][piece]) + start
        n = max(0, min(n, total - at))
        packed = np.fromfile(path, dtype=np.uint8, count=n * width, offset=offset + at * width) if n else np.zeros(0, np.uint8)
        if len(packed) != n * width:
            raise DataError(f"shard {path} is shorter than its index says; rebuild the dataset (python -m musicgen preprocess)")
        return unpack(packed.reshape(n, width), self.n_notes)


class RowView:
    """The rows of one split as a read-only `(n, seq_len, notes)` uint8 array-like: cut from the shards when indexed.

    `len`, `shape` and `dtype` cost nothing; `view[i]`, `view[a:b]`, `view[idx]` unpack only those rows;
    `np.asarray(view)` materialises the whole split (fine for small data: what the trainer does today).
    """

    dtype = np.dtype(np.uint8)
    ndim = 3

    def __init__(self, shards: Shards, piece: np.ndarray, start: np.ndarray, lengths: np.ndarray, seq_len: int):
        self.shards, self.piece, self.start, self.lengths, self.seq_len = shards, piece, start, lengths, seq_len
        self.shape = (len(piece), seq_len, shards.n_notes)

    def __len__(self) -> int:
        return self.shape[0]

    def row(self, i: int) -> np.ndarray:
        out = np.zeros(self.shape[1:], dtype=np.uint8)
        n = int(self.lengths[i])
        out[:n] = self.shards.steps(int(self.piece[i]), int(self.start[i]), n)
        return out

    def __getitem__(self, key):
        if isinstance(key, tuple):  # view[i, :t] and the like: the rows first, then the rest
            return self[key[0]][(slice(None),) * (not np.isscalar(key[0])) + key[1:]]
        if isinstance(key, (int, np.integer)):
            i = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"row {key} of {len(self)}")
            return self.row(i)
        idx = np.arange(len(self))[key]
        out = np.zeros((len(idx), *self.shape[1:]), dtype=np.uint8)
        for j, i in enumerate(idx):
            out[j] = self.row(int(i))
        return out

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)


@dataclasses.dataclass(frozen=True)
class ShardedDataset(Dataset):
    """A Dataset whose splits are RowViews over the shards; `index` holds the piece table."""

    index: dict = dataclasses.field(default_factory=dict)
    shards: Shards | None = None

    def __getattr__(self, name: str):
        # `train_starts` and the like, which musicgen.training.batches.Split.from_dataset asks for
        split, _, key = name.partition("_")
        if split in SPLITS and key in ("starts", "bar_steps"):
            return getattr(self, key)[split]
        raise AttributeError(name)

    def sampler(self, split: str = "train", seed: int = 0) -> WindowSampler:
        """Return a WindowSampler over the pieces of `split`."""
        return WindowSampler(self, split, seed)


def read_index(folder: Path) -> dict:
    """Return the arrays of a sharded dataset's index.npz."""
    with np.load(Path(folder) / INDEX) as z:
        return {k: z[k] for k in z.files}


def load_sharded(path: Path, report: dict, cfg) -> ShardedDataset:
    """Open the sharded dataset in `path` (its report and DataConfig read already); nothing of the shards is read."""
    index = read_index(path)
    shards = Shards(path, index, cfg.n_notes)
    # The pieces' rows live in the index, not in report.json: listed here for the Dataset page (the first MAX_LISTED).
    listed = list(itertools.islice(piece_rows(path, report), MAX_LISTED))
    report = report | {"files": sorted(listed + report.get("files", []), key=lambda r: r["file"])}
    views, lengths, starts, bars = {}, {}, {}, {}
    for s in SPLITS:
        piece, start, n = index[f"{s}_piece"], index[f"{s}_start"], index[f"{s}_length"]
        views[s] = RowView(shards, piece, start, n, int(report["row_steps"][s]))
        lengths[f"{s}_lengths"] = n
        starts[s], bars[s] = start, index["bar_steps"][piece]
    return ShardedDataset(
        name=path.name,
        path=path,
        id=report["id"],
        config=cfg,
        report=report,
        **views,
        **lengths,
        starts=starts,
        bar_steps=bars,
        index=index,
        shards=shards,
    )


def piece_rows(path: Path, report: dict) -> Iterator[dict]:
    """Yield each piece's row of the sharded dataset in `path` (as a dataset.npz report's "files" rows), in index order,
    reading index.npz a chunk at a time: a large corpus's rows are never all held."""
    names = report.get("index_counts", [])
    for chunk in read_columns(Path(path) / INDEX, ("source", "counts", "split")):
        for f, c, s in zip(chunk["source"], chunk["counts"], chunk["split"], strict=True):
            yield (
                {"file": str(f), "status": "ok", "reason": ""}
                | dict(zip(names, map(int, c), strict=True))
                | {"split": SPLITS[int(s)]}
            )


def piece_steps(ds: ShardedDataset, file: str) -> np.ndarray:
    """Return the whole roll (steps, notes) uint8 of source `file` of a sharded dataset."""
    hits = np.flatnonzero(ds.index["source"] == file)
    if not len(hits):
        raise DataError(f"{file!r} is not a file of dataset {ds.name}; pick one from its index (python -m musicgen datasets)")
    k = int(hits[0])
    return ds.shards.steps(k, 0, int(ds.index["length"][k]))


class WindowSampler:
    """Training batches cut from the shards' pieces when drawn: memory grows with the batch, not with the corpus.

    `rows(idx)` cuts the split's stored rows (the hop-aligned windows of a dataset.npz); `random(batch, rng)` cuts
    `seq_len`-step windows at random starts, pieces drawn in proportion to their windows.
    """

    def __init__(self, ds: ShardedDataset, split: str = "train", seed: int = 0):
        self.ds, self.view = ds, ds.split(split)[0]
        self.seq_len = self.view.seq_len
        self.rng = np.random.default_rng(seed)
        pieces = np.unique(self.view.piece)
        self.pieces, self.piece_len = pieces, ds.index["length"][pieces]
        weight = np.maximum(self.piece_len - self.seq_len, 0) + 1
        self.p = weight / weight.sum() if len(pieces) else weight

    def __len__(self) -> int:
        return len(self.view)

    def rows(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """Return (rolls (B, seq_len, notes) uint8, lengths (B,) int64) of stored rows `idx`."""
        idx = np.asarray(idx, dtype=np.int64)
        return self.view[idx], self.view.lengths[idx]

    def random(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (rolls, lengths) of `batch` windows at random starts of random pieces of the split."""
        k = self.rng.choice(len(self.pieces), size=batch, p=self.p)
        out = np.zeros((batch, self.seq_len, self.ds.config.n_notes), dtype=np.uint8)
        lengths = np.zeros(batch, dtype=np.int64)
        for j, i in enumerate(k):
            steps = int(self.piece_len[i])
            s = int(self.rng.integers(0, max(steps - self.seq_len, 0) + 1))
            n = min(self.seq_len, steps - s)
            out[j, :n] = self.ds.shards.steps(int(self.pieces[i]), s, n)
            lengths[j] = n
        return out, lengths


def write_index(out: Path, index: dict) -> None:
    """Write index.npz atomically into `out`."""
    from musicgen.paths import atomic_write

    with atomic_write(Path(out) / INDEX) as tmp, open(tmp, "wb") as f:
        np.savez(f, **index)
