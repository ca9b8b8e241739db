"""What a study found: one sentence per question of the course work, and the tables that go with them.

`findings(tables)` words the figures of `measures` per question (stability, convergence speed, generation
quality, sparsity and calibration); `study_findings(sweep_id)` reads a sweep from the store and gathers
those figures, the findings and the verdict (`verdict`) for `report` and the Compare page;
the tables that show them are `summaries`'.
"""

from __future__ import annotations

import math

import pandas as pd

from musicgen.runs import store
from musicgen.study import groups, ranking, stats, verdict
from musicgen.study.measures import (
    EXTRA_COLUMNS,
    GRAD_SKIP,
    calibration_by_label,
    combination_stats,
    counted,
    divergence,
    lr_sensitivity,
    pairwise,
    study_table_from,
)
from musicgen.study.summaries import num


def _compare(table: pd.DataFrame, pairs: pd.DataFrame, criterion: str, lower: bool, what: str) -> tuple[str, dict] | None:
    """Return a sentence on the best two combinations of `criterion` with the Holm-adjusted p and Hedges' g."""
    means = table.groupby("config")[criterion].mean().dropna()
    if means.empty:
        return None
    n = table.groupby("config")[criterion].count()
    order = means.sort_values(ascending=lower).index.tolist()
    best = order[0]
    if len(order) == 1:
        return f"{best} alone has a {what} ({num(means[best])}, {n[best]} seeds).", {"best": best, "mean": means[best]}
    second = order[1]
    row = pairs[(pairs["criterion"] == criterion) & pairs["a"].isin([best, second]) & pairs["b"].isin([best, second])]
    p = float(row["p_holm"].iloc[0]) if len(row) else math.nan
    g = float(row["hedges_g"].iloc[0]) if len(row) else math.nan
    seeds = f"{n[best]} and {n[second]} seeds"
    numbers = {"best": best, "second": second, "mean_best": means[best], "mean_second": means[second], "p_holm": p, "g": g}
    if math.isnan(p):
        # Not a win: without a test, a lead by the mean is no finding (the report once called 8.53 against 8.53 "the best").
        return (
            f"{best} and {second} lead on {what} ({num(means[best])} and {num(means[second])}); with {seeds} no test "
            "can tell them apart.",
            numbers,
        )
    if p < ranking.ALPHA:
        return (
            f"{best} beats {second} on {what} ({num(means[best])} vs {num(means[second])}; Holm-adjusted p = {num(p, 2)}, "
            f"Hedges' g = {num(abs(g), 2)}, {seeds}).",
            numbers,
        )
    return (
        f"{best} and {second} tie on {what} ({num(means[best])} vs {num(means[second])}; "
        f"Holm-adjusted p = {num(p, 2)}, {seeds}).",
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
            span = f"trained at lr {num(min(lrs))}–{num(max(lrs))}" if lrs else "trained at no rate of the grid"
            parts.append(f"{r['optimizer']} diverged in {r['diverged']} of {r['runs']} lr-stage runs ({span})")
            numbers[f"{r['optimizer']}_divergence_rate"] = r["rate"]
    sensitivity = lr_sensitivity((tables.get("study") or {}).get("choices"))
    if sensitivity:
        worst = max(sensitivity, key=sensitivity.get)
        parts.append(
            f"the worst rate of the grid costs {worst} {num(sensitivity[worst])} nats of best validation NLL, "
            + ", ".join(f"{c} {num(v)}" for c, v in sorted(sensitivity.items()) if c != worst)
        )
        numbers["lr_sensitivity"] = sensitivity
    spread = table.groupby("config")["final_valid_nll"].std(ddof=1).dropna()
    if len(spread):
        lo, hi = spread.idxmin(), spread.idxmax()
        parts.append(
            f"final validation NLL varies least over seeds for {lo} (std {num(spread[lo])}) and most for {hi} ({num(spread[hi])})"
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
            f"the largest gradient norm after epoch {GRAD_SKIP} is at most {num(ratio.max(), 2)}× its median ({ratio.idxmax()})"
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
        what = f"seconds to validation NLL {num(target)} (the worst {loss} combination's mean best)"
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
                    f"{int((means > markov).sum())} of {len(means)} combinations beat the Markov chain's samples ({num(markov)})."
                )
            best = said[1].get("best")
            shown = table[table["config"] == best][["gen_polyphony", "gen_note_length", "gen_repetition"]].mean()
            truth = real.get("test windows") or {}
            if truth:
                gen.append(
                    f"{best}'s samples: polyphony {num(shown['gen_polyphony'])} (real {num(truth.get('gen_polyphony'))}), "
                    f"note length {num(shown['gen_note_length'])} steps (real {num(truth.get('gen_note_length'))}), "
                    f"repeated steps {num(shown['gen_repetition'])} (real {num(truth.get('gen_repetition'))})."
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
                f"({num(markov)})."
            )
            numbers["markov_nll"] = markov
    if gen:
        out.append({"question": "generation quality", "sentence": " ".join(gen), "numbers": numbers})

    # 4. Sparsity and calibration.
    g = table.groupby("config")[["pred_pos_rate", "density", "test_f1_at_half", "test_f1", "threshold", "ece"]].mean()
    if len(g):
        best_ece = g["ece"].idxmin() if g["ece"].notna().any() else None
        parts = [
            f"{c} predicts {num(r.pred_pos_rate)} positives for a density of {num(r.density)}, "
            f"F1 {num(r.test_f1_at_half)} at 0.5 "
            f"and {num(r.test_f1)} at its threshold {num(r.threshold, 2)}, ECE {num(r.ece)}"
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
    if generated is not None and len(table):  # the report's generation figures per run (generation.GEN_COLUMNS)
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
