"""The Train page's live view: the watched run (status, batch progress, curves, Stop and Resume) and the runs table."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard.train import batch_progress, end_note, pick_watched, runs_table, uncalibrated
from dashboard.ui import ONSET_NOTE, call, run_label
from musicgen import processes
from musicgen.music import plots
from musicgen.runs import jobs, progress, store
from musicgen.runs.divergence import RULE, run_diverged
from musicgen.runs.labels import backend_label, precision_of
from musicgen.study.baselines import baseline_lines
from musicgen.study.curves import curve_bands_from, metric_range
from musicgen.study.groups import head_of

# F1, precision and recall at the validation-chosen threshold (the default) or at 0.5: the stored metric names.
F1_CHOICES = {"the validation threshold": "_best", "0.5": ""}
RATES = ("f1", "precision", "recall")
LOSSES = ("loss", "nll")  # the charts a log scale may help


def curves(run: dict, metrics, metric: str, splits, x: str = "epoch", smoothing: float = 0.0, log_y: bool = False):
    """Return the figure of one metric of one run, one line per split (None before the first epoch).

    `metric` may be a thresholded rate at the validation threshold (`f1_best`): its baselines are taken at theirs too.
    smoothing: EMA weight of the lines (plots.ema); log_y: a log y axis for the losses (not for rates).
    """
    runs = pd.DataFrame([run])
    bands = [b.assign(config=split) for split in splits if len(b := curve_bands_from(runs, metrics, metric, split, x=x))]
    if not bands:
        return None
    rate = metric.removesuffix("_best")
    low, high = metric_range(metric)
    fig = plots.curves_figure(
        pd.concat(bands, ignore_index=True),
        metric,
        x_label=plots.AXIS_TITLES[x],
        y_label=plots.AXIS_TITLES.get(rate, ""),
        smoothing=smoothing,
        log_y=log_y and metric in LOSSES,
        y_range=(low, high) if math.isfinite(high) else None,  # a rate: never the −1…1 axis plotly picks for a flat 0
    )
    if rate in RATES:
        threshold = (run.get("summary") or {}).get("threshold")
        at = (
            f"threshold {threshold:.2f} (chosen on validation)"
            if isinstance(threshold, int | float)
            else "the validation threshold"
        )
        fig.update_layout(title=plots.title_of(f"{rate} at {at}" if metric.endswith("_best") else f"{rate} at 0.5"))
    # The baselines at the curve's own threshold rule: F1 at the validation threshold beside f1_best, at 0.5 beside f1.
    return plots.add_reference_lines(fig, baseline_lines(run.get("summary") or {}, metric, "valid"))


def _watch(prefix: str) -> None:
    st.session_state[f"{prefix}_watched"] = st.session_state[f"{prefix}_run"]


def _waiting(prefix: str, pid: int) -> None:
    """Say that process `pid` is starting, or, when it ended before registering a run, why (its log)."""
    if processes.is_alive(pid):
        st.success(
            f"Training started: starting process {pid}… it keeps running if you close or reload this tab; "
            "the panel follows its run once it registers."
        )
        return
    del st.session_state[f"{prefix}_follow_pid"]
    st.error(f"Process {pid} ended before it registered a run; its log says why (fix the setting it names and launch again).")
    tail = jobs.log_tail(pid)
    if tail:
        st.code(tail, language="text")


def watch_runs(prefix: str) -> None:
    """Draw the run picker, the watched run's panel and the runs table; the watched run stays until the user picks another."""
    runs = call("Reading the run store", store.list_runs)
    if runs is None:
        return
    follow = st.session_state.get(f"{prefix}_follow_pid")
    records = {r["id"]: r for r in runs.to_dict("records")}
    if not records:
        if follow:
            _waiting(prefix, follow)
        else:
            st.info("No runs yet: launch one above.")
        return
    watched, registered = pick_watched(records, st.session_state.get(f"{prefix}_watched"), follow)
    if registered:
        del st.session_state[f"{prefix}_follow_pid"]
    elif follow:
        _waiting(prefix, follow)
    # The select box shows the watched run whatever it held before (its labels change with each run's status).
    st.session_state[f"{prefix}_watched"] = st.session_state[f"{prefix}_run"] = watched
    st.selectbox(
        "run",
        list(records),
        key=f"{prefix}_run",
        format_func=lambda rid: run_label(records[rid]),
        on_change=_watch,
        args=(prefix,),
    )
    run_panel(records[watched], prefix)
    st.subheader("Recent runs")
    st.dataframe(runs_table(runs.head(30)), key=f"{prefix}_runs_table", hide_index=True)


