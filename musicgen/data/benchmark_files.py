"""Import the polyphonic benchmarks of Boulanger-Lewandowski et al. (2012): `.mat` (TCN repo) and `.pickle`.

Each holds per split a list of sequences; a `.mat` sequence is a `(steps, 88)` 0/1 array whose
column j is MIDI pitch 21 + j, a `.pickle` sequence is a list (per step) of active MIDI pitches.
One step per quarter note. The official split is kept; sequences stay whole (padded to the
longest, with their lengths) unless a config asks for windows.
"""

from __future__ import annotations

import hashlib
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from musicgen.config import MAX_SEQ_LEN, DataConfig
from musicgen.data.rolls import (
    HOLD,
    MAX_DATASET_CELLS,
    SPLITS,
    base_report,
    cached_report,
    check_dataset_cells,
    cut_windows,
    roll_statistics,
    window_picks,
    write_dataset,
)
from musicgen.errors import DataError
from musicgen.ranges import is_real

BENCHMARK_SUFFIXES = (".mat", ".pickle", ".pkl")
# What a .mat's variables may unpack to: JSB_Chorales.mat unpacks to 2 MB, this is 128 times that. Past it the
# file is refused before scipy's loadmat, which inflates every variable whole, touches it.
MAX_MAT_MB = 256
_MI_COMPRESSED = 15  # MAT 5 data type of a zlib-compressed element
KEY_LOW = 21  # MIDI pitch of the first of the 88 columns
_KEYS = {"train": ("traindata", "train"), "valid": ("validdata", "valid"), "test": ("testdata", "test")}


