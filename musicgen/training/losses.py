"""Training objectives: each maps (logits, targets, mask) to a scalar, padding excluded.

Shapes: logits and targets `(B, T, N)` (targets 0/1 float), mask `(B, T)` bool/0-1 marking the
real predicted steps (or `(B, T, N)`: the cells that count, for an onset model's units). Every
loss is the mean over real cells (real steps x notes), computed in float32 whatever the autocast dtype, so values
are comparable between batches of any padding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from musicgen.config import LOSS_NAMES, TrainConfig
from musicgen.errors import ConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def masked_mean(cells: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return the mean of per-cell values (B, T, N) over the cells of real steps (mask (B, T)), or the cells of mask (B, T, N).

    A mask per cell serves onset models, whose forced units are no part of the likelihood (musicgen.nn.onsets).
    """
    if mask.dim() == cells.dim():
        m = mask.to(cells.dtype)
        return (cells * m).sum() / m.sum().clamp(min=1)
    m = mask.to(cells.dtype).unsqueeze(-1)  # (B, T, 1)
    n_cells = m.sum() * cells.shape[-1]
    return (cells * m).sum() / n_cells.clamp(min=1)


def bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return binary cross-entropy with logits, averaged over real cells."""
    cells = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
    return masked_mean(cells, mask)


def weighted_bce(logits, targets, mask, pos_weight: float) -> torch.Tensor:
    """Return BCE whose positive terms are multiplied by `pos_weight`, averaged over real cells."""
    w = torch.tensor(float(pos_weight), device=logits.device)
    cells = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), pos_weight=w, reduction="none")
    return masked_mean(cells, mask)


def focal(logits, targets, mask, gamma: float = 2.0, alpha: float | None = 0.25) -> torch.Tensor:
    """Return the focal loss -alpha_t (1 - p_t)^gamma log p_t (Lin et al. 2017), averaged over real cells."""
    x, y = logits.float(), targets.float()
    log_p_t = -F.binary_cross_entropy_with_logits(x, y, reduction="none")  # log p_t, stable
    p_t = log_p_t.exp()
    cells = -((1 - p_t) ** gamma) * log_p_t if gamma else -log_p_t
    if alpha is not None:
        cells = cells * (alpha * y + (1 - alpha) * (1 - y))
    return masked_mean(cells, mask)


def asymmetric(logits, targets, mask, gamma_pos: float = 0.0, gamma_neg: float = 4.0, clip: float = 0.05) -> torch.Tensor:
    """Return the asymmetric loss (ASL, Ridnik et al. 2021), averaged over real cells.

    Positives: -(1 - p)^gamma_pos log p. Negatives: -p_m^gamma_neg log(1 - p_m) with the shifted
    probability p_m = max(p - clip, 0), which zeroes the loss of easy negatives.
    """
    x, y = logits.float(), targets.float()
    p = torch.sigmoid(x)
    pos = -((1 - p) ** gamma_pos) * F.logsigmoid(x)
    if clip > 0:
        p_m = (p - clip).clamp(min=0)
        # 1 - p_m >= clip, so the log is finite; no need for the logits form.
        neg = -(p_m**gamma_neg) * torch.log1p(-p_m)
    else:
        neg = -(p**gamma_neg) * F.logsigmoid(-x)
    return masked_mean(y * pos + (1 - y) * neg, mask)


LOSSES: dict[str, Callable] = {"bce": bce, "focal": focal, "weighted-bce": weighted_bce, "asymmetric": asymmetric}
assert tuple(LOSSES) == LOSS_NAMES  # config validates names against LOSS_NAMES


def get_loss(name: str) -> Callable:
    """Return the loss function registered as `name`."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]


def pos_weight_from_density(density: float) -> float:
    """Return (1 - d) / d, the weight that balances positives and negatives of density d."""
    if not 0 < density < 1:
        raise ConfigError(f"training density must be in (0, 1) to derive pos_weight, got {density}; give --pos-weight")
    return (1 - density) / density


def make_loss(cfg: TrainConfig, train_density: float) -> LossFn:
    """Return the objective of `cfg` as (logits, targets, mask) -> scalar, knobs bound."""
    fn = get_loss(cfg.loss)
    if cfg.loss == "focal":
        return lambda lg, y, m: focal(lg, y, m, cfg.focal_gamma, cfg.focal_alpha)
    if cfg.loss == "weighted-bce":
        w = cfg.pos_weight if cfg.pos_weight is not None else pos_weight_from_density(train_density)
        return lambda lg, y, m: weighted_bce(lg, y, m, w)
    if cfg.loss == "asymmetric":
        return lambda lg, y, m: asymmetric(lg, y, m, cfg.asl_gamma_pos, cfg.asl_gamma_neg, cfg.asl_clip)
    return fn
