"""Frozen, validated configurations, stored as JSON with every dataset, run and checkpoint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from musicgen.errors import ConfigError
from musicgen.paths import REPO_ROOT
from musicgen.ranges import DROPOUT, NON_NEGATIVE, POSITIVE, SEED, SHARE, Real, Whole, check_fields


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


# Ranges of the data options. Each maximum is far past any real use, and keeps one bad value from
# asking for an absurd array (the roll of a file, the windows of a dataset: see musicgen.data.midi and .rolls).
# A window is trained by backpropagation through all its steps; 65,536 steps are 2.3 hours at 4 steps
# per beat and 120 bpm, longer than any one piece.
MAX_SEQ_LEN = 65_536
# MIDI files count time in ticks, at most 960 per quarter note in common use: a finer grid only adds empty rows.
MAX_STEPS_PER_BEAT = 960
# A 1 ms step: finer than MIDI's timing is played or heard, so a finer grid only adds empty rows.
MAX_FS = 1000.0
# A 2 s step: a coarser grid merges whole beats into one step (at 1e-300 every note landed on step 0).
MIN_FS = 0.5
# The decay limit of a pedal-held note at middle C, in seconds (DataConfig.pedal_decay_s; data/README.md says why).
DEFAULT_PEDAL_DECAY_S = 3.0
# The range of every number of DataConfig (musicgen.ranges checks it with the field's type).
DATA_RANGES = {
    "seq_len": Whole(2, MAX_SEQ_LEN, 128),
    "hop": Whole(1, MAX_SEQ_LEN, 64),
    "steps_per_beat": Whole(1, MAX_STEPS_PER_BEAT, 4),
    "fs": Real(MIN_FS, MAX_FS, what="a number of steps per second", example=8),
    "low": Whole(0, 127, 24),
    "high": Whole(1, 128, 108),
    "split": SHARE,
    "seed": SEED,
    "max_file_mb": Real(0, 2000, low_open=True, example=20),
    # A pedal-held string stops sounding long before an hour; under 10 ms the pedal holds nothing a grid can show.
    "pedal_decay_s": Real(0.01, 3600, what="seconds", example=4),
}


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
    # The sustain pedal (CC64 >= 64) holds a note released under it until the pedal is lifted or the pitch is
    # struck again, as a piano sounds; False reads note-offs as written (musicgen.data.onsets).
    pedal: bool = True
    # How long the pedal can hold a note after its onset, in seconds at middle C (halved per octave up, doubled per
    # octave down): a held string decays (data/README.md). None: held until the pedal lifts, however long.
    pedal_decay_s: float | None = DEFAULT_PEDAL_DECAY_S

    def __post_init__(self):
        if self.fs is not None:
            object.__setattr__(self, "steps_per_beat", None)
        check_fields(self, DATA_RANGES)
        object.__setattr__(self, "split", tuple(float(s) for s in self.split))
        _check(self.windows in ("all", "first"), f"windows must be 'all' or 'first', got {self.windows!r}")
        _check(
            self.steps_per_beat is not None or self.fs is not None,
            "give a time grid: steps_per_beat (e.g. 4) or fs in Hz (e.g. 4)",
        )
        _check(self.low < self.high, f"pitch range must satisfy 0 <= low < high <= 128, got {self.low}..{self.high}")
        _check(
            len(self.split) == 3 and abs(sum(self.split) - 1) < 1e-6,
            f"split must be three non-negative shares summing to 1, got {self.split}",
        )

    @property
    def n_notes(self) -> int:
        return self.high - self.low


# Ranges of the model sizes: generous, but each maximum keeps one typo from a step that runs for hours
# (a step is also checked against the memory at hand: musicgen.training.batches.check_step_memory).
# 8192 wide: one GRU layer then holds 400M weights (1.6 GB; 6.4 GB with gradients and Adam's two moments).
MAX_WIDTH = 8192
# A kernel sees that many steps back; 64 steps are 16 beats at 4 steps per beat; the GRU carries longer context.
MAX_CONV_KERNEL = 64
# Plain stacks (no residuals) deeper than this do not train better, only slower.
MAX_LAYERS = 16
# What predicts the notes of the next step from the trunk: "independent" gives each note its own probability
# (the course work's model); "nade" decides them note by note, low to high, each given the ones before (musicgen.nn.nade).
HEAD_NAMES = ("independent", "nade")
MODEL_RANGES = {
    "n_notes": Whole(1, 128),
    "conv_channels": Whole(1, MAX_WIDTH, 128),
    "conv_kernel": Whole(1, MAX_CONV_KERNEL, 3),
    "conv_layers": Whole(0, MAX_LAYERS, 1),
    "hidden": Whole(1, MAX_WIDTH, 256),
    "gru_layers": Whole(1, MAX_LAYERS, 2),
    "dropout": DROPOUT,
    "input_dropout": DROPOUT,
    "weight_drop": DROPOUT,
    "nade_hidden": Whole(1, MAX_WIDTH, 300),
    "nade_layers": Whole(1, MAX_LAYERS, 1),
    "steps_per_beat": Whole(0, MAX_STEPS_PER_BEAT, note="0: no rhythm inputs"),
}


@dataclass(frozen=True)
class ModelConfig:
    """The Conv1D + GRU trunk and the head that turns its features into the next step's notes."""

    n_notes: int = 84  # input and output width
    conv_channels: int = 128  # channels of each causal conv layer
    conv_kernel: int = 3  # steps each conv layer sees (current step and kernel-1 before it)
    conv_layers: int = 1  # 0 feeds the notes straight into the GRU
    hidden: int = 256  # GRU hidden size
    gru_layers: int = 2
    dropout: float = 0.3  # between GRU layers and before the head
    input_dropout: float = 0.0  # share of the history's notes hidden from the trunk while training (not from the skip path)
    # DropConnect on the GRU's hidden-to-hidden weights while training (Merity et al. 2018): regularizes the
    # recurrence itself, which dropout between layers does not reach.
    weight_drop: float = 0.0
    # A linear map from the current step straight to the logits: held notes dominate piano-rolls, and this
    # puts "copy the previous step" one matrix away instead of through the whole network.
    skip: bool = True
    head: str = "independent"  # one of HEAD_NAMES
    nade_hidden: int = 300  # hidden units of the nade head (Boulanger-Lewandowski et al. 2012 use 150-300)
    nade_layers: int = 1  # hidden layers of the nade head; above 1, a deep NADE (Uria et al. 2014), ReLU after the first
    # Onset-aware steps (musicgen.nn.onsets): the input holds a sounding and an onset plane, and the head predicts per
    # note whether it sounds and whether it is struck. Set by the trainer from the dataset's form, never by hand;
    # checkpoints from before it have no key and are hold-only models.
    onsets: bool = False
    # Rhythm inputs of an onset model: one-hots of the position in the beat and of the beat in the bar.
    position: bool = False
    steps_per_beat: int = 0  # width of the position-in-beat one-hot; set by the trainer from the dataset with `position`

    def __post_init__(self):
        check_fields(self, MODEL_RANGES)
        _check(self.head in HEAD_NAMES, f"unknown head {self.head!r}; choose one of {', '.join(HEAD_NAMES)}")


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


