"""What a study found: extra per-run figures, per-combination statistics, one sentence per question, reliability diagrams.

Pure functions over the frames of `stats` (runs, metric rows, the run table) and the stage-2 sweep's
"study" config (`tuning`). `report` and the Compare page call `study_findings(sweep_id)` (the store) or
`findings(tables)` (the frames); `reliability_figure` draws the calibration bins of each combination.

Choices stated once:
- Time to a fixed NLL: the target is, per loss, the worst combination's mean best validation NLL, so that every
  combination reaches it on average and the comparison is one of speed, not of final quality. Per loss, because a
  focal run's NLL is far from a BCE run's (its probabilities are not calibrated): one target shared by both would
  be reached by every BCE run in its first epoch and compare nothing.
- Grad-norm statistics leave out the first GRAD_SKIP epochs (the warm-up spikes of every optimizer).
- Effect sizes are Hedges' g; p-values are Welch's, Holm-adjusted over all pairs of one criterion.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from musicgen.runs import store
from musicgen.runs.divergence import run_diverged
from musicgen.study import groups, ranking, stats, verdict
from musicgen.study.baselines import BASELINE_LABELS

GRAD_SKIP = 2  # epochs left out of the grad-norm statistics
# Criteria whose pairwise tests the report prints, with lower-is-better.
TESTED = {
    "test_nll": True,
    "test_f1": False,
    "best_valid_nll": True,
    "epochs_to_95": True,
    "seconds_to_target": True,
    "gen_overlap": False,
    "ece": True,
}
EXTRA_COLUMNS = [
    "id",
    "final_valid_nll",
    "final_valid_f1",
    "grad_norm_mean",
    "grad_norm_max_over_median",
    "test_f1_at_half",
    "ece",
]


def extra_row(run: dict, m: pd.DataFrame) -> dict:
    """Return the study's figures of one run that `stats.run_row` lacks (see EXTRA_COLUMNS)."""
    summary = run.get("summary") or {}
    nll, f1 = stats.metric_series(m, "valid", "nll"), stats.metric_series(m, "valid", "f1_best")
    grad = stats.metric_series(m, "train", "grad_norm")
    grad = grad[grad.index > GRAD_SKIP]
    test = summary.get("test") or {}
    median = float(grad.median()) if len(grad) else math.nan
    return {
        "id": run.get("id"),
        "final_valid_nll": float(nll.iloc[-1]) if len(nll) else math.nan,
        "final_valid_f1": float(f1.iloc[-1]) if len(f1) else math.nan,
        "grad_norm_mean": float(grad.mean()) if len(grad) else math.nan,
        "grad_norm_max_over_median": float(grad.max()) / median if median > 0 else math.nan,
        "test_f1_at_half": float(test.get("f1", math.nan)),
        "ece": float(test.get("ece", math.nan)),
    }


def to_target(m: pd.DataFrame, target: float) -> tuple[float, float]:
    """Return (epochs, seconds) until validation NLL first reaches `target` or lower (NaN, NaN if never)."""
    nll = stats.metric_series(m, "valid", "nll")
    hit = nll[nll <= target]
    if hit.empty:
        return math.nan, math.nan
    epoch = hit.index[0]
    return float(epoch), float(stats.elapsed_by_epoch(m).get(epoch, math.nan))


