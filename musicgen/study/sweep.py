"""Run a planned sweep: open or resume it in the store, then train what is left on the local pool or on Ray."""

from __future__ import annotations

import time

from musicgen.data.datasets import load_dataset
from musicgen.errors import ConfigError
from musicgen.parallel import usable_cores
from musicgen.study.plan import Plan, open_sweep, pending, queue_runs
from musicgen.study.sweep_local import run_local
from musicgen.study.sweep_ray import init_ray, run_ray


def run_sweep(plan: Plan, backend: str = "local", workers: int | None = None, on_event=None, **ray_options) -> dict:
    """Open (or resume) the plan's sweep and train what is left; return {sweep_id, resumed, skipped, outcome, driver_cpu_s}."""
    if backend not in ("local", "ray"):
        raise ConfigError(f"unknown backend {backend!r}; choose local or ray")
    cpu0 = time.process_time()
    if backend == "ray":  # connect first: a wrong address must fail before anything is queued
        init_ray(ray_options.get("address"), ray_options.get("num_cpus"))
    dataset_id = load_dataset(plan.data).id  # fails early on a bad ref, and builds builtin:bach once, not per worker
    sweep_id, resumed = open_sweep(plan)
    if on_event:
        on_event("sweep", sweep_id, resumed)
    todo = pending(plan, sweep_id)
    payloads = queue_runs(plan, sweep_id, todo, dataset_id, local_checkpoints=backend == "local")
    if backend == "local":
        outcome = run_local(payloads, workers or usable_cores(), on_event)
    else:
        outcome = run_ray(payloads, sweep_id, on_event=on_event, **ray_options)
    # Only the driver's own CPU: the bookkeeping a cluster would have to absorb per run.
    return {
        "sweep_id": sweep_id,
        "resumed": resumed,
        "skipped": len(plan.runs) - len(todo),
        "outcome": outcome,
        "driver_cpu_s": time.process_time() - cpu0,
    }
