"""An .npz written and read a chunk at a time: no column is ever whole in memory (the index of a sharded dataset).

`ColumnFiles(tmp).add(name, values)` appends values to column `name` (a file of its own under `tmp`);
`write(path)` puts the columns, in the order they were first added, into one .npz as np.savez writes it
(stored, not compressed; version 1.0 headers), so np.load reads it as any other. A text column is kept at
each chunk's own width and padded to the widest when written, as np.concatenate of the chunks would be.
`read_columns(path, names)` yields the rows of some columns of an .npz a chunk at a time.
"""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from musicgen.paths import atomic_write

COPY_BYTES = 2**20  # what is read and written at a time when a column is copied into the .npz
READ_ROWS = 4096  # rows `read_columns` yields at a time


def npy_header(f) -> tuple[tuple, bool, np.dtype]:
    """Read the header of the .npy file open at its start in `f`; return (shape, fortran order, dtype), `f` at the data."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(f)


def read_columns(path: Path, names: tuple[str, ...], rows: int = READ_ROWS) -> Iterator[dict]:
    """Yield {name: the next `rows` rows} of the columns `names` (of one length) of the .npz `path`, in order."""
    with zipfile.ZipFile(path) as z:
        opened = [z.open(f"{name}.npy") for name in names]
        try:
            heads = [npy_header(f) for f in opened]
            total = heads[0][0][0] if heads else 0
            for lo in range(0, total, rows):
                k = min(rows, total - lo)
                yield {
                    name: np.frombuffer(f.read(k * dtype.itemsize * int(np.prod(shape[1:]))), dtype).reshape(k, *shape[1:])
                    for name, f, (shape, _, dtype) in zip(names, opened, heads, strict=True)
                }
        finally:
            for f in opened:
                f.close()


class ColumnFiles:
    """Columns appended chunk by chunk to files under `tmp`, then written as one .npz (`write`)."""

    def __init__(self, tmp: Path):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.cols: dict[str, dict] = {}

    def add(self, name: str, values) -> None:
        """Append `values` (an array of the column's dtype and trailing shape; text of any width) to column `name`."""
        a = np.ascontiguousarray(values)
        col = self.cols.get(name)
        if col is None:
            col = self.cols[name] = {"dtype": a.dtype, "tail": a.shape[1:], "rows": 0, "widths": []}
            (self.tmp / f"{len(self.cols)}.bin").write_bytes(b"")
            col["file"] = self.tmp / f"{len(self.cols)}.bin"
        text = col["dtype"].kind == "U"
        if (a.dtype.kind == "U") != text or a.shape[1:] != col["tail"]:
            raise ValueError(f"column {name}: {a.dtype}{a.shape[1:]} does not extend {col['dtype']}{col['tail']}")
        if not text:
            a = a.astype(col["dtype"], copy=False)
        with open(col["file"], "ab") as f:
            f.write(a.tobytes())
        col["rows"] += len(a)
        if text:
            col["widths"].append((len(a), a.dtype.itemsize // 4))

    def write(self, path: Path) -> None:
        """Write every column into the .npz `path` (atomically), then remove the column files."""
        with atomic_write(Path(path)) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
            for name, col in self.cols.items():
                text = col["dtype"].kind == "U"
                widest = max((w for _, w in col["widths"]), default=1)
                dtype = np.dtype(f"<U{widest}") if text else col["dtype"]
                header = {
                    "descr": np.lib.format.dtype_to_descr(dtype),
                    "fortran_order": False,
                    "shape": (col["rows"], *col["tail"]),
                }
                with z.open(f"{name}.npy", "w", force_zip64=True) as out, open(col["file"], "rb") as src:
                    np.lib.format.write_array_header_1_0(out, header)
                    if not text:
                        shutil.copyfileobj(src, out, COPY_BYTES)
                        continue
                    for rows, width in col["widths"]:  # one chunk at a time, padded to the widest
                        chunk = (
                            np.frombuffer(src.read(rows * width * 4), dtype=f"<U{max(width, 1)}") if rows else np.zeros(0, "<U1")
                        )
                        out.write(chunk.astype(dtype).tobytes())
        shutil.rmtree(self.tmp, ignore_errors=True)