def run_panel(run: dict, prefix: str) -> None:
    """Draw status, batch progress, curves, Stop/Resume for one store run (a row of store.list_runs); keys start with `prefix`."""
    run_id, status = run["id"], run["status"]
    epochs = (run.get("config") or {}).get("train", {}).get("epochs") if isinstance(run.get("config"), dict) else None
    done = run.get("epochs_done") or 0
    c1, c2, c3 = st.columns([3, 1, 1])
    head = head_of(run.get("config") or {})
    setup = f"{head} head, {precision_of(run.get('config'))}, {backend_label(run.get('config'))}"
    c1.markdown(f"**{run.get('name') or run_id}** — {status}, epoch {done}{f' of {epochs}' if epochs else ''}, {setup}")
    if epochs:
        c1.progress(min(1.0, done / epochs), text=f"{done}/{epochs} epochs")
    batches = batch_progress(run, progress.read_progress(run_id))
    if batches:
        c1.progress(batches[0], text=batches[1])
    note = end_note(run)
    if note:
        c1.caption(note)
    if run_diverged(run):
        c1.badge("diverged", icon=":material/warning:", color="red")
        c1.caption(f"This run is left out of Compare's ranks and the study's verdict: {RULE}.")
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
            st.session_state[f"{prefix}_follow_pid"] = pid  # the panel stays on this run; the note goes once it re-registers
            st.toast(f"Run {run_id} resumes in process {pid}.")
    if status == "failed":
        st.error(
            f"Run {run_id} failed: {run.get('error') or 'no message'}. Fix the setting it names and launch again, or Resume."
        )
        tail = jobs.log_tail(run["pid"]) if run.get("pid") else ""
        if tail:
            st.code(tail, language="text")
    x = c3.radio("x axis", ("epoch", "seconds"), horizontal=True, key=f"{prefix}_x_{run_id}")
    f1_at = c3.radio(
        "F1, precision, recall at",
        list(F1_CHOICES),
        key=f"{prefix}_f1_at",
        help="the threshold chosen on validation each epoch (what the run's best F1 means), or a fixed 0.5",
    )
    smoothing = c3.slider("smoothing (EMA weight)", 0.0, 0.99, 0.0, 0.01, key=f"{prefix}_smooth")
    log_y = c3.toggle("log scale for losses", key=f"{prefix}_logy")
    loss = uncalibrated(run)
    if loss:
        st.caption(
            f"The {loss} loss reweights the likelihood: its probabilities are not calibrated, "
            "so NLL may rise while the loss falls."
        )

    metrics = call("Reading the run's metrics", store.metrics_frame, [run_id])  # one read per refresh, for every chart
    if metrics is None:
        return
    suffix = F1_CHOICES[f1_at]
    charts = (("loss", ("train", "valid")), ("nll", ("valid",)), *((rate + suffix, ("valid",)) for rate in RATES))
    if (run.get("summary") or {}).get("onsets"):
        st.info(ONSET_NOTE)
        charts = (("onset_f1", ("valid",)), ("nll", ("valid",)), ("loss", ("train", "valid")), *charts[2:])
    cols = st.columns(3) + st.columns(3)
    drawn = 0
    for col, (metric, splits) in zip(cols, charts, strict=False):
        fig = call(f"Drawing {metric}", curves, run, metrics, metric, splits, x, smoothing, log_y)
        if fig is not None:
            col.plotly_chart(fig, key=f"{prefix}_curve_{metric.removesuffix('_best')}", width="stretch")
            drawn += 1
    if not drawn and active:
        st.info("The curves appear after the first epoch.")
