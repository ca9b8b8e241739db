"""The Train page's live panel of one run: status, curves read from the store, Stop and Resume."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.ui import call
from musicgen.music import plots
from musicgen.runs import jobs, store
from musicgen.study import stats as report

# (metric, splits drawn in one chart)
CURVES = (
    ("loss", ("train", "valid")),
    ("nll", ("valid",)),
    ("f1", ("valid",)),
    ("precision", ("valid",)),
    ("recall", ("valid",)),
)


def curves(run: dict, metrics, metric: str, splits, x: str = "epoch"):
    """Return the figure of one metric of one run, one line per split (None before the first epoch)."""
    runs = pd.DataFrame([run])
    bands = [b.assign(config=split) for split in splits if len(b := report.curve_bands_from(runs, metrics, metric, split, x=x))]
    if not bands:
        return None
    fig = plots.curves_figure(pd.concat(bands, ignore_index=True), metric, x_label=x)
    return plots.add_reference_lines(fig, report.baseline_lines(run.get("summary") or {}, metric, "valid"))


def run_panel(run: dict, prefix: str) -> None:
    """Draw status, curves, and Stop/Resume for one store run (a row of store.list_runs); widget keys start with `prefix`."""
    run_id, status = run["id"], run["status"]
    epochs = (run.get("config") or {}).get("train", {}).get("epochs") if isinstance(run.get("config"), dict) else None
    done = run.get("epochs_done") or 0
    c1, c2, c3 = st.columns([3, 1, 1])
    head = report.head_of(run.get("config") or {})
    c1.markdown(f"**{run.get('name') or run_id}** — {status}, epoch {done}{f' of {epochs}' if epochs else ''}, {head} head")
    if epochs:
        c1.progress(min(1.0, done / epochs), text=f"{done}/{epochs} epochs")
    active = status in ("queued", "running")
    stop = active and c2.button(
        "Stop", key=f"{prefix}_stop_{run_id}", help="SIGTERM: the run saves a checkpoint and ends as 'stopped'"
    )
    if stop and call("Stopping the run", jobs.stop_run, run_id) is not None:
        st.toast(f"Stop sent to run {run_id}; it saves its checkpoint and ends within one batch.")
    resumable = status in ("stopped", "failed")
    resume = resumable and c2.button(
        "Resume", key=f"{prefix}_resume_{run_id}", help="continue from its last checkpoint in a new process"
    )
    if resume:
        pid = call("Resuming the run", jobs.start_training, ["--resume", run_id])
        if pid:
            st.toast(f"Run {run_id} resumes in process {pid}.")
    if status == "failed":
        st.error(
            f"Run {run_id} failed: {run.get('error') or 'no message'}. Fix the setting it names and launch again, or Resume."
        )
        tail = jobs.log_tail(run["pid"]) if run.get("pid") else ""
        if tail:
            st.code(tail, language="text")
    x = c3.radio("x axis", ("epoch", "seconds"), horizontal=True, key=f"{prefix}_x_{run_id}")

    metrics = call("Reading the run's metrics", store.metrics_frame, [run_id])  # one read per refresh, for every chart
    if metrics is None:
        return
    cols = st.columns(3) + st.columns(3)
    drawn = 0
    for col, (metric, splits) in zip(cols, CURVES, strict=False):
        fig = call(f"Drawing {metric}", curves, run, metrics, metric, splits, x)
        if fig is not None:
            col.plotly_chart(fig, key=f"{prefix}_curve_{metric}", width="stretch")
            drawn += 1
    if not drawn and active:
        st.info("The curves appear after the first epoch.")
