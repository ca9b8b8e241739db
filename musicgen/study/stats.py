"""What the optimizer × loss (× head) study measures on each run: the run table and the curves per combination.

Pure functions over two frames shaped like the store's: runs (`store.list_runs`: id, name,
status, config, summary, ...) and metric rows (`store.metrics_frame`: run_id, epoch, step, split,
name, value, wall_time). The `study report` command, the study document and the Compare page all
call these; `run_table`/`curve_bands` read the store, the `*_from` variants take the frames
directly. Comparing combinations over seeds (means, Welch's test, ranks) is `ranking`'s.
"""

from __future__ import annotations

import math
from pathlib import PurePath

import numpy as np
import pandas as pd

from musicgen.config import ModelConfig, TrainConfig, from_dict, to_dict
from musicgen.errors import ConfigError, MusicgenError
from musicgen.runs import store
from musicgen.runs.divergence import run_diverged

K_LAST = 5  # epochs whose train-loss spread measures stability
SPIKE_WINDOW = 10  # points before a loss value that define "recent"
SPIKE_MIN_HISTORY = 5  # fewer points before it: no verdict on a spike
SPIKE_SIGMAS = 3.0
CONVERGED_SHARE = 0.95  # "converged" = reached 95% of the run's best valid F1
TABLE_COLUMNS = [
    "id",
    "name",
    "status",
    "diverged",
    "dataset",
    "optimizer",
    "loss",
    "lr",
    "weight_decay",
    "epochs",
    "best_epoch",
    "head",
    "seed",
    "config",
    "group",
    "epochs_done",
    "best_valid_nll",
    "best_valid_f1",
    "threshold",
    "best_valid_f1_05",
    "test_nll",
    "test_f1",
    "epochs_to_95",
    "seconds_to_95",
    "loss_spread",
    "loss_spikes",
    "pred_pos_rate",
    "density",
    "pos_rate_ratio",
    "pos_rate_error",
    "gen_overlap",
    # Onset-aware datasets (musicgen.training.onset_metrics): NaN for hold-only ones.
    "best_valid_onset_f1",
    "test_onset_f1",
]


def _find(config: dict, key: str):
    """Return config[key], looking into nested dicts (the store may nest train/model configs)."""
    if not isinstance(config, dict):
        return None
    if key in config:
        return config[key]
    for v in config.values():
        if isinstance(v, dict):
            found = _find(v, key)
            if found is not None:
                return found
    return None


def config_label(optimizer, loss, head=None) -> str:
    """Return the name of one combination, e.g. 'adamw+focal', or 'adam+bce+nade' for a head other than the independent one."""
    return f"{optimizer}+{loss}" + (f"+{head}" if head not in (None, "independent") else "")


def head_of(config: dict) -> str:
    """Return the output head of a run's config ('independent' for runs from before heads existed)."""
    return _find(config, "head") or "independent"


def loss_spread(values, k: int = K_LAST) -> float:
    """Return the relative spread of the last `k` values: sample std over |mean| (NaN with fewer than 2).

    Relative, because the losses differ in scale (focal loss is a fraction of BCE on the same
    predictions): a raw std would call every focal run the stable one.
    """
    tail = np.asarray(values, dtype=float)[-k:]
    if len(tail) < 2 or not np.mean(tail):
        return math.nan
    return float(np.std(tail, ddof=1) / abs(np.mean(tail)))


def loss_spikes(values, window: int = SPIKE_WINDOW, sigmas: float = SPIKE_SIGMAS, min_history: int = SPIKE_MIN_HISTORY) -> int:
    """Count values above mean + sigmas·std of the `window` values before them (upward jumps only)."""
    x = np.asarray(values, dtype=float)
    count = 0
    for i in range(min_history, len(x)):
        recent = x[max(0, i - window) : i]
        mu, sd = recent.mean(), recent.std(ddof=1)
        # A flat history (sd 0) would make any rounding noise a spike: require a real std.
        if sd > 0 and x[i] > mu + sigmas * sd:
            count += 1
    return count


def epochs_to_share(f1_by_epoch: pd.Series, share: float = CONVERGED_SHARE):
    """Return the first epoch whose value reaches `share` of the series' maximum (NaN if none is > 0)."""
    s = f1_by_epoch.dropna().sort_index()
    if s.empty or not s.max() > 0:
        return math.nan
    return s.index[(s >= share * s.max()).to_numpy().argmax()]


