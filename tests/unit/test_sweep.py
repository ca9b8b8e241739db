"""Sweep plans checked and named before anything runs; a Ray address that does not answer (runs: tests/integration)."""

import pytest
from synthetic import SWEEP_MODEL, SWEEP_TRAIN, sweep_plan

from musicgen.config import TrainConfig
from musicgen.errors import ConfigError
from musicgen.runs import store
from musicgen.study.plan import plan_sweep
from musicgen.study.sweep import run_sweep


def test_plan_rejects_bad_grids():
    with pytest.raises(ConfigError, match="unknown optimizers 'nadam'; choose from adam, adamw, rmsprop"):
        plan_sweep("d", ["adam", "nadam"], ["bce"], 1, SWEEP_MODEL, SWEEP_TRAIN)
    with pytest.raises(ConfigError, match="unknown losses 'dice'"):
        plan_sweep("d", ["adam"], ["dice"], 1, SWEEP_MODEL, SWEEP_TRAIN)
    with pytest.raises(ConfigError, match="--seeds must be an integer >= 1.*got 0"):
        plan_sweep("d", ["adam"], ["bce"], 0, SWEEP_MODEL, SWEEP_TRAIN)
    with pytest.raises(ConfigError, match="repeats a name"):
        plan_sweep("d", ["adam", "adam"], ["bce"], 1, SWEEP_MODEL, SWEEP_TRAIN)


def test_plan_names_runs_by_combination_seed_and_config():
    p = sweep_plan("d", seeds=3)
    assert len(p.runs) == 12 and len({r.name for r in p.runs}) == 12
    assert {r.seed for r in p.runs} == {0, 1, 2}
    assert p.runs[0].name.startswith("adam+bce s0 ")
    assert sweep_plan("d", seeds=3).config["hash"] == p.config["hash"]  # same command, same sweep
    assert sweep_plan("d", seeds=3, epochs=2).config["hash"] != p.config["hash"]
    # Threads change speed, not results: same identity.
    faster = plan_sweep(
        "d", ["adam", "rmsprop"], ["bce", "focal"], 3, SWEEP_MODEL, TrainConfig(epochs=1, batch_size=8, threads=2)
    )
    assert [r.name for r in faster.runs] == [r.name for r in p.runs]
    grid = plan_sweep("d", ["adam", "adamw"], ["bce"], 1, SWEEP_MODEL, SWEEP_TRAIN)
    decays = {r.optimizer: r.train["weight_decay"] for r in grid.runs}
    assert decays == {"adam": 0.0, "adamw": 0.01}  # the default decay follows each optimizer


def test_a_ray_address_that_does_not_answer_fails_fast(home):
    pytest.importorskip("ray")
    from musicgen.runs.ray_cluster import probe_address

    with pytest.raises(ConfigError, match="no Ray cluster answers at 127.0.0.1:9"):
        run_sweep(sweep_plan("nothing"), "ray", address="127.0.0.1:9")
    with pytest.raises(ConfigError, match="bad --ray-address 'nohost'"):
        probe_address("nohost")
    assert store.list_sweeps().empty  # nothing queued for a cluster that is not there


def test_a_worker_that_lost_its_claim_does_not_fail_the_run_of_the_winner(home):
    import subprocess
    import sys

    from musicgen.study.plan import mark_failed

    rid = store.create_run("x", {}, "d", status="stopped")
    winner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store.claim_run(rid, winner.pid)
        mark_failed(rid, "worker exited with code 2: error: run is already being trained", pid=winner.pid + 1)
        assert store.get_run(rid)["status"] == "running"
        mark_failed(rid, "worker exited with code -9", pid=winner.pid)  # its own worker died
        assert store.get_run(rid)["status"] == "failed"
    finally:
        winner.kill()
        winner.wait()


@pytest.mark.parametrize("backend", ["local", "ray"])
@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--cpus-per-run", "nan", "--cpus-per-run must be > 0 and finite, got nan; e.g. --cpus-per-run 1"),
        ("--cpus-per-run", "-1", "--cpus-per-run must be > 0 and finite, got -1.0; e.g. --cpus-per-run 1"),
        ("--gpus-per-run", "nan", "--gpus-per-run must be >= 0 and finite, got nan; e.g. --gpus-per-run 0"),
        ("--gpus-per-run", "-1", "--gpus-per-run must be >= 0 and finite, got -1.0; e.g. --gpus-per-run 0"),
    ],
)
def test_bad_ray_resources_are_one_line_errors_with_either_backend(home, capsys, backend, flag, value, message):
    from musicgen.cli import main

    assert main(["sweep", "--data", "builtin:bach", "--backend", backend, flag, value]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_a_plan_with_two_heads_names_the_nade_runs_and_keeps_old_identities():
    before_heads = sweep_plan("d", seeds=1)  # names and hash as the code before the nade head gave them
    assert before_heads.config["hash"] == "9bc6a7371d" and "heads" not in before_heads.config
    assert [r.name for r in before_heads.runs][:2] == ["adam+bce s0 96999c10a7", "adam+focal s0 53f8aca168"]
    p = plan_sweep("d", ["adam", "rmsprop"], ["bce"], 2, SWEEP_MODEL, SWEEP_TRAIN, heads=["independent", "nade"])
    assert len(p.runs) == 8 and len({r.name for r in p.runs}) == 8 and p.config["heads"] == ["independent", "nade"]
    assert {r.head for r in p.runs} == {"independent", "nade"} and all(r.model["head"] == r.head for r in p.runs)
    independent = [r.name for r in p.runs if r.head == "independent"]
    assert independent[0] == "adam+bce s0 96999c10a7"  # the same run as in the plan without heads: found and skipped
    assert [r.name.split()[0] for r in p.runs if r.head == "nade"] == ["adam+bce+nade"] * 2 + ["rmsprop+bce+nade"] * 2
    assert "independent/nade" in p.name and p.config["hash"] != before_heads.config["hash"]
    with pytest.raises(ConfigError, match="--heads nade trains on the exact likelihood, not focal: use --losses bce"):
        plan_sweep("d", ["adam"], ["bce", "focal"], 1, SWEEP_MODEL, SWEEP_TRAIN, heads=["independent", "nade"])
    with pytest.raises(ConfigError, match="unknown heads 'made'"):
        plan_sweep("d", ["adam"], ["bce"], 1, SWEEP_MODEL, SWEEP_TRAIN, heads=["made"])


def test_sweep_heads_errors_are_one_line(home, capsys):
    from musicgen.cli import main

    for argv, match in [
        (["--heads", "independent,nade"], "--heads nade trains on the exact likelihood, not focal"),
        (["--heads", "nade", "--head", "nade"], "give --heads (the heads to compare) or --head, not both"),
    ]:
        assert main(["sweep", "--data", "builtin:bach", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and match in err, err
    assert store.list_runs().empty
