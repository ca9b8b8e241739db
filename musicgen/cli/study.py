"""Commands `sweep` (the optimizer × loss × head grid), `study` (lr stage, then seeds) and `report` (its statistics)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from musicgen.errors import ConfigError, OutputError, write_failure
from musicgen.ranges import Real


def register(sub) -> None:
    """Add `sweep` and `report`."""
    from musicgen.cli.train import add_train_options

    p = sub.add_parser(
        "sweep", help="train every optimizer × loss (× head) × seed as runs of one sweep; prints 'sweep: <id>' first"
    )
    p.add_argument("--data", required=True, help="dataset folder, name under MUSICGEN_HOME/data, or builtin:bach")
    p.add_argument("--optimizers", default="adam,adamw,rmsprop", help="comma-separated (default adam,adamw,rmsprop)")
    p.add_argument("--losses", default="bce,focal", help="comma-separated (default bce,focal)")
    p.add_argument("--heads", help="comma-separated output heads to compare, e.g. independent,nade (default: --head's)")
    p.add_argument("--seeds", type=int, default=3, help="runs per combination, seeds --seed, --seed+1, … (default 3)")
    p.add_argument("--workers", type=int, help="local backend: parallel runs (default: the CPU cores)")
    p.add_argument("--backend", default="local", choices=("local", "ray"), help="local process pool (default) or Ray tasks")
    p.add_argument("--ray-address", help="HOST:PORT of a Ray cluster's head (default: start a local Ray)")
    p.add_argument("--cpus-per-run", type=float, default=1, help="Ray: CPUs per run (default 1)")
    p.add_argument("--gpus-per-run", type=float, default=0, help="Ray: GPUs per run, fractions share one (default 0)")
    p.add_argument("--ray-storage", help="Ray: shared folder where workers keep checkpoints instead of shipping them back")
    p.add_argument("--name", help="sweep name (default: the grid)")
    p.add_argument("--json", action="store_true", help="print a final JSON summary (progress goes to stderr)")
    add_train_options(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser(
        "study",
        help="a fair optimizer × loss study: tune each combination's lr on validation, then train the chosen ones over seeds",
    )
    p.add_argument("--data", required=True, help="dataset folder, name under MUSICGEN_HOME/data, or builtin:bach")
    p.add_argument("--optimizers", default="adam,adamw,rmsprop", help="comma-separated (default adam,adamw,rmsprop)")
    p.add_argument("--losses", default="bce,focal", help="comma-separated (default bce,focal)")
    p.add_argument(
        "--lr-grid", default="3e-4,1e-3,3e-3,1e-2", help="learning rates of the lr stage (default 3e-4,1e-3,3e-3,1e-2)"
    )
    p.add_argument("--seeds", type=int, default=5, help="runs per combination in the seed stage (default 5)")
    p.add_argument("--max-epochs", type=int, default=60, help="epoch cap of every run (default 60)")
    p.add_argument("--workers", type=int, help="parallel runs (default: the CPU cores)")
    p.add_argument("--name", help="study name (default 'study')")
    p.add_argument("--json", action="store_true", help="print a final JSON summary (progress goes to stderr)")
    add_train_options(p)  # its --patience is the study's (default 8 here)
    p.set_defaults(func=cmd_study)

    p = sub.add_parser(
        "report",
        help="the verdict on a sweep (what to use, per criterion), then means ± std over seeds, Welch-tied ranks, curves",
    )
    p.add_argument("sweep_id", metavar="SWEEP_ID")
    p.add_argument(
        "--format",
        default="md",
        help="md|csv|json|html (default md); each opens with the verdict (csv: '# ' lines, json: 'verdict')",
    )
    p.add_argument("--out", help="write to FILE (default: stdout)")
    p.add_argument("--samples", type=int, default=4, help="generated samples per run for generation quality (default 4; 0 skips)")
    p.add_argument("--steps", type=int, default=64, help="steps per generated sample (default 64)")
    p.set_defaults(func=cmd_report)


def say_run_event(out, kind: str, rest: tuple) -> None:
    """Print what a sweep's runs report, for `sweep` and `study` alike: a run starts, ends, or an orphan is stopped."""
    lines = []
    if kind == "start":
        lines = [f"  start  {rest[0]['name']}"]
    elif kind == "end":
        lines = [f"  {rest[1]:<8} {rest[0]['name']}  ({rest[2]:.1f} s)"]
    elif kind == "orphans":
        lines = [
            f"stopped process {o['pid']} of run {o['run_id']}: its sweep's driver (process {o['driver_pid']}) was gone"
            for o in rest[0]
        ]
    for line in lines:
        print(line, file=out, flush=True)