def study_table_from(runs: pd.DataFrame, metrics: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Return (the run table with EXTRA_COLUMNS and epochs/seconds_to_target merged on id, {loss: its target NLL})."""
    table = stats.run_table_from(runs, metrics)
    by_run = {r: metrics[metrics["run_id"] == r] for r in runs["id"]} if len(metrics) else {}
    extra = pd.DataFrame(
        [extra_row(run, by_run.get(run["id"], metrics.iloc[0:0])) for run in runs.to_dict("records")], columns=EXTRA_COLUMNS
    )
    table = table.merge(extra, on="id", how="left")
    identity = {r["id"]: groups.identity_of(r.get("config") or {}, r.get("dataset_id")) for r in runs.to_dict("records")}
    table["config"] = groups.labels_apart(list(table["config"]), [identity[i] for i in table["id"]])
    done = counted(table)
    means = done.groupby(["loss", "config"])["best_valid_nll"].mean().dropna()
    targets = {loss: float(means[loss].max()) for loss in means.index.get_level_values(0).unique()}
    reached = [
        to_target(by_run.get(r, metrics.iloc[0:0]), targets.get(loss, math.nan))
        for r, loss in zip(table["id"], table["loss"], strict=True)
    ]
    table["epochs_to_target"] = [e for e, _ in reached]
    table["seconds_to_target"] = [s for _, s in reached]
    return table, targets


def counted(table: pd.DataFrame) -> pd.DataFrame:
    """Return the runs of a study table that its statistics count: finished, and not diverged (runs.divergence)."""
    if table.empty:
        return table
    diverged = table["diverged"].fillna(False).astype(bool) if "diverged" in table else False
    return table[(table["status"] == "finished") & ~diverged]


def combination_stats(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Return per combination and column: mean, std, 95% CI (t distribution) and n, in long form."""
    rows = []
    for config, g in table.groupby("config"):
        for c in columns:
            if c not in g:
                continue
            v = g[c].to_numpy(float)
            mean, lo, hi = ranking.mean_ci(v)
            n = int(np.isfinite(v).sum())
            std = float(np.nanstd(v, ddof=1)) if n > 1 else math.nan
            rows.append({"config": config, "column": c, "mean": mean, "std": std, "ci_lo": lo, "ci_hi": hi, "n": n})
    return pd.DataFrame(rows, columns=["config", "column", "mean", "std", "ci_lo", "ci_hi", "n"])


def pairwise(table: pd.DataFrame) -> pd.DataFrame:
    """Return the Holm-corrected pairwise Welch tests with Hedges' g of every TESTED criterion the table has values for."""
    parts = [ranking.pairwise_table(table, c, lower) for c, lower in TESTED.items() if c in table and table[c].notna().any()]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def divergence(choices: dict) -> pd.DataFrame:
    """Return per optimizer over the lr grid: runs, diverged (or failed) ones, their share, and the rates that trained."""
    rows = {}
    for c in (choices or {}).values():
        r = rows.setdefault(c["optimizer"], {"optimizer": c["optimizer"], "runs": 0, "diverged": 0, "trained_lrs": set()})
        for cand in c["candidates"]:
            r["runs"] += 1
            if cand["status"] == "finished":
                r["trained_lrs"].add(cand["lr"])
            else:
                r["diverged"] += 1
    out = []
    for r in rows.values():
        out.append({**r, "rate": r["diverged"] / r["runs"] if r["runs"] else math.nan, "trained_lrs": sorted(r["trained_lrs"])})
    return pd.DataFrame(out, columns=["optimizer", "runs", "diverged", "rate", "trained_lrs"])


def lr_sensitivity(choices: dict) -> dict[str, float]:
    """Return per combination how much worse (nats) its worst trained rate of the lr grid is than its best (best valid NLL)."""
    out = {}
    for label, c in (choices or {}).items():
        nlls = [cand["best_valid_nll"] for cand in c["candidates"] if cand.get("best_valid_nll") is not None]
        if len(nlls) > 1:
            out[label] = float(max(nlls) - min(nlls))
    return out


def calibration_by_label(runs: pd.DataFrame, labels: dict[str, str] | None = None) -> dict[str, list[dict]]:
    """Return {combination: reliability bins} pooled over its finished runs' test calibration (counts added up).

    labels: {run id: combination}, e.g. the study table's; by default optimizer+loss(+head).
    """
    pooled: dict[str, list[dict]] = {}
    for run in runs.to_dict("records"):
        # The test split's reliability bins at best.pt (evaluate_model(..., calibration=True) in the trainer).
        bins = (((run.get("summary") or {}).get("test") or {}).get("calibration") or {}).get("bins")
        if run.get("status") != "finished" or not bins or run_diverged(run):
            continue
        config = run.get("config") or {}
        train = config.get("train") or {}
        label = (labels or {}).get(run.get("id"))
        label = label or groups.config_label(train.get("optimizer"), train.get("loss"), groups.head_of(config))
        acc = pooled.setdefault(label, [{"lo": b["lo"], "hi": b["hi"], "count": 0, "p": 0.0, "y": 0.0} for b in bins])
        for a, b in zip(acc, bins, strict=True):
            if b["count"]:
                a["count"] += b["count"]
                a["p"] += b["predicted"] * b["count"]
                a["y"] += b["observed"] * b["count"]
    return {
        label: [
            {
                "lo": a["lo"],
                "hi": a["hi"],
                "count": a["count"],
                "predicted": a["p"] / a["count"] if a["count"] else None,
                "observed": a["y"] / a["count"] if a["count"] else None,
            }
            for a in acc
        ]
        for label, acc in sorted(pooled.items())
    }


def _f(x, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}g}"


