"""Home: the four steps of the work with where each stands, and a link to each page."""

import streamlit as st

from dashboard.home import checklist
from dashboard.router import ensure_routed
from dashboard.ui import call, gpu_name
from musicgen.runs import store

ensure_routed()
st.title("musicgen")
st.markdown(
    "A lab for learning to generate polyphonic music from piano-rolls, and for finding out which optimizer and loss "
    "train it best. Four steps:"
)
runs = call("Reading the run store", store.list_runs)  # a damaged row is named here, the others counted
steps = call("Reading where things stand", checklist, runs) or []
for i, step in enumerate(steps):
    with st.container(border=True, key=f"home_step_{i + 1}"):
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.markdown(
            f"{':material/check_circle:' if step.done else ':material/radio_button_unchecked:'} **{step.title}**  \n{step.state}"
        )
        c2.page_link(f"pages/{step.page}", label=step.button, query_params=step.query or None)
        if i == 3:
            c2.page_link("pages/listen.py", label="Open Listen")

gpu = call("Checking for a GPU", gpu_name)
st.caption(f"GPU: {gpu}." if gpu else "No GPU found: training runs on the CPU (fine for the small models; slower for the study).")
