"""Optimizers and learning-rate schedules, as registries read through helpers that reject unknown names."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from musicgen.config import MONITORS, OPTIMIZER_NAMES, SCHEDULE_NAMES, TrainConfig
from musicgen.errors import ConfigError


def _fused(params) -> dict:
    # One fused kernel per step instead of one per tensor: the GRU's short steps make launches count on a GPU.
    return {"fused": True} if params and all(p.is_cuda for p in params) else {}


def _adam(params, c: TrainConfig, **kw):
    return torch.optim.Adam(
        params, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps, weight_decay=c.weight_decay, **_fused(params), **kw
    )


def _adamw(params, c: TrainConfig, **kw):
    return torch.optim.AdamW(
        params, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps, weight_decay=c.weight_decay, **_fused(params), **kw
    )


def _rmsprop(params, c: TrainConfig, **kw):
    return torch.optim.RMSprop(
        params, lr=c.lr, alpha=c.alpha, eps=c.eps, weight_decay=c.weight_decay, momentum=c.rms_momentum, **kw
    )


def _sgd(params, c: TrainConfig, **kw):  # SGD keeps no step count: nothing to make capturable
    return torch.optim.SGD(
        params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov, weight_decay=c.weight_decay, **_fused(params)
    )


OPTIMIZERS: dict[str, Callable] = {"adam": _adam, "adamw": _adamw, "rmsprop": _rmsprop, "sgd": _sgd}
assert tuple(OPTIMIZERS) == OPTIMIZER_NAMES  # config validates names against OPTIMIZER_NAMES


def make_optimizer(params, cfg: TrainConfig, capturable: bool = False) -> torch.optim.Optimizer:
    """Return the optimizer named by `cfg.optimizer` over `params`, with cfg's lr, decay and knobs.

    capturable: its step can be captured in a CUDA graph (step counts on the device; musicgen.training.device_steps).
    """
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {cfg.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[cfg.optimizer](list(params), cfg, **({"capturable": True} if capturable and cfg.optimizer != "sgd" else {}))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig):
    """Return the epoch-level scheduler of `cfg.schedule`, or None for 'none'.

    'cosine' anneals from lr to lr*min_lr_ratio over cfg.epochs; call `.step()` once per epoch.
    'plateau' halves lr when cfg.plateau_patience epochs in a row have not bettered the monitor and the next
    one does not either; call `.step(value)`.
    """
    if cfg.schedule not in SCHEDULE_NAMES:
        raise ConfigError(f"unknown schedule {cfg.schedule!r}; choose one of {', '.join(SCHEDULE_NAMES)}")
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, cfg.epochs), eta_min=cfg.lr * cfg.min_lr_ratio)
    if cfg.schedule == "plateau":
        mode = MONITORS[cfg.monitor]
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=0.5, patience=cfg.plateau_patience)
    return None


def step_scheduler(scheduler, monitor_value: float) -> None:
    """Advance `scheduler` by one epoch; plateau schedules read the validation monitor."""
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitor_value if math.isfinite(monitor_value) else float("inf"))
    else:
        scheduler.step()


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """Return the learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])
