"""Command `train`; `add_train_options` and `configs_from_args` are reused by `sweep`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import threading

from musicgen.cli.runs import BASELINE_KEYS, metrics_line
from musicgen.config import (
    HEAD_NAMES,
    LOSS_NAMES,
    MONITORS,
    OPTIMIZER_NAMES,
    PRECISION_NAMES,
    SCHEDULE_NAMES,
    ModelConfig,
    TrainConfig,
)
from musicgen.errors import ConfigError
from musicgen.runs.divergence import RULE, run_diverged

# Option dest -> (config class, field). Every option defaults to None so that an option the user
# did not give keeps the config's default (and, on --resume, the run's own value).
_MODEL_OPTIONS = (
    "conv_channels",
    "conv_kernel",
    "conv_layers",
    "hidden",
    "gru_layers",
    "dropout",
    "input_dropout",
    "weight_drop",
    "skip",
    "head",
    "nade_hidden",
    "nade_layers",
    "position",
)


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """Add the model and training options (every TrainConfig/ModelConfig knob) to `parser`."""
    d = TrainConfig()
    t = parser.add_argument_group("training")
    t.add_argument("--optimizer", help=f"{'|'.join(OPTIMIZER_NAMES)} (default {d.optimizer})")
    t.add_argument("--loss", help=f"{'|'.join(LOSS_NAMES)} (default {d.loss})")
    t.add_argument("--lr", type=float, help=f"learning rate, any positive finite value (default {d.lr:g})")
    t.add_argument("--weight-decay", type=float, help="weight decay (default 0.01 for adamw, else 0)")
    t.add_argument("--epochs", type=int, help=f"epochs (default {d.epochs}; with --resume: the new total)")
    t.add_argument("--batch-size", type=int, help=f"sequences per step (default {d.batch_size})")
    t.add_argument("--device", help=f"auto|cpu|cuda|mps (default {d.device}: cuda, then mps, then cpu)")
    t.add_argument(
        "--precision",
        help=f"{'|'.join(PRECISION_NAMES)}: arithmetic of the training steps; auto picks per device and head what keeps "
        f"results equal to fp32 and is fastest (today fp32 everywhere; docs/training.md) (default {d.precision})",
    )
    t.add_argument(
        "--cuda-graphs",
        choices=("on", "off"),
        help="on a CUDA GPU, replay each batch shape's step as one CUDA graph (default off: not yet checked on a GPU; "
        "docs/training.md)",
    )
    t.add_argument("--seed", type=int, help=f"seed of weights, shuffling and dropout (default {d.seed})")
    t.add_argument("--schedule", help=f"{'|'.join(SCHEDULE_NAMES)} (default {d.schedule})")
    t.add_argument("--clip", type=float, help=f"max gradient norm, 0 turns clipping off (default {d.clip:g})")
    t.add_argument(
        "--plateau-patience",
        type=int,
        help=f"with --schedule plateau: stalled epochs tolerated before the lr halves (default {d.plateau_patience})",
    )
    t.add_argument(
        "--ema",
        type=float,
        help="average the weights (decay per batch in [0, 1), e.g. 0.995); validation, best.pt and the test use the "
        "average (default 0: off)",
    )
    t.add_argument("--patience", type=int, help="epochs without a better monitor before stopping early (default 0: never)")
    t.add_argument(
        "--max-steps",
        type=int,
        metavar="N",
        help="end the run after N optimizer steps (validated, checkpointed and tested as after its last epoch; "
        "default 0: the epochs decide)",
    )
    t.add_argument(
        "--monitor", help=f"validation metric for best.pt and early stopping: {'|'.join(MONITORS)} (default {d.monitor})"
    )
    t.add_argument("--threads", type=int, help="CPU threads (default 0: half the usable cores, 1 to 4)")
    t.add_argument(
        "--no-bucket",
        dest="bucket",
        action="store_const",
        const=False,
        default=None,
        help="shuffle sequences freely instead of batching similar lengths together",
    )
    t.add_argument(
        "--transpose",
        type=int,
        metavar="K",
        help="augment: move each training sequence by a random shift in [-K, K] semitones each epoch (default 0: off)",
    )
    t.add_argument("--recipe", help="a recipe JSON (e.g. configs/jsb.json) whose model and train settings are the defaults here")
    k = parser.add_argument_group("loss and optimizer knobs")
    k.add_argument("--focal-gamma", type=float, help=f"focal loss gamma (default {d.focal_gamma:g})")
    k.add_argument("--focal-alpha", help=f"focal loss positive weight in [0, 1] or 'none' (default {d.focal_alpha})")
    k.add_argument(
        "--pos-weight", type=float, help="weighted-bce positive weight (default: (1-density)/density of the training split)"
    )
    k.add_argument("--asl-gamma-pos", type=float, help=f"asymmetric loss gamma of positives (default {d.asl_gamma_pos:g})")
    k.add_argument("--asl-gamma-neg", type=float, help=f"asymmetric loss gamma of negatives (default {d.asl_gamma_neg:g})")
    k.add_argument("--asl-clip", type=float, help=f"asymmetric loss probability margin (default {d.asl_clip:g})")
    k.add_argument("--beta1", type=float, help=f"adam/adamw beta1 (default {d.beta1:g})")
    k.add_argument("--beta2", type=float, help=f"adam/adamw beta2 (default {d.beta2:g})")
    k.add_argument("--eps", type=float, help=f"adam/adamw/rmsprop epsilon (default {d.eps:g})")
    k.add_argument("--alpha", type=float, help=f"rmsprop smoothing (default {d.alpha:g})")
    k.add_argument("--momentum", type=float, help=f"sgd momentum (default {d.momentum:g})")
    k.add_argument("--rms-momentum", type=float, help=f"rmsprop momentum (default {d.rms_momentum:g})")
    k.add_argument("--nesterov", action="store_true", default=None, help="sgd with Nesterov momentum")
    m = parser.add_argument_group("model")
    dm = ModelConfig()
    for name in (n for n in _MODEL_OPTIONS if n not in ("skip", "head", "position")):  # switches below
        kind = float if name in ("dropout", "input_dropout", "weight_drop") else int
        what = {
            "nade_hidden": "hidden units of the nade head, ",
            "nade_layers": "hidden layers of the nade head (above 1: a deep NADE), ",
            "input_dropout": "share of the history's notes hidden from the trunk while training, ",
            "weight_drop": "dropout on the GRU's hidden-to-hidden weights while training, ",
        }.get(name, "")
        m.add_argument("--" + name.replace("_", "-"), type=kind, help=f"{what}default {getattr(dm, name)}")
    m.add_argument(
        "--head",
        help=f"{'|'.join(HEAD_NAMES)}: each note on its own, or note by note given the lower ones (default {dm.head}; "
        "nade trains with --loss bce only)",
    )
    m.add_argument(
        "--no-skip",
        dest="skip",
        action="store_const",
        const=False,
        default=None,
        help="no linear path from the current step to the logits",
    )
    m.add_argument(
        "--position",
        action="store_const",
        const=True,
        default=None,
        help="onset-aware data: feed the position in the beat and the beat in the bar as inputs (default off)",
    )


def configs_from_args(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    """Return (ModelConfig, TrainConfig) from parsed options; options not given keep the defaults."""

    def given(names):
        return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}

    train_fields = [f.name for f in dataclasses.fields(TrainConfig)]
    train = given(train_fields)
    if "focal_alpha" in train:  # kept as text so that 'none' differs from "not given"
        text = str(train["focal_alpha"])
        try:
            train["focal_alpha"] = None if text.lower() == "none" else float(text)
        except ValueError:
            raise ConfigError(f"--focal-alpha must be a number in [0, 1] or 'none', got {text!r}") from None
    if "cuda_graphs" in train:
        train["cuda_graphs"] = train["cuda_graphs"] == "on"
    model = given(_MODEL_OPTIONS)
    if getattr(args, "recipe", None):
        from musicgen.study.recipes import load_recipe

        recipe = load_recipe(args.recipe)
        model = dataclasses.asdict(recipe["model"]) | model
        train = {
            k: v for k, v in dataclasses.asdict(recipe["train"]).items() if k != "weight_decay" or "optimizer" not in train
        } | train
    return ModelConfig(**model), TrainConfig(**train)


def register(sub) -> None:
    """Add `train`, `runs` and `evaluate`."""
    p = sub.add_parser("train", help="train a model on a dataset; prints 'run: <id>' first")
    p.add_argument("--data", help="dataset folder, name under MUSICGEN_HOME/data, or builtin:bach")
    p.add_argument("--name", help="run name (default: <optimizer>-<loss>, and -nade for the nade head)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue a stopped or killed run exactly from its last.pt")
    p.add_argument(
        "--restart",
        action="store_true",
        help="with --resume: start the run over from epoch 0 with its stored config (its metrics and checkpoints cleared)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="a run config JSON ({data, name, model, train}, as stored with a run): the whole run, no other option",
    )
    p.add_argument("--json", action="store_true", help="print a final JSON summary")
    b = p.add_argument_group("where it trains")
    b.add_argument(
        "--backend",
        choices=("local", "ray"),
        help="local: this process (default); ray: data-parallel on Ray Train workers (pip install -r requirements-ray.txt); "
        "with --resume: the run's own unless given",
    )
    b.add_argument(
        "--workers",
        type=int,
        help="with --backend ray: workers (processes, one GPU each on CUDA); --batch-size stays the global batch (default 1)",
    )
    b.add_argument("--ray-address", metavar="ADDR", help="with --backend ray: the cluster's HOST:PORT (default: a local Ray)")
    add_train_options(p)
    p.set_defaults(func=cmd_train)


def _from_config_file(args) -> tuple:
    """Return (data, name, ModelConfig, TrainConfig) of --config FILE, refusing options that would change it."""
    from musicgen.config import read_run_config

    others = [
        a
        for a in ("data", "name", "resume", "recipe", *_MODEL_OPTIONS, *(f.name for f in dataclasses.fields(TrainConfig)))
        if getattr(args, a, None) is not None
    ]
    if others:
        flags = ", ".join("--" + a.replace("_", "-") for a in others)
        raise ConfigError(f"--config FILE holds the whole run; drop {flags} or edit the file")
    return read_run_config(args.config)


def _backend(args):
    """Return run_training's backend for --backend/--workers/--ray-address: None, "local" or a RayBackend."""
    if args.backend != "ray":
        given = [f for f, v in (("--workers", args.workers), ("--ray-address", args.ray_address)) if v is not None]
        if given:
            raise ConfigError(f"{' and '.join(given)} train on Ray: add --backend ray (pip install -r requirements-ray.txt)")
        return args.backend
    from musicgen.training.ray_train import RayBackend

    return RayBackend(workers=1 if args.workers is None else args.workers, address=args.ray_address)


