"""The one place that saves and loads checkpoints.

A checkpoint is a dict saved with torch.save and loaded with `weights_only=True`, so opening
one never runs code. Required keys: `format`, `version`, `model_config`, `data_config`,
`model_state`. The trainer adds `train_config`, `optimizer_state`, `scheduler_state`, `epoch`,
`rng`, `threshold` (validation-best F1 threshold), `run_id`, `dataset_id`.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch

from musicgen.config import DataConfig, ModelConfig, from_dict
from musicgen.errors import CheckpointError, ConfigError, write_failure
from musicgen.nn.convgru import ConvGRU
from musicgen.nn.ensemble import Ensemble
from musicgen.paths import SHIPPED_CHECKPOINTS, atomic_write, checkpoints_dir
from musicgen.training.device import resolve_device

FORMAT = "musicgen-checkpoint"
VERSION = 1
REQUIRED = ("format", "version", "model_config", "data_config", "model_state")
# Names that the CLI and the app know for checkpoints shipped in the repo.
SHIPPED = {name: SHIPPED_CHECKPOINTS / name / "best.pt" for name in ("demo", "jsb", "jsb-nade")}


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write `payload` to `path` atomically (temporary file, fsync, rename); CheckpointError names the path and the cause."""
    payload = {"format": FORMAT, "version": VERSION, **payload}
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {missing}")
    path = Path(path)
    try:
        # torch.save to a path writes through its C++ writer, which reports a full disk only as "unexpected pos 704
        # vs 598" or "PytorchStreamWriter failed writing file"; to a Python file, the write's OSError is kept as
        # the context of the RuntimeError that torch raises while closing the archive.
        with atomic_write(path) as tmp, open(tmp, "wb") as f:
            torch.save(payload, f)
    except (OSError, RuntimeError) as e:
        cause = _os_error_in(e)
        if cause is not None:
            raise CheckpointError(f"cannot write checkpoint {write_failure(path, cause)}") from None
        raise CheckpointError(f"cannot write checkpoint {path} ({_first_line(e)}); check the disk it is on") from None


