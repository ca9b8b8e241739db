"""Continue a run exactly: what last.pt holds beyond weights and optimizer, and a stopped run's configs.

`Progress` is the loop's position (epoch, batch, the epoch's shuffled order, partial sums) and its
early-stopping memory; `rng_state` / `set_rng_state` carry the random streams; `load_resume` reads
a run's configs back from the store and checks that it can be continued (the trainer then claims
the run and loads its last.pt).
"""

from __future__ import annotations

import dataclasses

import torch

from musicgen.config import ModelConfig, TrainConfig, from_dict
from musicgen.errors import CheckpointError, StoreError
from musicgen.paths import run_dir
from musicgen.runs import store


@dataclasses.dataclass
class Progress:
    """What last.pt must hold, beyond weights and optimizer, to continue exactly."""

    epoch: int = 0  # completed epochs
    batch: int = 0  # batches done in the current epoch
    perm: torch.Tensor | None = None  # shuffled order of the current epoch, (train sequences,) int64
    partial: dict = dataclasses.field(default_factory=dict)  # train sums of the current epoch so far
    best_value: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    best_valid: dict = dataclasses.field(default_factory=dict)
    threshold: float = 0.5
    steps: int = 0  # optimizer steps of the whole run (TrainConfig.max_steps)

    def to_payload(self) -> dict:
        """Return the fields as checkpoint keys (dicts copied: the loop keeps changing its own)."""
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), dict) else v) for f in dataclasses.fields(self)}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> Progress:
        """Return the progress saved in a checkpoint by `to_payload` (a field an older checkpoint lacks keeps its default)."""
        return cls(**{f.name: ckpt[f.name] for f in dataclasses.fields(cls) if f.name in ckpt})


def rng_state(shuffle: torch.Generator) -> dict:
    """Return the global torch (and CUDA) RNG states and the shuffle generator's, as tensors."""
    # Tensors only, so weights_only loading accepts them.
    state = {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, shuffle: torch.Generator) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_resume(run_id: str, epochs: int | None, restart: bool = False) -> tuple[dict, ModelConfig, TrainConfig]:
    """Return (run, model config, train config) of a run to continue (`restart`: to start over); `epochs` overrides its count.

    Checks what can be told before the run is claimed: the run exists, is not finished (unless
    extended or restarted) nor trained by another process, and has a last.pt to continue from.
    """
    run = store.get_run(run_id)
    if run["status"] == "finished" and epochs is None and not restart:
        raise StoreError(
            f"run {run_id} already finished; start a new run, or give --epochs above {run['epochs_done']} to extend it"
        )
    if run["status"] == "running":
        raise StoreError(
            f"run {run_id} is already being trained by process {run['pid']}; stop it first (the app's Stop, or "
            f"kill -TERM {run['pid']}) or wait for it to end"
        )
    cfg = run["config"]
    try:
        train_cfg = from_dict(TrainConfig, cfg["train"])
        model_cfg = from_dict(ModelConfig, {"skip": False, **cfg["model"]})
    except KeyError as e:
        raise StoreError(f"run {run_id} has no {e.args[0]} config in the store; it cannot be resumed, start a new run") from None
    if epochs is not None:
        train_cfg = dataclasses.replace(train_cfg, epochs=epochs)
    last = run_dir(run_id) / "last.pt"
    if not restart and not last.is_file():
        raise CheckpointError(
            f"run {run_id} has no checkpoint to continue from ({last} is missing; {run['epochs_done']} epochs were logged); "
            f"start it over from epoch 0 with: python -m musicgen train --resume {run_id} --restart"
        )
    return run, model_cfg, train_cfg


def forget_checkpoints(run_id: str) -> None:
    """Delete a run's last.pt and best.pt (a restarted run must not keep the best of its earlier attempt)."""
    for name in ("last.pt", "best.pt"):
        (run_dir(run_id) / name).unlink(missing_ok=True)
