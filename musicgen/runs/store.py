"""The SQLite run store: runs, their per-epoch metrics, sweeps (the schema and connections: runs/db.py).

One file at `paths.db_path()` in WAL mode, so a training process writes while the app reads; a
short-lived connection per call (Streamlit serves each session on its own thread). The schema
has a version (`PRAGMA user_version`) and a list of migrations applied in order on first use.
A run whose process died while 'running' is marked failed ("process died") by `mark_dead_runs`,
which `list_runs` and `get_run` call, so `kill -9` never leaves a run running forever; likewise a
run still 'queued' by a sweep driver that died. A process takes a run with `claim_run`, one
transaction that checks and sets, so two processes never train one run. Metrics have one row per
(run, epoch, split, name): logging an epoch again (a resume after a kill) replaces its rows.
Rows are read one by one: a damaged one (config not JSON, epochs_done not a number) is named in one
line and left out of a listing (`attrs["damaged"]` of the frame), never taking the listing down.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import sqlite3
import time

import pandas as pd

from musicgen.errors import RunNotFoundError, StoreError
from musicgen.processes import is_alive, process_start
from musicgen.runs.db import connect, now

STATUSES = ("queued", "running", "finished", "failed", "stopped")
RUN_COLUMNS = ["id", "name", "created", "status", "config", "dataset_id", "pid", "error", "summary", "sweep_id", "epochs_done"]
METRIC_COLUMNS = ["run_id", "epoch", "step", "split", "name", "value", "wall_time"]
# A run another process may take over: not 'running' (a 'running' run whose process died counts as failed).
CLAIMABLE = ("queued", "stopped", "failed")
_UPDATABLE = {"name", "status", "config", "dataset_id", "pid", "host", "pid_start", "error", "summary", "sweep_id", "epochs_done"}


def _json_object(d: dict, column: str, what: str) -> dict:
    """Return column `column` of row `d` parsed as a JSON object ({} when empty); StoreError naming `what` otherwise."""
    text = d.get(column)
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError, RecursionError) as e:
        raise _damaged_row(what, f"its {column} is not JSON ({str(e)[:80]})") from None
    if not isinstance(value, dict):
        raise _damaged_row(what, f"its {column} is {type(value).__name__}, not a JSON object")
    return value


def _damaged_row(what: str, cause: str) -> StoreError:
    return StoreError(f"{what} is damaged in the run store ({cause}); the rest of the store reads as usual")


def _row(r: sqlite3.Row) -> dict:
    """Return a run row as a dict with config and summary parsed; StoreError (one line naming the run) if it is damaged."""
    d = dict(r)
    what = f"run {d['id']}"
    d["config"] = _json_object(d, "config", what)
    d["summary"] = _json_object(d, "summary", what)
    if not isinstance(d["epochs_done"], int) or d["epochs_done"] < 0:
        raise _damaged_row(what, f"its epochs_done is {d['epochs_done']!r}, not a whole number >= 0")
    if d["status"] not in STATUSES:
        raise _damaged_row(what, f"its status is {d['status']!r}, not one of {', '.join(STATUSES)}")
    return d


def _rows(rows) -> tuple[list[dict], list[str]]:
    """Return (the rows that read, one line for each damaged one)."""
    good, damaged = [], []
    for r in rows:
        try:
            good.append(_row(r))
        except StoreError as e:
            damaged.append(str(e))
    return good, damaged


def new_run_id() -> str:
    """Return a fresh run id: UTC time and a random suffix, sortable and safe as a folder name."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def _unknown_run(run_id: str) -> RunNotFoundError:
    return RunNotFoundError(f"unknown run {run_id!r}; list runs with: python -m musicgen runs")


