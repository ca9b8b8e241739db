"""Reporters: where the trainer's run-store writes go.

The trainer never touches SQLite itself; it calls a reporter with four methods:

- `create_run(name, config, dataset_id, sweep_id=None, run_id=None) -> run_id` (status 'running')
- `start(run_id, statuses=CLAIMABLE, restart=False)` — take the run for this process: one store
  transaction that refuses a run another live process trains or one not in `statuses`; `restart`
  clears its metrics (pid for dead-process detection)
- `update_run(run_id, **fields)` — status, error, summary, epochs_done, config, dataset_id
- `log_metrics(run_id, epoch, split, values, step=None, wall_time=None)`

`StoreReporter` (the default) writes them to the local store. A Ray worker that cannot reach the
SQLite file uses `CallbackReporter(send)`: each write becomes an event `(method, kwargs)` passed
to `send`, and the driver replays it with `apply_event(event)`.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from musicgen.runs import store
from musicgen.runs.store import CLAIMABLE


class StoreReporter:
    """Write every event straight to the SQLite run store."""

    def create_run(self, name, config, dataset_id, sweep_id=None, run_id=None) -> str:
        """Insert a run with status 'running', trained by this process, and return its id."""
        return store.create_run(name, config, dataset_id, sweep_id=sweep_id, status="running", run_id=run_id, pid=os.getpid())

    def start(self, run_id: str, statuses=CLAIMABLE, restart: bool = False) -> None:
        """Take the run for this process in one transaction (StoreError if another process trains it)."""
        store.claim_run(run_id, os.getpid(), statuses=statuses, restart=restart)

    def update_run(self, run_id: str, **fields) -> None:
        """Set run fields."""
        store.update_run(run_id, **fields)

    def log_metrics(self, run_id, epoch, split, values, step=None, wall_time=None) -> None:
        """Append metric rows."""
        store.log_metrics(run_id, epoch, split, values, step=step, wall_time=wall_time)


class CallbackReporter:
    """Turn every write into an event `(method, kwargs)` for `send`; the driver applies it with `apply_event`."""

    def __init__(self, send: Callable[[tuple[str, dict]], None]):
        self.send = send

    def create_run(self, name, config, dataset_id, sweep_id=None, run_id=None) -> str:
        """Choose the id here (no store to ask) and send the creation."""
        run_id = run_id or store.new_run_id()
        self.send(
            ("create_run", {"name": name, "config": config, "dataset_id": dataset_id, "sweep_id": sweep_id, "run_id": run_id})
        )
        return run_id

    def start(self, run_id: str, statuses=CLAIMABLE, restart: bool = False) -> None:
        """Send 'running'; the pid of a remote worker means nothing to the driver's host, so none is stored.

        The driver alone hands out runs here, so there is nothing to claim; a restart is never sent.
        """
        self.send(("update_run", {"run_id": run_id, "status": "running", "error": None, "host": socket.gethostname()}))

    def update_run(self, run_id: str, **fields) -> None:
        """Send run fields."""
        self.send(("update_run", dict(run_id=run_id, **fields)))

    def log_metrics(self, run_id, epoch, split, values, step=None, wall_time=None) -> None:
        """Send metric rows, stamped with the worker's wall time."""
        wall_time = time.time() if wall_time is None else wall_time
        self.send(
            (
                "log_metrics",
                {"run_id": run_id, "epoch": epoch, "split": split, "values": values, "step": step, "wall_time": wall_time},
            )
        )


def apply_event(event: tuple[str, dict]) -> None:
    """Write one `CallbackReporter` event to the local store."""
    method, kwargs = event
    if method == "create_run":
        store.create_run(status="running", **kwargs)
    elif method == "update_run":
        kwargs = dict(kwargs)
        store.update_run(kwargs.pop("run_id"), **kwargs)
    elif method == "log_metrics":
        store.log_metrics(**kwargs)
    else:
        raise ValueError(f"unknown reporter event {method!r}")
