"""What the Compare page draws: curves per group with the baselines, the per-group table with baseline rows, sweep progress."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard.ui import ONSET_NOTE, call, run_label
from musicgen.music import plots
from musicgen.runs import jobs, store
from musicgen.runs.divergence import RULE
from musicgen.study import baselines as study_baselines
from musicgen.study import findings, ranking, summaries
from musicgen.study import stats as report
from musicgen.study.curves import curve_bands_from, curve_points_from, metric_range
from musicgen.study.groups import GROUP_KEYS, repeats_note, unique_runs

# Chart -> (split, metric at the validation threshold, metric at 0.5); axis titles: plots.AXIS_TITLES.
CHARTS = {
    "valid onset f1": ("valid", "onset_f1", "onset_f1"),  # onset-aware datasets only (no data: no chart)
    "train loss": ("train", "loss", "loss"),
    "valid loss": ("valid", "loss", "loss"),
    "valid nll": ("valid", "nll", "nll"),
    "valid f1": ("valid", "f1_best", "f1"),
    "valid precision": ("valid", "precision_best", "precision"),
    "valid recall": ("valid", "recall_best", "recall"),
}
ACTIVE = ("queued", "running")
# Columns of the per-group table on the page.
SHOWN = ["group", "n", "optimizer", "loss", "head"] + [
    f"{c}_{s}"
    for c in ("best_valid_f1", "threshold", "best_valid_f1_05", "best_valid_nll", "test_f1", "test_nll", "seconds_to_95")
    for s in ("mean", "std")
]


def load(run_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (runs, metric rows) of the chosen runs, read once for every chart and table."""
    runs = pd.DataFrame([store.get_run(r) for r in run_ids], columns=store.RUN_COLUMNS)
    return runs, store.metrics_frame(list(run_ids))


def baseline_lines(runs: pd.DataFrame, metric: str, split: str = "valid") -> dict[str, float]:
    """Return {label: value} of the baselines with `metric`, per dataset ('… (bach)') when the runs span several."""
    per_dataset = study_baselines.dataset_baselines(runs)
    out = {}
    for name, baselines in per_dataset.items():
        for label, value in study_baselines.baseline_lines({"baselines": baselines}, metric, split).items():
            out[f"{label} ({name})" if len(per_dataset) > 1 else label] = value
    return out


def chart_list(runs: pd.DataFrame, table: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str, str]]:
    """Return (CHARTS name, the runs it draws, its title, its widget key) per chart: one loss chart per kind of loss.

    Losses of different kinds (bce, focal, weighted) are different functions, not one scale: focal's values are a
    fraction of BCE's on the same predictions, so one axis would make it look better. NLL is their common measure.
    """
    kinds = sorted(set(table["loss"].dropna()))
    out = []
    for name in CHARTS:
        if CHARTS[name][2] == "loss" and len(kinds) > 1:
            ids = {kind: set(table.loc[table["loss"] == kind, "id"]) for kind in kinds}
            key = f"cmp_curve_{name.replace(' ', '_')}"
            out += [(name, runs[runs["id"].isin(ids[kind])], f"{name}: {kind}", f"{key}_{kind}") for kind in kinds]
        else:
            out.append((name, runs, name, f"cmp_curve_{name.replace(' ', '_')}"))
    return out


def chart(
    runs, metrics, name: str, x: str, by, at_threshold: bool = True, smoothing: float = 0.0, log_y: bool = False, title=None
):
    """Return the figure of one CHARTS entry (bands per group, each run's points, baselines), or None without data."""
    split, best, plain = CHARTS[name]
    metric = best if at_threshold else plain
    bands = curve_bands_from(runs, metrics, metric, split, x=x, by=by)
    if not len(bands) and metric != plain:  # runs from before the *_best metrics were logged
        metric = plain
        bands = curve_bands_from(runs, metrics, metric, split, x=x, by=by)
    if not len(bands):
        return None
    points = curve_points_from(runs, metrics, metric, split, x=x, by=by)
    low, high = metric_range(metric)
    suffix = " at the validation threshold" if metric.endswith("_best") else ""
    fig = plots.curves_figure(
        bands,
        f"{title or name}{suffix}",
        x_label=plots.AXIS_TITLES[x],
        y_label=plots.AXIS_TITLES[plain],
        points=points if x == "seconds" or (bands["n"] > 1).any() else None,
        smoothing=smoothing,
        log_y=log_y and metric in ("loss", "nll"),
        y_range=(low, high) if math.isfinite(high) else None,
        band_label="±std over seeds",
    )
    return plots.add_reference_lines(fig, baseline_lines(runs, metric, split))


