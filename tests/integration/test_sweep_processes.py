"""Sweeps end to end on a tiny dataset, in worker processes: local pool, a dying worker, interrupt and resume, Ray, the report."""

import os
import signal
import threading

import numpy as np
import pytest
from synthetic import SWEEP_MODEL, sweep_plan

from musicgen.config import DataConfig, TrainConfig, to_dict
from musicgen.errors import StoreError
from musicgen.runs import store
from musicgen.study.plan import plan_sweep
from musicgen.study.sweep import run_sweep


def tiny_dataset(home, name="tiny"):
    """Write a 12/4/4-window dataset of random sparse rolls (16 steps × 84 notes) under home/data; return its ref."""
    from musicgen.data.rolls import cut_windows, write_dataset

    cfg = DataConfig(seq_len=16, hop=16)
    rng = np.random.default_rng(0)
    splits = {}
    for split, n in (("train", 12), ("valid", 4), ("test", 4)):
        rolls = [(rng.random((16, 84)) < 0.05).astype(np.uint8) for _ in range(n)]
        splits[split] = cut_windows(rolls, [f"{split}{i}.mid" for i in range(n)], cfg)
    write_dataset(home / "data" / name, splits, {"id": f"{name}-id", "config": to_dict(cfg)})
    return name


def statuses(sweep_id):
    runs = store.list_runs(sweep_id)
    return sorted(runs["status"]), runs


@pytest.mark.slow
def test_local_sweep_end_to_end_with_a_dying_worker_then_resume_and_report(home, capsys):
    data = tiny_dataset(home)
    p = sweep_plan(data)
    killed = []

    def on_event(kind, *rest):
        if kind == "start" and not killed:
            killed.append(rest[0]["run_id"])
            os.kill(rest[1], signal.SIGKILL)  # the first worker dies mid-run

    result = run_sweep(p, "local", workers=2, on_event=on_event)
    st, runs = statuses(result["sweep_id"])
    assert st == ["failed"] + ["finished"] * 7
    dead = runs.set_index("id").loc[killed[0]]
    assert dead["status"] == "failed" and "worker exited with code -9" in dead["error"]
    finished = runs[runs["status"] == "finished"]
    assert (finished["epochs_done"] == 1).all()
    assert set(store.metrics_frame(list(finished["id"]))["split"]) == {"train", "valid", "test"}

    again = run_sweep(p, "local", workers=2)
    assert again["sweep_id"] == result["sweep_id"] and again["resumed"] and again["skipped"] == 7
    assert list(again["outcome"]) == [killed[0]] and again["outcome"][killed[0]] == "finished"  # only the dead run, same row
    st, runs = statuses(result["sweep_id"])
    assert st == ["finished"] * 8 and len(runs) == 8
    check_report_cli(result["sweep_id"], home, capsys)


def check_report_cli(sweep_id, home, capsys):
    """The report of a finished sweep answers the course work's four questions; bad ids and formats are user errors."""
    from musicgen.cli import main

    assert main(["report", sweep_id, "--samples", "2", "--steps", "8"]) == 0
    md = capsys.readouterr().out
    for heading in ("Training stability", "Convergence speed", "Generation quality", "Sparse targets", "tied with"):
        assert heading in md
    assert md.count("adam+bce") >= 5 and "rmsprop+focal" in md
    gen_rows = [ln for ln in md.split("## 3. Generation quality")[1].split("## 4.")[0].splitlines() if "+" in ln]
    assert len(gen_rows) == 4 and all(0 <= float(ln.split("|")[3]) <= 1 for ln in gen_rows)  # mean overlapping area
    out = home / "r.html"
    assert main(["report", sweep_id, "--format", "html", "--out", str(out), "--samples", "0"]) == 0
    assert "plotly" in out.read_text().lower()
    assert main(["report", "nope"]) == 2
    assert "unknown sweep 'nope'" in capsys.readouterr().err
    assert main(["report", sweep_id, "--format", "pdf"]) == 2
    assert "unknown --format 'pdf'" in capsys.readouterr().err


