"""The run store: round trips, errors, schema version, dead and zombie pids (a concurrent writer: tests/integration)."""

import os
import sqlite3
import subprocess
import sys

import pytest

from musicgen.errors import StoreError
from musicgen.paths import db_path
from musicgen.runs import db, store

pytestmark = pytest.mark.usefixtures("home")  # every test reads and writes a store under a temporary home


def test_run_round_trip():
    rid = store.create_run("adam-bce", {"train": {"lr": 0.01}}, "ds1")
    run = store.get_run(rid)
    assert run["status"] == "queued" and run["config"] == {"train": {"lr": 0.01}} and run["summary"] == {}
    store.update_run(rid, status="finished", summary={"best": {"f1": 0.5}}, epochs_done=3)
    df = store.list_runs()
    assert list(df.columns) == store.RUN_COLUMNS
    row = df.iloc[0]
    assert (row["id"], row["status"], row["summary"]["best"]["f1"], row["epochs_done"]) == (rid, "finished", 0.5, 3)


def test_list_runs_filters_by_sweep():
    sid = store.create_sweep("grid", {"optimizers": ["adam"]})
    a = store.create_run("a", {}, "d", sweep_id=sid)
    store.create_run("b", {}, "d")
    assert store.list_runs(sid)["id"].tolist() == [a]
    assert len(store.list_runs()) == 2
    assert store.get_sweep(sid)["config"] == {"optimizers": ["adam"]}
    assert store.list_sweeps()["id"].tolist() == [sid]


def test_unknown_ids_and_bad_fields():
    with pytest.raises(StoreError, match="unknown run 'nope'"):
        store.get_run("nope")
    with pytest.raises(StoreError, match="unknown run 'nope'"):
        store.update_run("nope", status="failed")
    with pytest.raises(StoreError, match="unknown sweep"):
        store.get_sweep("nope")
    rid = store.create_run("x", {}, "d")
    with pytest.raises(StoreError, match="unknown run status 'done'"):
        store.update_run(rid, status="done")
    with pytest.raises(StoreError, match="cannot update run fields \\['colour'\\]"):
        store.update_run(rid, colour="red")


def test_metrics_frame():
    rid = store.create_run("x", {}, "d")
    store.log_metrics(rid, 1, "valid", {"nll": 8.5, "f1": 0.4, "note": "skipped"}, wall_time=10.0)
    store.log_metrics(rid, 2, "valid", {"nll": 8.0})
    df = store.metrics_frame([rid])
    assert list(df.columns) == store.METRIC_COLUMNS
    assert df[df.name == "nll"]["value"].tolist() == [8.5, 8.0]
    assert set(df.name) == {"nll", "f1"}
    assert store.metrics_frame([]).empty


