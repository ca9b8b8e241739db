"""Run a planned sweep: open or resume it in the store, then train what is left on the local pool or on Ray.

The driver records itself on the sweep's row (`store.claim_sweep`): a second driver of the same sweep
is refused, and when the driver dies the runs it queued are marked failed and the workers it started
are stopped by the next `runs` or `sweep` (`jobs.stop_orphaned_workers`).
"""

from __future__ import annotations

import time

from musicgen.data.datasets import load_dataset
from musicgen.errors import ConfigError
from musicgen.parallel import usable_cores
from musicgen.runs import jobs, store
from musicgen.study.plan import STOP_GRACE_S, Plan, open_sweep, pending, queue_runs
from musicgen.study.sweep_local import run_local
from musicgen.study.sweep_ray import init_ray, run_ray


def run_sweep(
    plan: Plan, backend: str = "local", workers: int | None = None, on_event=None, keep_diverged: bool = False, **ray_options
) -> dict:
    """Open (or resume) the plan's sweep and train what is left; return {sweep_id, resumed, skipped, outcome, driver_cpu_s}.

    keep_diverged: runs that diverged before are not retried (see plan.pending).
    """
    if backend not in ("local", "ray"):
        raise ConfigError(f"unknown backend {backend!r}; choose local or ray")
    cpu0 = time.process_time()
    if backend == "ray":  # connect first: a wrong address must fail before anything is queued
        init_ray(ray_options.get("address"), ray_options.get("num_cpus"))
    dataset_id = load_dataset(plan.data).id  # fails early on a bad ref, and builds builtin:bach once, not per worker
    sweep_id, resumed = open_sweep(plan)
    # Workers left by a driver that died (of this sweep or another) would keep their runs 'running': stop them first.
    orphans = jobs.stop_orphaned_workers(wait_s=STOP_GRACE_S)
    store.claim_sweep(sweep_id)
    if on_event:
        if orphans:
            on_event("orphans", orphans)
        on_event("sweep", sweep_id, resumed)
    todo = pending(plan, sweep_id, keep_diverged)
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
