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
    from musicgen.study.sweep_ray import probe_address

    with pytest.raises(ConfigError, match="no Ray cluster answers at 127.0.0.1:9"):
        run_sweep(sweep_plan("nothing"), "ray", address="127.0.0.1:9")
    with pytest.raises(ConfigError, match="bad --ray-address 'nohost'"):
        probe_address("nohost")
    assert store.list_sweeps().empty  # nothing queued for a cluster that is not there
