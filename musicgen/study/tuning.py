"""A fair optimizer × loss study in two stages, each an ordinary sweep of the store (so runs, resume and Compare work).

Stage "lr": every optimizer × loss at every learning rate of a log-spaced grid, one seed (the first),
the same budget for all (at most `max_epochs`, early stopping on validation NLL after `patience`
epochs without a better one, best.pt kept). The rate with the lowest best validation NLL wins; a
run that diverged (NaN) or failed is never chosen, and a combination whose every rate diverged is
left out of stage 2, with a message. Stage "seeds": each combination at its chosen rate over all
`seeds` seeds (the stage-1 run is not reused: stage 2 trains every seed, so its runs share one plan).

Identity: each stage is found again by the hash of its grid (`plan.find_sweep`); stage 2's grid
includes the chosen rates, which come from finished stage-1 runs, so the same command finds the same
stage 2 and an interrupted study goes on where it stopped. The stage-2 sweep's config keeps, under
"study", the lr grid, the budget, the stage-1 sweep and each combination's candidates and choice.
"""

from __future__ import annotations

import math
from dataclasses import replace

from musicgen.config import ModelConfig, TrainConfig
from musicgen.errors import ConfigError, TrainingError
from musicgen.runs.divergence import run_diverged
from musicgen.study import groups, stats
from musicgen.study.groups import config_label
from musicgen.study.plan import Plan, latest_runs, plan_sweep
from musicgen.study.sweep import run_sweep


def parse_lr_grid(text: str) -> list[float]:
    """Return the learning rates of a comma-separated list (positive, finite, distinct), sorted."""
    lrs = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            lr = float(part)
        except ValueError:
            raise ConfigError(f"--lr-grid has {part!r}, not a number; give rates like --lr-grid 3e-4,1e-3,3e-3") from None
        if not (math.isfinite(lr) and lr > 0):
            raise ConfigError(f"--lr-grid rates must be positive finite numbers, got {part}; e.g. --lr-grid 3e-4,1e-3,3e-3")
        lrs.append(lr)
    if not lrs:
        raise ConfigError("--lr-grid is empty; give rates like --lr-grid 3e-4,1e-3,3e-3")
    if len(set(lrs)) != len(lrs):
        raise ConfigError(f"--lr-grid repeats a rate ({text}); list each once")
    return sorted(lrs)


def budget_config(train_cfg: TrainConfig, max_epochs: int, patience: int) -> TrainConfig:
    """Return train_cfg with the study's budget: at most `max_epochs`, early stopping on validation NLL after `patience`."""
    if not isinstance(max_epochs, int) or max_epochs < 1:
        raise ConfigError(f"--max-epochs must be an integer >= 1, got {max_epochs}; e.g. --max-epochs 60")
    if not isinstance(patience, int) or patience < 1:
        raise ConfigError(f"--patience must be an integer >= 1 for a study (runs stop when converged), got {patience}")
    return replace(train_cfg, epochs=max_epochs, patience=patience, monitor="nll")


def plan_lr_stage(
    data: str,
    optimizers: list[str],
    losses: list[str],
    lr_grid: list[float],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    name: str | None = None,
) -> Plan:
    """Return stage 1: optimizers × losses × lr_grid, one seed (train_cfg.seed), train_cfg's budget."""
    plan = plan_sweep(data, optimizers, losses, 1, model_cfg, train_cfg, lr_grid=lr_grid)
    stage_name = f"{name or 'study'} · lr stage ({'/'.join(plan.config['optimizers'])} × {'/'.join(plan.config['losses'])})"
    return replace(plan, name=stage_name, config={**plan.config, "study": {"stage": "lr"}})


def choose_lrs(candidates: list[dict]) -> dict[str, dict]:
    """Return per combination the learning rate with the lowest best validation NLL among finished runs.

    candidates: one dict per stage-1 run {optimizer, loss, head, lr, status, best_valid_nll, diverged}.
    Returns {label: {optimizer, loss, head, lr (None when every rate diverged or failed), candidates (by lr),
    reason}}; a run that did not finish, or has no finite NLL, is never chosen.
    """
    by_label: dict[str, dict] = {}
    for c in candidates:
        label = config_label(c["optimizer"], c["loss"], c.get("head"))
        entry = by_label.setdefault(
            label, {"optimizer": c["optimizer"], "loss": c["loss"], "head": c.get("head") or "independent", "candidates": []}
        )
        nll = c.get("best_valid_nll")
        entry["candidates"].append(
            {
                "lr": float(c["lr"]),
                "status": "diverged" if c.get("diverged") else c["status"],
                "best_valid_nll": float(nll) if nll is not None and math.isfinite(nll) else None,
            }
        )
    for label, entry in by_label.items():
        entry["candidates"].sort(key=lambda c: c["lr"])
        usable = [c for c in entry["candidates"] if c["status"] == "finished" and c["best_valid_nll"] is not None]
        if usable:
            best = min(usable, key=lambda c: (c["best_valid_nll"], c["lr"]))
            entry["lr"], entry["reason"] = best["lr"], f"lowest best validation NLL ({best['best_valid_nll']:.4g})"
        else:
            statuses = sorted({c["status"] for c in entry["candidates"]})
            entry["lr"], entry["reason"] = None, f"no rate of the grid trained ({', '.join(statuses)}): {label} is left out"
    return dict(sorted(by_label.items()))