def cmd_train(args) -> int:
    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        print(f"\nstopping after the current step ({signal.Signals(signum).name})", file=sys.stderr, flush=True)
        stop.set()

    # Installed before torch loads and never put back: a SIGTERM at any point until the process ends
    # (importing, training, printing the summary) ends it cleanly. `main` restores handlers for in-process callers.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    from musicgen.training.train import NonFiniteError, run_training

    configs = None
    if args.config:
        args.data, args.name, *configs = _from_config_file(args)
    if not args.resume and not args.data:
        raise ConfigError(
            "give --data DATASET (a dataset folder, a name under MUSICGEN_HOME/data, or builtin:bach), or --resume RUN_ID"
        )
    if args.restart and not args.resume:
        raise ConfigError("--restart starts a stored run over: give it with --resume RUN_ID --restart")
    backend = _backend(args)
    try:
        kwargs = {
            "backend": backend,
            "stop": stop,
            "progress": not args.json or sys.stderr.isatty(),
            "on_start": lambda rid: print(f"run: {rid}", flush=True),
        }
        if args.resume:
            summary = run_training(None, resume=args.resume, epochs=args.epochs, restart=args.restart, **kwargs)
        else:
            model_cfg, train_cfg = configs or configs_from_args(args)
            summary = run_training(args.data, model_cfg, train_cfg, name=args.name, **kwargs)
    except NonFiniteError as e:
        print(f"error: {e}", file=sys.stderr)
        return NonFiniteError.exit_code
    # Training is over: a late SIGTERM has nothing left to stop; what follows chooses the sampling temperature and prints.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    if summary.get("status") == "finished":
        from musicgen.music.temperature import store_temperature

        summary["sampling"] = store_temperature(summary["checkpoint"])
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"status: {summary['status']} after {summary['epochs_done']} epochs; "
            f"checkpoints in {summary['checkpoint'].rsplit('/', 1)[0]}"
        )
        if summary["best"]:
            best = metrics_line(summary["best"])
            print(f"best valid (epoch {summary['best_epoch']}, threshold {summary['threshold']:.3f}): {best}")
        if summary["test"]:
            print(f"test: {metrics_line(summary['test'])}")
        if summary.get("sampling"):
            print(_temperature_line(summary["sampling"]))
        for kind, by_split in summary["baselines"].items():
            m = by_split.get("test") or by_split.get("valid")
            print(f"baseline {kind}: {metrics_line(m, BASELINE_KEYS)}")
        if run_diverged({"status": summary["status"], "summary": summary}):
            print(f"DIVERGED: {RULE}")
    return 0


def _temperature_line(sampling: dict) -> str:
    if "error" in sampling:
        return f"sampling temperature: not chosen ({sampling['error']}); generation uses 0.8"
    row = next(r for r in sampling["grid"] if r["temperature"] == sampling["temperature"])
    return (
        f"sampling temperature {sampling['temperature']:g}, chosen on {sampling['segments']} validation segments "
        f"(its samples {row['distance']:.2f} standard deviations from the data on average)"
    )
