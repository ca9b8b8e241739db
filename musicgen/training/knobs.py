"""Which TrainConfig fields each optimizer and loss reads: what a form shows (no torch here, so a page loads fast)."""

from __future__ import annotations

from musicgen.errors import ConfigError

# The TrainConfig fields each optimizer and each loss reads besides lr and weight_decay: a form shows only these.
OPTIMIZER_KNOBS = {
    "adam": ("beta1", "beta2", "eps"),
    "adamw": ("beta1", "beta2", "eps"),
    "rmsprop": ("alpha", "eps", "rms_momentum"),
    "sgd": ("momentum", "nesterov"),
}
LOSS_KNOBS = {
    "bce": (),
    "focal": ("focal_gamma", "focal_alpha"),
    "weighted-bce": ("pos_weight",),
    "asymmetric": ("asl_gamma_pos", "asl_gamma_neg", "asl_clip"),
}


def train_knobs(optimizer: str, loss: str) -> tuple[str, ...]:
    """Return the TrainConfig fields that matter for this optimizer and loss, then `clip` and `patience` (which always do)."""
    if optimizer not in OPTIMIZER_KNOBS:
        raise ConfigError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_KNOBS)}")
    if loss not in LOSS_KNOBS:
        raise ConfigError(f"unknown loss {loss!r}; choose one of {', '.join(LOSS_KNOBS)}")
    return (*OPTIMIZER_KNOBS[optimizer], *LOSS_KNOBS[loss], "clip", "patience")
