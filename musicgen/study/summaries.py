"""A study's results for reading: per-combination tables of "mean ± std" strings, the lr stage, the reliability
bins as a table and as a diagram.

Torch-free, so that the Compare page draws them on a cold start; the study document (`document`,
`document_md`) shows the same tables.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from musicgen.study import ranking, stats
from musicgen.study.baselines import BASELINE_LABELS
from musicgen.study.measures import counted


def num(x, digits: int = 3) -> str:
    """Return a number with `digits` significant digits, "–" for None or NaN."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


BASELINE_VALUES = {"test_nll": "nll", "test_f1": "f1", "pred_pos_rate": "pred_pos_rate", "ece": "ece"}


def stats_with_baselines(combos: pd.DataFrame, baselines: dict) -> pd.DataFrame:
    """Return combination_stats in wide form (mean ± std [CI] per column) with one row per baseline below."""
    rows = {}
    for r in combos.to_dict("records"):
        ci = f" [{num(r['ci_lo'])}, {num(r['ci_hi'])}]" if not math.isnan(r["ci_lo"]) else ""
        rows.setdefault(r["config"], {"config": r["config"], "n": r["n"]})[r["column"]] = (
            f"{num(r['mean'])} ± {num(r['std'])}{ci}"
        )
    for name, b in sorted((baselines or {}).items()):
        row = {"config": f"baseline: {BASELINE_LABELS.get(name, name)}", "n": None}
        for column, key in BASELINE_VALUES.items():
            if isinstance(b.get(key), int | float):
                row[column] = num(float(b[key]))
        rows[row["config"]] = row
    return pd.DataFrame(list(rows.values()))


# Per-combination columns of the speed, stability and generation table (report), with what each one is.
DYNAMICS = {
    "epochs_done": "epochs trained (early stopping)",
    "epochs_to_95": "epochs to 95% of best valid F1",
    "seconds_to_target": "seconds to the loss's target NLL",
    "loss_spikes": "train-loss spikes",
    "grad_norm_max_over_median": "max/median grad norm after epoch 2",
    "gen_overlap": "overlap with real music metrics",
    "gen_polyphony": "polyphony",
    "gen_note_length": "note length (steps)",
    "gen_repetition": "repeated steps",
}


def dynamics_frame(table: pd.DataFrame, real: dict | None = None) -> pd.DataFrame:
    """Return per combination 'mean ± std' of the DYNAMICS columns the table has, then one row per reference of `real`.

    real: {name: {column: value}}, e.g. the real test windows' and the Markov chain's samples' generation figures.
    """
    done = counted(table)
    columns = [c for c in DYNAMICS if c in done and done[c].notna().any()]
    rows = []
    for config, g in done.groupby("config"):
        row = {"config": config, "n": len(g)}
        for c in columns:
            v = g[c].to_numpy(float)
            row[DYNAMICS[c]] = (
                f"{num(np.nanmean(v))} ± {num(np.nanstd(v, ddof=1))}" if np.isfinite(v).sum() > 1 else num(np.nanmean(v))
            )
        rows.append(row)
    for name, figures in (real or {}).items():
        rows.append({"config": name, "n": None, **{DYNAMICS[c]: num(v) for c, v in figures.items() if c in columns}})
    return pd.DataFrame(rows, columns=["config", "n", *(DYNAMICS[c] for c in columns)])


def reliability_figure(bins_by_label: dict[str, list[dict]]):
    """Return a plotly figure: observed frequency against mean predicted probability per combination, and the diagonal."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated", line={"dash": "dot", "color": "gray"})
    )
    for label, bins in bins_by_label.items():
        full = [b for b in bins if b["count"]]
        fig.add_trace(
            go.Scatter(
                x=[b["predicted"] for b in full],
                y=[b["observed"] for b in full],
                mode="lines+markers",
                name=label,
                text=[f"{b['count']} cells" for b in full],
            )
        )
    fig.update_layout(
        title="Reliability (test split)",
        xaxis_title="mean predicted probability",
        yaxis_title="observed frequency",
        xaxis={"range": [0, 1]},
        yaxis={"range": [0, 1]},
    )
    return fig


# The summary's columns: the ranked criteria (ranking.CRITERIA) in the run table's order, with the predicted
# positive rate and the density shown instead of their error.
SHOWN = [c for c in stats.TABLE_COLUMNS if (c in ranking.CRITERIA and c != "pos_rate_error") or c in ("pred_pos_rate", "density")]


def lr_stage_frame(study: dict | None) -> pd.DataFrame:
    """Return one row per lr-stage candidate of a study: config, lr, status, best_valid_nll, chosen (empty for a plain sweep)."""
    rows = []
    for label, c in ((study or {}).get("choices") or {}).items():
        for cand in c["candidates"]:
            rows.append({"config": label, **cand, "chosen": "yes" if cand["lr"] == c["lr"] else ""})
    return pd.DataFrame(rows, columns=["config", "lr", "status", "best_valid_nll", "chosen"])


def reliability_frame(calibration: dict[str, list[dict]]) -> pd.DataFrame:
    """Return one row per probability bin and one column per combination: 'predicted → observed (cells)'."""
    labels = list(calibration)
    if not labels:
        return pd.DataFrame()
    rows = []
    for i, b in enumerate(calibration[labels[0]]):
        row = {"bin": f"{b['lo']:.1f}–{b['hi']:.1f}"}
        for label in labels:
            c = calibration[label][i]
            row[label] = f"{c['predicted']:.3f} → {c['observed']:.3f} ({c['count']:,})" if c["count"] else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def cell(x) -> str:
    """Return a table cell's text: "–" for None or NaN, a float with 4 significant digits."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def summary_frame(groups: pd.DataFrame) -> pd.DataFrame:
    """Return per combination 'mean ± std' strings of the shown columns, and n."""
    if groups.empty:
        return groups
    out = pd.DataFrame({"config": groups["config"], "n": groups["n"]})
    for c in SHOWN:
        if f"{c}_mean" in groups:
            out[c] = [
                f"{cell(m)} ± {cell(s)}" if not pd.isna(m) else "–"
                for m, s in zip(groups[f"{c}_mean"], groups[f"{c}_std"], strict=True)
            ]
    return out
