"""Which runs belong together: a run's identity (what it measures), its label, the groups of a run table.

A run measures its dataset, model config and train config (`identity_of`); runs that differ only in their
seed (or threads, device) are seeds of one configuration. `group_labels`/`run_groups` name the groups a user
chooses (GROUP_KEYS), `labels_apart` keeps runs that differ in more than their seed apart, `unique_runs`
counts a configuration and seed once. Pure functions over config dicts and the store's runs frame.
"""

from __future__ import annotations

from pathlib import PurePath

import numpy as np
import pandas as pd

from musicgen.config import ModelConfig, TrainConfig, from_dict, to_dict
from musicgen.errors import ConfigError, MusicgenError


def config_value(config: dict, key: str):
    """Return config[key], looking into nested dicts (the store may nest train/model configs)."""
    if not isinstance(config, dict):
        return None
    if key in config:
        return config[key]
    for v in config.values():
        if isinstance(v, dict):
            found = config_value(v, key)
            if found is not None:
                return found
    return None


def config_label(optimizer, loss, head=None) -> str:
    """Return the name of one combination, e.g. 'adamw+focal', or 'adam+bce+nade' for a head other than the independent one."""
    return f"{optimizer}+{loss}" + (f"+{head}" if head not in (None, "independent") else "")


def head_of(config: dict) -> str:
    """Return the output head of a run's config ('independent' for runs from before heads existed)."""
    return config_value(config, "head") or "independent"


# What a run measures is its dataset, model and training config; these change only its seed or its speed.
NOT_IDENTITY = ("seed", "threads", "device")


# The grouping keys a user may choose: name -> the identity fields it stands for.
GROUP_KEYS = {
    "optimizer": ("optimizer",),
    "loss": ("loss",),
    "head": ("head",),
    "dataset": ("dataset",),
    "lr": ("lr",),
    "weight decay": ("weight_decay",),
    "epochs": ("epochs",),
    "model size": ("conv_channels", "conv_layers", "hidden", "gru_layers", "nade_hidden"),
}


def dataset_name(config: dict, dataset_id: str | None = None) -> str:
    """Return a run's dataset name: the stored `dataset`, else its `data` ref's last part ('builtin:bach' -> 'bach')."""
    name = config.get("dataset") if isinstance(config, dict) else None
    if isinstance(name, str) and name:
        return name
    data = config.get("data") if isinstance(config, dict) else None
    if isinstance(data, str) and data:
        return data.split(":", 1)[1] if data.startswith("builtin:") else PurePath(data).name or data
    return str(dataset_id or "unknown")


def _complete(cls, d: dict) -> dict:
    # A queued run stores what the sweep planned, a started one the full config: fill defaults so both compare equal.
    try:
        return to_dict(from_dict(cls, d))
    except (MusicgenError, TypeError, ValueError):
        return dict(d)


def identity_of(config: dict, dataset_id: str | None = None) -> dict:
    """Return what a run measures as one flat dict: dataset name, model config and train config, minus NOT_IDENTITY."""
    config = config if isinstance(config, dict) else {}
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    # Older runs keep optimizer and loss beside the train config.
    train = {**{k: config[k] for k in ("optimizer", "loss") if isinstance(config.get(k), str)}, **train}
    ident = {"dataset": dataset_name(config, dataset_id), **_complete(ModelConfig, model), **_complete(TrainConfig, train)}
    for k in NOT_IDENTITY:
        ident.pop(k, None)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in ident.items()}


def cli_number(value) -> str:
    """Return a number as it is written on the command line: 3e-3 below 0.01, else as %g (0.01, 0.5)."""
    if isinstance(value, float) and value and abs(value) < 0.01:
        return str(np.format_float_scientific(value, trim="-", exp_digits=1))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _fmt(key: str, value) -> str:
    return str(value) if key == "dataset" else f"{key.replace('_', ' ')} {cli_number(value)}"


