"""The epochs of one run: `Trainer` holds its model, optimizer, splits and position, and drives them.

`musicgen.training.train.run_training` sets a run up (configs, dataset, the claim in the store) and hands
it to a `Trainer` in its own process, or to the Ray Train backend (`ray_train`), whose workers run a
`Trainer` each as ranks of a group (`distributed`). Checkpoints, reporter calls, NaN failures and stops
behave as `train`'s docstring says.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import torch

from musicgen.config import MONITORS, TrainConfig, to_dict
from musicgen.errors import TrainingError
from musicgen.nn.convgru import ConvGRU
from musicgen.paths import run_dir
from musicgen.runs.divergence import NON_FINITE
from musicgen.runs.progress import ProgressWriter
from musicgen.training import checkpoint as ckpt_io
from musicgen.training.batches import Split, bucketed_order, pitch_bounds, random_shifts, transpose_rolls
from musicgen.training.device import autocast, bound_heap, resolve_precision, set_threads
from musicgen.training.device_steps import CHECK_EVERY, DeviceSteps, max_units_on
from musicgen.training.distributed import Solo
from musicgen.training.evaluate import evaluate_model, split_baselines
from musicgen.training.losses import make_loss
from musicgen.training.metrics import all_finite
from musicgen.training.onset_metrics import chain_logits, markov3_table, model_terms
from musicgen.training.optim import current_lr, make_optimizer, make_scheduler, step_scheduler
from musicgen.training.resume import Progress, rng_state, set_rng_state
from musicgen.training.shard_batches import note_frequency


def _copy_weights(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def device_steps_wanted(device, group) -> bool:
    """Whether the trainer's steps keep their totals on the device: on CUDA in one process (a CPU has no launches to save)."""
    return torch.device(device).type == "cuda" and group.size == 1


class NonFiniteError(TrainingError):
    """The loss or the gradient became NaN or infinite; the run is marked failed."""

    exit_code = 3