def test_wal_and_schema_version():
    store.create_run("x", {}, "d")
    con = sqlite3.connect(db_path())
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    con.execute(f"PRAGMA user_version = {db.SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match="schema version .* upgrade musicgen"):
        store.list_runs()


def test_dead_pid_marks_run_failed():
    rid = store.create_run("x", {}, "d")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    store.claim_run(rid, proc.pid)
    assert store.get_run(rid)["status"] == "failed"
    assert "process died" in store.get_run(rid)["error"]
    alive = store.create_run("y", {}, "d")
    store.claim_run(alive)  # this very process
    assert store.get_run(alive)["status"] == "running"


def test_zombie_counts_as_dead():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    rid = store.create_run("x", {}, "d")
    store.claim_run(rid, proc.pid)
    assert store.get_run(rid)["status"] == "running"
    proc.kill()
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead but not reaped: a zombie
    try:
        assert store.list_runs().iloc[0]["status"] == "failed"
    finally:
        proc.wait()


def test_unwritable_home(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MUSICGEN_HOME", str(blocker / "home"))
    with pytest.raises(StoreError, match="cannot open the run store .*file is a file, not a folder.*MUSICGEN_HOME to a writable"):
        store.create_run("x", {}, "d")


@pytest.mark.parametrize("damage", ["text", "truncated"])
def test_a_damaged_store_is_named_with_how_to_move_it_aside(damage):
    store.create_run("x", {}, "d")
    path = db_path()
    if damage == "text":
        path.write_text("notes, not a database " * 20)
    else:
        sqlite3.connect(path).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        path.write_bytes(path.read_bytes()[:8192])  # the header promises pages that are gone
    with pytest.raises(StoreError) as e:
        store.list_runs()
    msg = str(e.value)
    assert f"the run store {path} is damaged" in msg and f"mv {path} {path}.damaged" in msg, msg
    assert "writable" not in msg and "\n" not in msg


def test_an_epoch_logged_twice_keeps_one_row_per_metric():
    rid = store.create_run("x", {}, "d")
    store.log_metrics(rid, 1, "valid", {"nll": 9.0, "f1": 0.1}, wall_time=1.0)
    store.log_metrics(rid, 2, "valid", {"nll": 8.0}, wall_time=2.0)
    store.log_metrics(rid, 2, "valid", {"nll": 7.5, "f1": 0.3}, wall_time=3.0)  # epoch 2 again, after a resume
    df = store.metrics_frame(rid)
    assert len(df) == 4 and not df.duplicated(["epoch", "split", "name"]).any()
    assert df.query("epoch == 2 and name == 'nll'")[["value", "wall_time"]].values.tolist() == [[7.5, 3.0]]


def test_migration_keeps_the_newest_of_duplicate_metric_rows():
    path = db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)  # a version-1 store, as musicgen before the unique key wrote it
    con.executescript(db.MIGRATIONS[0] + "PRAGMA user_version = 1;")
    con.execute("INSERT INTO runs (id, name, created, status, config) VALUES ('r', 'x', '2024', 'stopped', '{}')")
    con.execute("INSERT INTO sweeps VALUES ('s', 'grid', '2024', '{}')")
    rows = [("r", e, "valid", "nll", v) for e, v in ((1, 9.0), (2, 8.0), (2, 7.0), (3, 6.0), (3, 5.0), (3, 4.0))]
    con.executemany("INSERT INTO metrics (run_id, epoch, split, name, value) VALUES (?,?,?,?,?)", rows)
    con.commit()
    con.close()
    df = store.metrics_frame("r")
    assert df["epoch"].tolist() == [1, 2, 3] and df["value"].tolist() == [9.0, 7.0, 4.0]
    assert store.get_sweep("s")["driver_pid"] is None
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION


def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_claim_checks_and_takes_the_run_in_one_step():
    rid = store.create_run("x", {}, "d")
    other = _sleeper()
    try:
        store.claim_run(rid, other.pid)
        with pytest.raises(StoreError, match=f"run {rid} is already being trained by process {other.pid}; stop it first"):
            store.claim_run(rid)
        assert store.get_run(rid)["pid"] == other.pid  # the refused claim changed nothing
    finally:
        other.kill()
        other.wait()
    store.claim_run(rid)  # its process died: the run can be taken over
    assert (store.get_run(rid)["status"], store.get_run(rid)["pid"]) == ("running", os.getpid())
    store.update_run(rid, status="finished")
    with pytest.raises(StoreError, match=f"run {rid} is finished; only a run that is queued or stopped or failed"):
        store.claim_run(rid)
    with pytest.raises(StoreError, match="unknown run 'nope'"):
        store.claim_run("nope")
    remote = store.create_run("y", {}, "d", status="running")  # a Ray task's row: no local pid
    with pytest.raises(StoreError, match="already being trained by another process"):
        store.claim_run(remote)


def test_a_restart_claim_clears_the_runs_history():
    rid = store.create_run("x", {}, "d", status="stopped")
    store.log_metrics(rid, 1, "valid", {"nll": 9.0})
    store.update_run(rid, epochs_done=1, summary={"best_epoch": 1})
    store.claim_run(rid, restart=True)
    run = store.get_run(rid)
    assert (run["status"], run["epochs_done"], run["summary"]) == ("running", 0, {}) and store.metrics_frame(rid).empty


def test_runs_left_by_a_dead_sweep_driver():
    sid = store.create_sweep("grid", {})
    driver, worker = _sleeper(), _sleeper()
    try:
        store.claim_sweep(sid, driver.pid)
        with pytest.raises(StoreError, match=f"sweep {sid} is already being run by process {driver.pid}"):
            store.claim_sweep(sid)
        queued = store.create_run("q", {}, "d", sweep_id=sid)
        training = store.create_run("t", {}, "d", sweep_id=sid)
        store.claim_run(training, worker.pid)
        assert store.get_run(queued)["status"] == "queued" and store.orphaned_workers() == []  # the driver lives
        driver.kill()
        driver.wait()
        run = store.get_run(queued)
        assert run["status"] == "failed" and f"driver (process {driver.pid}) ended before this run started" in run["error"]
        assert [(o["run_id"], o["pid"]) for o in store.orphaned_workers()] == [(training, worker.pid)]
        store.claim_sweep(sid)  # a new driver takes the sweep over
        assert store.orphaned_workers() == []
    finally:
        for p in (driver, worker):
            p.kill()
            p.wait()
