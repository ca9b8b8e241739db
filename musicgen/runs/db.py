"""The run store's database: the schema and its migrations, and the one way to open a connection.

`connect()` opens `paths.db_path()` in WAL mode (a training process writes while the app reads),
applies the pending migrations (the schema's version is `PRAGMA user_version`), checks that every
table and column they make is there (`check_schema`: a dropped table is named at once), and turns every
SQLite or OS failure into one StoreError line that says what to do. musicgen.runs.store holds the queries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import sqlite3

from musicgen.errors import StoreError, write_cause
from musicgen.paths import db_path, probe_writable

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
    # One row per metric of an epoch: a trainer killed between logging an epoch and saving last.pt logs
    # that epoch again on resume. Keep the newest of earlier duplicates (the epoch as the resume re-ran it).
    """
    DELETE FROM metrics WHERE rowid NOT IN (SELECT MAX(rowid) FROM metrics GROUP BY run_id, epoch, split, name);
    DROP INDEX metrics_run;
    CREATE UNIQUE INDEX metrics_key ON metrics(run_id, epoch, split, name);
    """,
    # The process driving a sweep, so that runs it queued and workers it started are found when it dies.
    """
    ALTER TABLE sweeps ADD COLUMN driver_pid INTEGER;
    ALTER TABLE sweeps ADD COLUMN driver_host TEXT;
    ALTER TABLE sweeps ADD COLUMN driver_start TEXT;
    """,
    # The blind listening test's votes (musicgen.runs.votes): which of two unlabelled samples sounded more musical.
    """
    CREATE TABLE votes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, first TEXT NOT NULL, second TEXT NOT NULL,
        chosen TEXT NOT NULL, seed_first INTEGER, seed_second INTEGER, pair_seed INTEGER NOT NULL,
        primer TEXT NOT NULL, steps INTEGER NOT NULL, synth TEXT NOT NULL, dataset TEXT NOT NULL);
    CREATE INDEX votes_pair ON votes(first, second);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def migrate(con: sqlite3.Connection) -> None:
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


@functools.cache
def expected_schema() -> frozenset[tuple[str, str]]:
    """Return the (table, column) pairs that the migrations make, read from a store built in memory."""
    con = sqlite3.connect(":memory:")
    try:
        for migration in MIGRATIONS:
            con.executescript(migration)
        return frozenset(con.execute(_COLUMNS).fetchall())
    finally:
        con.close()


_COLUMNS = "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'"


def check_schema(con: sqlite3.Connection) -> None:
    """Raise StoreError when the store lacks a table or column its version should have (dropped or damaged by hand).

    Checked on every connection, so that a trainer stops before its first step, not when it logs an epoch.
    """
    missing = sorted(expected_schema() - {tuple(r) for r in con.execute(_COLUMNS)})
    if missing:
        present = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables = sorted({t for t, _ in missing if t not in present})
        columns = [f"column {t}.{c}" for t, c in missing if t in present]
        raise _damaged(db_path(), f"it has no {', '.join([f'table {t}' for t in tables] + columns)}")


def _damaged(path, cause: str) -> StoreError:
    return StoreError(
        f"the run store {path} is damaged ({cause}); move it aside, e.g. mv {path} {path}.damaged (with its -wal and "
        "-shm files if present), and musicgen starts a new, empty store there"
    )


# SQLite's primary result codes that say what went wrong (https://sqlite.org/rescode.html).
_BUSY, _READONLY, _CORRUPT, _CANTOPEN, _NOTADB = 5, 8, 11, 14, 26


def _store_error(path, e: BaseException) -> StoreError:
    """Return one line that says why the store at `path` cannot be used, and what to do about it."""
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
    if code in (_CORRUPT, _NOTADB):
        return _damaged(path, first)
    if code == _BUSY:
        return StoreError(f"the run store {path} stayed locked by another process for 30 s ({first}); try again")
    if isinstance(e, OSError) or code in (_READONLY, _CANTOPEN):
        cause = e.strerror if isinstance(e, OSError) and e.strerror else first
        try:  # the folder's own answer says more than SQLite's "unable to open database file"
            probe_writable(path.parent)
        except OSError as probe_error:
            cause = f"its folder cannot be written: {write_cause(path, probe_error)}"
        return StoreError(f"cannot open the run store {path} ({cause}); set MUSICGEN_HOME to a writable folder")
    return StoreError(f"cannot use the run store {path} ({first})")


@contextlib.contextmanager
def connect(immediate: bool = False):
    """Yield a connection in a transaction that commits on success; every OS or SQLite failure becomes one StoreError line.

    `immediate` takes the write lock at the start: a read that decides a write (a claim) sees no other writer in between.
    """
    path = db_path()
    con = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout = 30000")
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            con.execute("PRAGMA journal_mode = WAL")
        migrate(con)
        check_schema(con)
        con.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        yield con
        con.execute("COMMIT")
    except (sqlite3.Error, OSError) as e:
        if con is not None and con.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
        raise _store_error(path, e) from None
    finally:
        if con is not None:
            con.close()