class Trainer:
    """One run's state; `run` drives the epochs (in one process, or as one rank of a data-parallel group)."""

    def __init__(
        self,
        run_id,
        name,
        ds,
        model_cfg,
        cfg: TrainConfig,
        device,
        reporter,
        progress,
        stop,
        group=None,
        on_save=None,
        on_progress=None,
    ):
        self.run_id, self.name, self.ds, self.cfg, self.device = run_id, name, ds, cfg, device
        self.reporter, self.progress, self.stop = reporter, progress, stop or threading.Event()
        # group: the data-parallel ranks (musicgen.training.distributed); on_save(path): called after a checkpoint write;
        # on_progress(record): takes the batch progress records instead of this machine's progress.json.
        self.group, self.on_save, self.on_progress = group or Solo(), on_save, on_progress
        self.dir = run_dir(run_id)
        # A trainer killed with -9 inside a checkpoint write leaves its temporary file (never the checkpoint
        # half-written): one trainer owns a run's folder at a time, so what is left there is stale.
        for stale in self.dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        bound_heap()  # what the whole-split passes and evaluations free goes back: memory follows the batch, not the corpus
        set_threads(cfg.threads, device)
        torch.manual_seed(cfg.seed)
        self.shuffle = torch.Generator().manual_seed(cfg.seed + 1)
        self.model = ConvGRU(model_cfg).to(device)
        self.model_cfg = model_cfg
        self.precision = resolve_precision(cfg.precision, device, model_cfg)
        # CUDA graphs need an optimizer whose step counts live on the device (capturable)
        capturable = cfg.cuda_graphs and device_steps_wanted(device, self.group)
        self.optimizer = make_optimizer(self.model.parameters(), cfg, capturable=capturable)
        self.scheduler = make_scheduler(self.optimizer, cfg)
        self.train = Split.from_dataset(ds, "train", device)
        self.train_lengths = self.train.lengths.cpu()  # (n,): a batch's share of each rank is decided on the host
        self.bounds = pitch_bounds(self.train.rolls) if cfg.transpose else None
        self.valid = Split.from_dataset(ds, "valid", device)
        test = Split.from_dataset(ds, "test", device)
        self.test = test if len(test) else None
        note_freq = note_frequency(self.train)  # (N,) over real steps; a sharded split's a chunk at a time
        # An onset model starts as the per-note Markov chain of the training split; a hold-only one at the note rates.
        # A resumed run overwrites either with its own weights.
        if model_cfg.onsets:
            self.model.init_from_chain(chain_logits(markov3_table(self.train.rolls, self.train.lengths)))
        else:
            self.model.init_output_bias(note_freq)
        self.ema = _copy_weights(self.model) if cfg.ema else None
        self.train_density = float(note_freq.mean())
        self.loss_fn = make_loss(cfg, self.train_density)
        self.direction = MONITORS[cfg.monitor]
        self.net = self.group.wrap(self.model)  # what the training steps call (DDP in a group)
        # On a GPU in one process the steps run without reading numbers back each step (musicgen.training.device_steps).
        self.steps = None
        if device_steps_wanted(device, self.group):
            graphs = cfg.cuda_graphs
            runs = max_units_on(self.train.rolls, model_cfg.onsets) + 1 if graphs and model_cfg.head == "nade" else None
            self.steps = DeviceSteps(
                self.model, self.optimizer, self.loss_fn, cfg.clip, self.precision, device, cfg.batch_size, graphs, runs
            )
        if self.group.rank:
            torch.manual_seed(cfg.seed + 7919 * self.group.rank)  # its own dropout masks; rank 0 keeps the run's stream

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
        ranks = self.group.gather(torch.get_rng_state()) if self.group.size > 1 else None  # every rank's dropout stream
        if not self.group.main:
            return path
        payload = self._payload(p, which) | ({"rank_rng": ranks} if ranks else {})
        ckpt_io.save_checkpoint(path, payload)  # atomic; a failure is one CheckpointError line: path, cause
        if self.on_save:
            self.on_save(path)
        return path

    def _restore(self, ck: dict) -> Progress:
        self.model.load_state_dict(ck["model_state"])
        if self.ema is not None:
            self.ema = {k: v.to(self.device) for k, v in ck["ema_state"].items()}
        self.optimizer.load_state_dict(ck["optimizer_state"])
        if self.scheduler is not None and ck.get("scheduler_state"):
            self.scheduler.load_state_dict(ck["scheduler_state"])
        set_rng_state(ck["rng"], self.shuffle)
        ranks = ck.get("rank_rng")
        if ranks and len(ranks) == self.group.size:
            torch.set_rng_state(ranks[self.group.rank])
        elif self.group.rank:  # resumed with another number of ranks: rank 0 goes on exactly, the others afresh
            torch.manual_seed(self.cfg.seed + 7919 * self.group.rank + ck["epoch"])
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
        t0 = time.perf_counter()
        perm = p.perm.to(self.device)
        batch_note = ProgressWriter(self.run_id, sink=self.on_progress)  # progress.json for the app's bar
        batch_note.begin(p.epoch + 1, self.cfg.epochs, p.batch, n_batches)
        for b in range(p.batch, n_batches):
            idx = p.perm[b * bs : (b + 1) * bs]  # the global batch; a rank of a group trains its share `mine`
            mine, weight, n_seqs = self.group.shard(self.train_lengths[idx])
            rows = perm[b * bs : (b + 1) * bs][mine]
            # The batch's steps from the host's copy of the lengths: nothing read back from the device.
            inputs, targets, mask = self.train.batch(rows, steps=int(self.train_lengths[idx][mine].max()))
            if self.bounds is not None:
                low, high = self.bounds[0][idx], self.bounds[1][idx]
                # Drawn for the whole global batch, so every rank's generator stays in step with the others'.
                shifts = random_shifts(low, high, self.cfg.transpose, inputs.shape[2], self.shuffle)[mine]
                inputs, targets = transpose_rolls(inputs, shifts), transpose_rolls(targets, shifts)
            where = self.train.where(rows, inputs.shape[1]) if self.model_cfg.position else None
            p.steps += 1
            if self.steps is not None:
                self.steps(b, inputs, targets, mask, where)
                stopping = self.stop.is_set
                sums["seqs"] += n_seqs
                last = b + 1 == n_batches or self._capped(p) or stopping()
                if (b + 1 - p.batch) % CHECK_EVERY == 0 or last:
                    self._read_steps(sums, p.epoch)
            else:
                (loss_value, seqs, stopping), norm = self._step(inputs, targets, mask, where, weight, n_seqs, p.epoch, b)
                sums["loss"] += loss_value
                sums["grad_norm"] += norm
                sums["seqs"] += seqs
            if self.ema is not None:
                self._average(p.epoch * n_batches + b)
            sums["batches"] += 1
            p.batch = b + 1
            batch_note.update(p.batch)
            if bar is not None:
                bar.update(1)
                if self.steps is None:
                    bar.set_postfix(loss=f"{sums['loss'] / sums['batches']:.4f}")
            if stopping() and p.batch < n_batches:
                if self.steps is not None:
                    self._read_steps(sums, p.epoch)
                sums["seconds"] += time.perf_counter() - t0
                p.partial = sums
                return False
            if self._capped(p):
                break  # the run's last step (--max-steps): this epoch ends here, validated as a whole one
        sums["seconds"] += time.perf_counter() - t0
        p.partial = sums
        return True

    def _step(self, inputs, targets, mask, where, weight, n_seqs, epoch, b):
        """One step that reads its loss and gradient norm back at once (CPU, or a data-parallel rank); fails before a bad step."""
        with autocast(self.device, self.precision):
            # (B, T, N), or an onset model's units (B, T, 2N): the nade head's are conditionals of the targets
            _, logits, y, m = model_terms(self.net, inputs, targets, mask, where)
        loss = self.loss_fn(logits, y, m)
        if weight != 1.0:
            loss = loss * weight
        totals = self.group.step_totals(loss, n_seqs, self.stop)
        if not math.isfinite(totals[0]):
            self._fail("the training loss", epoch, b)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip if self.cfg.clip > 0 else float("inf"))
        if not torch.isfinite(norm):
            self._fail("the gradient norm", epoch, b)
        self.optimizer.step()
        return totals, float(norm)

    def _read_steps(self, sums: dict, epoch: int) -> None:
        """Add the device steps' totals to `sums`; fail the run on the first non-finite batch they saw."""
        loss, norm, bad = self.steps.read()
        if bad[0] >= 0:
            self._fail("the training loss", epoch, bad[0])
        if bad[1] >= 0:
            self._fail("the gradient norm", epoch, bad[1])
        if bad[2] >= 0:
            raise TrainingError(
                f"a step of batch {bad[2] + 1} has more notes on than the graphed nade head was sized for "
                f"({self.steps.runs - 1}); train with --cuda-graphs off"
            )
        sums["loss"] += loss
        sums["grad_norm"] += norm

    def _capped(self, p: Progress) -> bool:
        """Return True once the run has taken its TrainConfig.max_steps optimizer steps."""
        return 0 < self.cfg.max_steps <= p.steps

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
        valid = self.group.broadcast(self._evaluate_averaged(self.valid) if self.group.main else None)
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
            "steps": p.steps,
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
        on_valid, on_test = (
            split_baselines(self.train, self.valid, self.test, self.model_cfg.onsets, spb) if self.group.main else ({}, {})
        )
        self.baselines = {k: {"valid": v} for k, v in on_valid.items()}
        for k, v in (on_test or {}).items():
            self.baselines[k]["test"] = v
        self.reporter.update_run(self.run_id, summary=self._summary(p))
        early = False
        while p.epoch < self.cfg.epochs and not early and not self._capped(p):
            if not self._train_epoch(p):
                self._save("last", p)
                self.reporter.update_run(self.run_id, status="stopped", error=None, summary=self._summary(p))
                return self._result("stopped", p, {})
            early = self._end_epoch(p)
            more = p.epoch < self.cfg.epochs and not early and not self._capped(p)
            if self.group.broadcast(self.stop.is_set()) and more:
                self.reporter.update_run(self.run_id, status="stopped", error=None, summary=self._summary(p))
                return self._result("stopped", p, {})
        test = {}
        if self.test is not None and p.best_epoch and self.group.main:
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