def group_rows(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Return `ranking.group_table(table, by='group')` followed by one row per dataset × baseline (n empty)."""
    grouped = ranking.group_table(table, by="group")
    base = study_baselines.baseline_rows(runs)
    several = base["dataset"].nunique() > 1
    rows = pd.DataFrame(
        {
            "group": [
                f"baseline: {b}" + (f" · {d}" if several else "") for b, d in zip(base["baseline"], base["dataset"], strict=True)
            ],
            "best_valid_nll_mean": base["nll"],
            "best_valid_f1_mean": base["f1_best"],
            "threshold_mean": base["threshold"],
            "best_valid_f1_05_mean": base["f1"],
            "best_valid_onset_f1_mean": base["onset_f1"],
        }
    )
    return pd.concat([grouped, rows], ignore_index=True) if len(rows) else grouped


def shown(table: pd.DataFrame) -> pd.DataFrame:
    """Return a table for the page: an empty cell of a text column (a baseline lacks most figures) reads '–', not None.

    Number columns keep their type (sorting, Arrow); an empty number shows as Streamlit's grey null.
    """
    text = [c for c in table.columns if table[c].dtype == object]
    return table.assign(**{c: table[c].where(table[c].notna(), "–") for c in text})


# Column names in words, longest first (metrics keep their code names in the CSV downloads and the store).
_WORDS = (
    ("best_valid_", "best valid "),
    ("test_", "test "),
    ("onset_f1", "onset F1"),
    ("f1_05", "F1 at 0.5"),
    ("f1_best", "F1 at its threshold"),
    ("f1", "F1"),
    ("nll_sound", "NLL, sounding part"),
    ("nll_onset", "NLL, onset part"),
    ("nll", "NLL (nats/step)"),
    ("seconds_to_95", "seconds to 95% of best F1"),
    ("epochs_to_95", "epochs to 95% of best F1"),
    ("pred_pos_rate", "predicted share of active notes"),
    ("frame_acc", "frame accuracy"),
    ("loss_spread", "loss spread"),
    ("loss_spikes", "loss spikes"),
    ("grad_norm", "gradient norm"),
    ("weight_decay", "weight decay"),
    ("_mean", " mean"),
    ("_std", " std"),
    ("_", " "),
)


def in_words(name: str) -> str:
    """Return a column name as the page shows it: `best_valid_f1_05_mean` -> 'best valid F1 at 0.5 mean'."""
    text = str(name)
    if text == "lr":
        return "learning rate"
    for code, words in _WORDS:
        text = text.replace(code, words)
    return text


def worded(table: pd.DataFrame) -> dict:
    """Return the column_config that labels every column of `table` in words (the data keeps its names)."""
    return {c: st.column_config.Column(in_words(c)) for c in table.columns if in_words(c) != c}


def progress(runs: pd.DataFrame) -> dict[str, int]:
    """Return the number of runs per status (every status of the store, 0 where none) and the total."""
    counts = runs["status"].value_counts() if len(runs) else pd.Series(dtype=int)
    return {**{s: int(counts.get(s, 0)) for s in store.STATUSES}, "total": len(runs)}


SWEEP_MODE = "a sweep (optimizer × loss grid)"  # the Compare page's pick of a sweep (its cmp_mode option)


def verdict_card(f: dict | None, sweep_id: str, live: bool) -> None:
    """Draw the study's verdict as one bordered card: a sentence per criterion (study.verdict), or why there is none yet."""
    with st.container(border=True, key="cmp_verdict"):
        st.subheader(f"Verdict on sweep {sweep_id}")
        if live:
            st.caption("The verdict appears once no run of the sweep is active.")
        elif f is not None:
            st.markdown("\n".join(f"- {item['sentence']}" for item in f["verdict"]))
            st.caption(
                "A tie: Welch's t-test over seeds, Holm-adjusted over all pairs of that criterion, finds no difference at "
                "p < 0.05. Likelihood and F1 on the test split; generation quality needs `python -m musicgen report "
                f"{sweep_id}`, which generates samples."
            )


def sweep_findings(sweep_id: str) -> dict | None:
    """Return `findings.study_findings` of a sweep (its verdict, findings and tables), None when it cannot be computed."""
    return call("Computing the findings", findings.study_findings, sweep_id)


def sweep_view(sweep_id: str, f: dict | None = None, live: bool = False) -> None:
    """Draw a sweep's progress, a Stop for all its runs, its findings `f` (sweep_findings), a pick of its runs and their
    results; re-read on every call. live: drawn in a refreshing fragment, which reruns the page once the sweep ends
    (so that the verdict at its head appears)."""
    runs = call("Reading the sweep's runs", store.list_runs, sweep_id)
    if runs is None:
        return
    counts = progress(runs)
    active = bool(counts["queued"] + counts["running"])
    if live and not active:
        st.rerun(scope="app")
    done = counts["finished"] + counts["failed"] + counts["stopped"]
    text = ", ".join(f"{counts[s]} {s}" for s in store.STATUSES if counts[s]) or "no runs queued yet"
    c1, c2 = st.columns([4, 1])
    c1.progress(done / max(1, counts["total"]), text=f"{done} of {counts['total']} runs done: {text}")
    if active and c2.button(
        "Stop the sweep", key="cmp_sweep_stop", help="SIGTERM to the sweep and its runs: each saves a checkpoint, ends 'stopped'"
    ):
        stopped = call("Stopping the sweep", jobs.stop_sweep, sweep_id)
        if stopped is not None:
            st.toast(f"Stop sent to the sweep and its {len(stopped['runs'])} running runs; they end within one batch.")
    if active:
        st.caption("The findings, the learning-rate stage and the calibration appear here once no run of the sweep is active.")
    elif f is not None and counts["finished"]:
        findings_view(f, sweep_id)
    labels = {r["id"]: run_label(r) for r in runs.to_dict("records")}
    # Keyed by the sweep: another sweep's picks would not be among these options, and the box would come up empty.
    chosen = st.multiselect(
        "runs of the sweep", list(labels), default=list(labels), key=f"cmp_sweep_runs_{sweep_id}", format_func=labels.get
    )
    results(chosen)


def findings_view(f: dict, sweep_id: str) -> None:
    """Draw what `report` says after its verdict: the findings, a study's lr stage, statistics with baselines, calibration."""
    st.subheader("Findings")
    st.markdown("\n".join(f"- **{x['question']}**: {x['sentence']}" for x in f["findings"]) or "_no finished runs_")
    if f["study"]:
        budget = f["study"].get("budget") or {}
        with st.expander("Learning-rate stage: every rate of the grid, one seed; the lowest best validation NLL is chosen"):
            st.caption(
                f"At most {budget.get('max_epochs')} epochs a run, early stopping on validation NLL after "
                f"{budget.get('patience')} epochs without improvement; lr-stage sweep {f['study'].get('lr_sweep')}."
            )
            lr = summaries.lr_stage_frame(f["study"])
            st.dataframe(lr, key="cmp_lr_stage", hide_index=True, placeholder="–", column_config=worded(lr))
    st.caption("Per combination over seeds: mean ± std [95% confidence interval] on the test split, the baselines below.")
    study = shown(summaries.stats_with_baselines(f["stats"], f["baselines"]))
    st.dataframe(study, key="cmp_study_stats", hide_index=True, placeholder="–", column_config=worded(study))
    st.caption(
        "Generation quality from samples of each run (overlap with the real test windows' music metrics, polyphony, "
        "note length, repeated steps, against the Markov chain's samples): "
        f"`python -m musicgen report {sweep_id}`, which generates them."
    )
    if len(f["pairs"]):
        with st.expander("Pairwise Welch t-tests, Holm-corrected, with Hedges' g"):
            st.dataframe(f["pairs"], key="cmp_study_pairs", hide_index=True, placeholder="–", column_config=worded(f["pairs"]))
    if f["calibration"]:
        st.plotly_chart(summaries.reliability_figure(f["calibration"]), key="cmp_reliability", width="stretch")


def results(chosen: list[str]) -> None:
    """Draw the chosen runs' curves per group with the baselines, the per-group and per-run tables (keys cmp_*)."""
    if not chosen:
        st.info("Pick at least one run with a finished epoch (Train page) to compare.")
        return

    c1, c2, c3, c4 = st.columns(4)
    grouping = c1.selectbox(
        "group runs", ("same config, seeds apart", "by chosen keys", "no groups: each run"), key="cmp_grouping"
    )
    by = None if grouping.startswith("same") else []
    if grouping == "by chosen keys":
        by = c1.multiselect("keys", list(GROUP_KEYS), default=["optimizer", "loss"], key="cmp_group_keys")
    x = c2.radio("x axis", ("epoch", "seconds"), horizontal=True, key="cmp_x")
    at_threshold = c3.radio("F1", ("at the validation threshold", "at 0.5"), key="cmp_f1") != "at 0.5"
    smoothing = c4.slider("smoothing (EMA weight)", 0.0, 0.99, 0.0, 0.01, key="cmp_smooth")
    log_y = c4.toggle("log scale for losses", key="cmp_logy")
    st.caption(
        "Mean ± std only where several runs differ by their seed alone. Focal and weighted losses give probabilities that are "
        "not calibrated, so their NLL may rise while their loss falls; F1 at the validation-chosen threshold is the fair one."
    )
    loaded = call("Reading the runs", load, chosen)
    repeats = []
    if loaded:
        runs_df, repeats = unique_runs(loaded[0])
        loaded = (runs_df, loaded[1][loaded[1]["run_id"].isin(runs_df["id"])] if len(loaded[1]) else loaded[1])
    table = call("Computing the run table", report.run_table_from, *loaded, by=by) if loaded else None
    if table is None or not len(table):
        return
    runs_df, metrics = loaded
    if repeats:
        st.caption(repeats_note(repeats))
    diverged = table[table["diverged"]]
    if len(diverged):
        st.warning(
            f"⚠ diverged: {', '.join(f'{n} ({i})' for n, i in zip(diverged['name'], diverged['id'], strict=True))}. "
            f"Drawn in the curves, left out of the groups, bars and ranks below ({RULE})."
        )
    onsets = bool(table["best_valid_onset_f1"].notna().any())
    if onsets:
        st.info(ONSET_NOTE)
    datasets = sorted(set(table["dataset"]))
    st.caption(
        "Dashed lines: the baselines (always silent, copy previous step, per-note Markov chain) on the validation split"
        + (f", one set per dataset ({', '.join(datasets)})." if len(datasets) > 1 else f" of {datasets[0]}.")
    )
    cols = st.columns(2)
    for i, (name, runs_of, title, key) in enumerate(chart_list(runs_df, table)):
        fig = call(f"Drawing {title}", chart, runs_of, metrics, name, x, by, at_threshold, smoothing, log_y, title)
        if fig is not None:
            cols[i % 2].plotly_chart(fig, key=key, width="stretch")

    st.subheader("Per group (mean ± std over seeds), with the baselines")
    st.caption(
        "A group is what the runs share but their seed (or the keys chosen above); the baselines' rows have no n. NLL is the "
        "exact NLL per step (nats) for both heads; a nade run's F1 is that of its greedy decoding at the validation threshold."
    )
    counted = table[~table["diverged"]]
    grouped = call("Grouping by configuration", group_rows, counted, runs_df)
    f1_col = "best_valid_f1" if at_threshold else "best_valid_f1_05"
    if grouped is not None:
        firsts = ("best_valid_onset_f1", "test_onset_f1", "best_valid_nll", "test_nll") if onsets else ()
        lead = [f"{c}_{s}" for c in firsts for s in ("mean", "std")]
        order = SHOWN[:5] + lead + [c for c in SHOWN[5:] if c not in lead]
        columns = [c for c in order if c in grouped]  # the CSV has every column (CIs, all metrics)
        st.dataframe(
            shown(grouped[columns]), key="cmp_grouped", hide_index=True, placeholder="–", column_config=worded(grouped[columns])
        )
        trained = grouped[grouped["n"].notna()]
        c1, c2 = st.columns(2)
        c1.plotly_chart(
            plots.bars_figure(
                trained, f1_col, f"best validation F1 {'at its threshold' if at_threshold else 'at 0.5'}", by="group"
            ),
            key="cmp_bar_f1",
            width="stretch",
        )
        c2.plotly_chart(
            plots.bars_figure(trained, "seconds_to_95", "seconds to 95% of best F1", by="group"),
            key="cmp_bar_speed",
            width="stretch",
        )
        crit = st.selectbox("rank by", list(ranking.CRITERIA), key="cmp_rank_by")
        ranks = call("Ranking", ranking.rank_table, counted, crit, ranking.CRITERIA[crit], by="group")
        if ranks is not None:
            st.dataframe(ranks, key="cmp_ranks", hide_index=True, placeholder="–", column_config=worded(ranks))

    st.subheader("Per run")
    st.caption(
        "threshold: the validation-chosen one of best valid F1; epochs or seconds to 95% of best F1: to reach 95% of the "
        "run's best validation F1; loss spread: std over mean of the last epochs' train loss; loss spikes: points beyond 3σ "
        "of the recent window; predicted share of active notes against density: the true share."
    )
    st.dataframe(shown(table), key="cmp_table", hide_index=True, placeholder="–", column_config=worded(table))
    c1, c2 = st.columns(2)
    c1.download_button("Download runs CSV", table.to_csv(index=False), "runs.csv", "text/csv", key="cmp_csv_runs")
    if grouped is not None:
        c2.download_button("Download groups CSV", grouped.to_csv(index=False), "groups.csv", "text/csv", key="cmp_csv_grouped")