def lr_candidates(sweep_id: str) -> list[dict]:
    """Return the stage-1 candidates of a sweep from the store: one dict per run (see choose_lrs)."""
    runs = list(latest_runs(sweep_id).values())
    table = stats.run_table([r["id"] for r in runs]).set_index("id")
    out = []
    for r in runs:
        train = (r.get("config") or {}).get("train") or {}
        row = table.loc[r["id"]]
        out.append(
            {
                "id": r["id"],
                "optimizer": train.get("optimizer"),
                "loss": train.get("loss"),
                "head": groups.head_of(r.get("config") or {}),
                "lr": train.get("lr"),
                "status": r["status"],
                "diverged": run_diverged(r),
                "best_valid_nll": float(row["best_valid_nll"]),
            }
        )
    return out


def plan_seed_stage(
    data: str,
    choices: dict[str, dict],
    seeds: int,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    study_info: dict,
    name: str | None = None,
) -> Plan:
    """Return stage 2: each chosen combination at its lr over `seeds` seeds; `study_info` goes to the config's "study"."""
    lrs = {(v["optimizer"], v["loss"]): v["lr"] for v in choices.values() if v["lr"] is not None}
    optimizers = list(dict.fromkeys(o for o, _ in lrs))
    losses = list(dict.fromkeys(lo for _, lo in lrs))
    plan = plan_sweep(data, optimizers, losses, seeds, model_cfg, train_cfg, lrs=lrs)
    stage_name = f"{name or 'study'} · {seeds} seeds at the chosen rates"
    return replace(plan, name=stage_name, config={**plan.config, "study": {"stage": "seeds", **study_info}})


def run_study(
    data: str,
    optimizers: list[str],
    losses: list[str],
    lr_grid: list[float],
    seeds: int,
    max_epochs: int,
    patience: int,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    workers: int | None = None,
    name: str | None = None,
    on_event=None,
) -> dict:
    """Run (or resume) both stages; return {lr_sweep_id, seed_sweep_id, choices, skipped, lr, seeds}.

    on_event(kind, ...) gets the sweeps' events plus ("stage", name, plan) before each stage and
    ("left_out", label, reason) per combination that stage 2 leaves out. A stage-1 run that failed for
    another reason than divergence stops the study before stage 2 (TrainingError): the choice would be unfair.
    """
    cfg = budget_config(train_cfg, max_epochs, patience)
    lr_plan = plan_lr_stage(data, optimizers, losses, lr_grid, model_cfg, cfg, name)
    if on_event:
        on_event("stage", "lr", lr_plan)
    first = run_sweep(lr_plan, "local", workers, on_event, keep_diverged=True)
    candidates = lr_candidates(first["sweep_id"])
    broken = [c for c in candidates if c["status"] != "finished" and not c["diverged"]]
    if broken:
        raise TrainingError(
            f"{len(broken)} run(s) of the lr stage (sweep {first['sweep_id']}) did not finish "
            f"({', '.join(sorted({c['status'] for c in broken}))}); re-run the same command to retry them before the seed stage"
        )
    choices = choose_lrs(candidates)
    left_out = {k: v["reason"] for k, v in choices.items() if v["lr"] is None}
    if on_event:
        for label, reason in left_out.items():
            on_event("left_out", label, reason)
    if len(left_out) == len(choices):
        raise TrainingError(
            f"every run of the lr stage diverged (sweep {first['sweep_id']}); try smaller rates, e.g. --lr-grid 1e-4,3e-4,1e-3"
        )
    info = {
        "lr_sweep": first["sweep_id"],
        "lr_grid": list(lr_grid),
        "budget": {"max_epochs": max_epochs, "patience": patience, "monitor": "nll"},
        "choices": choices,
        "left_out": sorted(left_out),
        "plan": {"optimizers": optimizers, "losses": losses, "seeds": seeds, "first_seed": train_cfg.seed},
    }
    seed_plan = plan_seed_stage(data, choices, seeds, model_cfg, cfg, info, name)
    if on_event:
        on_event("stage", "seeds", seed_plan)
    second = run_sweep(seed_plan, "local", workers, on_event)
    return {
        "lr_sweep_id": first["sweep_id"],
        "seed_sweep_id": second["sweep_id"],
        "choices": choices,
        "left_out": sorted(left_out),
        "lr": first,
        "seeds": second,
    }
