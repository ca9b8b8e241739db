"""Plotly figure builders shared by the dashboard's pages and the HTML report (no statistics here: see study/stats.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Axis titles of the curves: the x choices and each metric with its unit where it has one.
AXIS_TITLES = {
    "epoch": "epoch",
    "seconds": "seconds of training",
    "loss": "loss (mean per note)",
    "nll": "NLL (nats per step)",
    "f1": "F1",
    "onset_f1": "onset F1",
    "precision": "precision",
    "recall": "recall",
}
# One colour per combination, stable across figures (plotly's default qualitative palette).
PALETTE = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF", "#FECB52"]


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def colour_of(labels: list[str]) -> dict[str, str]:
    """Return a colour per label, assigned in sorted order so every figure agrees."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


def ema(values, weight: float) -> np.ndarray:
    """Return the exponential moving average of `values` as TensorBoard smooths: weight in [0, 1), debiased at the start.

    s_i = weight·s_(i-1) + (1 - weight)·v_i from s_0 = 0, divided by 1 - weight**(i+1) so the first points are not pulled to 0;
    NaN values are skipped (they stay NaN and do not move the average).
    """
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    v = np.asarray(values, dtype=float)
    out = np.full(v.shape, np.nan)
    last, count = 0.0, 0
    for i, value in enumerate(v):
        if np.isnan(value):
            continue
        last = weight * last + (1 - weight) * value
        count += 1
        out[i] = last / (1 - weight**count)
    return out


def curves_figure(
    bands: pd.DataFrame,
    title: str,
    x_label: str = "epoch",
    y_label: str = "",
    *,
    points: pd.DataFrame | None = None,
    smoothing: float = 0.0,
    log_y: bool = False,
    y_range: tuple[float, float] | None = None,
    band_label: str = "±std",
):
    """Return a figure with one mean line per group of a `curve_bands` frame, and a filled ±std band where n >= 2.

    Markers only at measured points: rows with `real` False (interpolated onto the seconds grid) get none, and
    `points` (`curve_points_from`: config, x, value) adds each run's own points. `smoothing` in [0, 1) draws the EMA
    of the mean (and band edges) over a faint raw line; `log_y` a log y axis; `y_range` fixes the y axis (e.g. (0, 1)).
    The band uses `lo`/`hi` when present (already clipped to the metric's range), else mean ∓ std.
    """
    import plotly.graph_objects as go  # lazy: plotly takes ~1 s to import; only the app and the study document draw

    fig = go.Figure()
    colours = colour_of(list(bands["config"])) if len(bands) else {}
    for label, b in bands.groupby("config", sort=True):
        b = b.sort_values("x")
        x, mean = b["x"].to_numpy(float), b["mean"].to_numpy(float)
        std = b["std"].fillna(0).to_numpy(float)
        lo = b["lo"].to_numpy(float) if "lo" in b else mean - std
        hi = b["hi"].to_numpy(float) if "hi" in b else mean + std
        real = b["real"].to_numpy(bool) if "real" in b else np.ones(len(b), bool)
        n = b["n"].to_numpy() if "n" in b else np.ones(len(b), int)
        c = colours[label]
        if smoothing:
            fig.add_trace(
                go.Scatter(
                    x=x, y=mean, mode="lines", line={"color": c, "width": 1}, opacity=0.3, hoverinfo="skip", showlegend=False
                )
            )
            mean, lo, hi = ema(mean, smoothing), ema(lo, smoothing), ema(hi, smoothing)
        seeds = n >= 2
        if seeds.any():
            # One closed polygon over the stretch with seeds (upper edge left to right, lower edge back); no markers.
            xs, up, down = x[seeds], hi[seeds], lo[seeds]
            fig.add_trace(
                go.Scatter(
                    x=np.concatenate([xs, xs[::-1]]),
                    y=np.concatenate([up, down[::-1]]),
                    mode="lines",
                    fill="toself",
                    fillcolor=_rgba(c, 0.18),
                    line={"width": 0},
                    hoverinfo="skip",
                    legendgroup=label,
                    showlegend=False,
                    name=f"{label} {band_label}",
                )
            )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=mean,
                mode="lines+markers",
                line={"color": c},
                # Interpolated points: the line only; a lone point (a one-epoch run) gets a marker that shows on its own.
                marker={"color": c, "size": np.where(real, 6 if len(x) > 1 else 10, 0)},
                name=label,
                legendgroup=label,
                customdata=n,
                hovertemplate="%{y:.4g} (n=%{customdata})",
            )
        )
    if points is not None and len(points):
        for label, p in points.groupby("config", sort=True):
            fig.add_trace(
                go.Scatter(
                    x=p["x"],
                    y=p["value"],
                    mode="markers",
                    marker={"color": colours.get(label, "#777777"), "size": 5, "opacity": 0.6},
                    legendgroup=label,
                    showlegend=False,
                    name=f"{label} runs",
                    hovertemplate="%{y:.4g} (one run)",
                )
            )
    fig.update_layout(
        title=title_of(title), xaxis_title=x_label, yaxis_title=y_label, template="plotly_white", hovermode="x unified"
    )
    if x_label == AXIS_TITLES["epoch"] and len(bands):
        integer_axis(fig, bands["x"])
    if log_y:
        fig.update_yaxes(type="log")
    elif y_range is not None:
        fig.update_yaxes(range=list(y_range))
    return fig


