"""The optimizer × loss (× head) grid: plan it, find what a sweep already did, queue the rest for `sweep` to run.

A run of a sweep is identified by its name, `<optimizer>+<loss> s<seed> <hash>` (`<optimizer>+<loss>+nade
s<seed> <hash>` for the nade head), where the hash covers the data ref and every model and training
option that changes results; an option at its default is left out, so the runs of sweeps planned
before an option existed keep their names. Re-running the same
sweep command finds the sweep by the hash of its grid, skips finished runs and retries failed,
stopped or never-started ones. Both backends reuse the plan and the bookkeeping here.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace

from musicgen.config import HEAD_LOSSES, HEAD_NAMES, LOSS_NAMES, OPTIMIZER_NAMES, ModelConfig, TrainConfig, from_dict, to_dict
from musicgen.errors import ConfigError, StoreError
from musicgen.paths import run_dir
from musicgen.runs import store
from musicgen.runs.divergence import run_diverged
from musicgen.study.groups import config_label

# Options that change speed, not results: left out of the identity of a run.
NOT_IN_HASH = ("threads", "device")
STOP_GRACE_S = 30.0  # how long a stopped run may take to write its checkpoint before SIGKILL
POLL_S = 0.2


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: what to train and the name that identifies it within its sweep."""

    optimizer: str
    loss: str
    seed: int
    head: str
    train: dict  # TrainConfig fields
    model: dict  # ModelConfig fields
    name: str


@dataclass(frozen=True)
class Plan:
    """A whole sweep: the grid, its identity and its runs."""

    data: str
    name: str
    config: dict  # what the store keeps for the sweep (includes "hash")
    runs: tuple[RunSpec, ...]


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _changed(values: dict, defaults: dict) -> dict:
    """Return the values that differ from the defaults (so a new config field with a default keeps old runs' identity)."""
    return {k: v for k, v in values.items() if k not in NOT_IN_HASH and defaults.get(k, object()) != v}