def _compare(table: pd.DataFrame, pairs: pd.DataFrame, criterion: str, lower: bool, what: str) -> tuple[str, dict] | None:
    """Return a sentence on the best two combinations of `criterion` with the Holm-adjusted p and Hedges' g."""
    means = table.groupby("config")[criterion].mean().dropna()
    if means.empty:
        return None
    n = table.groupby("config")[criterion].count()
    order = means.sort_values(ascending=lower).index.tolist()
    best = order[0]
    if len(order) == 1:
        return f"{best} alone has a {what} ({_f(means[best])}, {n[best]} seeds).", {"best": best, "mean": means[best]}
    second = order[1]
    row = pairs[(pairs["criterion"] == criterion) & pairs["a"].isin([best, second]) & pairs["b"].isin([best, second])]
    p = float(row["p_holm"].iloc[0]) if len(row) else math.nan
    g = float(row["hedges_g"].iloc[0]) if len(row) else math.nan
    seeds = f"{n[best]} and {n[second]} seeds"
    numbers = {"best": best, "second": second, "mean_best": means[best], "mean_second": means[second], "p_holm": p, "g": g}
    if math.isnan(p):
        # Not a win: without a test, a lead by the mean is no finding (the report once called 8.53 against 8.53 "the best").
        return (
            f"{best} and {second} lead on {what} ({_f(means[best])} and {_f(means[second])}); with {seeds} no test "
            "can tell them apart.",
            numbers,
        )
    if p < ranking.ALPHA:
        return (
            f"{best} beats {second} on {what} ({_f(means[best])} vs {_f(means[second])}; Holm-adjusted p = {_f(p, 2)}, "
            f"Hedges' g = {_f(abs(g), 2)}, {seeds}).",
            numbers,
        )
    return (
        f"{best} and {second} tie on {what} ({_f(means[best])} vs {_f(means[second])}; Holm-adjusted p = {_f(p, 2)}, {seeds}).",
        numbers,
    )