def title_of(text: str, width: int = 48) -> dict:
    """Return a plotly title that fits a narrow chart: wrapped onto lines of at most `width` characters, a smaller font."""
    import textwrap

    lines = textwrap.wrap(str(text), width) or [""]
    return {"text": "<br>".join(lines), "font": {"size": 14 if len(lines) == 1 else 13}}


def integer_axis(fig, xs) -> None:
    """Give the x axis whole-number ticks (epochs), about ten at most; a lone x gets room on both sides so it shows."""
    xs = pd.to_numeric(pd.Series(xs), errors="coerce").dropna()
    if not len(xs):
        return
    lo, hi = float(xs.min()), float(xs.max())
    fig.update_xaxes(tick0=0, dtick=max(1, int(np.ceil((hi - lo) / 10))), tickformat="d")
    if hi - lo < 1:
        fig.update_xaxes(range=[lo - 1, hi + 1])


def bars_figure(grouped: pd.DataFrame, column: str, title: str, by: str = "config"):
    """Return a bar per combination of `<column>_mean` with `<column>_std` error bars from a `ranking.group_table` frame."""
    import plotly.graph_objects as go  # lazy: plotly takes ~1 s to import; only the app and the study document draw

    colours = colour_of(list(grouped[by]))
    g = grouped[grouped[f"{column}_mean"].notna()].sort_values(by)  # a group without data yet (queued runs): no empty bar
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


def roll_figure(
    roll,
    low: int = 24,
    title: str = "",
    steps_per_beat: int | None = None,
    primer_steps: int = 0,
    pitch_range: tuple[int, int] | None = None,
    seconds_per_step: float | None = None,
    height: int | None = None,
):
    """Return a piano-roll heatmap of a roll (steps, notes): time on x, MIDI pitch on y; the first `primer_steps` shaded.

    An onset-aware roll (cells 0 off, 1 held, 2 struck) draws struck cells dark and held ones light, so that a
    re-struck note shows as two. Time is in beats with `steps_per_beat`, else in seconds with `seconds_per_step`,
    else in steps; with both,
    the axis title gives a beat's length in seconds. `pitch_range` (lowest, highest MIDI pitch) fixes the y axis,
    so that rolls drawn side by side share it.
    """
    import plotly.graph_objects as go  # lazy: plotly takes ~1 s to import; only the app and the study document draw

    roll = np.asarray(roll)
    per = steps_per_beat or (1 / seconds_per_step if seconds_per_step else 1)  # steps per x unit
    unit = "beat" if steps_per_beat else ("s" if seconds_per_step else "step")
    x = np.arange(roll.shape[0]) / per
    onsets = roll.size and int(roll.max()) > 1
    state = np.array(["", "held", "struck"])[np.clip(roll.T, 0, 2)] if onsets else None
    fig = go.Figure(
        go.Heatmap(
            z=roll.T,
            x=x,
            y=np.arange(low, low + roll.shape[1]),
            zmin=0,
            zmax=2 if onsets else 1,
            colorscale=[[0, "white"], [0.5, "#9db4d6"], [1, "#10203f"]] if onsets else [[0, "white"], [1, "black"]],
            showscale=False,
            customdata=state,
            hovertemplate=f"{unit} %{{x:.2f}}, pitch %{{y}}" + (" %{customdata}" if onsets else "") + "<extra></extra>",
        )
    )
    x_title = {"beat": "beat", "s": "seconds", "step": "step"}[unit]
    if steps_per_beat and seconds_per_step:
        x_title = f"beat (1 beat = {steps_per_beat * seconds_per_step:.2g} s)"
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title="MIDI pitch", template="plotly_white")
    if pitch_range is not None:
        fig.update_yaxes(range=[pitch_range[0] - 0.5, pitch_range[1] + 0.5])
    if height is not None:
        fig.update_layout(height=height, margin={"l": 50, "r": 10, "t": 30 if title else 10, "b": 40})
    if primer_steps:
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
    cfg = ds.config
    return roll_figure(
        rolls[index][: int(lengths[index])],
        low=cfg.low,
        title=f"{split} window {index}",
        steps_per_beat=getattr(cfg, "steps_per_beat", None),
        seconds_per_step=1 / cfg.fs if getattr(cfg, "fs", None) else None,
    )


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