def metric_series(m: pd.DataFrame, split: str, name: str) -> pd.Series:
    """Return one metric per epoch (last row of each epoch), indexed by epoch."""
    rows = m[(m["split"] == split) & (m["name"] == name)]
    if rows.empty:
        return pd.Series(dtype=float)
    return rows.sort_values(["epoch"]).groupby("epoch")["value"].last().astype(float)


def _f1_series(m: pd.DataFrame) -> pd.Series:
    # f1_best (F1 at the validation-best threshold) is the one that moves early on sparse targets; 0.5 is often all-zero.
    s = metric_series(m, "valid", "f1_best")
    return s if not s.empty else metric_series(m, "valid", "f1")


def elapsed_by_epoch(m: pd.DataFrame) -> pd.Series:
    """Return training seconds elapsed at the end of each epoch (cumulative train epoch_s, else wall_time)."""
    s = metric_series(m, "train", "epoch_s")
    if not s.empty:
        return s.cumsum()
    rows = m[m["split"] == "valid"].dropna(subset=["wall_time"])
    if rows.empty:
        return pd.Series(dtype=float)
    by_epoch = rows.groupby("epoch")["wall_time"].max().sort_index()
    start = m["wall_time"].dropna().min()
    return by_epoch - start


def _train_losses(m: pd.DataFrame) -> np.ndarray:
    """Return the train loss curve: per-step rows when the run logged them, else per-epoch."""
    rows = m[(m["split"] == "train") & (m["name"] == "loss")]
    per_step = rows.dropna(subset=["step"]) if "step" in rows else rows.iloc[0:0]
    if len(per_step) > 1 and per_step["step"].nunique() > rows["epoch"].nunique():
        return per_step.sort_values("step")["value"].to_numpy(float)
    return metric_series(m, "train", "loss").to_numpy(float)


def run_row(run: dict, m: pd.DataFrame, k: int = K_LAST) -> dict:
    """Return one run's row of the study table from its store record and its metric rows."""
    config = run.get("config") or {}
    summary = run.get("summary") or {}
    opt, loss, seed = _find(config, "optimizer"), _find(config, "loss"), _find(config, "seed")
    nll, f1 = metric_series(m, "valid", "nll"), _f1_series(m)
    elapsed = elapsed_by_epoch(m)
    e95 = epochs_to_share(f1)
    test = m[m["split"] == "test"].groupby("name")["value"].last() if len(m) else pd.Series(dtype=float)
    # Positive rate against density: at the best checkpoint on test, else the best valid epoch.
    best_epoch = summary.get("best_epoch")
    if best_epoch is None and not nll.empty:
        best_epoch = nll.idxmin()
    at_best = m[(m["split"] == "valid") & (m["epoch"] == best_epoch)].groupby("name")["value"].last()
    src = test if "pred_pos_rate" in test else at_best
    losses = _train_losses(m)
    ident = identity_of(config, run.get("dataset_id"))
    row = {
        "id": run.get("id"),
        "name": run.get("name"),
        "status": run.get("status"),
        "diverged": run_diverged(run),
        "dataset": ident["dataset"],
        "optimizer": opt,
        "loss": loss,
        "lr": _number(ident.get("lr")),
        "weight_decay": _number(ident.get("weight_decay")),
        "epochs": _number(ident.get("epochs")),
        "best_epoch": _number(best_epoch),
        "head": head_of(config),
        "seed": seed,
        "config": config_label(opt, loss, head_of(config)),
        "epochs_done": run.get("epochs_done", int(nll.index.max()) if not nll.empty else 0),
        "best_valid_nll": float(nll.min()) if not nll.empty else math.nan,
        "best_valid_f1": float(f1.max()) if not f1.empty else math.nan,
        # The threshold validation chose for best_valid_f1 (None before the first epoch); F1 at 0.5 for comparison.
        "threshold": _number(summary.get("threshold")),
        "best_valid_f1_05": float(f05.max()) if not (f05 := metric_series(m, "valid", "f1")).empty else math.nan,
        "test_nll": float(test.get("nll", math.nan)),
        # On test, f1_best is the F1 at the threshold chosen on validation (the trainer passes it): not tuned on test.
        "test_f1": float(test.get("f1_best", test.get("f1", math.nan))),
        "epochs_to_95": float(e95),
        "seconds_to_95": math.nan if pd.isna(e95) else float(elapsed.get(e95, math.nan)),
        "loss_spread": loss_spread(metric_series(m, "train", "loss").to_numpy(float), k),
        "loss_spikes": float(loss_spikes(losses)) if len(losses) else math.nan,
        "pred_pos_rate": float(src.get("pred_pos_rate", math.nan)),
        "density": float(src.get("density", math.nan)),
        "gen_overlap": float(summary.get("gen_overlap", math.nan)),
        "best_valid_onset_f1": float(onset.max()) if not (onset := metric_series(m, "valid", "onset_f1")).empty else math.nan,
        "test_onset_f1": float(test.get("onset_f1", math.nan)),
    }
    row["pos_rate_ratio"] = row["pred_pos_rate"] / row["density"] if row["density"] > 0 else math.nan
    # |log ratio|: predicting half or twice the true positives is equally wrong; 0 = as many as the data has.
    ratio = row["pos_rate_ratio"]
    row["pos_rate_error"] = abs(math.log(ratio)) if ratio > 0 else math.nan
    return row


