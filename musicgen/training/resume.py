"""Continue a run exactly: what last.pt holds beyond weights and optimizer, and a stopped run's configs.

`Progress` is the loop's position (epoch, batch, the epoch's shuffled order, partial sums) and its
early-stopping memory; `rng_state` / `set_rng_state` carry the random streams; `load_resume` reads
a run back from the store and its last.pt.
"""

from __future__ import annotations

import dataclasses

import torch

from musicgen.config import ModelConfig, TrainConfig, from_dict
from musicgen.errors import StoreError
from musicgen.paths import run_dir
from musicgen.runs import store
from musicgen.training.checkpoint import load_checkpoint


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

    def to_payload(self) -> dict:
        """Return the fields as checkpoint keys (dicts copied: the loop keeps changing its own)."""
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), dict) else v) for f in dataclasses.fields(self)}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> Progress:
        """Return the progress saved in a checkpoint by `to_payload`."""
        return cls(**{f.name: ckpt[f.name] for f in dataclasses.fields(cls)})


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


def load_resume(run_id: str, epochs: int | None) -> tuple[dict, ModelConfig, TrainConfig, dict | None]:
    """Return (run, model config, train config, last.pt or None) of a run to continue; `epochs` overrides its count."""
    run = store.get_run(run_id)
    if run["status"] == "finished" and epochs is None:
        raise StoreError(
            f"run {run_id} already finished; start a new run, or give --epochs above {run['epochs_done']} to extend it"
        )
    if run["status"] == "running":
        raise StoreError(f"run {run_id} is running (pid {run['pid']}); stop it before resuming")
    cfg = run["config"]
    train_cfg = from_dict(TrainConfig, cfg["train"])
    if epochs is not None:
        train_cfg = dataclasses.replace(train_cfg, epochs=epochs)
    model_cfg = from_dict(ModelConfig, {"skip": False, **cfg["model"]})
    last = run_dir(run_id) / "last.pt"
    return run, model_cfg, train_cfg, (load_checkpoint(last) if last.is_file() else None)
