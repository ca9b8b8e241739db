"""Compare: runs or a whole optimizer × loss (× head) grid side by side (statistics from musicgen.study.stats)."""

import streamlit as st

from dashboard import compare
from dashboard.router import ensure_routed
from dashboard.ui import call, dataset_refs, run_label
from musicgen.runs import jobs, store

GRID_OPTIMIZERS, GRID_LOSSES = ("adam", "adamw", "rmsprop"), ("bce", "focal")

ensure_routed()
st.title("Compare")
runs = call("Reading the run store", store.list_runs)
if runs is None:
    st.stop()

sweeps_df = call("Listing sweeps", store.list_sweeps, warn=True)
sweeps = sweeps_df.to_dict("records") if sweeps_df is not None else []
records = {r["id"]: r for r in runs.to_dict("records")} if len(runs) else {}

mode = st.radio("pick", ("runs", "a sweep (optimizer × loss grid)"), horizontal=True, key="cmp_mode")
if mode == "runs":
    # Newest runs with at least one epoch (finished, stopped or still running), up to four.
    default = [rid for rid, r in records.items() if (r.get("epochs_done") or 0) > 0][:4]
    chosen = st.multiselect(
        "runs", list(records), default=default, key="cmp_runs", format_func=lambda rid: run_label(records[rid])
    )
else:
    sweep_ids = [s["id"] for s in sweeps]
    sweep = st.selectbox(
        "sweep",
        sweep_ids,
        key="cmp_sweep",
        format_func=lambda sid: next(f"{s['id']} · {s.get('name', '')}" for s in sweeps if s["id"] == sid),
    )
    if not sweep_ids:
        st.warning("No sweep yet: launch the course-work grid below, or pick single runs.")

grid = f"{len(GRID_OPTIMIZERS)} optimizers × {len(GRID_LOSSES)} losses × seeds"
with st.expander(f"Launch the course-work grid ({grid})"), st.form("cmp_grid_form"):
    c1, c2, c3 = st.columns(3)
    g_data = c1.selectbox("dataset", call("Listing datasets", dataset_refs, warn=True) or ["builtin:bach"], key="cmp_grid_data")
    g_seeds = int(c2.number_input("seeds per combination", 1, 10, 3, key="cmp_grid_seeds"))
    g_epochs = int(c3.number_input("epochs", 1, 500, 20, key="cmp_grid_epochs"))
    # Said from the constants the button sends, not from the inputs (a form's inputs apply on submit).
    st.caption(
        f"Optimizers {', '.join(GRID_OPTIMIZERS)} × losses {', '.join(GRID_LOSSES)} × the seeds per combination: "
        f"{len(GRID_OPTIMIZERS) * len(GRID_LOSSES)} runs per seed, each for the epochs above, trained by "
        "`python -m musicgen sweep` on this machine, several at a time (its local process pool, one run per CPU core)."
    )
    if st.form_submit_button("Launch the grid", key="cmp_grid_launch"):
        args = [
            "--data",
            g_data,
            "--optimizers",
            ",".join(GRID_OPTIMIZERS),
            "--losses",
            ",".join(GRID_LOSSES),
            "--seeds",
            str(g_seeds),
            "--epochs",
            str(g_epochs),
        ]
        pid = call("Launching the sweep", jobs.start_sweep, args)
        if pid:
            n = len(GRID_OPTIMIZERS) * len(GRID_LOSSES) * g_seeds
            st.success(f"Sweep of {n} runs started (process {pid}); its runs appear here as they start.")
            st.code("python -m musicgen sweep " + " ".join(args), language="bash")

if mode == "runs":
    live = any(records[rid]["status"] in compare.ACTIVE for rid in chosen)
    (st.fragment(run_every=3)(compare.results) if live else compare.results)(chosen)
elif sweep:
    live = any(r.get("sweep_id") == sweep and r["status"] in compare.ACTIVE for r in records.values())
    (st.fragment(run_every=3)(compare.sweep_view) if live else compare.sweep_view)(sweep)
