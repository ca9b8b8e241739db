"""Compare: runs or a whole optimizer × loss (× head) grid side by side (statistics from musicgen.study.stats)."""

import streamlit as st

from dashboard.router import ensure_routed
from dashboard.ui import call, dataset_refs, run_label
from musicgen.music import plots
from musicgen.runs import jobs, store
from musicgen.study import ranking
from musicgen.study import stats as report

METRICS = (
    ("loss", "train"),
    ("loss", "valid"),
    ("nll", "valid"),
    ("f1", "valid"),
    ("f1_best", "valid"),
    ("precision", "valid"),
    ("recall", "valid"),
)
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
    chosen = [rid for rid, r in records.items() if sweep and r.get("sweep_id") == sweep]
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

if not chosen:
    st.info("Pick at least one run with a finished epoch (Train page) to compare.")
    st.stop()

table = call("Computing the run table", report.run_table, chosen)
if table is None or not len(table):
    st.stop()
x = st.radio("x axis", ("epoch", "seconds"), horizontal=True, key="cmp_x")
cols = st.columns(2)
for i, (metric, split) in enumerate(METRICS):
    bands = call(f"Computing {split} {metric} curves", report.curve_bands, chosen, metric, split, x=x)
    if bands is not None and len(bands):
        fig = plots.curves_figure(bands, f"{split} {metric} (mean ± std over seeds)", x_label=x, y_label=metric)
        cols[i % 2].plotly_chart(fig, key=f"cmp_curve_{split}_{metric}", width="stretch")

st.subheader("Per combination (mean ± std over seeds)")
st.caption(
    "A combination is optimizer + loss, and + nade for the nade head. NLL is the exact NLL per step for both heads; "
    "a nade run's F1 and frame accuracy are those of its greedy note-by-note decoding at the validation-chosen threshold."
)
grouped = call("Grouping by configuration", ranking.group_table, table)
if grouped is not None:
    st.dataframe(grouped, key="cmp_grouped", hide_index=True)
    c1, c2 = st.columns(2)
    c1.plotly_chart(plots.bars_figure(grouped, "best_valid_f1", "best validation F1"), key="cmp_bar_f1", width="stretch")
    c2.plotly_chart(
        plots.bars_figure(grouped, "seconds_to_95", "seconds to 95% of best F1"), key="cmp_bar_speed", width="stretch"
    )
    crit = st.selectbox("rank by", list(ranking.CRITERIA), key="cmp_rank_by")
    ranks = call("Ranking", ranking.rank_table, table, crit, ranking.CRITERIA[crit])
    if ranks is not None:
        st.dataframe(ranks, key="cmp_ranks", hide_index=True)

st.subheader("Per run")
st.caption(
    "epochs/seconds_to_95: to reach 95% of the run's best validation F1; loss_spread: std over mean of the last epochs' "
    "train loss; loss_spikes: points beyond 3σ of the recent window; pred_pos_rate vs density: predicted "
    "positives against the true share of active notes."
)
st.dataframe(table, key="cmp_table", hide_index=True)
c1, c2 = st.columns(2)
c1.download_button("Download runs CSV", table.to_csv(index=False), "runs.csv", "text/csv", key="cmp_csv_runs")
if grouped is not None:
    c2.download_button(
        "Download combinations CSV", grouped.to_csv(index=False), "combinations.csv", "text/csv", key="cmp_csv_grouped"
    )