def _number(value) -> float:
    return float(value) if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool) else math.nan


def run_table_from(runs: pd.DataFrame, metrics: pd.DataFrame, k: int = K_LAST, by: list[str] | None = None) -> pd.DataFrame:
    """Return one row per run (TABLE_COLUMNS) from a runs frame and a metric-rows frame; `group` as `run_groups(runs, by)`."""
    rows = []
    for run in runs.to_dict("records"):
        m = metrics[metrics["run_id"] == run["id"]] if len(metrics) else metrics
        rows.append(run_row(run, m, k))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["group"] = run_groups(runs, by) if len(runs) else []
    return table


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
                {**identity_of(r.get("config") or {}, r.get("dataset_id")), "seed": _find(r.get("config") or {}, "seed")}.items()
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


def run_table(run_ids: list[str], k: int = K_LAST, by: list[str] | None = None) -> pd.DataFrame:
    """Return one row per run of the store (see TABLE_COLUMNS)."""
    runs = pd.DataFrame([store.get_run(r) for r in run_ids])
    metrics = store.metrics_frame(list(run_ids)) if run_ids else pd.DataFrame(columns=["run_id"])
    if runs.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    return run_table_from(runs, metrics, k, by)


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
# The range a metric can take (`metric_range`): bands are clipped to it and the charts' y axes start at its low end.
METRIC_RANGES = {
    "f1": (0.0, 1.0),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "frame_acc": (0.0, 1.0),
    "onset_f1": (0.0, 1.0),
    "nll": (0.0, math.inf),
    "loss": (0.0, math.inf),
}


def metric_range(metric: str) -> tuple[float, float]:
    """Return (low, high) of a metric, the same for its value at the validation threshold (`f1_best` as `f1`)."""
    return METRIC_RANGES.get(metric.removesuffix("_best"), (-math.inf, math.inf))


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


BAND_COLUMNS = ["config", "x", "mean", "std", "n", "lo", "hi", "real"]


def _curves(runs: pd.DataFrame, metrics: pd.DataFrame, metric: str, split: str, x: str, by) -> dict[str, list]:
    """Return {group label: [(run id, series of the metric indexed by x)]} of the runs that have the metric."""
    if x not in ("epoch", "seconds"):
        raise ConfigError(f"x must be 'epoch' or 'seconds', got {x!r}")
    curves = {}
    for run, label in zip(runs.to_dict("records"), run_groups(runs, by), strict=True):
        m = metrics[metrics["run_id"] == run["id"]] if len(metrics) else metrics
        s = metric_series(m, split, metric) if len(m) else pd.Series(dtype=float)
        if x == "seconds" and not s.empty:
            s.index = elapsed_by_epoch(m).reindex(s.index).to_numpy()
            s = s[~np.isnan(s.index.to_numpy(float))]
        if not s.empty:
            curves.setdefault(label, []).append((run["id"], s))
    return curves