@pytest.mark.slow
def test_interrupted_sweep_stops_its_runs_and_resumes(home):
    data = tiny_dataset(home)
    # Enough epochs that the tiny model cannot finish between its first epoch and the Ctrl-C on a fast machine.
    p = plan_sweep(data, ["adam"], ["bce", "focal"], 1, SWEEP_MODEL, TrainConfig(epochs=150, batch_size=8, threads=1))
    started = []

    def on_event(kind, *rest):
        if kind == "start":
            started.append(rest[0]["run_id"])
            if len(started) == 2:
                # Ctrl-C while both runs train: as soon as the first has an epoch behind it.
                for _ in range(12000):
                    if store.get_run(started[0])["epochs_done"] >= 1:
                        break
                    threading.Event().wait(0.005)
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(p, "local", workers=2, on_event=on_event)
    sweep_id = store.list_sweeps()["id"].iloc[0]
    st, runs = statuses(sweep_id)
    assert st == ["stopped", "stopped"], st
    assert (runs["epochs_done"] < 150).all()
    store.claim_run(runs["id"].iloc[0])  # as if another driver were training it now
    with pytest.raises(StoreError, match="already running"):
        run_sweep(p, "local", workers=2)
    store.update_run(runs["id"].iloc[0], status="stopped")

    result = run_sweep(p, "local", workers=2)
    assert result["sweep_id"] == sweep_id and result["skipped"] == 0
    st, runs = statuses(sweep_id)
    assert st == ["finished"] * 2 and len(runs) == 2  # the stopped rows were resumed or reused, not duplicated
    assert (runs["epochs_done"] == 150).all()


@pytest.mark.slow
def test_ray_sweep_end_to_end(home):
    ray = pytest.importorskip("ray")  # requirements-ray.txt; `make test` installs it
    data = tiny_dataset(home)
    try:
        result = run_sweep(sweep_plan(data), "ray", num_cpus=2)
        st, runs = statuses(result["sweep_id"])
        assert st == ["finished"] * 8
        metrics = store.metrics_frame(list(runs["id"]))
        assert set(metrics["split"]) == {"train", "valid", "test"} and (metrics.groupby("run_id").size() > 10).all()
        for run_id in runs["id"]:  # the checkpoints came back to the driver
            assert (home / "checkpoints" / run_id / "best.pt").is_file()
        again = run_sweep(sweep_plan(data), "ray", num_cpus=2)
        assert again["skipped"] == 8 and again["outcome"] == {}
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_a_killed_driver_leaves_no_run_queued_or_training(home, capsys):
    import subprocess
    import sys
    import time
    from pathlib import Path

    from musicgen.cli import main
    from musicgen.processes import is_alive

    data = tiny_dataset(home)
    env = {**os.environ, "MUSICGEN_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    grid = ["--optimizers", "adam", "--losses", "bce,focal", "--seeds", "2", "--workers", "1", "--epochs", "100000"]
    tiny = ["--batch-size", "8", "--threads", "1", "--conv-channels", "4", "--hidden", "8", "--gru-layers", "1"]
    driver = subprocess.Popen(
        [sys.executable, "-m", "musicgen", "sweep", "--data", data, *grid, *tiny],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120  # a guard against hanging, not a timing assertion
        while True:
            assert driver.poll() is None and time.monotonic() < deadline
            runs = store.list_runs()
            training = runs[(runs["status"] == "running") & (runs["epochs_done"] >= 1)]
            if len(training) and (runs["status"] == "queued").sum() == 3:
                break
            time.sleep(0.1)
    finally:
        driver.kill()  # kill -9: no handler runs, nothing is stopped or marked
        driver.wait()
    worker = int(training["pid"].iloc[0])
    assert is_alive(worker)
    assert main(["runs"]) == 0
    err = capsys.readouterr().err
    assert f"stopping process {worker} of run {training['id'].iloc[0]}: its sweep's driver (process {driver.pid}) is gone" in err
    for _ in range(600):
        if not is_alive(worker):
            break
        time.sleep(0.1)
    assert not is_alive(worker)
    runs = store.list_runs().set_index("id")
    stopped = runs.loc[training["id"].iloc[0]]
    assert stopped["status"] == "stopped" and (home / "checkpoints" / stopped.name / "last.pt").is_file()
    orphans = runs[runs.index != stopped.name]
    assert (orphans["status"] == "failed").all() and len(orphans) == 3
    assert all(f"driver (process {driver.pid}) ended before this run started" in e for e in orphans["error"])