def parse_names(text: str, known: tuple[str, ...], what: str) -> list[str]:
    """Split a comma-separated list, rejecting unknown or repeated names with the allowed ones."""
    names = [n.strip().lower() for n in str(text).split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--{what} is empty; give a comma-separated list of {', '.join(known)}")
    bad = [n for n in names if n not in known]
    if bad:
        raise ConfigError(
            f"unknown {what} {', '.join(map(repr, bad))}; choose from {', '.join(known)} (e.g. --{what} {','.join(known[:2])})"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"--{what} repeats a name ({text}); list each once")
    return names


def plan_sweep(
    data: str,
    optimizers: list[str],
    losses: list[str],
    seeds: int,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    name: str | None = None,
    heads: list[str] | None = None,
    lr_grid: list[float] | None = None,
    lrs: dict[tuple[str, str], float] | None = None,
) -> Plan:
    """Return the grid optimizers × losses × heads × seeds (train_cfg.seed, +1, ...) over one base configuration.

    heads: the output heads to compare (default: model_cfg's own); each is trained with every loss it takes.
    lr_grid: also cross every learning rate of the list (a study's lr stage; run names then show the lr).
    lrs: {(optimizer, loss): lr} instead of train_cfg.lr per combination (a study's seed stage); a
    combination without one is left out.
    """
    if lr_grid is not None and lrs is not None:
        raise ConfigError("give a learning-rate grid or one learning rate per combination, not both")
    for lr in list(lr_grid or []) + list((lrs or {}).values()):
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ConfigError(f"learning rates must be positive finite numbers, got {lr}; e.g. --lr-grid 3e-4,1e-3,3e-3")
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds must be an integer >= 1 (runs per combination), got {seeds}; e.g. --seeds 3")
    optimizers = parse_names(",".join(optimizers), OPTIMIZER_NAMES, "optimizers")
    losses = parse_names(",".join(losses), LOSS_NAMES, "losses")
    heads = parse_names(",".join(heads), HEAD_NAMES, "heads") if heads is not None else [model_cfg.head]
    for head in heads:
        wrong = [loss for loss in losses if loss not in HEAD_LOSSES[head]]
        if wrong:
            raise ConfigError(
                f"--heads {head} trains on the exact likelihood, not {', '.join(wrong)}: "
                f"use --losses {','.join(HEAD_LOSSES[head])} (or sweep {head} apart)"
            )
    base = to_dict(train_cfg)
    if train_cfg.weight_decay == (0.01 if train_cfg.optimizer == "adamw" else 0.0):
        base["weight_decay"] = None  # the default: let each optimizer take its own (0.01 for adamw, else 0)
    if lrs is not None and not any((o, lo) in lrs for o in optimizers for lo in losses):
        raise ConfigError("no learning rate for any optimizer × loss of the grid; give one per combination to train")
    runs = []
    for opt in optimizers:
        for loss in losses:
            if lrs is not None and (opt, loss) not in lrs:
                continue  # a combination without a rate (e.g. every rate of a study's grid diverged) is left out
            for lr in lr_grid or [lrs[(opt, loss)] if lrs is not None else base["lr"]]:
                for head in heads:
                    model = to_dict(replace(model_cfg, head=head))
                    for i in range(seeds):
                        fields = {**base, "optimizer": opt, "loss": loss, "seed": train_cfg.seed + i, "lr": float(lr)}
                        train = to_dict(from_dict(TrainConfig, fields))
                        identity = {
                            "data": data,
                            "model": _changed(model, to_dict(ModelConfig())),
                            "train": {
                                "optimizer": opt,
                                "loss": loss,
                                "seed": train["seed"],
                                **_changed(train, to_dict(TrainConfig(optimizer=opt, loss=loss))),
                            },
                        }
                        lr_part = f" lr{lr:g}" if lr_grid is not None else ""
                        label = f"{config_label(opt, loss, head)}{lr_part} s{train['seed']} {_hash(identity)}"
                        runs.append(RunSpec(opt, loss, train["seed"], head, train, model, label))
    per_run = ("optimizer", "loss", "seed") + (("lr",) if lr_grid is not None or lrs is not None else ())
    shared = _changed({k: v for k, v in base.items() if k not in per_run}, to_dict(TrainConfig()))
    grid = {
        "data": data,
        "optimizers": optimizers,
        "losses": losses,
        "seeds": seeds,
        "first_seed": train_cfg.seed,
        "model": _changed({k: v for k, v in to_dict(model_cfg).items() if k != "head"}, to_dict(ModelConfig())),
        "train": shared,
    }
    if heads != [ModelConfig.head]:  # a grid of the default head alone keeps the identity it had before heads existed
        grid["heads"] = heads
    if lr_grid is not None:  # only when given, so that plain sweeps keep their identity
        grid["lr_grid"] = [float(lr) for lr in lr_grid]
    if lrs is not None:
        grid["lrs"] = {config_label(o, lo): float(lrs[(o, lo)]) for o in optimizers for lo in losses if (o, lo) in lrs}
    config = {**grid, "hash": _hash(grid), "runs": len(runs)}
    heads_part = f" × {'/'.join(heads)}" if heads != [ModelConfig.head] else ""
    return Plan(data, name or f"{'/'.join(optimizers)} × {'/'.join(losses)}{heads_part} × {seeds} seeds", config, tuple(runs))


def find_sweep(plan: Plan) -> str | None:
    """Return the id of the newest sweep with this plan's grid (so a re-run resumes it), or None."""
    sweeps = store.list_sweeps()
    for row in sweeps.to_dict("records"):
        if (row.get("config") or {}).get("hash") == plan.config["hash"]:
            return row["id"]
    return None


def latest_runs(sweep_id: str) -> dict:
    """Return {run name: newest run record} of a sweep (a retried run supersedes its failed attempt)."""
    runs = store.list_runs(sweep_id)  # newest first
    latest = {}
    for r in runs.to_dict("records"):
        latest.setdefault(r["name"], r)
    return latest


def pending(plan: Plan, sweep_id: str, keep_diverged: bool = False) -> list[tuple[RunSpec, dict | None]]:
    """Return the runs still to do with their previous attempt (None if never started); refuse a sweep already running.

    keep_diverged: a run that diverged counts as done (a learning-rate grid expects some; retrying diverges again).
    """
    latest = latest_runs(sweep_id)
    todo = []
    for spec in plan.runs:
        prev = latest.get(spec.name)
        if prev and prev["status"] == "running":
            raise StoreError(f"sweep {sweep_id} is already running (run {prev['id']}, pid {prev['pid']}); stop it first or wait")
        if prev is not None and keep_diverged and run_diverged(prev):
            continue
        if prev is None or prev["status"] != "finished":
            todo.append((spec, prev))
    return todo


def attempt(prev: dict | None) -> dict:
    """Return how to (re)start a run: resume its last.pt, reuse its empty row, or start a new row (all keys None)."""
    if prev and prev["status"] != "running" and (run_dir(prev["id"]) / "last.pt").is_file():
        return {"resume": prev["id"], "run_id": None}
    if prev and int(prev.get("epochs_done") or 0) == 0:
        return {"resume": None, "run_id": prev["id"]}  # nothing logged yet: the row can be reused as is
    return {"resume": None, "run_id": None}


def queue_runs(plan: Plan, sweep_id: str, todo: list, dataset_id: str | None, local_checkpoints: bool = True) -> list[dict]:
    """Return one worker payload per pending run, creating its 'queued' row first so the whole grid shows at once."""
    out = []
    for spec, prev in todo:
        how = attempt(prev)
        if how["resume"] and not local_checkpoints:
            how = {"resume": None, "run_id": None}  # a remote worker cannot see the driver's last.pt: start afresh
        if how["resume"] is None and how["run_id"] is None:
            how["run_id"] = store.create_run(
                spec.name,
                {"data": plan.data, "model": spec.model, "train": spec.train},
                dataset_id,
                sweep_id=sweep_id,
                status="queued",
            )
        elif how["run_id"]:
            store.update_run(how["run_id"], status="queued", error=None)
        out.append(
            {"data": plan.data, "model": spec.model, "train": dict(spec.train), "name": spec.name, "sweep_id": sweep_id, **how}
        )
    return out


def open_sweep(plan: Plan) -> tuple[str, bool]:
    """Return (sweep id, resumed): the existing sweep with this grid, or a new one."""
    found = find_sweep(plan)
    if found:
        return found, True
    return store.create_sweep(plan.name, plan.config), False


def with_threads(payload: dict, threads: int) -> dict:
    """Return the payload with torch threads set, unless the user chose them (cores split between the pool's processes)."""
    train = dict(payload["train"])
    if not train.get("threads"):
        train["threads"] = threads
    return {**payload, "train": train}


def train_payload(payload: dict, reporter=None, stop=None) -> dict:
    """Train one run from a worker payload; return run_training's summary."""
    # Imported here, in the worker: the training loop brings torch, seconds that a page planning or
    # reading sweeps (Compare, on a freshly started server) should not wait for.
    from musicgen.training.train import run_training

    return run_training(
        payload["data"],
        from_dict(ModelConfig, payload["model"]),
        from_dict(TrainConfig, payload["train"]),
        name=payload["name"],
        resume=payload.get("resume"),
        sweep_id=payload["sweep_id"],
        reporter=reporter,
        stop=stop,
        run_id=payload.get("run_id"),
    )


def run_of(payload: dict) -> str:
    """Return the run id a payload trains."""
    return payload.get("resume") or payload["run_id"]


def mark_failed(run_id: str, reason: str, pid: int | None = None) -> None:
    """Record the death of worker `pid` on its run, unless the trainer already recorded a better reason (e.g. a NaN loss).

    A run that another live process trains (the worker lost the claim to it) is left alone.
    """
    run = store.get_run(run_id)
    ours = run["status"] == "queued" or (run["status"] == "running" and (pid is None or run["pid"] in (None, pid)))
    if ours or str(run.get("error") or "").startswith(("process died", "interrupted")):
        store.update_run(run_id, status="failed", error=reason)


def status_of(run_id: str) -> str:
    """Return the store's status of a run."""
    return store.get_run(run_id)["status"]