def durations_figure(distributions: dict, what: str):
    """Return grouped bars of a note-length or inter-onset-interval distribution (quality.duration_distributions), generated
    against the data; `what` is "note_length" or "ioi"."""
    import plotly.graph_objects as go  # lazy: plotly takes ~1 s to import; only the app and the study document draw

    bins = distributions["bins"]
    labels = [f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in zip(bins, bins[1:], strict=False)] + [f"{bins[-1]}+"]
    colours = colour_of(["generated", "data"])
    fig = go.Figure()
    for name, key in (("generated", "generated"), ("data", "real")):
        fig.add_trace(go.Bar(x=labels, y=distributions[what][key], name=name, marker_color=colours[name]))
    title = {"note_length": "note lengths", "ioi": "time between onsets"}[what]
    fig.update_layout(
        title=title,
        xaxis_title="steps",
        yaxis_title="share",
        barmode="group",
        template="plotly_white",
        height=260,
        margin={"l": 50, "r": 10, "t": 30, "b": 40},
        legend={"orientation": "h", "y": -0.35},
    )
    return fig


def figure_html(fig, include_plotlyjs: bool | str = False) -> str:
    """Return the figure as an HTML <div> (with plotly.js inlined when asked, so the page works offline)."""
    return fig.to_html(full_html=False, include_plotlyjs=include_plotlyjs)


def _y_span(fig, values) -> float:
    """Return the height of the figure's y axis: its fixed range, else the span of its traces' y and `values`."""
    fixed = fig.layout.yaxis.range
    if fixed is not None:
        return float(fixed[1]) - float(fixed[0])
    ys = [float(v) for t in fig.data for v in (t.y if t.y is not None else ()) if v is not None and np.isfinite(v)]
    ys += [float(v) for v in values]
    return (max(ys) - min(ys)) if ys else 0.0


def label_positions(values: list[float], span: float, near: float = 0.06) -> list[str]:
    """Return where each line's label goes so that labels of lines closer than `near` of the axis `span` never overlap.

    A lone line: above it, at the left. In a cluster of close lines (sorted by value) the lowest's label goes below
    its line, the highest's above, and the ones between alternate above and below at the right.
    """
    order = sorted(range(len(values)), key=lambda i: values[i])
    clusters: list[list[int]] = []
    for i in order:
        if clusters and values[i] - values[clusters[-1][-1]] < near * max(span, 1e-12):
            clusters[-1].append(i)
        else:
            clusters.append([i])
    out = ["top left"] * len(values)
    for cluster in clusters:
        if len(cluster) == 1:
            continue
        out[cluster[0]], out[cluster[-1]] = "bottom left", "top left"
        for k, i in enumerate(cluster[1:-1]):
            out[i] = ("top right", "bottom right")[k % 2]
    return out


def add_reference_lines(fig, lines: dict[str, float]):
    """Draw each {label: value} as a dashed, labelled horizontal line (a baseline beside a model's curves); return fig.

    Labels of lines with close values go on opposite sides (`label_positions`), so they never print over each other.
    """
    values = [float(v) for v in lines.values()]
    positions = label_positions(values, _y_span(fig, values))
    for (label, value), where in zip(lines.items(), positions, strict=True):
        fig.add_hline(
            y=value,
            line={"dash": "dash", "width": 1, "color": "#777777"},
            annotation_text=f"{label} {value:.3g}",
            annotation_position=where,
        )
    return fig