def cmd_sweep(args) -> int:
    from musicgen.cli.train import configs_from_args
    from musicgen.study.plan import plan_sweep
    from musicgen.study.sweep import run_sweep

    model_cfg, train_cfg = configs_from_args(args)
    # Checked for either backend: a value the local one ignores is still a mistake to say.
    Real(0, low_open=True, example=1).check("--cpus-per-run", args.cpus_per_run)
    Real(0, example=0).check("--gpus-per-run", args.gpus_per_run)
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if args.heads is not None and args.head is not None:
        raise ConfigError("give --heads (the heads to compare) or --head, not both")
    heads = args.heads.split(",") if args.heads is not None else None
    plan = plan_sweep(
        args.data, args.optimizers.split(","), args.losses.split(","), args.seeds, model_cfg, train_cfg, args.name, heads
    )
    progress = sys.stderr if args.json else sys.stdout

    def on_event(kind, *rest):
        if kind == "sweep":
            sweep_id, resumed = rest
            print(f"sweep: {sweep_id}", file=progress, flush=True)
            print(f"{'resuming' if resumed else 'new'} sweep '{plan.name}': {len(plan.runs)} runs", file=progress, flush=True)
        else:
            say_run_event(progress, kind, rest)

    ray_options = {}
    if args.backend == "ray":
        ray_options = {
            "address": args.ray_address,
            "cpus_per_run": args.cpus_per_run,
            "gpus_per_run": args.gpus_per_run,
            "storage": args.ray_storage,
        }
    elif args.ray_address or args.ray_storage:
        raise ConfigError("--ray-address and --ray-storage need --backend ray")
    result = run_sweep(plan, args.backend, args.workers, on_event, **ray_options)
    # The runs are over: a late SIGTERM has nothing left to stop, and what follows is only printing.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    statuses = list(result["outcome"].values())
    failed = sum(s != "finished" for s in statuses)
    print(
        f"done: {len(statuses) - failed} finished, {failed} not finished, {result['skipped']} already finished before; "
        f"report: python -m musicgen report {result['sweep_id']}",
        file=progress,
        flush=True,
    )
    if args.json:
        print(json.dumps(result))
    return 1 if failed else 0


STUDY_PATIENCE = 8  # the study's default early-stopping patience (epochs without a better validation NLL)


def cmd_study(args) -> int:
    from musicgen.cli.train import configs_from_args
    from musicgen.study.tuning import parse_lr_grid, run_study

    for flag, value in (("--lr", args.lr), ("--optimizer", args.optimizer), ("--loss", args.loss), ("--epochs", args.epochs)):
        if value is not None:
            fix = "--max-epochs" if flag == "--epochs" else {"--lr": "--lr-grid"}.get(flag, f"{flag}s")
            raise ConfigError(f"study chooses {flag} itself; use {fix} instead")
    if args.monitor not in (None, "nll"):
        raise ConfigError(f"a study stops early and chooses on validation nll, not {args.monitor}; leave --monitor out")
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be an integer >= 1, got {args.seeds}; e.g. --seeds 5")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    lr_grid = parse_lr_grid(args.lr_grid)
    patience = STUDY_PATIENCE if args.patience is None else args.patience
    args.patience = None  # the budget sets it on the TrainConfig
    model_cfg, train_cfg = configs_from_args(args)
    progress = sys.stderr if args.json else sys.stdout

    def say(text):
        print(text, file=progress, flush=True)

    def on_event(kind, *rest):
        if kind == "stage":
            stage, plan = rest
            what = "lr stage: every rate of the grid, one seed" if stage == "lr" else "seed stage: the chosen rates"
            say(f"{what} ({len(plan.runs)} runs)")
        elif kind == "sweep":
            say(f"sweep: {rest[0]} ({'resuming' if rest[1] else 'new'})")
        elif kind == "left_out":
            say(f"left out {rest[0]}: {rest[1]}")
        else:
            say_run_event(progress, kind, rest)

    result = run_study(
        args.data,
        args.optimizers.split(","),
        args.losses.split(","),
        lr_grid,
        args.seeds,
        args.max_epochs,
        patience,
        model_cfg,
        train_cfg,
        workers=args.workers,
        name=args.name,
        on_event=on_event,
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: None)  # the runs are over: only printing is left
    for label, c in result["choices"].items():
        if c["lr"] is not None:
            say(f"chosen lr {label}: {c['lr']:g} ({c['reason']})")
    statuses = list(result["seeds"]["outcome"].values())
    failed = sum(s != "finished" for s in statuses)
    say(
        f"done: {len(statuses) - failed} finished, {failed} not finished, {result['seeds']['skipped']} already finished before; "
        f"report: python -m musicgen report {result['seed_sweep_id']}"
    )
    if args.json:
        print(json.dumps(result, default=str))
    return 1 if failed else 0


def cmd_report(args) -> int:
    from musicgen.cli import check_writable
    from musicgen.paths import atomic_write
    from musicgen.study.document import FORMATS, render, study_tables

    if args.format not in FORMATS:
        raise ConfigError(f"unknown --format {args.format!r}; choose one of {', '.join(FORMATS)}")
    if args.samples < 0 or args.steps < 1:
        raise ConfigError(f"--samples must be >= 0 and --steps >= 1, got {args.samples} and {args.steps}")
    if args.out:  # before the tables, which generate samples for minutes
        check_writable(args.out, (), "--out")
    tables = study_tables(args.sweep_id, generation=args.samples > 0, samples=args.samples, steps=args.steps)
    text = render(tables, args.format)
    if args.out:
        try:
            with atomic_write(Path(args.out)) as tmp:
                tmp.write_text(text, encoding="utf-8")
        except OSError as e:
            raise OutputError(f"cannot write --out {write_failure(args.out, e)}") from None
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0