def create_run(
    name: str, config: dict, dataset_id: str, sweep_id=None, status: str = "queued", run_id: str | None = None, pid=None
) -> str:
    """Insert a run and return its id (`run_id` lets a remote worker choose it; `pid`: the process that trains it)."""
    if status not in STATUSES:
        raise StoreError(f"unknown run status {status!r}; choose one of {', '.join(STATUSES)}")
    run_id = run_id or new_run_id()
    owner = (pid, socket.gethostname(), process_start(pid)) if pid else (None, None, None)
    with connect() as con:
        con.execute(
            "INSERT INTO runs (id, name, created, status, config, dataset_id, sweep_id, updated, pid, host, pid_start) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, name, now(), status, json.dumps(config), dataset_id, sweep_id, now(), *owner),
        )
    return run_id


def update_run(run_id: str, **fields) -> None:
    """Set columns of a run (status, pid, error, summary (dict), config (dict), epochs_done, ...)."""
    bad = sorted(set(fields) - _UPDATABLE)
    if bad:
        raise StoreError(f"cannot update run fields {bad}; updatable: {sorted(_UPDATABLE)}")
    if "status" in fields and fields["status"] not in STATUSES:
        raise StoreError(f"unknown run status {fields['status']!r}; choose one of {', '.join(STATUSES)}")
    for k in ("summary", "config"):
        if k in fields and not isinstance(fields[k], str):
            fields[k] = json.dumps(fields[k])
    if not fields:
        return
    sets = ", ".join(f"{k} = ?" for k in fields)
    with connect() as con:
        n = con.execute(f"UPDATE runs SET {sets}, updated = ? WHERE id = ?", (*fields.values(), now(), run_id)).rowcount
    if n == 0:
        raise _unknown_run(run_id)


def get_run(run_id: str) -> dict:
    """Return one run as a dict (config and summary parsed); RunNotFoundError if unknown."""
    mark_dead_runs()
    with connect() as con:
        r = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if r is None:
        raise _unknown_run(run_id)
    return _row(r)


def list_runs(sweep_id=None) -> pd.DataFrame:
    """Return runs, newest first, with columns RUN_COLUMNS (config and summary as dicts).

    A damaged row (config not JSON, epochs_done not a number) is left out, and named in one line of
    the frame's `attrs["damaged"]`: one bad row never takes the listing down.
    """
    mark_dead_runs()
    with connect() as con:
        if sweep_id is None:
            rows = con.execute("SELECT * FROM runs ORDER BY created DESC, id DESC").fetchall()
        else:
            rows = con.execute("SELECT * FROM runs WHERE sweep_id = ? ORDER BY created DESC, id DESC", (sweep_id,)).fetchall()
    good, damaged = _rows(rows)
    frame = pd.DataFrame(good, columns=RUN_COLUMNS) if good else pd.DataFrame(columns=RUN_COLUMNS)
    frame.attrs["damaged"] = damaged
    return frame


