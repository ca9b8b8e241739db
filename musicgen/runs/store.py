"""The SQLite run store: runs, their per-epoch metrics, sweeps.

One file at `paths.db_path()` in WAL mode, so a training process writes while the app reads; a
short-lived connection per call (Streamlit serves each session on its own thread). The schema
has a version (`PRAGMA user_version`) and a list of migrations applied in order on first use.
A run whose process died while 'running' is marked failed ("process died") by `mark_dead_runs`,
which `list_runs` and `get_run` call, so `kill -9` never leaves a run running forever.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import sqlite3
import time

import pandas as pd

from musicgen.errors import StoreError
from musicgen.paths import db_path
from musicgen.processes import is_alive, process_start

STATUSES = ("queued", "running", "finished", "failed", "stopped")
RUN_COLUMNS = ["id", "name", "created", "status", "config", "dataset_id", "pid", "error", "summary", "sweep_id", "epochs_done"]
METRIC_COLUMNS = ["run_id", "epoch", "step", "split", "name", "value", "wall_time"]
# Migration i brings the schema from version i to i+1; never edit a released one, append.
MIGRATIONS = [
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, created TEXT NOT NULL, status TEXT NOT NULL,
        config TEXT NOT NULL, dataset_id TEXT, pid INTEGER, host TEXT, pid_start TEXT,
        error TEXT, summary TEXT, sweep_id TEXT, epochs_done INTEGER NOT NULL DEFAULT 0, updated TEXT);
    CREATE INDEX runs_sweep ON runs(sweep_id);
    CREATE TABLE metrics (
        run_id TEXT NOT NULL, epoch INTEGER NOT NULL, step INTEGER, split TEXT NOT NULL,
        name TEXT NOT NULL, value REAL, wall_time REAL);
    CREATE INDEX metrics_run ON metrics(run_id, epoch);
    CREATE TABLE sweeps (id TEXT PRIMARY KEY, name TEXT NOT NULL, created TEXT NOT NULL, config TEXT NOT NULL);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
_UPDATABLE = {"name", "status", "config", "dataset_id", "pid", "host", "pid_start", "error", "summary", "sweep_id", "epochs_done"}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _migrate(con: sqlite3.Connection) -> None:
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"run store {db_path()} has schema version {version}; this musicgen reads up to {SCHEMA_VERSION}: upgrade musicgen"
        )
    if version == SCHEMA_VERSION:
        return
    con.execute("BEGIN IMMEDIATE")  # one migrating process at a time; others wait on busy_timeout
    version = con.execute("PRAGMA user_version").fetchone()[0]
    for i in range(version, SCHEMA_VERSION):
        for statement in filter(str.strip, MIGRATIONS[i].split(";")):
            con.execute(statement)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    con.execute("COMMIT")


@contextlib.contextmanager
def _connect():
    """Yield a connection that commits on success; every OS or SQLite failure becomes one StoreError line."""
    path = db_path()
    con = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout = 30000")
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            con.execute("PRAGMA journal_mode = WAL")
        _migrate(con)
        con.execute("BEGIN")
        yield con
        con.execute("COMMIT")
    except (sqlite3.Error, OSError) as e:
        if con is not None and con.in_transaction:
            con.execute("ROLLBACK")
        raise StoreError(
            f"cannot use the run store {path} ({str(e).splitlines()[0]}); set MUSICGEN_HOME to a writable folder"
        ) from None
    finally:
        if con is not None:
            con.close()


def _row(r: sqlite3.Row) -> dict:
    d = dict(r)
    d["config"] = json.loads(d["config"]) if d.get("config") else {}
    d["summary"] = json.loads(d["summary"]) if d.get("summary") else {}
    return d


def new_run_id() -> str:
    """Return a fresh run id: UTC time and a random suffix, sortable and safe as a folder name."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def create_run(name: str, config: dict, dataset_id: str, sweep_id=None, status: str = "queued", run_id: str | None = None) -> str:
    """Insert a run and return its id (`run_id` lets a remote worker choose it)."""
    if status not in STATUSES:
        raise StoreError(f"unknown run status {status!r}; choose one of {', '.join(STATUSES)}")
    run_id = run_id or new_run_id()
    with _connect() as con:
        con.execute(
            "INSERT INTO runs (id, name, created, status, config, dataset_id, sweep_id, updated) VALUES (?,?,?,?,?,?,?,?)",
            (run_id, name, _now(), status, json.dumps(config), dataset_id, sweep_id, _now()),
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
    with _connect() as con:
        n = con.execute(f"UPDATE runs SET {sets}, updated = ? WHERE id = ?", (*fields.values(), _now(), run_id)).rowcount
    if n == 0:
        raise StoreError(f"unknown run {run_id!r}; list runs with: python -m musicgen runs")


def get_run(run_id: str) -> dict:
    """Return one run as a dict (config and summary parsed); StoreError if unknown."""
    mark_dead_runs()
    with _connect() as con:
        r = con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if r is None:
        raise StoreError(f"unknown run {run_id!r}; list runs with: python -m musicgen runs")
    return _row(r)


def list_runs(sweep_id=None) -> pd.DataFrame:
    """Return runs, newest first, with columns RUN_COLUMNS (config and summary as dicts)."""
    mark_dead_runs()
    with _connect() as con:
        if sweep_id is None:
            rows = con.execute("SELECT * FROM runs ORDER BY created DESC, id DESC").fetchall()
        else:
            rows = con.execute("SELECT * FROM runs WHERE sweep_id = ? ORDER BY created DESC, id DESC", (sweep_id,)).fetchall()
    return pd.DataFrame([_row(r) for r in rows], columns=RUN_COLUMNS) if rows else pd.DataFrame(columns=RUN_COLUMNS)


def log_metrics(run_id: str, epoch: int, split: str, values: dict, step=None, wall_time=None) -> None:
    """Append one row per numeric value of `values` for (run, epoch, split); NaN is stored as NULL."""
    wall_time = time.time() if wall_time is None else wall_time
    rows = [
        (run_id, int(epoch), step, split, k, float(v), wall_time)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    with _connect() as con:
        con.executemany("INSERT INTO metrics VALUES (?,?,?,?,?,?,?)", rows)


def metrics_frame(run_ids) -> pd.DataFrame:
    """Return the metrics of `run_ids` (a list or one id) with columns METRIC_COLUMNS, by run and epoch."""
    ids = [run_ids] if isinstance(run_ids, str) else list(run_ids)
    if not ids:
        return pd.DataFrame(columns=METRIC_COLUMNS)
    marks = ",".join("?" * len(ids))
    with _connect() as con:
        rows = con.execute(
            f"SELECT {', '.join(METRIC_COLUMNS)} FROM metrics WHERE run_id IN ({marks}) ORDER BY run_id, epoch, rowid", ids
        ).fetchall()
    return pd.DataFrame([tuple(r) for r in rows], columns=METRIC_COLUMNS)


def mark_dead_runs() -> int:
    """Mark 'running' runs of this host whose process is gone as failed ('process died'); return how many."""
    host = socket.gethostname()
    with _connect() as con:
        rows = con.execute(
            "SELECT id, pid, pid_start FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL", (host,)
        ).fetchall()
        dead = [r["id"] for r in rows if not is_alive(r["pid"], r["pid_start"])]
        for run_id in dead:
            con.execute(
                "UPDATE runs SET status = 'failed', error = ?, updated = ? WHERE id = ? AND status = 'running'",
                ("process died (killed or crashed); resume it with: python -m musicgen train --resume " + run_id, _now(), run_id),
            )
    return len(dead)


def claim_run(run_id: str, pid: int | None = None) -> None:
    """Mark a run 'running' by this process (pid, host and process start time, for dead-pid detection)."""
    pid = os.getpid() if pid is None else pid
    update_run(run_id, status="running", pid=pid, host=socket.gethostname(), pid_start=process_start(pid), error=None)


def create_sweep(name: str, config: dict) -> str:
    """Insert a sweep and return its id."""
    sweep_id = "s" + new_run_id()
    with _connect() as con:
        con.execute("INSERT INTO sweeps VALUES (?,?,?,?)", (sweep_id, name, _now(), json.dumps(config)))
    return sweep_id


def get_sweep(sweep_id: str) -> dict:
    """Return one sweep as a dict (config parsed); StoreError if unknown."""
    with _connect() as con:
        r = con.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
    if r is None:
        raise StoreError(f"unknown sweep {sweep_id!r}; list sweeps in the app or with list_sweeps()")
    d = dict(r)
    d["config"] = json.loads(d["config"])
    return d


def list_sweeps() -> pd.DataFrame:
    """Return sweeps, newest first, with columns id, name, created, config (dict)."""
    with _connect() as con:
        rows = con.execute("SELECT * FROM sweeps ORDER BY created DESC, id DESC").fetchall()
    data = [{**dict(r), "config": json.loads(r["config"])} for r in rows]
    return pd.DataFrame(data, columns=["id", "name", "created", "config"])