class _PlainUnpickler(pickle.Unpickler):
    """Unpickle lists, dicts, numbers only: a benchmark file must not run code."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: the benchmark pickles hold plain lists")


def _sequences_mat(path: Path) -> dict[str, list[np.ndarray]]:
    from scipy.io import loadmat  # lazy: scipy loads in ~0.5 s; only .mat files need it

    check_mat_size(path)
    m = loadmat(path)
    out = {}
    for s in SPLITS:
        out[s] = []
        for k, x in enumerate(m[_KEYS[s][0]][0]):
            x = np.asarray(x)
            if x.ndim == 2 and x.size and not np.isin(x, (0, 1)).all():  # NaN, -inf, 5: not a piano-roll cell
                bad = x.flat[np.flatnonzero(~np.isin(x, (0, 1)))[0]]
                raise DataError(
                    f"{path.name}: split {s}, sequence {k} holds the cell value {bad.item()}; a piano-roll holds 0 or 1 only"
                )
            out[s].append(x.astype(np.uint8))
    return out


def check_mat_size(path: Path, limit_mb: int | None = None) -> int:
    """Return the bytes a MAT-file's variables unpack to; DataError past `limit_mb` (default MAX_MAT_MB), found before loading.

    Reads the element headers of a MAT 5 file and inflates each compressed element in chunks, counting
    and dropping the bytes, so memory stays a few MB whatever the file claims (scipy's loadmat
    inflates every variable whole first: a 1 MB file of zeros took 1.3 GB before it was refused).
    """
    limit = (limit_mb or MAX_MAT_MB) * 2**20
    total = 0
    with open(path, "rb") as f:
        head = f.read(128)
        mat5 = len(head) == 128 and head[126:128] in (b"IM", b"MI")
        if not mat5:  # MAT 4 has no compression: its variables are as big as the file
            total = path.stat().st_size
        order = "<" if head[126:128] == b"IM" else ">"
        while mat5 and total <= limit and len(tag := f.read(8)) == 8:
            kind, nbytes = struct.unpack(order + "II", tag)
            if kind != _MI_COMPRESSED:
                total += nbytes
                f.seek(nbytes + (-nbytes % 8), 1)  # elements are padded to 8 bytes
                continue
            inflate, left = zlib.decompressobj(), nbytes
            while left > 0 and total <= limit:
                chunk = f.read(min(left, 2**16))
                if not chunk:
                    break
                left -= len(chunk)
                total += len(inflate.decompress(chunk, 2**20))
                while inflate.unconsumed_tail and total <= limit:
                    total += len(inflate.decompress(inflate.unconsumed_tail, 2**20))
            f.seek(left, 1)
    if total > limit:
        raise DataError(
            f"{path.name} unpacks to more than {limit / 2**20:,.0f} MB (MAX_MAT_MB), far past any benchmark of this "
            "format; give the benchmark's own .mat file"
        )
    return total


def _is_pitch(p) -> bool:
    """Return True for a MIDI pitch 0..127, an int or a whole float (a pitch of 10**30 overflowed numpy's int64)."""
    return is_real(p) and 0 <= p <= 127 and float(p).is_integer()


def _sequences_pickle(path: Path) -> dict[str, list[np.ndarray]]:
    with open(path, "rb") as f:
        d = _PlainUnpickler(f, encoding="latin1").load()
    # A pickle refers to one list many times for a byte or two each: count the steps before the rolls are allocated.
    steps = sum(len(seq) for s in SPLITS for seq in d[_KEYS[s][1]])
    if steps * 88 > MAX_DATASET_CELLS:
        raise DataError(
            f"{path.name} holds {steps:,} steps, {steps * 88:,} cells as piano-rolls, over the limit of "
            f"{MAX_DATASET_CELLS:,} (MAX_DATASET_CELLS); give a benchmark file of real size"
        )
    out = {}
    for s in SPLITS:
        seqs = []
        for k, seq in enumerate(d[_KEYS[s][1]]):
            x = np.zeros((len(seq), 88), dtype=np.uint8)
            for t, pitches in enumerate(seq):
                midi = list(pitches)
                if not all(map(_is_pitch, midi)):
                    bad = next(p for p in midi if not _is_pitch(p))
                    raise DataError(
                        f"{path.name}: split {s}, sequence {k}, step {t} holds {str(bad)[:40]}, not a MIDI pitch 0..127"
                    )
                cols = np.asarray(midi, dtype=np.int64) - KEY_LOW
                x[t, cols[(cols >= 0) & (cols < 88)]] = 1
            seqs.append(x)
        out[s] = seqs
    return out


def read_benchmark(path: Path) -> dict[str, list[np.ndarray]]:
    """Return {split: [(steps, 88) uint8 rolls]} of a Boulanger-Lewandowski `.mat` or `.pickle` file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist; give the .mat or .pickle file of a polyphonic benchmark")
    from scipy.io.matlab import MatReadError  # lazy: scipy loads in ~0.5 s; only .mat files need it

    try:
        seqs = _sequences_mat(path) if path.suffix.lower() == ".mat" else _sequences_pickle(path)
    except (
        OSError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        pickle.UnpicklingError,
        EOFError,
        MatReadError,
        NotImplementedError,
        zlib.error,
    ) as e:
        raise DataError(f"{path} is not a benchmark file with train/valid/test sequences ({str(e)[:120]})") from None
    for s, xs in seqs.items():
        if any(x.ndim != 2 or x.shape[1] != 88 for x in xs):
            raise DataError(f"{path}: split {s} has sequences that are not (steps, 88) piano-rolls")
    return seqs


def build_from_benchmark(path: Path, out: Path, cfg: DataConfig | None = None) -> dict:
    """Build a dataset from a benchmark file: whole padded sequences (cfg None), or windows as `cfg` asks; return the report."""
    whole = cfg is None
    cfg = cfg or DataConfig(steps_per_beat=1, windows="first")
    if cfg.fs is not None or cfg.steps_per_beat != 1:
        raise DataError(
            f"{path.name} has one step per quarter note; drop --fs/--steps-per-beat (got fs={cfg.fs}, "
            f"steps_per_beat={cfg.steps_per_beat})"
        )
    with open(path, "rb") as f:
        key = hashlib.file_digest(f, "sha256").hexdigest()
    seqs = read_benchmark(path)
    longest = max((len(x) for xs in seqs.values() for x in xs), default=0)
    if longest < 2:
        count = sum(len(xs) for xs in seqs.values())
        raise DataError(
            f"{path.name} holds no sequence of 2 steps or more ({count} sequences in train/valid/test, the longest "
            f"{longest} steps); give a benchmark file with music in it"
        )
    if whole and longest > MAX_SEQ_LEN:
        raise DataError(
            f"{path.name} has a sequence of {longest:,} steps, longer than one window may be ({MAX_SEQ_LEN:,} steps, "
            f"MAX_SEQ_LEN); cut the sequences into windows with --seq-len 128"
        )
    if whole:  # the config records what was done: one window per sequence, as long as the longest
        cfg = DataConfig(seq_len=longest, hop=longest, windows="first", steps_per_beat=1, low=cfg.low, high=cfg.high)
    key = hashlib.sha256(f"{key}{cfg}benchmark1".encode()).hexdigest()[:16]
    hit = cached_report(out, key)
    if hit is not None:
        return hit | {"cached": True}
    lo, hi = cfg.low - KEY_LOW, cfg.high - KEY_LOW  # columns of the 88 that the range keeps
    rolls, rows, dropped = {}, [], 0
    for s, xs in seqs.items():
        rolls[s] = []
        for k, x in enumerate(xs):
            # Place the 88 keys on the cfg range: column j of the 88 is pitch 21 + j, column i of ours is cfg.low + i.
            r = np.zeros((len(x), cfg.n_notes), dtype=np.uint8)
            a, b = max(lo, 0), min(hi, 88)
            if a < b:
                r[:, a - lo : b - lo] = x[:, a:b]
            lost = int(x.sum()) - int(r.sum())
            dropped += lost
            rolls[s].append(r)
            rows.append(
                {
                    "file": f"{path.name}:{s}/{k:03d}",
                    "status": "ok",
                    "reason": "",
                    "notes": int(r.sum()),
                    "steps": len(x),
                    "dropped_notes": lost,
                    "split": s,
                }
            )
    names = {s: [f"{path.name}:{s}/{k:03d}" for k in range(len(xs))] for s, xs in rolls.items()}
    picks = {s: window_picks(rolls[s], cfg) for s in SPLITS}
    check_dataset_cells(sum(len(p) for p in picks.values()), cfg.seq_len, cfg.n_notes)  # all splits, before any is cut
    windows = {s: cut_windows(rolls[s], names[s], cfg, picks=picks[s]) for s in SPLITS}
    all_rolls = [r for s in SPLITS for r in rolls[s]]
    used = sorted({KEY_LOW + int(j) for xs in seqs.values() for x in xs for j in np.flatnonzero(x.any(axis=0))})
    stats = {
        "files_ok": 1,
        "files_skipped": 0,
        "sequences": {s: len(rolls[s]) for s in SPLITS},
        "notes": int(sum(r.sum() for r in all_rolls)),  # active cells: this format has no note boundaries
        "dropped_notes": dropped,
        "windows": {s: len(windows[s]["x"]) for s in SPLITS},
        "steps_per_split": {s: int(sum(len(r) for r in rolls[s])) for s in SPLITS},
        **roll_statistics(all_rolls),
    }
    key_map = {
        "source_keys": f"MIDI {KEY_LOW}..{KEY_LOW + 87} (88 columns)",
        "kept": f"MIDI {cfg.low}..{cfg.high - 1}",
        "source_columns_kept": [max(lo, 0), min(hi, 88) - 1],
        "used_pitches": [used[0], used[-1]] if used else [],
        "dropped_cells": dropped,
    }
    # No note boundaries in this format: hold-only rolls, as the published figures were measured on them.
    report = base_report(
        key,
        out,
        [str(path)],
        cfg,
        parser="benchmark",
        whole_sequences=whole,
        key_map=key_map,
        stats=stats,
        files=rows,
        form=HOLD,
        scoring="whole pieces" if whole else "windows",
    )
    write_dataset(out, windows, report)
    return report | {"cached": False}
