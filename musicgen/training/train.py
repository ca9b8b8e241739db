"""The training loop: one run from a dataset to checkpoints, metrics in the store, and a summary.

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
import time
from pathlib import Path

import torch

from musicgen.config import MONITORS, ModelConfig, TrainConfig, check_head_loss, code_version, to_dict
from musicgen.data.datasets import load_dataset
from musicgen.errors import ConfigError, MusicgenError, TrainingError
from musicgen.nn.convgru import ConvGRU
from musicgen.paths import run_dir
from musicgen.runs.divergence import NON_FINITE
from musicgen.runs.progress import ProgressWriter
from musicgen.runs.reporters import StoreReporter
from musicgen.runs.store import CLAIMABLE
from musicgen.training import checkpoint as ckpt_io
from musicgen.training.batches import Split, bucketed_order, check_step_memory, pitch_bounds, random_shifts, transpose_rolls
from musicgen.training.device import autocast, check_threads, resolve_device, set_threads
from musicgen.training.evaluate import evaluate_model, split_baselines
from musicgen.training.losses import make_loss
from musicgen.training.metrics import all_finite
from musicgen.training.onset_metrics import chain_logits, markov3_table, model_terms
from musicgen.training.optim import current_lr, make_optimizer, make_scheduler, step_scheduler
from musicgen.training.resume import Progress, forget_checkpoints, load_resume, rng_state, set_rng_state
from musicgen.training.shard_batches import note_frequency


def _copy_weights(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


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


class NonFiniteError(TrainingError):
    """The loss or the gradient became NaN or infinite; the run is marked failed."""

    exit_code = 3


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
) -> dict:
    """Train one run and return its summary dict (id, name, status, epochs_done, best_epoch, best, test, baselines, threshold).

    data_ref: dataset folder, name under data_dir() or 'builtin:bach' (ignored on resume: the run's own).
    resume: a run id whose last.pt is continued exactly (epoch, batch, optimizer, scheduler, RNG);
    `epochs` then overrides the run's epoch count; with `restart` the run starts over from epoch 0
    with its stored config (its metrics and checkpoints cleared). run_id: a queued run created
    beforehand (sweeps).
    on_start(run_id) is called once the run exists; `stop` ends the run gracefully when set.
    """
    reporter = reporter or StoreReporter()
    ckpt = None
    if resume:
        run, model_cfg, train_cfg = load_resume(resume, epochs, restart)
        data_ref = run["config"].get("data_path") or run["config"]["data"]
        name = run["name"]
    model_cfg = model_cfg or ModelConfig()
    train_cfg = train_cfg or TrainConfig()
    check_head_loss(model_cfg, train_cfg)  # before anything is loaded or created
    device = resolve_device(train_cfg.device)
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
    check_step_memory(model_cfg, min(train_cfg.batch_size, len(train_np)), train_np.shape[1], device)  # before the run exists
    config = {
        "data": str(data_ref),
        "data_path": str(ds.path),
        "dataset": ds.name,
        "model": to_dict(model_cfg),
        "train": to_dict(train_cfg),
        "data_config": to_dict(ds.config),
        "device": str(device),
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
        return _Trainer(run_id, name, ds, model_cfg, train_cfg, device, reporter, progress, stop).run(ckpt)
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


class _Trainer:
    """One run's state; `run` drives the epochs."""

    def __init__(self, run_id, name, ds, model_cfg, cfg: TrainConfig, device, reporter, progress, stop):
        self.run_id, self.name, self.ds, self.cfg, self.device = run_id, name, ds, cfg, device
        self.reporter, self.progress, self.stop = reporter, progress, stop or threading.Event()
        self.dir = run_dir(run_id)
        # A trainer killed with -9 inside a checkpoint write leaves its temporary file (never the checkpoint
        # half-written): one trainer owns a run's folder at a time, so what is left there is stale.
        for stale in self.dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        set_threads(cfg.threads, device)
        torch.manual_seed(cfg.seed)
        self.shuffle = torch.Generator().manual_seed(cfg.seed + 1)
        self.model = ConvGRU(model_cfg).to(device)
        self.model_cfg = model_cfg
        self.optimizer = make_optimizer(self.model.parameters(), cfg)
        self.scheduler = make_scheduler(self.optimizer, cfg)
        self.train = Split.from_dataset(ds, "train", device)
        self.bounds = pitch_bounds(self.train.rolls) if cfg.transpose else None
        self.valid = Split.from_dataset(ds, "valid", device)
        test = Split.from_dataset(ds, "test", device)
        self.test = test if len(test) else None
        note_freq = note_frequency(self.train)  # (N,) over real steps; a sharded split's a chunk at a time
        # An onset model starts as the per-note Markov chain of the training split; a hold-only one at the note rates.
        if model_cfg.onsets:
            self.model.init_from_chain(chain_logits(markov3_table(self.train.rolls, self.train.lengths)))
        else:
            self.model.init_output_bias(note_freq)  # a resumed run overwrites it with its own weights
        self.ema = _copy_weights(self.model) if cfg.ema else None
        self.train_density = float(note_freq.mean())
        self.loss_fn = make_loss(cfg, self.train_density)
        self.direction = MONITORS[cfg.monitor]

    def _payload(self, p: Progress, which: str) -> dict:
        # best.pt holds the weights that were validated (the average, when there is one); last.pt the trained
        # ones and the average beside them, to go on exactly.
        averaged = which == "best" and self.ema is not None
        return {
            "model_config": to_dict(self.model_cfg),
            "data_config": to_dict(self.ds.config),
            "train_config": to_dict(self.cfg),
            "model_state": self.ema if averaged else self.model.state_dict(),
            **({"ema_state": self.ema} if self.ema is not None and not averaged else {}),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict() if self.scheduler else None,
            **p.to_payload(),
            "rng": rng_state(self.shuffle),
            "run_id": self.run_id,
            "dataset_id": self.ds.id,
            "train_density": self.train_density,
            "onsets": self.model_cfg.onsets,  # the dataset is onset-aware: onset F1 and the NLL lead its metrics
            "scoring": self.ds.scoring,
        }

    def _save(self, which: str, p: Progress) -> Path:
        path = self.dir / f"{which}.pt"
        ckpt_io.save_checkpoint(path, self._payload(p, which))  # atomic; a failure is one CheckpointError line: path, cause
        return path

    def _restore(self, ck: dict) -> Progress:
        self.model.load_state_dict(ck["model_state"])
        if self.ema is not None:
            self.ema = {k: v.to(self.device) for k, v in ck["ema_state"].items()}
        self.optimizer.load_state_dict(ck["optimizer_state"])
        if self.scheduler is not None and ck.get("scheduler_state"):
            self.scheduler.load_state_dict(ck["scheduler_state"])
        set_rng_state(ck["rng"], self.shuffle)
        return Progress.from_checkpoint(ck)

    def _fail(self, what: str, epoch: int, batch: int):
        raise NonFiniteError(
            f"{what} {NON_FINITE} at epoch {epoch + 1}, batch {batch + 1} ({self.cfg.optimizer}, lr={self.cfg.lr:g}); "
            "lower --lr or keep gradient clipping on"
        )

    def _train_epoch(self, p: Progress) -> bool:
        """Run the rest of epoch p.epoch from batch p.batch; return False when stopped mid-epoch."""
        n, bs = len(self.train), self.cfg.batch_size
        if p.perm is None:
            if self.cfg.bucket:
                p.perm = bucketed_order(self.train.lengths, bs, self.shuffle)
            else:
                p.perm = torch.randperm(n, generator=self.shuffle)
            p.batch, p.partial = 0, {}
        sums = {"loss": 0.0, "grad_norm": 0.0, "batches": 0, "seqs": 0, "seconds": 0.0, **p.partial}
        n_batches = (n + bs - 1) // bs
        bar = None
        if self.progress:
            from tqdm import tqdm  # lazy: a progress bar only when a terminal shows it

            bar = tqdm(total=n_batches, initial=p.batch, desc=f"epoch {p.epoch + 1}/{self.cfg.epochs}", unit="batch", leave=True)
        self._bar = bar
        self.model.train()
        clip = self.cfg.clip if self.cfg.clip > 0 else float("inf")
        t0 = time.perf_counter()
        perm = p.perm.to(self.device)
        batch_note = ProgressWriter(self.run_id)  # progress.json for the app's bar; local to this machine
        batch_note.begin(p.epoch + 1, self.cfg.epochs, p.batch, n_batches)
        for b in range(p.batch, n_batches):
            inputs, targets, mask = self.train.batch(perm[b * bs : (b + 1) * bs])
            if self.bounds is not None:
                idx = p.perm[b * bs : (b + 1) * bs]
                low, high = self.bounds[0][idx], self.bounds[1][idx]
                shifts = random_shifts(low, high, self.cfg.transpose, inputs.shape[2], self.shuffle)
                inputs, targets = transpose_rolls(inputs, shifts), transpose_rolls(targets, shifts)
            where = self.train.where(perm[b * bs : (b + 1) * bs], inputs.shape[1]) if self.model_cfg.position else None
            with autocast(self.device):
                # (B, T, N), or an onset model's units (B, T, 2N): the nade head's are conditionals of the targets
                _, logits, y, m = model_terms(self.model, inputs, targets, mask, where)
            loss = self.loss_fn(logits, y, m)
            if not torch.isfinite(loss):
                self._fail("the training loss", p.epoch, b)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            if not torch.isfinite(norm):
                self._fail("the gradient norm", p.epoch, b)
            self.optimizer.step()
            if self.ema is not None:
                self._average(p.epoch * n_batches + b)
            sums["loss"] += float(loss.detach())
            sums["grad_norm"] += float(norm)
            sums["batches"] += 1
            sums["seqs"] += int(inputs.shape[0])
            p.batch = b + 1
            batch_note.update(p.batch)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{sums['loss'] / sums['batches']:.4f}")
            if self.stop.is_set() and p.batch < n_batches:
                sums["seconds"] += time.perf_counter() - t0
                p.partial = sums
                return False
        sums["seconds"] += time.perf_counter() - t0
        p.partial = sums
        return True

    @torch.no_grad()
    def _average(self, step: int) -> None:
        # The usual warm-up (as in TensorFlow's ExponentialMovingAverage): early averages do not drag in the random init.
        decay = min(self.cfg.ema, (1 + step) / (10 + step))
        for k, v in self.model.state_dict().items():
            if v.is_floating_point():
                self.ema[k].lerp_(v, 1 - decay)

    def _evaluate_averaged(self, split) -> dict:
        """Evaluate the averaged weights (the model's own when averaging is off), then put the trained ones back."""
        if self.ema is None:
            return evaluate_model(self.model, split, self.loss_fn)
        trained = _copy_weights(self.model)
        self.model.load_state_dict(self.ema)
        try:
            return evaluate_model(self.model, split, self.loss_fn)
        finally:
            self.model.load_state_dict(trained)

    def _end_epoch(self, p: Progress) -> bool:
        """Validate, log, checkpoint; return True when early stopping says enough."""
        s = p.partial
        t0 = time.perf_counter()
        valid = self._evaluate_averaged(self.valid)
        if not all_finite(valid):
            self._fail("the validation loss", p.epoch, p.batch - 1)
        train_m = {
            "loss": s["loss"] / s["batches"],
            "grad_norm": s["grad_norm"] / s["batches"],
            "lr": current_lr(self.optimizer),
            "epoch_s": s["seconds"] + time.perf_counter() - t0,
            "seqs_per_s": s["seqs"] / max(s["seconds"], 1e-9),
        }
        epoch = p.epoch + 1  # epochs are counted from 1 in the store
        self.reporter.log_metrics(self.run_id, epoch, "train", train_m)
        self.reporter.log_metrics(self.run_id, epoch, "valid", valid)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{train_m['loss']:.4f}", valid_nll=f"{valid['nll']:.3f}", f1=f"{valid['f1_best']:.3f}")
            self._bar.close()
            self._bar = None
        value = valid[self.cfg.monitor]
        better = p.best_value is None or (value < p.best_value if self.direction == "min" else value > p.best_value)
        step_scheduler(self.scheduler, value)
        p.epoch, p.batch, p.perm, p.partial = epoch, 0, None, {}
        if better:
            p.best_value, p.best_epoch, p.bad_epochs, p.best_valid, p.threshold = value, epoch, 0, valid, valid["threshold"]
            self._save("best", p)
        else:
            p.bad_epochs += 1
        self._save("last", p)
        self.reporter.update_run(self.run_id, epochs_done=epoch, summary=self._summary(p))
        return self.cfg.patience > 0 and p.bad_epochs >= self.cfg.patience

    def _summary(self, p: Progress, test: dict | None = None) -> dict:
        return {
            "best_epoch": p.best_epoch,
            "best": p.best_valid,
            "test": test or {},
            "baselines": self.baselines,
            "threshold": p.threshold,
            "monitor": self.cfg.monitor,
            "train_density": self.train_density,
            "onsets": self.model_cfg.onsets,  # the dataset is onset-aware: onset F1 and the NLL lead its metrics
            "scoring": self.ds.report.get("scoring", "windows"),
        }

    def run(self, ckpt: dict | None) -> dict:
        self._bar = None
        try:
            return self._run(ckpt)
        finally:
            if self._bar is not None:
                self._bar.close()  # so that an error line starts on a line of its own

    def _run(self, ckpt: dict | None) -> dict:
        p = self._restore(ckpt) if ckpt else Progress()
        spb = self.ds.config.steps_per_beat
        on_valid, on_test = split_baselines(self.train, self.valid, self.test, self.model_cfg.onsets, spb)
        self.baselines = {k: {"valid": v} for k, v in on_valid.items()}
        for k, v in (on_test or {}).items():
            self.baselines[k]["test"] = v
        self.reporter.update_run(self.run_id, summary=self._summary(p))
        early = False
        while p.epoch < self.cfg.epochs and not early:
            if not self._train_epoch(p):
                self._save("last", p)
                self.reporter.update_run(self.run_id, status="stopped", error=None, summary=self._summary(p))
                return self._result("stopped", p, {})
            early = self._end_epoch(p)
            if self.stop.is_set() and p.epoch < self.cfg.epochs and not early:
                self.reporter.update_run(self.run_id, status="stopped", error=None, summary=self._summary(p))
                return self._result("stopped", p, {})
        test = {}
        if self.test is not None and p.best_epoch:
            best = ckpt_io.load_checkpoint(self.dir / "best.pt", map_location=self.device)
            self.model.load_state_dict(best["model_state"])
            onset_thr = p.best_valid.get("onset_threshold")
            test = evaluate_model(self.model, self.test, self.loss_fn, p.threshold, calibration=True, onset_threshold=onset_thr)
            self.reporter.log_metrics(self.run_id, p.best_epoch, "test", test)
        summary = self._summary(p, test)
        self.reporter.update_run(self.run_id, status="finished", error=None, summary=summary, epochs_done=p.epoch)
        return self._result("finished", p, test)

    def _result(self, status: str, p: Progress, test: dict) -> dict:
        return {
            "id": self.run_id,
            "name": self.name,
            "status": status,
            "epochs_done": p.epoch,
            **self._summary(p, test),
            "checkpoint": str(self.dir / "best.pt"),
        }
