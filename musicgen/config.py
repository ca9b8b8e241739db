"""Frozen, validated configurations, stored as JSON with every dataset, run and checkpoint."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from dataclasses import dataclass

from musicgen.errors import ConfigError
from musicgen.paths import REPO_ROOT


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True)
class DataConfig:
    """How MIDI becomes piano-roll windows."""

    seq_len: int = 128  # steps per window
    hop: int = 64  # steps between window starts (windows="all")
    windows: str = "all"  # "all": every hop; "first": one truncated/padded window per file
    steps_per_beat: int | None = 4  # grid that follows the tempo map; None when fs is used
    fs: float | None = None  # fixed grid in steps per second (the course work used 4)
    low: int = 24  # lowest MIDI pitch kept (column 0)
    high: int = 108  # one past the highest pitch kept
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)  # file-level train/valid/test shares
    seed: int = 0  # seed of the file-level split
    max_file_mb: float = 20.0  # larger files are skipped

    def __post_init__(self):
        if self.fs is not None:
            object.__setattr__(self, "steps_per_beat", None)
        object.__setattr__(self, "split", tuple(float(s) for s in self.split))
        _check(self.seq_len >= 2, f"seq_len must be >= 2, got {self.seq_len}")
        _check(self.hop >= 1, f"hop must be >= 1, got {self.hop}")
        _check(self.windows in ("all", "first"), f"windows must be 'all' or 'first', got {self.windows!r}")
        _check(
            self.steps_per_beat is not None or self.fs is not None,
            "give a time grid: steps_per_beat (e.g. 4) or fs in Hz (e.g. 4)",
        )
        if self.steps_per_beat is not None:
            _check(self.steps_per_beat >= 1, f"steps_per_beat must be >= 1, got {self.steps_per_beat}")
        if self.fs is not None:
            _check(self.fs > 0, f"fs must be > 0 Hz, got {self.fs}")
        _check(0 <= self.low < self.high <= 128, f"pitch range must satisfy 0 <= low < high <= 128, got {self.low}..{self.high}")
        _check(
            len(self.split) == 3 and all(s >= 0 for s in self.split) and abs(sum(self.split) - 1) < 1e-6,
            f"split must be three non-negative shares summing to 1, got {self.split}",
        )
        _check(self.max_file_mb > 0, f"max_file_mb must be > 0, got {self.max_file_mb}")

    @property
    def n_notes(self) -> int:
        return self.high - self.low


@dataclass(frozen=True)
class ModelConfig:
    """The Conv1D + GRU network."""

    n_notes: int = 84  # input and output width
    conv_channels: int = 128  # channels of each causal conv layer
    conv_kernel: int = 3  # steps each conv layer sees (current step and kernel-1 before it)
    conv_layers: int = 1  # 0 feeds the notes straight into the GRU
    hidden: int = 256  # GRU hidden size
    gru_layers: int = 2
    dropout: float = 0.3  # between GRU layers and before the head

    def __post_init__(self):
        _check(self.n_notes >= 1, f"n_notes must be >= 1, got {self.n_notes}")
        _check(self.conv_channels >= 1, f"conv_channels must be >= 1, got {self.conv_channels}")
        _check(self.conv_kernel >= 1, f"conv_kernel must be >= 1, got {self.conv_kernel}")
        _check(self.conv_layers >= 0, f"conv_layers must be >= 0, got {self.conv_layers}")
        _check(self.hidden >= 1, f"hidden must be >= 1, got {self.hidden}")
        _check(self.gru_layers >= 1, f"gru_layers must be >= 1, got {self.gru_layers}")
        _check(0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout}")


def to_dict(cfg) -> dict:
    """Return a JSON-ready dict of a config dataclass."""
    d = dataclasses.asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def from_dict(cls, d: dict):
    """Build config `cls` from a dict, rejecting unknown keys with the list of known ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys {unknown}; known: {sorted(names)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def code_version() -> str:
    """Return the git commit (with '+dirty' when the tree has changes), or a hash of the package source."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no", "musicgen"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        h = hashlib.sha256()
        for p in sorted((REPO_ROOT / "musicgen").rglob("*.py")):
            h.update(p.read_bytes())
        return "src-" + h.hexdigest()[:12]