def log_metrics(run_id: str, epoch: int, split: str, values: dict, step=None, wall_time=None) -> None:
    """Write one row per numeric value of `values` for (run, epoch, split), replacing an earlier one; NaN is stored as NULL."""
    wall_time = time.time() if wall_time is None else wall_time
    rows = [
        (run_id, int(epoch), step, split, k, float(v), wall_time)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    with connect() as con:
        con.executemany(
            "INSERT INTO metrics (run_id, epoch, step, split, name, value, wall_time) VALUES (?,?,?,?,?,?,?) "
            "ON CONFLICT (run_id, epoch, split, name) DO UPDATE SET step = excluded.step, value = excluded.value, "
            "wall_time = excluded.wall_time",
            rows,
        )


def metrics_frame(run_ids) -> pd.DataFrame:
    """Return the metrics of `run_ids` (a list or one id) with columns METRIC_COLUMNS, by run and epoch."""
    ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    if not ids:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    marks = ",".join("?" * len(ids))
    with connect() as con:
        rows = con.execute(
            f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE run_id IN ({marks}) ORDER BY run_id, epoch, rowid", ids
        ).fetchall()
    return pd.DataFrame([tuple(r) for r in rows], columns=METRIC_COLUMNS)


def _driver_gone(row) -> bool:
    return not is_alive(row["driver_pid"], row["driver_start"])


def mark_dead_runs() -> int:
    """Mark failed the runs of this host left behind by a dead process; return how many.

    'running' runs whose process is gone ('process died'), and the runs of a sweep whose driver is gone
    that only the driver would move on: 'queued' ones, and 'running' ones without a local pid (Ray tasks).
    """
    host = socket.gethostname()
    with connect() as con:  # read first: most calls find nothing, and a read does not wait for writers
        running = con.execute(
            "SELECT id, pid, pid_start FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL", (host,)
        ).fetchall()
        queued = con.execute(
            "SELECT r.id, r.status, s.id AS sweep_id, s.driver_pid, s.driver_start "
            "FROM runs r JOIN sweeps s ON s.id = r.sweep_id "
            "WHERE (r.status = 'queued' OR (r.status = 'running' AND r.pid IS NULL)) "
            "AND s.driver_host = ? AND s.driver_pid IS NOT NULL",
            (host,),
        ).fetchall()
    dead = [r for r in running if not is_alive(r["pid"], r["pid_start"])]
    orphans = [r for r in queued if _driver_gone(r)]
    if not dead and not orphans:
        return 0
    n = 0
    with connect(immediate=True) as con:
        for r in dead:  # only if still the same dead process: another may have claimed the run since the read
            n += con.execute(
                "UPDATE runs SET status = 'failed', error = ?, updated = ? WHERE id = ? AND status = 'running' AND pid = ?",
                (
                    "process died (killed or crashed); resume it with: python -m musicgen train --resume " + r["id"],
                    now(),
                    r["id"],
                    r["pid"],
                ),
            ).rowcount
        for r in orphans:  # only if no new driver took the sweep over since the read
            n += con.execute(
                "UPDATE runs SET status = 'failed', error = ?, updated = ? "
                "WHERE id = ? AND status = ? AND (status = 'queued' OR pid IS NULL) "
                "AND sweep_id IN (SELECT id FROM sweeps WHERE id = ? AND driver_pid = ?)",
                (
                    f"its sweep's driver (process {r['driver_pid']}) ended before this run "
                    f"{'started' if r['status'] == 'queued' else 'ended'}; run the same sweep command again to train it",
                    now(),
                    r["id"],
                    r["status"],
                    r["sweep_id"],
                    r["driver_pid"],
                ),
            ).rowcount
    return n


def _owner(r) -> str:
    return f"process {r['pid']}" + (f" on {r['host']}" if r["host"] and r["host"] != socket.gethostname() else "")


def claim_run(run_id: str, pid: int | None = None, statuses=CLAIMABLE, restart: bool = False) -> dict:
    """Take a run for training by process `pid` (default: this one) in one transaction; return the run as it was.

    The run must be in one of `statuses` (a 'running' run whose process died counts as 'failed'); a run that
    is 'running' in another live process raises StoreError ("already being trained by process N").
    `restart` also clears its metrics, epochs and summary (the run starts over).
    """
    pid = os.getpid() if pid is None else int(pid)
    host, start = socket.gethostname(), process_start(pid)
    with connect(immediate=True) as con:
        r = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if r is None:
            raise _unknown_run(run_id)
        status = r["status"]
        if status == "running":
            if (r["pid"], r["host"], r["pid_start"]) == (pid, host, start):
                status = None  # this very process created it as its own
            elif r["pid"] is None or r["host"] != host or is_alive(r["pid"], r["pid_start"]):
                raise StoreError(
                    f"run {run_id} is already being trained by {_owner(r) if r['pid'] else 'another process'}; "
                    f"stop it first (the app's Stop, or kill -TERM {r['pid'] or 'PID'}) or wait for it to end"
                )
            else:
                status = "failed"  # its process died: mark_dead_runs would say so
        if status is not None and status not in statuses:
            raise StoreError(f"run {run_id} is {status}; only a run that is {' or '.join(statuses)} can be trained here")
        reset = ", epochs_done = 0, summary = NULL" if restart else ""
        con.execute(
            f"UPDATE runs SET status = 'running', pid = ?, host = ?, pid_start = ?, error = NULL{reset}, updated = ? "
            "WHERE id = ?",
            (pid, host, start, now(), run_id),
        )
        if restart:
            con.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
    return _row(r)


def create_sweep(name: str, config: dict) -> str:
    """Insert a sweep and return its id."""
    sweep_id = "s" + new_run_id()
    with connect() as con:
        con.execute(
            "INSERT INTO sweeps (id, name, created, config) VALUES (?,?,?,?)", (sweep_id, name, now(), json.dumps(config))
        )
    return sweep_id


def claim_sweep(sweep_id: str, pid: int | None = None) -> None:
    """Record process `pid` (default: this one) as the sweep's driver, in one transaction; refuse if another live one is."""
    pid = os.getpid() if pid is None else int(pid)
    host, start = socket.gethostname(), process_start(pid)
    with connect(immediate=True) as con:
        r = con.execute("SELECT driver_pid, driver_host, driver_start FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if r is None:
            raise StoreError(f"unknown sweep {sweep_id!r}; list sweeps in the app or with list_sweeps()")
        theirs = r["driver_pid"] and (r["driver_pid"], r["driver_host"], r["driver_start"]) != (pid, host, start)
        if theirs and (r["driver_host"] != host or not _driver_gone(r)):
            where = f" on {r['driver_host']}" if r["driver_host"] != host else ""
            raise StoreError(
                f"sweep {sweep_id} is already being run by process {r['driver_pid']}{where}; "
                f"stop it first (kill -TERM {r['driver_pid']}) or wait for it to end"
            )
        con.execute(
            "UPDATE sweeps SET driver_pid = ?, driver_host = ?, driver_start = ? WHERE id = ?", (pid, host, start, sweep_id)
        )


def orphaned_workers() -> list[dict]:
    """Return {run_id, pid, pid_start, driver_pid} of live 'running' runs of this host whose sweep driver is gone."""
    host = socket.gethostname()
    with connect() as con:
        rows = con.execute(
            "SELECT r.id AS run_id, r.pid, r.pid_start, s.driver_pid, s.driver_start FROM runs r "
            "JOIN sweeps s ON s.id = r.sweep_id WHERE r.status = 'running' AND r.host = ? AND r.pid IS NOT NULL "
            "AND s.driver_host = ? AND s.driver_pid IS NOT NULL",
            (host, host),
        ).fetchall()
    return [
        {k: r[k] for k in ("run_id", "pid", "pid_start", "driver_pid")}
        for r in rows
        if _driver_gone(r) and is_alive(r["pid"], r["pid_start"])
    ]


def get_sweep(sweep_id: str) -> dict:
    """Return one sweep as a dict (config parsed); StoreError if unknown."""
    with connect() as con:
        r = con.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
    if r is None:
        raise StoreError(f"unknown sweep {sweep_id!r}; list sweeps in the app or with list_sweeps()")
    d = dict(r)
    d["config"] = _json_object(d, "config", f"sweep {sweep_id}")
    return d


def list_sweeps() -> pd.DataFrame:
    """Return sweeps, newest first, with columns id, name, created, config (dict)."""
    with connect() as con:
        rows = con.execute("SELECT * FROM sweeps ORDER BY created DESC, id DESC").fetchall()
    data, damaged = [], []
    for r in rows:
        try:
            data.append({**dict(r), "config": _json_object(dict(r), "config", f"sweep {r['id']}")})
        except StoreError as e:
            damaged.append(str(e))
    frame = pd.DataFrame(data, columns=["id", "name", "created", "config"])
    frame.attrs["damaged"] = damaged
    return frame
