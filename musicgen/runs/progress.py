"""Batch progress inside an epoch: a small JSON file `run_dir(run_id)/progress.json` that the trainer rewrites.

The store gets a row per epoch only; a page that wants to show how far the current epoch has come reads
this file instead. It is written atomically (a reader never sees half a file) and at most every
`every_s` seconds, so the batch loop pays for one small write a second at most. It lives beside the
checkpoints, so it is local to the machine that trains: a sweep's run trained elsewhere (a Ray worker on
another host) simply has none, and the page shows no bar; a data-parallel run's rank 0 hands its records
to the driver (`sink`), which writes them with `write_progress`.
"""

from __future__ import annotations

import json
import math
import os
import time

from musicgen.paths import run_dir

FILE_NAME = "progress.json"


class ProgressWriter:
    """Write {epoch, epochs, batch, batches, seconds, eta_s, time} of one run, at most every `every_s` seconds.

    Call `begin` before an epoch's first batch (or the first one a resumed process trains), `update` after each batch.
    `clock` returns seconds (time.monotonic by default; tests pass their own). `sink(record)`, when given,
    receives each record instead of the file.
    """

    def __init__(self, run_id: str, every_s: float = 1.0, clock=time.monotonic, sink=None):
        self.run_id = run_id
        self.every_s, self.clock, self.sink = every_s, clock, sink
        self.last = -math.inf
        self.epoch = self.epochs = self.first = self.batches = 0
        self.t0 = 0.0

    def begin(self, epoch: int, epochs: int, batch: int, batches: int) -> None:
        """Start timing epoch `epoch` (counted from 1) of `epochs`, with `batch` of its `batches` batches already done."""
        self.epoch, self.epochs, self.first, self.batches = epoch, epochs, batch, batches
        self.t0 = self.clock()
        self._write(batch, self.t0)

    def update(self, batch: int) -> bool:
        """Record that `batch` batches of the epoch are done; return True when the file was written (throttled)."""
        now = self.clock()
        if now - self.last < self.every_s and batch < self.batches:
            return False  # the last batch always gets written, so a finished epoch never shows as unfinished
        self._write(batch, now)
        return True

    def _write(self, batch: int, now: float) -> None:
        self.last = now
        seconds, done = now - self.t0, batch - self.first
        # The rate counts only the batches this process trained, so a resume mid-epoch does not look instant.
        eta_s = seconds / done * (self.batches - batch) if done > 0 else None
        record = {
            "epoch": self.epoch,
            "epochs": self.epochs,
            "batch": batch,
            "batches": self.batches,
            "seconds": round(seconds, 3),
            "eta_s": None if eta_s is None else round(eta_s, 1),
            "time": time.time(),
        }
        if self.sink is not None:
            self.sink(record)
        else:
            write_progress(self.run_id, record)


def write_progress(run_id: str, record: dict) -> None:
    """Write a ProgressWriter record as the run's progress.json (atomically; a failure is ignored)."""
    path = run_dir(run_id) / FILE_NAME
    # No fsync: a progress note lost in a crash costs nothing, and this runs once a second. A note that cannot be
    # written (a full disk) must not stop the training: the checkpoint write reports that disk, with its own message.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{FILE_NAME}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)
    except OSError:
        pass


def read_progress(run_id: str) -> dict | None:
    """Return the run's last batch progress (see ProgressWriter), or None when there is none or it cannot be read."""
    try:
        record = json.loads((run_dir(run_id) / FILE_NAME).read_text())
    except (OSError, ValueError):
        return None
    keys = ("epoch", "epochs", "batch", "batches")
    if not isinstance(record, dict) or not all(isinstance(record.get(k), int) for k in keys):
        return None
    return record
