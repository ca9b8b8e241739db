"""One run from a dataset to checkpoints, metrics in the store, and a summary (its epochs: `loop.Trainer`).

`run_training` creates (or resumes) a run, trains epoch by epoch, evaluates on validation after
each epoch, keeps `checkpoints/<run-id>/last.pt` (every epoch, and on a stop request) and
`best.pt` (best validation monitor), then evaluates `best.pt` on the test split with the
validation-chosen threshold. With `TrainConfig.ema`, validation, best.pt and the test use the
moving average of the weights; last.pt keeps both, so a resumed run averages on exactly. Every
run-store write goes through a reporter (`musicgen.runs.reporters`); resuming exactly (position, RNG,
configs) is `resume`'s.

The run is taken for this process with one store transaction (`reporter.start`) before anything
is written: a second process resuming the same run stops there ("already being trained by
process N") and changes nothing. Metrics of an epoch replace those logged before, so an epoch
that a kill cut short between its metrics and last.pt is logged again, once.

Outcomes: finished (summary returned); stopped (`stop` event set: the current step finishes,
last.pt is saved, status 'stopped', summary returned); NaN or infinite loss or gradient ->
status 'failed' with a plain reason and `NonFiniteError` (the CLI exits 3); any other error ->
status 'failed' and the error propagates.
"""

from __future__ import annotations

import dataclasses
import threading

from musicgen.config import ModelConfig, TrainConfig, check_head_loss, code_version, to_dict
from musicgen.data.datasets import load_dataset
from musicgen.errors import ConfigError, MusicgenError, TrainingError
from musicgen.paths import run_dir
from musicgen.runs.reporters import StoreReporter
from musicgen.runs.store import CLAIMABLE
from musicgen.training import checkpoint as ckpt_io
from musicgen.training.batches import check_step_memory
from musicgen.training.device import check_threads, resolve_device, resolve_precision
from musicgen.training.loop import NonFiniteError, Trainer
from musicgen.training.ray_train import backend_of
from musicgen.training.resume import forget_checkpoints, load_resume


def fit_model_to_data(model_cfg: ModelConfig, ds) -> ModelConfig:
    """Return `model_cfg` set to the dataset: its note count, whether it predicts onsets, the beat grid of `position`."""
    onsets = ds.onsets
    spb = ds.config.steps_per_beat
    if model_cfg.position and not onsets:
        raise TrainingError(f"--position reads the beat of onset-aware data; dataset {ds.name} is hold-only: drop --position")
    if model_cfg.position and not spb:
        raise TrainingError(
            f"--position needs a beat grid; dataset {ds.name} has a fixed grid in seconds (--fs): "
            "rebuild it with --steps-per-beat, or drop --position"
        )
    return dataclasses.replace(
        model_cfg, n_notes=ds.config.n_notes, onsets=onsets, steps_per_beat=spb if model_cfg.position else 0
    )