def curve_bands_from(
    runs: pd.DataFrame,
    metrics: pd.DataFrame,
    metric: str,
    split: str,
    x: str = "epoch",
    points: int = 50,
    by: list[str] | None = None,
) -> pd.DataFrame:
    """Return mean ± std over seeds of one metric curve per group (`run_groups(runs, by)`): columns BAND_COLUMNS.

    lo/hi are mean ∓ std clipped to the metric's range (metric_range); `real` is False where the value is interpolated.
    x="seconds" puts each run on its training-seconds axis; a group of several runs is interpolated onto a shared grid
    of `points`, never beyond a run's last point (so n can shrink towards the right); a lone run keeps its own points.
    """
    low, high = metric_range(metric)
    rows = []
    for label, curves in sorted(_curves(runs, metrics, metric, split, x, by).items()):
        series = [s for _, s in curves]
        real = x == "epoch" or len(series) == 1
        if real:
            frame = pd.concat(series, axis=1)
        else:
            hi = max(float(s.index.max()) for s in series)
            grid = np.linspace(0, hi, points)
            cols = []
            for s in series:
                xs, ys = s.index.to_numpy(float), s.to_numpy(float)
                v = np.interp(grid, xs, ys)
                v[(grid < xs.min()) | (grid > xs.max())] = np.nan
                cols.append(pd.Series(v, index=grid))
            frame = pd.concat(cols, axis=1)
        for xv, vals in frame.sort_index().iterrows():
            v = vals.dropna().to_numpy(float)
            if len(v):
                mean, std = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
                lo, hi_ = float(np.clip(mean - std, low, high)), float(np.clip(mean + std, low, high))
                rows.append(
                    {"config": label, "x": float(xv), "mean": mean, "std": std, "n": len(v), "lo": lo, "hi": hi_, "real": real}
                )
    return pd.DataFrame(rows, columns=BAND_COLUMNS)


def curve_points_from(
    runs: pd.DataFrame, metrics: pd.DataFrame, metric: str, split: str, x: str = "epoch", by: list[str] | None = None
) -> pd.DataFrame:
    """Return every run's own measured points of one metric: columns config (its group), run_id, x, value."""
    rows = [
        {"config": label, "run_id": run_id, "x": float(xv), "value": float(v)}
        for label, curves in sorted(_curves(runs, metrics, metric, split, x, by).items())
        for run_id, s in curves
        for xv, v in s.items()
        if not math.isnan(v)
    ]
    return pd.DataFrame(rows, columns=["config", "run_id", "x", "value"])


def curve_bands(run_ids: list[str], metric: str, split: str, x: str = "epoch", by: list[str] | None = None) -> pd.DataFrame:
    """Return mean ± std bands per group of one metric of the store's runs (see curve_bands_from)."""
    runs = pd.DataFrame([store.get_run(r) for r in run_ids])
    if runs.empty:
        return pd.DataFrame(columns=BAND_COLUMNS)
    return curve_bands_from(runs, store.metrics_frame(list(run_ids)), metric, split, x, by=by)


BASELINE_LABELS = {
    "silent": "always silent",
    "copy_previous": "copy previous step",
    "markov": "per-note Markov chain",
    "beat_prior": "beat-position onset prior",  # onset-aware datasets only
}


def baseline_lines(summary: dict, metric: str, split: str = "valid") -> dict[str, float]:
    """Return {label: value} of the baselines in a run summary that have `metric` on `split` (for reference lines)."""
    out = {}
    for kind, label in BASELINE_LABELS.items():
        value = ((summary or {}).get("baselines", {}).get(kind, {}).get(split) or {}).get(metric)
        if isinstance(value, int | float) and math.isfinite(value):
            out[label] = float(value)
    return out


def dataset_baselines(runs: pd.DataFrame) -> dict[str, dict]:
    """Return {dataset name: the `baselines` of a run summary}, from the first run of each dataset that stored them."""
    out = {}
    for run in runs.to_dict("records"):
        name = dataset_name(run.get("config") or {}, run.get("dataset_id"))
        found = (run.get("summary") or {}).get("baselines")
        if found and name not in out:
            out[name] = found
    return out


def baseline_rows(runs: pd.DataFrame, split: str = "valid") -> pd.DataFrame:
    """Return one row per dataset × baseline: dataset, baseline, nll, f1_best, threshold, f1 (F1 at 0.5) on `split`."""
    rows = []
    for name, baselines in dataset_baselines(runs).items():
        for kind, label in BASELINE_LABELS.items():
            values = (baselines.get(kind) or {}).get(split) or {}
            if values:
                rows.append(
                    {
                        "dataset": name,
                        "baseline": label,
                        **{k: _number(values.get(k)) for k in ("nll", "f1_best", "threshold", "f1", "onset_f1")},
                    }
                )
    return pd.DataFrame(rows, columns=["dataset", "baseline", "nll", "f1_best", "threshold", "f1", "onset_f1"])