def code_version(root: Path = REPO_ROOT) -> str:
    """Return the git commit (with '+dirty' when the package has changes), or a hash of the package source.

    Reads only: `--no-optional-locks` keeps `git status` from refreshing (rewriting) the index.
    """
    git = ["git", "--no-optional-locks", "-C", str(root)]
    try:
        rev = subprocess.run(
            [*git, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no", "musicgen"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        h = hashlib.sha256()
        for p in sorted((root / "musicgen").rglob("*.py")):
            h.update(p.read_bytes())
        return "src-" + h.hexdigest()[:12]


# Names the trainer knows; musicgen.training.losses and musicgen.training.optim hold the matching registries.
OPTIMIZER_NAMES = ("adam", "adamw", "rmsprop", "sgd")
LOSS_NAMES = ("bce", "focal", "weighted-bce", "asymmetric")
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
# Arithmetic of the training steps: "fp32" throughout, "bf16" autocast of the matrix products (the loss stays float32),
# "auto" whichever keeps results equal to fp32 and is fastest on the device (musicgen.training.device.resolve_precision).
PRECISION_NAMES = ("auto", "fp32", "bf16")
SCHEDULE_NAMES = ("none", "cosine", "plateau")
# Validation metric -> direction for early stopping and the best checkpoint.
MONITORS = {"nll": "min", "loss": "min", "f1_best": "max", "f1": "max", "frame_acc": "max", "onset_f1": "max"}


# Far past any real run, and each keeps one typo from a run that never ends (`--epochs 99999999999999999999`).
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536  # sequences per step; a step is also checked against the memory at hand
MAX_THREADS = 256
TRAIN_RANGES = {
    "lr": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "epochs": Whole(1, MAX_EPOCHS, 20),
    "batch_size": Whole(1, MAX_BATCH_SIZE, 32),
    "seed": SEED,
    "min_lr_ratio": Real(0, 1, low_open=True),
    "plateau_patience": Whole(0, MAX_EPOCHS, 2),
    "clip": Real(0, note="0 turns it off"),
    "ema": Real(0, 1, high_open=True, note="0 turns weight averaging off"),
    "patience": Whole(0, MAX_EPOCHS, 5, note="0 turns early stopping off"),
    "max_steps": Whole(0, MAX_EPOCHS * 10**6, 200, note="0: no limit, the epochs decide"),
    "focal_gamma": NON_NEGATIVE,
    "focal_alpha": SHARE,
    "pos_weight": POSITIVE,
    "asl_gamma_pos": NON_NEGATIVE,
    "asl_gamma_neg": NON_NEGATIVE,
    "asl_clip": DROPOUT,
    "beta1": DROPOUT,
    "beta2": DROPOUT,
    "eps": POSITIVE,
    "alpha": DROPOUT,
    "momentum": NON_NEGATIVE,
    "rms_momentum": NON_NEGATIVE,
    # More threads than cores only spin-wait (--threads 1000 started 2,001 threads and did not finish). A config
    # travels (stored runs, Ray workers): the trainer checks it against the cores of the machine it runs on.
    "threads": Whole(0, MAX_THREADS, 1, note="0: half the usable cores, at most 4"),
    # A shift past 127 semitones leaves MIDI; the trainer also never moves a note out of the dataset's range.
    "transpose": Whole(0, 127, 2),
}


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained: optimizer, loss, schedule, stopping. Defaults train well on 2 CPU cores."""

    optimizer: str = "adamw"  # one of OPTIMIZER_NAMES
    loss: str = "bce"  # one of LOSS_NAMES
    lr: float = 3e-3  # any positive finite value (absurd ones fail the run with a plain NaN message)
    weight_decay: float | None = None  # L2 for adam/rmsprop/sgd, decoupled for adamw; None: 0.01 for adamw, else 0
    epochs: int = 20
    batch_size: int = 32  # sequences per step
    seed: int = 0  # weights, shuffling and dropout
    device: str = "auto"  # auto: cuda, then mps, then cpu
    precision: str = "auto"  # one of PRECISION_NAMES; evaluation is always float32
    # On CUDA, each batch shape's step is one CUDA graph (musicgen.training.device_steps). Off by default until
    # benchmarks/gpu.sh has checked them against eager steps on a GPU (docs/training.md).
    cuda_graphs: bool = False
    schedule: str = "none"  # "cosine" anneals to lr*min_lr_ratio over the epochs; "plateau" halves lr on a stalled monitor
    min_lr_ratio: float = 0.05  # cosine floor as a share of lr
    plateau_patience: int = 2  # plateau: stalled epochs tolerated; the lr halves on the next one
    clip: float = 1.0  # max gradient norm; 0 turns clipping off
    # Polyak averaging: validation, best.pt and the test use an exponential moving average of the weights,
    # updated after every batch with this decay (0 turns it off; 0.99 averages about the last 100 batches),
    # after a warm-up in which batch n uses (1 + n) / (10 + n) while that is smaller.
    ema: float = 0.0
    patience: int = 0  # epochs without a better monitor before stopping; 0 never stops early
    # Optimizer steps over the whole run at most: the run ends after that step as after its last epoch (validated,
    # checkpointed, tested, finished). 0: no limit. Lets a run on a large corpus train a given number of batches.
    max_steps: int = 0
    monitor: str = "nll"  # validation metric that picks best.pt and drives early stopping (MONITORS)
    # Loss knobs.
    focal_gamma: float = 2.0
    focal_alpha: float | None = 0.25  # weight of positives (Lin et al. 2017); None weighs both classes alike
    pos_weight: float | None = None  # weighted-bce; None: (1 - density) / density of the training split
    asl_gamma_pos: float = 0.0  # asymmetric loss (Ridnik et al. 2021)
    asl_gamma_neg: float = 4.0
    asl_clip: float = 0.05  # probability margin that discards easy negatives
    # Optimizer knobs.
    beta1: float = 0.9  # adam/adamw
    beta2: float = 0.999  # adam/adamw
    eps: float = 1e-8  # adam/adamw/rmsprop
    alpha: float = 0.99  # rmsprop smoothing
    momentum: float = 0.9  # sgd
    rms_momentum: float = 0.0  # rmsprop
    nesterov: bool = False  # sgd
    threads: int = 0  # CPU threads; 0: half the cores this process may use (at least 1, at most 4)
    # Batches of sequences of similar length (shuffled batch order): less padding to run through the GRU.
    bucket: bool = True
    # Augmentation: each training sequence is moved by a random number of semitones in [-transpose, transpose]
    # each time it is drawn, never so far that one of its notes leaves the pitch range. 0 turns it off.
    transpose: int = 0

    def __post_init__(self):
        check_fields(self, TRAIN_RANGES)
        _check(
            self.optimizer in OPTIMIZER_NAMES, f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZER_NAMES)}"
        )
        _check(self.loss in LOSS_NAMES, f"unknown loss {self.loss!r}; choose one of {', '.join(LOSS_NAMES)}")
        _check(self.device in DEVICE_NAMES, f"unknown device {self.device!r}; choose one of {', '.join(DEVICE_NAMES)}")
        _check(
            self.precision in PRECISION_NAMES,
            f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISION_NAMES)} (e.g. --precision auto)",
        )
        _check(self.schedule in SCHEDULE_NAMES, f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULE_NAMES)}")
        _check(self.monitor in MONITORS, f"unknown monitor {self.monitor!r}; choose one of {', '.join(MONITORS)}")
        if self.weight_decay is None:
            # AdamW with no decay is Adam; its usual default keeps the comparison meaningful.
            object.__setattr__(self, "weight_decay", 0.01 if self.optimizer == "adamw" else 0.0)
        _check(not self.nesterov or self.momentum > 0, "nesterov needs momentum > 0")


# Losses a head trains with: the nade head's conditionals multiply to the joint probability of a step, so its
# only sound objective is their exact likelihood; reweighting them (focal, weighted, asymmetric) breaks that.
HEAD_LOSSES = {"independent": LOSS_NAMES, "nade": ("bce",)}


def check_head_loss(model: ModelConfig, train: TrainConfig) -> None:
    """Raise ConfigError when `train.loss` is not one that `model.head` trains with (HEAD_LOSSES)."""
    allowed = HEAD_LOSSES[model.head]
    _check(
        train.loss in allowed,
        f"--head {model.head} trains on the exact likelihood: use --loss {'|'.join(allowed)} (got --loss {train.loss})",
    )


# The config of one training run, as the app hands it to `python -m musicgen train --config FILE`.
# It is the same JSON the trainer stores with the run; the keys the trainer adds there are read back and
# ignored, since they follow from the dataset and the machine.
RUN_KEYS = ("data", "name", "model", "train")
STORED_KEYS = ("data_path", "dataset", "data_config", "device", "precision", "backend", "code_version")


def run_config(data: str, model_cfg: ModelConfig, train_cfg: TrainConfig, name: str | None = None) -> dict:
    """Return the JSON-ready config of a training run: {data, name, model, train}."""
    return {"data": str(data), "name": name, "model": to_dict(model_cfg), "train": to_dict(train_cfg)}


def run_config_from_dict(d: dict, source: str = "the run config") -> tuple[str, str | None, ModelConfig, TrainConfig]:
    """Return (data, name, ModelConfig, TrainConfig) of a run config dict (run_config's, or a stored run's)."""
    if not isinstance(d, dict):
        raise ConfigError(f"{source} must be a JSON object with keys {list(RUN_KEYS)}, got {type(d).__name__}")
    unknown = sorted(set(d) - set(RUN_KEYS) - set(STORED_KEYS))
    if unknown:
        raise ConfigError(f"{source} has unknown keys {unknown}; known: {list(RUN_KEYS)}")
    if not isinstance(d.get("data"), str) or not d["data"]:
        raise ConfigError(f'{source} names no dataset; add "data": "builtin:bach" (or a dataset folder or name)')
    for key in ("model", "train"):
        if not isinstance(d.get(key, {}), dict):
            raise ConfigError(f"{source}: {key!r} must be an object of {key} settings, got {type(d[key]).__name__}")
    try:
        model, train = from_dict(ModelConfig, d.get("model", {})), from_dict(TrainConfig, d.get("train", {}))
    except TypeError as e:  # a value of the wrong type reached a comparison in __post_init__
        raise ConfigError(f"{source} has a value of the wrong type ({e})") from None
    name = d.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{source}: 'name' must be text or null, got {name!r}")
    return d["data"], name, model, train


def read_run_config(path: str | Path) -> tuple[str, str | None, ModelConfig, TrainConfig]:
    """Read a run config JSON file; return (data, name, ModelConfig, TrainConfig)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"config file {p} does not exist; write one with the app, or copy a run's config from `runs --json`")
    return run_config_from_dict(read_json(p, "config file"), source=f"config file {p}")


def read_json(path: Path, what: str):
    """Return the JSON value in file `path`; ConfigError (one line naming `what`, the path and the cause) if there is none."""
    try:
        return json.loads(Path(path).read_text())
    except RecursionError:  # the parser recurses per level: 100,000 '[' exhaust Python's stack
        raise ConfigError(
            f"{what} {path} nests lists or objects too deep to be a config; write a flat one like configs/jsb.json"
        ) from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{what} {path} is not valid JSON ({e.msg} at line {e.lineno})") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{what} {path} is not readable JSON ({str(e)[:120]})") from None