def findings(tables: dict) -> list[dict]:
    """Return one finding per question: [{question, sentence, numbers}], from study_findings' tables.

    tables: {"runs": study table (finished runs count), "pairs": pairwise(), "study": the sweep's "study" config
    or None, "divergence": divergence(), "target_nll": {loss: float}, "baselines": {name: test metrics}}.
    """
    table = counted(tables["runs"])
    pairs = tables.get("pairs")
    pairs = pairs if pairs is not None and len(pairs) else pd.DataFrame(columns=["criterion", "a", "b", "p_holm", "hedges_g"])
    out = []
    if table.empty:
        return [{"question": "all", "sentence": "No run of this sweep has finished yet: nothing to conclude.", "numbers": {}}]

    # 1. Stability: divergence and sensitivity over the lr grid, spread over seeds, spikes and gradient norms.
    parts, numbers = [], {}
    div = tables.get("divergence")
    if div is not None and len(div):
        for r in div.to_dict("records"):
            lrs = r["trained_lrs"]
            span = f"trained at lr {_f(min(lrs))}–{_f(max(lrs))}" if lrs else "trained at no rate of the grid"
            parts.append(f"{r['optimizer']} diverged in {r['diverged']} of {r['runs']} lr-stage runs ({span})")
            numbers[f"{r['optimizer']}_divergence_rate"] = r["rate"]
    sensitivity = lr_sensitivity((tables.get("study") or {}).get("choices"))
    if sensitivity:
        worst = max(sensitivity, key=sensitivity.get)
        parts.append(
            f"the worst rate of the grid costs {worst} {_f(sensitivity[worst])} nats of best validation NLL, "
            + ", ".join(f"{c} {_f(v)}" for c, v in sorted(sensitivity.items()) if c != worst)
        )
        numbers["lr_sensitivity"] = sensitivity
    spread = table.groupby("config")["final_valid_nll"].std(ddof=1).dropna()
    if len(spread):
        lo, hi = spread.idxmin(), spread.idxmax()
        parts.append(
            f"final validation NLL varies least over seeds for {lo} (std {_f(spread[lo])}) and most for {hi} ({_f(spread[hi])})"
        )
        numbers["nll_std"] = spread.to_dict()
    else:
        parts.append("one seed per combination: no spread over seeds")
    if "loss_spikes" in table and table["loss_spikes"].notna().any():
        spikes = table.groupby("config")["loss_spikes"].sum()
        parts.append(
            f"{int(spikes.sum())} train-loss spikes (beyond 3σ of the recent window) in all"
            + (f", most in {spikes.idxmax()} ({int(spikes.max())})" if spikes.max() > 0 else "")
        )
        numbers["loss_spikes"] = spikes.to_dict()
    if "grad_norm_max_over_median" in table and table["grad_norm_max_over_median"].notna().any():
        ratio = table.groupby("config")["grad_norm_max_over_median"].mean()
        parts.append(
            f"the largest gradient norm after epoch {GRAD_SKIP} is at most {_f(ratio.max(), 2)}× its median ({ratio.idxmax()})"
        )
        numbers["grad_norm_max_over_median"] = ratio.to_dict()
    out.append({"question": "stability", "sentence": "; ".join(parts) + ".", "numbers": numbers})

    # 2. Convergence speed: epochs to 95% of each run's own best, time to a validation NLL that every combination reaches.
    targets = tables.get("target_nll") or {}
    speed, numbers = [], {"target_nll": targets}
    said = _compare(table, pairs, "epochs_to_95", True, "epochs to 95% of the run's best validation F1")
    if said:
        speed.append(said[0])
        numbers["epochs_to_95"] = said[1]
    for loss, target in sorted(targets.items()):
        what = f"seconds to validation NLL {_f(target)} (the worst {loss} combination's mean best)"
        said = _compare(table[table["loss"] == loss], pairs, "seconds_to_target", True, what)
        if said:
            speed.append(said[0])
            numbers[f"seconds_to_target_{loss}"] = said[1]
    if speed:
        out.append({"question": "convergence speed", "sentence": " ".join(speed), "numbers": numbers})

    # 3. Generation quality: the samples' music metrics against the real test windows (the report generates them),
    # and the likelihood of the real test music.
    gen, numbers = [], {}
    real = tables.get("real") or {}
    if "gen_overlap" in table and table["gen_overlap"].notna().any():
        said = _compare(table, pairs, "gen_overlap", False, "overlap with the real test windows' music metrics")
        if said:
            gen.append(said[0])
            numbers["gen_overlap"] = said[1]
            markov = (real.get("per-note Markov chain") or {}).get("gen_overlap")
            if markov is not None:
                means = table.groupby("config")["gen_overlap"].mean().dropna()
                gen.append(
                    f"{int((means > markov).sum())} of {len(means)} combinations beat the Markov chain's samples ({_f(markov)})."
                )
            best = said[1].get("best")
            shown = table[table["config"] == best][["gen_polyphony", "gen_note_length", "gen_repetition"]].mean()
            truth = real.get("test windows") or {}
            if truth:
                gen.append(
                    f"{best}'s samples: polyphony {_f(shown['gen_polyphony'])} (real {_f(truth.get('gen_polyphony'))}), "
                    f"note length {_f(shown['gen_note_length'])} steps (real {_f(truth.get('gen_note_length'))}), "
                    f"repeated steps {_f(shown['gen_repetition'])} (real {_f(truth.get('gen_repetition'))})."
                )
    said = _compare(table, pairs, "test_nll", True, "test NLL")
    if said:
        sentence, nums = said
        gen.append(sentence)
        numbers["test_nll"] = nums
        markov = ((tables.get("baselines") or {}).get("markov") or {}).get("nll")
        if markov is not None:
            beat = table.groupby("config")["test_nll"].mean().dropna()
            gen.append(
                f"{int((beat < markov).sum())} of {len(beat)} combinations beat the per-note Markov chain's test NLL "
                f"({_f(markov)})."
            )
            numbers["markov_nll"] = markov
    if gen:
        out.append({"question": "generation quality", "sentence": " ".join(gen), "numbers": numbers})

    # 4. Sparsity and calibration.
    g = table.groupby("config")[["pred_pos_rate", "density", "test_f1_at_half", "test_f1", "threshold", "ece"]].mean()
    if len(g):
        best_ece = g["ece"].idxmin() if g["ece"].notna().any() else None
        parts = [
            f"{c} predicts {_f(r.pred_pos_rate)} positives for a density of {_f(r.density)}, F1 {_f(r.test_f1_at_half)} at 0.5 "
            f"and {_f(r.test_f1)} at its threshold {_f(r.threshold, 2)}, ECE {_f(r.ece)}"
            for c, r in g.iterrows()
        ]
        sentence = "; ".join(parts) + "."
        if best_ece is not None:
            sentence += f" Best calibrated: {best_ece}."
        out.append({"question": "sparsity and calibration", "sentence": sentence, "numbers": g.to_dict("index")})
    return out


