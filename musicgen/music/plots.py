"""Plotly figure builders shared by the dashboard's pages and the HTML report (no statistics here: see study/stats.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# One colour per combination, stable across figures (plotly's default qualitative palette).
PALETTE = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52"]


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def colour_of(labels: list[str]) -> dict[str, str]:
    """Return a colour per label, assigned in sorted order so every figure agrees."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


def curves_figure(bands: pd.DataFrame, title: str, x_label: str = "epoch", y_label: str = ""):
    """Return a figure with one mean line and a ±std band per combination from a `curve_bands` frame."""
    import plotly.graph_objects as go  # lazy: plotly takes ~1 s to import; only the app and the study document draw

    fig = go.Figure()
    colours = colour_of(list(bands["config"])) if len(bands) else {}
    for label, b in bands.groupby("config", sort=True):
        b = b.sort_values("x")
        x, mean, std = b["x"].to_numpy(), b["mean"].to_numpy(), b["std"].fillna(0).to_numpy()
        c = colours[label]
        # The band is one closed polygon: upper edge left to right, lower edge back.
        fig.add_trace(
            go.Scatter(
                x=np.concatenate([x, x[::-1]]),
                y=np.concatenate([mean + std, (mean - std)[::-1]]),
                fill="toself",
                fillcolor=_rgba(c, 0.18),
                line={"width": 0},
                hoverinfo="skip",
                legendgroup=label,
                showlegend=False,
                name=f"{label} ±std",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=mean,
                mode="lines+markers",
                line={"color": c},
                name=label,
                legendgroup=label,
                customdata=b["n"].to_numpy(),
                hovertemplate="%{y:.4g} (n=%{customdata})",
            )
        )
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, template="plotly_white", hovermode="x unified")
    return fig


def bars_figure(grouped: pd.DataFrame, column: str, title: str, by: str = "config"):
    """Return a bar per combination of `<column>_mean` with `<column>_std` error bars from a `ranking.group_table` frame."""
    import plotly.graph_objects as go  # lazy: plotly takes ~1 s to import; only the app and the study document draw

    g = grouped.sort_values(by)
    colours = colour_of(list(g[by]))
    fig = go.Figure(
        go.Bar(
            x=g[by],
            y=g[f"{column}_mean"],
            error_y={"type": "data", "array": g[f"{column}_std"].fillna(0)},
            marker_color=[colours[c] for c in g[by]],
        )
    )
    fig.update_layout(title=title, yaxis_title=column, template="plotly_white")
    return fig


def roll_figure(roll, low: int = 24, title: str = "", steps_per_beat: int | None = None, primer_steps: int = 0):
    """Return a piano-roll heatmap of a roll (steps, notes): time on x, MIDI pitch on y; the first `primer_steps` shaded."""
    import plotly.graph_objects as go  # lazy: plotly takes ~1 s to import; only the app and the study document draw

    roll = np.asarray(roll)
    x = np.arange(roll.shape[0]) / steps_per_beat if steps_per_beat else np.arange(roll.shape[0])
    fig = go.Figure(
        go.Heatmap(
            z=roll.T,
            x=x,
            y=np.arange(low, low + roll.shape[1]),
            colorscale=[[0, "white"], [1, "black"]],
            showscale=False,
            hovertemplate="step %{x}, pitch %{y}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title, xaxis_title="beat" if steps_per_beat else "step", yaxis_title="MIDI pitch", template="plotly_white"
    )
    if primer_steps:
        per = steps_per_beat or 1
        fig.add_vrect(
            x0=-0.5 / per,
            x1=(primer_steps - 0.5) / per,
            fillcolor="orange",
            opacity=0.2,
            line_width=0,
            annotation_text="primer",
            annotation_position="top left",
        )
    return fig


def window_figure(ds, split: str, index: int):
    """Return the piano-roll heatmap of window `index` of a dataset split (its real steps only)."""
    rolls, lengths = ds.split(split)
    return roll_figure(rolls[index][: int(lengths[index])], low=ds.config.low, title=f"{split} window {index}")


def pitch_figure(counts, low: int = 24):
    """Return a bar chart of how often each pitch sounds: `counts[j]` active steps of MIDI pitch `low + j`."""
    import plotly.graph_objects as go  # lazy: plotly takes ~1 s to import; only the app and the study document draw

    counts = list(counts or [])
    fig = go.Figure(go.Bar(x=list(range(low, low + len(counts))), y=counts))
    fig.update_layout(
        title="pitch histogram (active steps per pitch)", xaxis_title="MIDI pitch", yaxis_title="steps", template="plotly_white"
    )
    return fig


def window_histograms(metrics: list[dict], split: str) -> tuple:
    """Return (mean polyphony, note density) histograms over windows' `quality.music_metrics` dicts."""
    poly = histogram_figure(
        {split: [m["mean_polyphony"] for m in metrics]}, "mean polyphony per window", "notes per sounding step"
    )
    dens = histogram_figure({split: [m["note_density"] for m in metrics]}, "note density per window", "share of active cells")
    return poly, dens


def histogram_figure(values: dict, title: str, x_label: str = "", bins: int = 20):
    """Return overlaid, normalised histograms, one per named sample (e.g. generated vs real)."""
    import plotly.graph_objects as go  # lazy: plotly takes ~1 s to import; only the app and the study document draw

    fig = go.Figure()
    colours = colour_of(list(values))
    for name, v in values.items():
        fig.add_trace(
            go.Histogram(
                x=np.asarray(v, float), name=name, nbinsx=bins, histnorm="probability", opacity=0.6, marker_color=colours[name]
            )
        )
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title="share", barmode="overlay", template="plotly_white")
    return fig


def figure_html(fig, include_plotlyjs: bool | str = False) -> str:
    """Return the figure as an HTML <div> (with plotly.js inlined when asked, so the page works offline)."""
    return fig.to_html(full_html=False, include_plotlyjs=include_plotlyjs)


def add_reference_lines(fig, lines: dict[str, float]):
    """Draw each {label: value} as a dashed, labelled horizontal line (a baseline beside a model's curves); return fig."""
    for label, value in lines.items():
        fig.add_hline(
            y=value,
            line={"dash": "dash", "width": 1, "color": "#777777"},
            annotation_text=f"{label} {value:.3g}",
            annotation_position="top left",
        )
    return fig
