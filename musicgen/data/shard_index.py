"""The index of a sharded build (musicgen.data.shard_build): the tasks' rows streamed into index.npz, and the report.

Each task left its pieces' rows and windows in `shards-<id>/rows/kkkkk.npz` and returned sums. Here the parent
splits the files (as a dataset.npz build does: the same files land in the same splits, and the rows of each split
are the same windows; the split of each file, one byte a file, is all it holds per file), appends each task's
rows in task order to the columns of index.npz (npz_columns: no column is ever whole in memory), and writes
index.npz, then report.json, last: a build cut short leaves no dataset that reads as whole.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from musicgen.config import DataConfig
from musicgen.data.build import COUNTS
from musicgen.data.npz_columns import ColumnFiles
from musicgen.data.rolls import ONSETS, SPLITS, assign_splits, base_report
from musicgen.data.shards import INDEX, LAYOUT, write_index
from musicgen.errors import DataError
from musicgen.paths import atomic_write

ROW_COUNTS = (*COUNTS, "drum_notes")  # index.npz "counts" columns
ROWS = "rows"  # a build's folder of the tasks' index rows (under shards-<id>/, removed once index.npz is written)


def piece_index(results: list[dict], labels: np.ndarray) -> dict:
    """Return the piece columns of index.npz from write_chunk's results, `labels` the split (0..2) of each piece."""
    base = np.cumsum([0] + [len(r["parts"]) for r in results])[:-1]  # a task's first shard among all
    return {
        "source": np.concatenate([r["source"] for r in results]),
        "split": np.asarray(labels, dtype=np.int8),
        "shard": np.concatenate([r["shard"] + b for r, b in zip(results, base, strict=True)]).astype(np.int32),
        **{c: np.concatenate([r[c] for r in results]) for c in ("offset", "length", "bar_steps", "counts")},
        "shards": np.array([p for r in results for p in r["parts"]], dtype=str),
    }


def write_dataset_files(out: Path, index, report: dict, folder: Path) -> None:
    """Write index.npz (`index`: a dict of its arrays, or the ColumnFiles of a streamed build), then report.json (last:
    it makes the folder a dataset); drop older builds' shards."""
    if isinstance(index, ColumnFiles):
        index.write(out / INDEX)
    else:
        write_index(out, index)
    with atomic_write(out / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    for old in out.glob("shards-*"):
        if old != folder and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)  # an older build's: the index now points at this one


def assemble(results: list[dict], skipped: list[dict], given, out: Path, cfg: DataConfig, parser, key, folder) -> dict:
    """Split the pieces, stream the tasks' rows into index.npz, write report.json (last); return the report."""
    n_ok = sum(r["pieces"] for r in results)
    left = [row for r in results for row in r["skipped"]] + list(skipped)
    if not n_ok:
        reasons = [f"{r['file']}: {r['reason']}" for r in left[:3]]
        shutil.rmtree(folder, ignore_errors=True)
        raise DataError(
            f"no usable MIDI file among {len(left)} inputs ({'; '.join(reasons) or 'none found'}); "
            f"give .mid/.midi files, folders or zips with pitched notes"
        )
    labels = assign_splits(n_ok, cfg.split, cfg.seed).astype(np.int8)  # one byte a file: all the parent holds per file
    index = ColumnFiles(folder / "columns")
    sums = _stream_index(results, labels, cfg, folder, index)
    report = base_report(
        key,
        out,
        given,
        cfg,
        parser=parser,
        form=ONSETS,
        scoring="whole pieces" if cfg.windows == "all" else "windows",
        layout=LAYOUT,
        row_steps=sums.pop("row_steps"),
        index_counts=list(ROW_COUNTS),
        stats=_stats(results, sums, left),
        files=sorted(left, key=lambda r: r["file"]),  # the pieces' rows are in index.npz
    )
    write_dataset_files(out, index, report, folder)
    shutil.rmtree(folder / ROWS, ignore_errors=True)
    return report


def _stream_index(results: list[dict], labels: np.ndarray, cfg: DataConfig, folder: Path, index: ColumnFiles) -> dict:
    """Append each task's rows, in task order, to the columns of index.npz; return the per-split sums for the report.

    The rows of each split are those a dataset.npz build cuts: train windows (every split with --windows first),
    whole valid and test pieces with a sounding step.
    """
    whole = cfg.windows == "all"
    sums = {"files": np.zeros(3, np.int64), "windows": np.zeros(3, np.int64), "steps": np.zeros(3, np.int64)}
    sums |= {"counts": np.zeros(len(ROW_COUNTS), np.int64), "row_steps": dict.fromkeys(SPLITS, cfg.seq_len)}
    longest = dict.fromkeys(SPLITS, 1)
    first = shard = 0
    for r in results:
        with np.load(Path(folder) / ROWS / f"{r['task']:05d}.npz") as z:
            rows = {c: z[c] for c in z.files}
        lab = labels[first : first + r["pieces"]]
        index.add("source", rows["source"])
        index.add("split", lab)
        index.add("shard", (rows["shard"] + shard).astype(np.int32))
        for c in ("offset", "length", "bar_steps", "counts"):
            index.add(c, rows[c])
        index.add("shards", np.array([f"{folder.name}/{r['task']:05d}-{j:02d}.npy" for j in range(r["parts"])], dtype=str))
        win = rows["windows"]
        for i, s in enumerate(SPLITS):
            if whole and s != "train":
                piece = np.flatnonzero((lab == i) & rows["sounding"])
                cut = np.stack([piece, np.zeros_like(piece), rows["length"][piece]], axis=1)
                longest[s] = max(longest[s], int(cut[:, 2].max(initial=0)))
                sums["row_steps"][s] = longest[s]
            else:
                cut = win[lab[win[:, 0]] == i] if len(win) else win
            for c, name in enumerate(("piece", "start", "length")):
                index.add(f"{s}_{name}", cut[:, c].astype(np.int64) + (first if c == 0 else 0))
            sums["windows"][i] += len(cut)
        sums["files"] += np.bincount(lab, minlength=3)
        sums["steps"] += np.bincount(lab, weights=rows["length"], minlength=3).astype(np.int64)
        sums["counts"] += rows["counts"].sum(axis=0)
        first, shard = first + r["pieces"], shard + r["parts"]
    return sums


def _stats(results: list[dict], sums: dict, left: list[dict]) -> dict:
    """Return the report's stats, as a dataset.npz build computes them from the rolls, from the tasks' sums."""
    hist = np.sum([r["hist"] for r in results], axis=0)
    steps = int(sums["steps"].sum())
    sounding = sum(r["sounding_steps"] for r in results)
    active = int(hist.sum())
    return {
        "files_ok": int(sums["files"].sum()),
        "files_skipped": len(left),
        **{c: int(v) for c, v in zip(ROW_COUNTS, sums["counts"], strict=True)},
        "onsets": int(sum(r["onsets"] for r in results)),
        "files": {s: int(sums["files"][i]) for i, s in enumerate(SPLITS)},
        "windows": {s: int(sums["windows"][i]) for i, s in enumerate(SPLITS)},
        "steps_per_split": {s: int(sums["steps"][i]) for i, s in enumerate(SPLITS)},
        "steps": steps,
        "density": float(active / (steps * len(hist))) if steps else 0.0,
        "mean_polyphony": float(active / sounding) if sounding else 0.0,
        "empty_step_share": float(1 - sounding / steps) if steps else 0.0,
        "pitch_histogram": hist.tolist(),
    }
