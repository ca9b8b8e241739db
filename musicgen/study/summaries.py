"""A study's results for reading: per-combination tables of "mean ± std" strings and the reliability diagram.

Torch-free, so that the Compare page draws them on a cold start; the study document (`document`,
`document_html`) shows the same tables.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

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
