"""Compare: runs or a whole optimizer × loss (× head) grid side by side (statistics from musicgen.study.stats)."""

import streamlit as st

from dashboard import compare
from dashboard.links import preset, share
from dashboard.router import ensure_routed
from dashboard.ui import call, dataset_refs, run_label
from musicgen.runs import jobs, store
from musicgen.study import tuning

GRID_OPTIMIZERS, GRID_LOSSES = ("adam", "adamw", "rmsprop"), ("bce", "focal")

ensure_routed()
st.title("Compare")
top = st.container()  # the verdict of the chosen sweep, first on the page
runs = call("Reading the run store", store.list_runs)
if runs is None:
    st.stop()

sweeps_df = call("Listing sweeps", store.list_sweeps, warn=True)
sweeps = sweeps_df.to_dict("records") if sweeps_df is not None else []
records = {r["id"]: r for r in runs.to_dict("records")} if len(runs) else {}

MODES = ("runs", compare.SWEEP_MODE)
preset("runs", "cmp_runs", records, many=True, also={"cmp_mode": MODES[0]}, what="runs")  # /compare?runs=A,B
preset("sweep", "cmp_sweep", [s["id"] for s in sweeps], also={"cmp_mode": MODES[1]})  # /compare?sweep=ID
mode = st.radio("pick", MODES, horizontal=True, key="cmp_mode")
if mode == "runs":
    # Newest runs with at least one epoch (finished, stopped or still running), up to four.
    default = [rid for rid, r in records.items() if (r.get("epochs_done") or 0) > 0][:4]
    chosen = st.multiselect(
        "runs",
        list(records),
        default=None if "cmp_runs" in st.session_state else default,  # a link's runs (links.preset) or the newest
        key="cmp_runs",
        format_func=lambda rid: run_label(records[rid]),
    )
    share(runs=chosen)
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
    share(sweep=sweep)

grid = f"{len(GRID_OPTIMIZERS)} optimizers × {len(GRID_LOSSES)} losses, learning rate tuned for each, then seeds"
with st.expander(f"Launch the course-work study ({grid})"), st.form("cmp_grid_form"):
    c1, c2, c3, c4, c5 = st.columns(5)
    g_data = c1.selectbox("dataset", call("Listing datasets", dataset_refs, warn=True) or ["builtin:bach"], key="cmp_grid_data")
    g_grid = c2.text_input("learning rates to try", "1e-3,3e-3,1e-2", key="cmp_grid_lrs")
    g_seeds = int(c3.number_input("seeds per combination", 1, 10, 5, key="cmp_grid_seeds"))
    g_epochs = int(c4.number_input("at most epochs a run", 1, 500, 40, key="cmp_grid_epochs"))
    g_patience = int(c5.number_input("patience (epochs)", 1, 100, 6, key="cmp_grid_patience"))
    # Said from the constants the button sends, not from the inputs (a form's inputs apply on submit).
    st.caption(
        f"Optimizers {', '.join(GRID_OPTIMIZERS)} × losses {', '.join(GRID_LOSSES)}, trained by `python -m musicgen study` "
        "on this machine, several runs at a time (its local process pool, one run per CPU core). First every learning "
        f"rate above, one seed each ({len(GRID_OPTIMIZERS) * len(GRID_LOSSES)} runs per rate); then, for each combination, "
        "the rate with the best validation NLL over the seeds. Every run stops early when validation NLL has not improved "
        "for the patience. Pick the second sweep here to see its findings."
    )
    if st.form_submit_button("Launch the study", key="cmp_grid_launch"):
        lrs = call("Reading the learning rates", tuning.parse_lr_grid, g_grid)
        args = [
            "--data",
            g_data,
            "--optimizers",
            ",".join(GRID_OPTIMIZERS),
            "--losses",
            ",".join(GRID_LOSSES),
            "--lr-grid",
            ",".join(f"{lr:g}" for lr in lrs or []),
            "--seeds",
            str(g_seeds),
            "--max-epochs",
            str(g_epochs),
            "--patience",
            str(g_patience),
        ]
        pid = call("Launching the study", jobs.start_study, args) if lrs else None
        if pid:
            n = len(GRID_OPTIMIZERS) * len(GRID_LOSSES) * (len(lrs) + g_seeds)
            st.success(f"Study of {n} runs started (process {pid}); its sweeps and runs appear here as they start.")
            st.code("python -m musicgen study " + " ".join(args), language="bash")

if mode == "runs":
    live = any(records[rid]["status"] in compare.ACTIVE for rid in chosen)
    (st.fragment(run_every=3)(compare.results) if live else compare.results)(chosen)
elif sweep:
    live = any(r.get("sweep_id") == sweep and r["status"] in compare.ACTIVE for r in records.values())
    f = None if live else compare.sweep_findings(sweep)
    with top:
        compare.verdict_card(f, sweep, live)
    (st.fragment(run_every=3)(compare.sweep_view) if live else compare.sweep_view)(sweep, f, live)
