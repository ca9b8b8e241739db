"""The Train page's logic without widgets: which run to watch, the runs table, the notes beside the live panel."""

from __future__ import annotations

import importlib.util
from dataclasses import fields
from pathlib import Path

import pandas as pd

from musicgen.config import ModelConfig, TrainConfig
from musicgen.runs.labels import backend_label, precision_of
from musicgen.study.groups import dataset_name
from musicgen.training.knobs import train_knobs

# Losses that reweight the likelihood: their probabilities are not calibrated, so NLL may rise while the loss falls.
UNCALIBRATED_LOSSES = ("focal", "weighted-bce", "asymmetric")
PRECISION_HELP = (
    "arithmetic of the training steps: fp32, or bf16 autocast (faster matrix products, less exact); auto picks "
    "per device and head what keeps results equal to fp32 and is fastest, fp32 at today's sizes; evaluation is always fp32"
)


def ray_installed() -> bool:
    """Return whether Ray can be imported here (requirements-ray.txt), without importing it."""
    return importlib.util.find_spec("ray") is not None


def backend_args(backend: str, workers) -> list[str]:
    """Return the `train` options of the chosen backend: none for local, --backend ray --workers N (checked) for Ray."""
    if backend != "ray":
        return []
    from musicgen.training.ray_train import RayBackend

    chosen = RayBackend(workers=int(workers))
    return ["--backend", "ray", "--workers", str(chosen.workers)]


def pick_watched(records: dict, watched: str | None, follow_pid: int | None) -> tuple[str, bool]:
    """Return (the run to show, whether the process `follow_pid` has registered its run).

    `records` maps run id -> store row, newest first. The run this tab launched (or resumed) wins once its
    process has registered; otherwise the watched run stays, whatever its status, until it leaves the store;
    only then the newest running run (or the newest run) takes its place.
    """
    launched = [rid for rid, r in records.items() if follow_pid and r.get("pid") == follow_pid]
    if launched:
        return launched[0], True
    if watched in records:
        return watched, False
    running = [rid for rid, r in records.items() if r.get("status") == "running"]
    return (running or list(records))[0], False


def _train_config(row) -> dict:
    config = row.get("config") if isinstance(row.get("config"), dict) else {}
    return config.get("train") or {}


def _number(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) and value == value else "–"  # NaN and None: a dash


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Return the page's runs table in words: name, status, results (best valid NLL and F1), settings, precision, where
    (this machine or Ray workers), start, note."""
    rows = runs.to_dict("records")
    best = [(r.get("summary") if isinstance(r.get("summary"), dict) else {}).get("best") or {} for r in rows]
    return pd.DataFrame(
        {
            "run": [r.get("name") or "–" for r in rows],
            "status": [r.get("status") for r in rows],
            "epochs": [int(r.get("epochs_done") or 0) for r in rows],
            "best valid NLL (nats/step)": [_number(b.get("nll"), ".3f") for b in best],
            "best valid F1": [_number(b.get("f1_best"), ".3f") for b in best],
            "dataset": [dataset_name(r.get("config") or {}, r.get("dataset_id")) or "–" for r in rows],
            "optimizer": [_train_config(r).get("optimizer") or "–" for r in rows],
            "loss": [_train_config(r).get("loss") or "–" for r in rows],
            "learning rate": [_number(_train_config(r).get("lr"), "g") for r in rows],
            "precision": [precision_of(r.get("config")) for r in rows],
            "where": [backend_label(r.get("config")) for r in rows],
            "started (UTC)": [str(r.get("created") or "").replace("T", " ").removesuffix("+00:00") for r in rows],
            "note": [r.get("error") or "" for r in rows],
            "id": [r["id"] for r in rows],
        }
    )


def duration(seconds: float) -> str:
    """Return `seconds` as '45 s', '3 min 5 s' or '2 h 4 min'."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def batch_progress(run: dict, record: dict | None) -> tuple[float, str] | None:
    """Return (fraction, text) of the current epoch's batches from a progress.json record, or None when it does not apply.

    It applies to a running run whose record is of the epoch after the last one stored (an older record is stale).
    """
    if record is None or run.get("status") != "running":
        return None
    if record["epoch"] != int(run.get("epochs_done") or 0) + 1 or record["batches"] <= 0:
        return None
    batch, batches = record["batch"], record["batches"]
    if batch >= batches:
        return 1.0, f"epoch {record['epoch']}: all {batches} batches done, validating…"
    eta = record.get("eta_s")
    left = f", about {duration(eta)} left in this epoch" if isinstance(eta, int | float) else ""
    return batch / batches, f"epoch {record['epoch']}: batch {batch} of {batches}{left}"


