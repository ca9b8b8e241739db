"""The one place that saves and loads checkpoints.

A checkpoint is a dict saved with torch.save and loaded with `weights_only=True`, so opening
one never runs code. Required keys: `format`, `version`, `model_config`, `data_config`,
`model_state`. The trainer adds `train_config`, `optimizer_state`, `scheduler_state`, `epoch`,
`rng`, `threshold` (validation-best F1 threshold), `run_id`, `dataset_id`.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from musicgen.config import DataConfig, ModelConfig, from_dict
from musicgen.errors import CheckpointError, ConfigError
from musicgen.nn.convgru import ConvGRU
from musicgen.nn.ensemble import Ensemble
from musicgen.paths import SHIPPED_CHECKPOINTS, atomic_write, checkpoints_dir

FORMAT = "musicgen-checkpoint"
VERSION = 1
REQUIRED = ("format", "version", "model_config", "data_config", "model_state")
# Names that the CLI and the app know for checkpoints shipped in the repo.
SHIPPED = {"demo": SHIPPED_CHECKPOINTS / "demo" / "best.pt", "jsb": SHIPPED_CHECKPOINTS / "jsb" / "best.pt"}


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write `payload` to `path` atomically (temporary file, fsync, rename)."""
    payload = {"format": FORMAT, "version": VERSION, **payload}
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    with atomic_write(Path(path)) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Load and check a checkpoint file; never runs code from it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; give a run id, a .pt file or 'demo'")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, AttributeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is not a readable musicgen checkpoint ({first[:200]})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a musicgen checkpoint (no '{FORMAT}' marker)")
    if ckpt.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {ckpt['version']}; this musicgen reads up to {VERSION}: upgrade musicgen"
        )
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}; it is damaged or not a musicgen checkpoint")
    return ckpt


def resolve_checkpoint(ref: str, which: str = "best") -> Path:
    """Return the checkpoint file for a name ('demo'), a path to a .pt file or folder, or a run id."""
    ref = str(ref)
    if ref in SHIPPED:
        if not SHIPPED[ref].is_file():
            raise CheckpointError(f"the shipped checkpoint '{ref}' is missing at {SHIPPED[ref]}; restore it with git checkout")
        return SHIPPED[ref]
    p = Path(ref).expanduser()
    if p.is_file():
        return p
    for folder in (p, checkpoints_dir() / ref):
        if folder.is_dir():
            for name in (f"{which}.pt", "best.pt", "last.pt"):
                if (folder / name).is_file():
                    return folder / name
    raise CheckpointError(
        f"no checkpoint found for {ref!r}: give a run id with checkpoints under {checkpoints_dir()}, "
        f"a .pt file, or one of {sorted(SHIPPED)}"
    )


def model_from_checkpoint(ckpt: dict, device="cpu") -> ConvGRU:
    """Rebuild the model of a loaded checkpoint (a ConvGRU, or an Ensemble of them), in eval mode, on `device`."""
    try:
        configs = [from_dict(ModelConfig, c) for c in member_configs(ckpt)]
        if ckpt.get("ensemble"):
            model = Ensemble([ConvGRU(c) for c in configs])
        else:
            model = ConvGRU(configs[0])
        model.load_state_dict(ckpt["model_state"])  # float16 weights (ensemble --half) are cast to the model's float32
    except (ConfigError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"checkpoint weights do not fit its model config ({str(e).splitlines()[0][:200]})") from None
    return model.to(device).eval()


def member_configs(ckpt: dict) -> list[dict]:
    """Return the model config dict of each member (one for a plain checkpoint)."""
    # Checkpoints from before the skip path existed have no 'skip' key and no skip weights.
    if ckpt.get("model_configs"):
        return [{"skip": False, **c} for c in ckpt["model_configs"]]
    return [{"skip": False, **ckpt["model_config"]}] * int(ckpt.get("ensemble") or 1)


def load_model(ref: str, device="cpu") -> tuple[ConvGRU, dict]:
    """Load model and checkpoint dict for a run id, a path, or a shipped name such as 'demo'."""
    ckpt = load_checkpoint(resolve_checkpoint(ref))
    return model_from_checkpoint(ckpt, device), ckpt


def data_config_of(ckpt: dict) -> DataConfig:
    """Return the DataConfig (pitch range, time grid) that a checkpoint was trained with."""
    return from_dict(DataConfig, ckpt["data_config"])
