"""Sweeps end to end on a tiny dataset: local pool, a dying worker, interrupt and resume, Ray, and the report."""

import os
import signal
import threading

import numpy as np
import pytest

from musicgen.runs import store
from musicgen.config import DataConfig, ModelConfig, TrainConfig, to_dict
from musicgen.errors import ConfigError, StoreError
from musicgen.study.plan import plan_sweep
from musicgen.study.sweep import run_sweep

TINY_MODEL = ModelConfig(conv_channels=4, hidden=8, gru_layers=1, dropout=0.0)
TINY_TRAIN = TrainConfig(epochs=1, batch_size=8, threads=1)


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


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGEN_HOME", str(tmp_path))
    return tmp_path


def plan(data, seeds=2, epochs=1, **kw):
    return plan_sweep(data, ["adam", "rmsprop"], ["bce", "focal"], seeds, TINY_MODEL, TrainConfig(epochs=epochs, batch_size=8, threads=1),
                      **kw)


def statuses(sweep_id):
    runs = store.list_runs(sweep_id)
    return sorted(runs["status"]), runs


def test_plan_rejects_bad_grids():
    with pytest.raises(ConfigError, match="unknown optimizers 'nadam'; choose from adam, adamw, rmsprop"):
        plan_sweep("d", ["adam", "nadam"], ["bce"], 1, TINY_MODEL, TINY_TRAIN)
    with pytest.raises(ConfigError, match="unknown losses 'dice'"):
        plan_sweep("d", ["adam"], ["dice"], 1, TINY_MODEL, TINY_TRAIN)
    with pytest.raises(ConfigError, match="--seeds must be an integer >= 1.*got 0"):
        plan_sweep("d", ["adam"], ["bce"], 0, TINY_MODEL, TINY_TRAIN)
    with pytest.raises(ConfigError, match="repeats a name"):
        plan_sweep("d", ["adam", "adam"], ["bce"], 1, TINY_MODEL, TINY_TRAIN)


def test_plan_names_runs_by_combination_seed_and_config():
    p = plan("d", seeds=3)
    assert len(p.runs) == 12 and len({r.name for r in p.runs}) == 12
    assert {r.seed for r in p.runs} == {0, 1, 2}
    assert p.runs[0].name.startswith("adam+bce s0 ")
    assert plan("d", seeds=3).config["hash"] == p.config["hash"]  # same command, same sweep
    assert plan("d", seeds=3, epochs=2).config["hash"] != p.config["hash"]
    # Threads change speed, not results: same identity.
    faster = plan_sweep("d", ["adam", "rmsprop"], ["bce", "focal"], 3, TINY_MODEL, TrainConfig(epochs=1, batch_size=8, threads=2))
    assert [r.name for r in faster.runs] == [r.name for r in p.runs]
    decays = {r.optimizer: r.train["weight_decay"] for r in plan_sweep("d", ["adam", "adamw"], ["bce"], 1, TINY_MODEL, TINY_TRAIN).runs}
    assert decays == {"adam": 0.0, "adamw": 0.01}  # the default decay follows each optimizer


@pytest.mark.slow
def test_local_sweep_end_to_end_with_a_dying_worker_then_resume_and_report(home, capsys):
    data = tiny_dataset(home)
    p = plan(data)
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
    p = plan_sweep(data, ["adam"], ["bce", "focal"], 1, TINY_MODEL, TrainConfig(epochs=30, batch_size=8, threads=1))
    started = []

    def on_event(kind, *rest):
        if kind == "start":
            started.append(rest[0]["run_id"])
            if len(started) == 2:
                # Ctrl-C while both runs train: once the first has an epoch behind it (a fixed wait is too
                # long on an idle machine, where the tiny model runs all 30 epochs in a few seconds).
                for _ in range(1200):
                    if store.get_run(started[0])["epochs_done"] >= 1:
                        break
                    threading.Event().wait(0.05)
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(p, "local", workers=2, on_event=on_event)
    sweep_id = store.list_sweeps()["id"].iloc[0]
    st, runs = statuses(sweep_id)
    assert "running" not in st and "queued" not in st and "finished" not in st
    store.claim_run(runs["id"].iloc[0])  # as if another driver were training it now
    with pytest.raises(StoreError, match="already running"):
        run_sweep(p, "local", workers=2)
    store.update_run(runs["id"].iloc[0], status="stopped")

    result = run_sweep(p, "local", workers=2)
    assert result["sweep_id"] == sweep_id and result["skipped"] == 0
    st, runs = statuses(sweep_id)
    assert st == ["finished"] * 2 and len(runs) == 2  # the stopped rows were resumed or reused, not duplicated
    assert (runs["epochs_done"] == 30).all()


@pytest.mark.slow
def test_ray_sweep_end_to_end(home):
    ray = pytest.importorskip("ray")  # requirements-ray.txt; `make test` installs it
    data = tiny_dataset(home)
    try:
        result = run_sweep(plan(data), "ray", num_cpus=2)
        st, runs = statuses(result["sweep_id"])
        assert st == ["finished"] * 8
        metrics = store.metrics_frame(list(runs["id"]))
        assert set(metrics["split"]) == {"train", "valid", "test"} and (metrics.groupby("run_id").size() > 10).all()
        for run_id in runs["id"]:  # the checkpoints came back to the driver
            assert (home / "checkpoints" / run_id / "best.pt").is_file()
        again = run_sweep(plan(data), "ray", num_cpus=2)
        assert again["skipped"] == 8 and again["outcome"] == {}
    finally:
        ray.shutdown()


def test_a_ray_address_that_does_not_answer_fails_fast(home):
    pytest.importorskip("ray")
    from musicgen.study.sweep_ray import probe_address

    with pytest.raises(ConfigError, match="no Ray cluster answers at 127.0.0.1:9"):
        run_sweep(plan("nothing"), "ray", address="127.0.0.1:9")
    with pytest.raises(ConfigError, match="bad --ray-address 'nohost'"):
        probe_address("nohost")
    assert store.list_sweeps().empty  # nothing queued for a cluster that is not there