def run_training(
    data_ref,
    model_cfg: ModelConfig | None = None,
    train_cfg: TrainConfig | None = None,
    name=None,
    resume=None,
    sweep_id=None,
    reporter=None,
    progress=False,
    stop: threading.Event | None = None,
    on_start=None,
    epochs: int | None = None,
    run_id: str | None = None,
    restart: bool = False,
    backend=None,
) -> dict:
    """Train one run and return its summary dict (id, name, status, epochs_done, best_epoch, best, test, baselines, threshold).

    data_ref: dataset folder, name under data_dir() or 'builtin:bach' (ignored on resume: the run's own).
    resume: a run id whose last.pt is continued exactly (epoch, batch, optimizer, scheduler, RNG);
    `epochs` then overrides the run's epoch count; with `restart` the run starts over from epoch 0
    with its stored config (its metrics and checkpoints cleared). run_id: a queued run created
    beforehand (sweeps).
    on_start(run_id) is called once the run exists; `stop` ends the run gracefully when set.
    backend: None (this process; on resume, the backend the run trained with), "local" (this process), or a
    `musicgen.training.ray_train.RayBackend` (data-parallel workers on Ray Train).
    """
    reporter = reporter or StoreReporter()
    ckpt = None
    if resume:
        run, model_cfg, train_cfg = load_resume(resume, epochs, restart)
        data_ref = run["config"].get("data_path") or run["config"]["data"]
        name = run["name"]
        if backend is None:
            backend = backend_of(run["config"])
    backend = None if backend == "local" else backend
    model_cfg = model_cfg or ModelConfig()
    train_cfg = train_cfg or TrainConfig()
    check_head_loss(model_cfg, train_cfg)  # before anything is loaded or created
    device = backend.resolve_device(train_cfg.device, train_cfg.threads) if backend else resolve_device(train_cfg.device)
    if backend is None:  # a Ray worker's cores are its own machine's
        check_threads(train_cfg.threads)
    ds = load_dataset(data_ref)
    if resume and not restart and ds.id != run["dataset_id"]:
        raise TrainingError(
            f"dataset {data_ref} changed since run {resume} started (id {ds.id} != {run['dataset_id']}); start a new run"
        )
    model_cfg = fit_model_to_data(model_cfg, ds)
    if train_cfg.monitor == "onset_f1" and not model_cfg.onsets:
        raise TrainingError(f"dataset {ds.name} is hold-only and has no onset F1; use --monitor nll or f1_best")
    if train_cfg.transpose >= ds.config.n_notes:  # a shift that wide moves every note out of the keys
        raise ConfigError(
            f"transpose {train_cfg.transpose} is as wide as the {ds.config.n_notes} keys of dataset {ds.name}; "
            f"use at most {ds.config.n_notes - 1} semitones, e.g. --transpose 2"
        )
    train_np, _train_len = ds.split("train")
    valid_np, _valid_len = ds.split("valid")
    if len(train_np) == 0 or len(valid_np) == 0:
        raise TrainingError(
            f"dataset {ds.name} has {len(train_np)} training and {len(valid_np)} validation sequences; both must be > 0"
        )
    if backend is None:  # the workers' memory is not this machine's
        check_step_memory(model_cfg, min(train_cfg.batch_size, len(train_np)), train_np.shape[1], device)  # before the run exists
    config = {
        "data": str(data_ref),
        "data_path": str(ds.path),
        "dataset": ds.name,
        "model": to_dict(model_cfg),
        "train": to_dict(train_cfg),
        "data_config": to_dict(ds.config),
        "device": str(device),
        "precision": resolve_precision(train_cfg.precision, device, model_cfg),  # what "auto" became here
        **({"backend": backend.to_dict()} if backend else {}),
        "code_version": code_version(),
    }
    # Take the run first: a process that loses the claim raises here, before it changes anything.
    if resume:
        run_id = resume
        finished_ok = epochs is not None or restart  # extending a finished run, or starting it over
        reporter.start(run_id, statuses=CLAIMABLE + (("finished",) if finished_ok else ()), restart=restart)
    elif run_id:
        reporter.start(run_id, statuses=("queued",))
        reporter.update_run(run_id, config=config, dataset_id=ds.id, name=name or run_id)
    else:
        name = name or f"{train_cfg.optimizer}-{train_cfg.loss}" + ("-nade" if model_cfg.head == "nade" else "")
        run_id = reporter.create_run(name, config, ds.id, sweep_id=sweep_id)
        reporter.start(run_id)
    if on_start:
        on_start(run_id)
    try:
        if resume and restart:
            forget_checkpoints(run_id)
            reporter.update_run(run_id, config=config, dataset_id=ds.id)
        elif resume:
            ckpt = ckpt_io.load_checkpoint(run_dir(run_id) / "last.pt")
            reporter.update_run(run_id, config=config)
        if backend is not None:
            return backend.train(run_id, name, ds, model_cfg, train_cfg, device, reporter, stop or threading.Event(), bool(ckpt))
        return Trainer(run_id, name, ds, model_cfg, train_cfg, device, reporter, progress, stop).run(ckpt)
    except NonFiniteError as e:
        reporter.update_run(run_id, status="failed", error=str(e))
        raise
    except KeyboardInterrupt:
        reporter.update_run(run_id, status="stopped", error="interrupted before last.pt was saved")
        raise
    except BaseException as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        reporter.update_run(run_id, status="failed", error=msg if isinstance(e, MusicgenError) else f"{type(e).__name__}: {msg}")
        raise