def group_labels(identities: list[dict], by: list[str] | None = None) -> list[str]:
    """Return a readable group label per identity: optimizer+loss(+head), then the chosen fields that differ between them.

    by=None groups by the whole identity (only runs differing by seed share a label); else by the GROUP_KEYS named.
    E.g. ['adamw+bce · bach · lr 3e-3', 'adamw+bce · piano · lr 5e-4'].
    """
    if by is None:
        fields = list(dict.fromkeys(k for i in identities for k in i))
    else:
        unknown = [b for b in by if b not in GROUP_KEYS]
        if unknown:
            raise ConfigError(f"cannot group by {unknown}; choose from {', '.join(GROUP_KEYS)}")
        fields = [f for b in by for f in GROUP_KEYS[b]]
    varying = [f for f in fields if len({repr(i.get(f)) for i in identities}) > 1 and f not in ("optimizer", "loss", "head")]
    varying.sort(key=lambda f: f != "dataset")  # the dataset first: it is what the eye looks for
    labels = []
    for ident in identities:
        head = ident.get("head") if "head" in fields else None
        if "optimizer" in fields and "loss" in fields:
            parts = [config_label(ident.get("optimizer"), ident.get("loss"), head)]
        else:
            parts = [str(ident.get(f)) for f in ("optimizer", "loss", "head") if f in fields]
        parts += [_fmt(f, ident.get(f)) for f in varying]
        labels.append(" · ".join(parts) or "all runs")
    return labels


def labels_apart(labels: list[str], identities: list[dict]) -> list[str]:
    """Return each label with the identity fields that differ among the runs sharing it, e.g. 'adam+bce · lr 1e-3'.

    A report grouped by combination (optimizer+loss) would otherwise pool runs that differ in more than their
    seed, such as a study's learning-rate stage, as if they were seeds.
    """
    varying = {}
    for label in set(labels):
        same = [i for lab, i in zip(labels, identities, strict=True) if lab == label]
        fields = dict.fromkeys(k for i in same for k in i)
        varying[label] = [f for f in fields if len({repr(i.get(f)) for i in same}) > 1]
    return [
        " · ".join([lab] + [_fmt(f, ident.get(f)) for f in varying[lab]]) for lab, ident in zip(labels, identities, strict=True)
    ]


def run_groups(runs: pd.DataFrame, by: list[str] | None = None) -> list[str]:
    """Return the group label of each run of a runs frame (see group_labels); by=[]: each run its own line (its name)."""
    records = runs.to_dict("records")
    if by is not None and not by:
        names = [str(r.get("name") or r["id"]) for r in records]
        return [n if names.count(n) == 1 else f"{n} ({r['id']})" for n, r in zip(names, records, strict=True)]
    return group_labels([identity_of(r.get("config") or {}, r.get("dataset_id")) for r in records], by)


def unique_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    """Return (the runs with each configuration and seed once, [{"dropped": id, "kept": id}]): the later run is kept.

    Two runs with the same configuration and the same seed (a study's lr-stage run and its seed-stage twin) are one
    measurement, not two seeds: pooled, they would read as "n 2, std 0". Later: the newer `created` (then id).
    """
    if runs.empty:
        return runs, []
    records = runs.to_dict("records")
    keys = [
        repr(
            sorted(
                {
                    **identity_of(r.get("config") or {}, r.get("dataset_id")),
                    "seed": config_value(r.get("config") or {}, "seed"),
                }.items()
            )
        )
        for r in records
    ]
    order = sorted(range(len(records)), key=lambda i: (str(records[i].get("created") or ""), str(records[i]["id"])), reverse=True)
    kept: dict[str, str] = {}
    repeats = []
    for i in order:
        if keys[i] in kept:
            repeats.append({"dropped": records[i]["id"], "kept": kept[keys[i]]})
        else:
            kept[keys[i]] = records[i]["id"]
    dropped = {r["dropped"] for r in repeats}
    return runs[~runs["id"].isin(dropped)], repeats


def repeats_note(repeats: list[dict]) -> str:
    """Return one sentence naming the runs `unique_runs` left out, '' when none."""
    if not repeats:
        return ""
    pairs = ", ".join(f"{r['dropped']} (repeats {r['kept']})" for r in repeats)
    return f"Counted once: {pairs} have the same configuration and seed as a later run, which is kept."