def study_findings(sweep_id: str, generated: pd.DataFrame | None = None, real: dict | None = None) -> dict:
    """Return everything a study's report or the Compare page shows, read from the store.

    {"study": the sweep's "study" config or None (a plain sweep), "runs": study table, "target_nll",
    "stats": combination_stats, "pairs": pairwise, "divergence", "calibration": {label: bins},
    "baselines": {name: test metrics}, "findings": findings(), "repeats": groups.unique_runs' runs counted once,
    "verdict": verdict.verdict()}. Diverged runs (runs.divergence) are in "runs" but in no statistic.
    """
    from musicgen.study.plan import latest_runs

    sweep = store.get_sweep(sweep_id)
    runs, repeats = groups.unique_runs(pd.DataFrame(list(latest_runs(sweep_id).values())))
    records = runs.to_dict("records")
    runs = runs.reset_index(drop=True)
    ids = [r["id"] for r in records]
    metrics = store.metrics_frame(ids) if ids else pd.DataFrame(columns=["run_id"])
    if runs.empty:
        table, target = pd.DataFrame(columns=stats.TABLE_COLUMNS + EXTRA_COLUMNS[1:]), {}
    else:
        table, target = study_table_from(runs, metrics)
    if generated is not None and len(table):  # the report's generation figures per run (document.GEN_COLUMNS)
        table = table.drop(columns=[c for c in generated.columns if c != "id"], errors="ignore").merge(
            generated, on="id", how="left"
        )
    done = counted(table)
    study = (sweep.get("config") or {}).get("study")
    baselines, by_split = {}, {}
    for r in records:
        for name, b in ((r.get("summary") or {}).get("baselines") or {}).items():
            baselines.setdefault(name, b.get("test") or b.get("valid") or {})
            by_split.setdefault(name, b)
    tables = {
        "study": study,
        "runs": table,
        "target_nll": target,
        "stats": combination_stats(
            done, ["best_valid_nll", "final_valid_nll", "final_valid_f1", "test_nll", "test_f1", "pred_pos_rate", "ece"]
        ),
        "pairs": pairwise(done) if len(done) else pd.DataFrame(),
        "divergence": divergence((study or {}).get("choices")),
        "calibration": calibration_by_label(runs, dict(zip(table["id"], table["config"], strict=True))) if len(runs) else {},
        "baselines": baselines,
        "real": real or {},
    }
    tables["findings"] = findings(tables)
    tables["repeats"] = repeats
    tables["verdict"] = verdict.verdict(table, by_split, real, repeats)
    return tables


