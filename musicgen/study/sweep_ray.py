"""The Ray backend of a sweep: each run is a Ray task; the driver alone writes the SQLite store.

A task trains in a private MUSICGEN_HOME (a temporary folder, or `storage` when the user names a
shared one) with a `CallbackReporter` whose events travel through a Ray queue to the driver, which
replays them with `reporters.apply_event`. The dataset goes to the workers through the object store
and the checkpoints come back with the task's result, so no shared filesystem is needed.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

from musicgen.errors import ConfigError, MusicgenError
from musicgen.paths import atomic_write, run_dir
from musicgen.runs import store
from musicgen.runs.ray_cluster import dataset_files, init_ray, private_home, write_dataset_files
from musicgen.runs.reporters import CallbackReporter, apply_event
from musicgen.study.plan import STOP_GRACE_S, mark_failed, run_of, status_of, train_payload, with_threads


def _train_task(payload: dict, dataset_files: dict, queue, storage: str | None) -> dict:
    """Body of one Ray task: train in a private home, ship events, return {run_id, checkpoints: {name: bytes}}."""
    with tempfile.TemporaryDirectory(prefix="musicgen-ray-") as tmp, private_home(storage or tmp):
        home = Path(storage or tmp)
        if dataset_files:
            folder = Path(tmp) / "dataset"
            folder.mkdir(parents=True, exist_ok=True)
            write_dataset_files(dataset_files, folder)
            payload = {**payload, "data": str(folder)}
        run_id = run_of(payload)  # the driver queued the row, so the id is known before the run starts
        try:
            train_payload(payload, CallbackReporter(queue.put))
        except KeyboardInterrupt:  # ray.cancel: the trainer has reported 'stopped'; ship its checkpoint back too
            pass
        ckpts = {}
        folder = home / "checkpoints" / run_id
        if storage is None and folder.is_dir():
            ckpts = {p.name: p.read_bytes() for p in sorted(folder.glob("*.pt"))}
        return {"run_id": run_id, "checkpoints": ckpts}


def run_ray(
    payloads: list[dict],
    sweep_id: str,
    address: str | None = None,
    cpus_per_run: float = 1,
    gpus_per_run: float = 0,
    storage: str | None = None,
    num_cpus: int | None = None,
    on_event=None,
) -> dict:
    """Train `payloads` as Ray tasks; replay their events into the store; return {run id: status}."""
    if cpus_per_run <= 0 or gpus_per_run < 0:
        raise ConfigError(f"--cpus-per-run must be > 0 and --gpus-per-run >= 0, got {cpus_per_run} and {gpus_per_run}")
    if not payloads:
        return {}
    ray = init_ray(address, num_cpus)
    from ray.util.queue import Queue  # lazy: Ray is optional (requirements-ray.txt); only --backend ray needs it

    note = on_event or (lambda *a: None)
    files, data_path = dataset_files(payloads[0]["data"])
    files_ref = ray.put(files)
    queue = Queue()
    task = ray.remote(_train_task).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)
    refs = {}
    for payload in payloads:
        payload = with_threads(payload, max(1, int(cpus_per_run)))
        refs[task.remote(payload, files_ref, queue, storage)] = (payload, time.time())
        note("start", payload, None)

    def drain():
        while queue.qsize():
            for method, kwargs in queue.get_nowait_batch(queue.qsize()):
                if "config" in kwargs:  # the worker trained from its private copy: point the run at the driver's dataset
                    kwargs = {**kwargs, "config": {**kwargs["config"], "data": payloads[0]["data"], "data_path": data_path}}
                apply_event((method, kwargs))

    outcome = {}
    try:
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            drain()
            for ref in ready:
                payload, t0 = refs.pop(ref)
                try:
                    _save_checkpoints(ray.get(ref))
                except (ray.exceptions.RayError, MusicgenError) as e:
                    lines = [ln for ln in str(e).strip().splitlines() if ln.strip()] or [type(e).__name__]
                    drain()
                    mark_failed(run_of(payload), f"ray task failed: {lines[-1][:300]}")
                drain()
                outcome[run_of(payload)] = status_of(run_of(payload))
                note("end", payload, outcome[run_of(payload)], time.time() - t0)
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref)  # KeyboardInterrupt inside the task: the trainer reports 'stopped'
        deadline = time.time() + STOP_GRACE_S
        while refs and time.time() < deadline:
            ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0.5)
            drain()
            for ref in ready:
                payload, _ = refs.pop(ref)
                with contextlib.suppress(ray.exceptions.RayError):  # a cancelled task has nothing to save
                    _save_checkpoints(ray.get(ref))
        drain()
        for payload in payloads:
            run_id = run_of(payload)
            if status_of(run_id) in ("running", "queued"):
                store.update_run(run_id, status="stopped", error="sweep interrupted")
        raise
    return outcome


def _save_checkpoints(result: dict) -> None:
    """Write checkpoints shipped back by a task under the driver's checkpoints folder."""
    if not result or not result.get("run_id"):
        return
    for fname, blob in result.get("checkpoints", {}).items():
        with atomic_write(run_dir(result["run_id"]) / fname) as tmp:
            tmp.write_bytes(blob)