def _os_error_in(e: BaseException | None) -> OSError | None:
    """Return `e` or the first OSError among the exceptions it was raised while handling, or None."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, OSError):
            return e
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0].strip() if text else type(e).__name__


# What torch says after "WeightsUnpickler error:" when a safe load meets something other than tensors and plain data.
_UNSAFE_CAUSE = re.compile(r"WeightsUnpickler error:\s*(.+?)(?:\.\s|\n|$)", re.S)


def _unreadable(path: Path, e: BaseException) -> CheckpointError:
    text = str(e)
    if "Weights only load failed" in text:
        found = _UNSAFE_CAUSE.search(text)
        cause = " ".join(found.group(1).split()) if found else "objects other than tensors and plain data"
        return CheckpointError(
            f"{path} holds more than tensors and plain data ({cause}); loading it unsafely could run code from the "
            "file, so musicgen refuses: use a checkpoint written by musicgen"
        )
    return CheckpointError(f"{path} is not a readable musicgen checkpoint ({_first_line(e)})")


def _not_torch_file(path: Path) -> str | None:
    """Return why `path` cannot be a torch.save file (it is empty, it starts like text), or None when it may be one."""
    # torch.save writes a zip archive; before PyTorch 1.6 a pickle (protocol 2: first byte 0x80).
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return None
    return "it is empty" if not head else f"it starts with {head!r}"


# What a checkpoint needs to be used (evaluated, generated from, ensembled); the rest only resumes training.
USE_KEYS = (
    *REQUIRED,
    "model_configs",
    "ensemble",
    "members",
    "rule",
    "selection",
    "train_config",
    "threshold",
    "run_id",
    "dataset_id",
    "data_path",
    "train_density",
    "best_valid",
    "valid",
    "best_epoch",
    "epoch",
)


def export_payload(ckpt: dict, half: bool = False) -> dict:
    """Return a checkpoint for use only: no optimizer, scheduler or RNG state; float16 weights when `half`."""
    out = {k: ckpt[k] for k in USE_KEYS if k in ckpt and k not in ("format", "version")}
    if half:
        out["model_state"] = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model_state"].items()}
    return out


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Load and check a checkpoint file; never runs code from it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; give a run id, a .pt file or 'demo'")
    try:
        why = _not_torch_file(path)
        if why:
            raise CheckpointError(f"{path} is not a musicgen checkpoint: torch.save did not write it ({why})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before it refuses the file anyway
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except CheckpointError:
        raise
    # The unpickler meets arbitrary bytes: these are what a damaged or foreign file makes it raise.
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        AttributeError,
        KeyError,
        IndexError,
        TypeError,
        UnicodeDecodeError,
        OSError,
    ) as e:
        raise _unreadable(path, e) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a musicgen checkpoint (no '{FORMAT}' marker)")
    if ckpt.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {ckpt['version']}; this musicgen reads up to {VERSION}: upgrade musicgen"
        )
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}; it is damaged or not a musicgen checkpoint")
    _check_configs(path, ckpt)
    return ckpt


def _check_configs(path: Path, ckpt: dict) -> None:
    """Raise CheckpointError when the checkpoint's data or model config is not one that this musicgen builds."""
    for key, cls in (("data_config", DataConfig), ("model_config", ModelConfig)):
        value = ckpt[key]
        try:
            if not isinstance(value, dict):
                raise ConfigError(f"a {type(value).__name__}, not a dict")
            lacks = [k for k in ("low", "high") if k not in value] if cls is DataConfig else []
            if lacks:
                raise ConfigError(f"no {' or '.join(lacks)}")
            from_dict(cls, {"skip": False, **value} if cls is ModelConfig else value)
        except (ConfigError, TypeError, ValueError) as e:
            raise CheckpointError(
                f"{path} has a {key} that this musicgen cannot use ({_first_line(e)}); it was not written by musicgen"
            ) from None


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
    except (ConfigError, RuntimeError, TypeError, AttributeError) as e:
        raise CheckpointError(f"checkpoint weights do not fit its model config ({_mismatch(e)})") from None
    return model.to(device).eval()


def _mismatch(e: BaseException) -> str:
    """Return torch's load_state_dict complaint on one line, each list of keys cut to its first few."""
    parts = []
    for line in filter(None, (ln.strip() for ln in str(e).splitlines())):
        if line.startswith("Error(s) in loading state_dict"):
            continue
        head, sep, keys = line.partition(": ")
        names = keys.rstrip(". ").split(", ") if sep and keys.startswith('"') else []
        if len(names) > 3:
            line = f"{head}: {', '.join(names[:3])} and {len(names) - 3} more"
        parts.append(line.rstrip(". "))
    return "; ".join(parts) or type(e).__name__


def member_configs(ckpt: dict) -> list[dict]:
    """Return the model config dict of each member (one for a plain checkpoint)."""
    # Checkpoints from before the skip path existed have no 'skip' key and no skip weights; those from before
    # the nade head have no 'head' key and the independent head.
    old = {"skip": False, "head": "independent"}
    if ckpt.get("model_configs"):
        return [{**old, **c} for c in ckpt["model_configs"]]
    return [{**old, **ckpt["model_config"]}] * int(ckpt.get("ensemble") or 1)


def load_model(ref: str, device="cpu") -> tuple[ConvGRU, dict]:
    """Load model and checkpoint dict for a run id, a path, or a shipped name such as 'demo'."""
    if isinstance(device, str):  # a typed name: one line for a bad one, not torch's RuntimeError
        device = resolve_device(device)
    ckpt = load_checkpoint(resolve_checkpoint(ref))
    return model_from_checkpoint(ckpt, device), ckpt


def data_config_of(ckpt: dict) -> DataConfig:
    """Return the DataConfig (pitch range, time grid) that a checkpoint was trained with."""
    return from_dict(DataConfig, ckpt["data_config"])