BASELINE_VALUES = {"test_nll": "nll", "test_f1": "f1", "pred_pos_rate": "pred_pos_rate", "ece": "ece"}


def stats_with_baselines(combos: pd.DataFrame, baselines: dict) -> pd.DataFrame:
    """Return combination_stats in wide form (mean ± std [CI] per column) with one row per baseline below."""
    rows = {}
    for r in combos.to_dict("records"):
        ci = f" [{_f(r['ci_lo'])}, {_f(r['ci_hi'])}]" if not math.isnan(r["ci_lo"]) else ""
        rows.setdefault(r["config"], {"config": r["config"], "n": r["n"]})[r["column"]] = f"{_f(r['mean'])} ± {_f(r['std'])}{ci}"
    for name, b in sorted((baselines or {}).items()):
        row = {"config": f"baseline: {BASELINE_LABELS.get(name, name)}", "n": None}
        for column, key in BASELINE_VALUES.items():
            if isinstance(b.get(key), int | float):
                row[column] = _f(float(b[key]))
        rows[row["config"]] = row
    return pd.DataFrame(list(rows.values()))


# Per-combination columns of the speed, stability and generation table (report), with what each one is.
DYNAMICS = {
    "epochs_done": "epochs trained (early stopping)",
    "epochs_to_95": "epochs to 95% of best valid F1",
    "seconds_to_target": "seconds to the loss's target NLL",
    "loss_spikes": "train-loss spikes",
    "grad_norm_max_over_median": "max/median grad norm after epoch 2",
    "gen_overlap": "overlap with real music metrics",
    "gen_polyphony": "polyphony",
    "gen_note_length": "note length (steps)",
    "gen_repetition": "repeated steps",
}


def dynamics_frame(table: pd.DataFrame, real: dict | None = None) -> pd.DataFrame:
    """Return per combination 'mean ± std' of the DYNAMICS columns the table has, then one row per reference of `real`.

    real: {name: {column: value}}, e.g. the real test windows' and the Markov chain's samples' generation figures.
    """
    done = counted(table)
    columns = [c for c in DYNAMICS if c in done and done[c].notna().any()]
    rows = []
    for config, g in done.groupby("config"):
        row = {"config": config, "n": len(g)}
        for c in columns:
            v = g[c].to_numpy(float)
            row[DYNAMICS[c]] = (
                f"{_f(np.nanmean(v))} ± {_f(np.nanstd(v, ddof=1))}" if np.isfinite(v).sum() > 1 else _f(np.nanmean(v))
            )
        rows.append(row)
    for name, figures in (real or {}).items():
        rows.append({"config": name, "n": None, **{DYNAMICS[c]: _f(v) for c, v in figures.items() if c in columns}})
    return pd.DataFrame(rows, columns=["config", "n", *(DYNAMICS[c] for c in columns)])


def reliability_figure(bins_by_label: dict[str, list[dict]]):
    """Return a plotly figure: observed frequency against mean predicted probability per combination, and the diagonal."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated", line={"dash": "dot", "color": "gray"})
    )
    for label, bins in bins_by_label.items():
        full = [b for b in bins if b["count"]]
        fig.add_trace(
            go.Scatter(
                x=[b["predicted"] for b in full],
                y=[b["observed"] for b in full],
                mode="lines+markers",
                name=label,
                text=[f"{b['count']} cells" for b in full],
            )
        )
    fig.update_layout(
        title="Reliability (test split)",
        xaxis_title="mean predicted probability",
        yaxis_title="observed frequency",
        xaxis={"range": [0, 1]},
        yaxis={"range": [0, 1]},
    )
    return fig
