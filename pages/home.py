"""Home: what the app does and where things stand (datasets, runs, GPU)."""

import streamlit as st

from dashboard.router import ensure_routed
from dashboard.ui import call, gpu_name
from musicgen.data import datasets
from musicgen.runs import store

ensure_routed()
st.title("musicgen")
st.markdown(
    "A lab for learning to generate polyphonic music from piano-rolls. "
    "**Dataset**: build one from the Bach chorales, the JSB benchmark or your own MIDI files. "
    "**Train**: launch a Conv1D + GRU model with a chosen optimizer and loss, watch it learn, stop and resume it. "
    "**Compare**: runs and optimizer × loss grids side by side. "
    "**Generate**: listen to what each model writes (the `demo` model is there from the start)."
)

gpu = call("Checking for a GPU", gpu_name)
runs = call("Reading the run store", store.list_runs)  # it marks runs whose process died as failed first
sets = call("Listing datasets", datasets.list_datasets) or []

c1, c2, c3, c4 = st.columns(4)
c1.metric("Datasets", len(sets))
n_running = int((runs["status"] == "running").sum()) if runs is not None and len(runs) else 0
n_finished = int((runs["status"] == "finished").sum()) if runs is not None and len(runs) else 0
c2.metric("Runs running", n_running)
c3.metric("Runs finished", n_finished)
c4.metric("GPU", gpu or "none")
if not gpu:
    st.info("No GPU found: training runs on the CPU (fine for the tiny models; slower for the full study).")

st.subheader("Datasets")
if sets:
    st.dataframe(
        [{k: d.get(k) for k in ("name", "id", "sequences", "train", "valid", "test", "path") if k in d} or d for d in sets],
        key="home_datasets",
        hide_index=True,
    )
else:
    st.warning("No dataset yet: open **Dataset** and build `builtin:bach` (one click, about a minute).")

st.subheader("Runs")
if runs is not None and len(runs):
    cols = [c for c in ("id", "name", "status", "created", "epochs_done", "dataset_id", "error") if c in runs.columns]
    st.dataframe(runs[cols].head(20), key="home_runs", hide_index=True)
elif runs is not None:
    st.warning("No runs yet: open **Train** to launch one, or **Generate** to listen to the shipped `demo` model.")