def end_note(run: dict) -> str | None:
    """Return one line on how a run ended (finished or stopped), or None while it runs (failures have their own error)."""
    status, done = run.get("status"), int(run.get("epochs_done") or 0)
    summary = run.get("summary") if isinstance(run.get("summary"), dict) else {}
    best_epoch, best = summary.get("best_epoch"), summary.get("best") or {}
    parts = []
    if best_epoch:
        parts.append(f"best epoch {best_epoch}")
        if isinstance(best.get("onset_f1"), int | float):  # onset-aware data: what the model says about new notes first
            parts.append(f"onset F1 {best['onset_f1']:.3f}")
        if isinstance(best.get("nll"), int | float):
            parts.append(f"valid NLL {best['nll']:.3f} nats/step")
        if isinstance(best.get("f1_best"), int | float):
            at = f" at threshold {summary['threshold']:.2f}" if isinstance(summary.get("threshold"), int | float) else ""
            parts.append(f"F1 {best['f1_best']:.3f}{at}")
    best_text = f"; {', '.join(parts)}" if parts else ""
    if status == "finished":
        return f"Finished at epoch {done}{best_text}."
    if status == "stopped":
        return f"Stopped at epoch {done}{best_text}. Resume continues from its last checkpoint."
    return None


def uncalibrated(run: dict) -> str | None:
    """Return the run's loss when it reweights the likelihood (so its NLL is not what it minimises), else None."""
    loss = _train_config(run).get("loss")
    return loss if loss in UNCALIBRATED_LOSSES else None


def recipe_widgets(recipe: dict, model_knobs: tuple, run_knobs: tuple) -> tuple[dict, str]:
    """Return (the Train page's widget values that set up `recipe` (musicgen.study.recipes.load_recipe), keyed
    as the page keys them; a note for the page: an ensemble's members, and the recipe's settings that the page
    has no field for, '' when there is nothing to say).
    """
    model, train = recipe["model"], recipe["train"]
    # config field -> widget key, for every field the form shows
    train_keys = {
        "optimizer": "train_optimizer",
        "loss": "train_loss",
        "lr": "train_lr",
        "epochs": "train_epochs",
        "batch_size": "train_batch",
        "seed": "train_seed",
        "schedule": "train_schedule",
        "monitor": "train_monitor",
        "precision": "train_precision",
        "weight_decay": f"train_wd_{train.optimizer}",  # one field per optimizer
    } | {k: f"train_{k}" for k in (*train_knobs(train.optimizer, train.loss), *run_knobs)}
    shown_model = (*model_knobs, "nade_hidden", "nade_layers") if model.head == "nade" else model_knobs
    model_keys = {"head": "model_head"} | {k: f"model_{k}" for k in shown_model}
    state = {key: getattr(train, f) for f, key in train_keys.items()} | {key: getattr(model, f) for f, key in model_keys.items()}
    # Fields without a widget keep the page's defaults: name the ones where the recipe differs.
    unshown = [
        f"{f.name}={getattr(cfg, f.name)}"
        for cfg, default, keys in (
            (train, TrainConfig(optimizer=train.optimizer, loss=train.loss), train_keys | {"device": None}),
            (model, ModelConfig(), model_keys),
        )
        for f in fields(cfg)
        if f.name not in keys and getattr(cfg, f.name) != getattr(default, f.name)
    ]
    note = []
    if recipe["members"]:
        note.append(
            f"this recipe is an ensemble of {len(recipe['members'])} members: the form holds its base settings, "
            f"`python -m musicgen benchmark jsb --recipe configs/{Path(recipe['path']).name}` trains them all"
        )
    if unshown:
        note.append("settings the form has no field for keep their defaults here: " + ", ".join(unshown))
    return state, "; ".join(note)
