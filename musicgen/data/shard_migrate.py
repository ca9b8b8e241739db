"""Migrate a dataset.npz dataset to the sharded format: `python -m musicgen shard DATASET --out DIR`.

Old datasets keep loading as they are; migrating one gives it the sharded layout (read a window at a time, whole pieces,
2 bits a cell) with the same rows: hold-only benchmark datasets and onset-aware ones alike.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

from musicgen.config import DataConfig, from_dict
from musicgen.data.rolls import SPLITS
from musicgen.data.shard_build import write_chunk
from musicgen.data.shard_index import ROW_COUNTS, piece_index, write_dataset_files
from musicgen.data.shards import LAYOUT


def shards_from_npz(src: Path, out: Path) -> dict:
    """Write the dataset.npz dataset in `src` as a sharded dataset in `out` (the migration); return the new report.

    Each source file's rows are joined back into its piece (the steps of dropped silent windows stay zero, which
    they were; a piece ends with its last row), the pieces packed in order of first appearance, and the rows of
    each split kept as they were: the new dataset's windows equal the old one's, hold-only or onset-aware alike.
    """
    src, out = Path(src), Path(out)
    report = json.loads((src / "report.json").read_text())
    with np.load(src / "dataset.npz") as z:
        arrays = {k: z[k] for k in z.files}
    n_notes = arrays["train"].shape[2]
    order, rolls, bars = {}, [], []
    rows = {}
    for s in SPLITS:
        x, lengths, files = arrays[s], arrays[f"{s}_lengths"], arrays[f"{s}_files"]
        starts = arrays.get(f"{s}_starts", np.zeros(len(x), dtype=np.int64))
        bar = arrays.get(f"{s}_bar_steps", np.zeros(len(x), dtype=np.int64))
        for f in dict.fromkeys(files.tolist()):
            mine = np.flatnonzero(files == f)
            end = int((starts[mine] + lengths[mine]).max())
            roll = np.zeros((end, n_notes), dtype=np.uint8)
            for i in mine:
                roll[starts[i] : starts[i] + lengths[i]] = x[i, : lengths[i]]
            order[f] = len(rolls)
            rolls.append(roll)
            bars.append(int(bar[mine[0]]))
        rows[s] = np.stack([[order[f] for f in files.tolist()], starts, lengths], axis=1).reshape(-1, 3).astype(np.int64)
    key = report["id"]
    folder = out / f"shards-{key}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    results = [
        {"file": f, "status": "ok", "reason": "", "roll": rolls[k], "info": {"bar_steps": bars[k], "steps": len(rolls[k])}}
        for f, k in order.items()
    ]
    cfg = from_dict(DataConfig, report["config"])
    packed = write_chunk(0, results, dataclasses.replace(cfg, windows="first"), str(folder))
    split_of = np.zeros(len(rolls), dtype=np.int8)
    for i, s in enumerate(SPLITS):
        split_of[rows[s][:, 0]] = i
    index = piece_index([packed], split_of)
    for s in SPLITS:
        index[f"{s}_piece"], index[f"{s}_start"], index[f"{s}_length"] = (rows[s][:, c] for c in range(3))
    new = report | {
        "layout": LAYOUT,
        "name": out.name,
        "row_steps": {s: int(arrays[s].shape[1]) for s in SPLITS},
        "index_counts": list(ROW_COUNTS),
        "migrated_from": str(src),
    }
    write_dataset_files(out, index, new, folder)
    return new
