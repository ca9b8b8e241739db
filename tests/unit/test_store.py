"""The run store: round trips, errors, schema version, dead and zombie pids (a concurrent writer: tests/integration)."""

import os
import sqlite3
import subprocess
import sys

import pytest

from musicgen.errors import StoreError
from musicgen.paths import db_path
from musicgen.runs import store

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
    assert con.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    con.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match="schema version .* upgrade musicgen"):
        store.list_runs()


def test_dead_pid_marks_run_failed():
    rid = store.create_run("x", {}, "d", status="running")
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
    with pytest.raises(StoreError, match="cannot use the run store .*set MUSICGEN_HOME to a writable folder"):
        store.create_run("x", {}, "d")
