"""The study report of a sweep: findings first (study.findings), the lr stage of a study, tables, generation quality.

`study_tables` gathers a sweep's tables (with the generation figures of `generation`); `render` writes them as
md (`document_md`), csv, json or html; a plain sweep (no lr stage) gets the same report without the lr stage.
"""

from __future__ import annotations

import html
import json
import math

import numpy as np
import pandas as pd

from musicgen.errors import ConfigError, MusicgenError
from musicgen.music import listening, plots
from musicgen.runs import store
from musicgen.study import curves, measures, ranking, summaries
from musicgen.study import findings as study_findings_mod
from musicgen.study.document_md import listening_lines, to_markdown, verdict_items
from musicgen.study.generation import GEN_COLUMNS, generation_quality, markov_generation
from musicgen.study.plan import latest_runs
from musicgen.study.verdict import verdict_lines

FORMATS = ("md", "csv", "json", "html")


def study_tables(sweep_id: str, generation: bool = True, samples: int = 4, steps: int = 64) -> dict:
    """Return {"sweep", "runs", "groups", "ranks", "baselines", "study"} for a sweep (finished runs only in the statistics).

    "study" is `findings.study_findings` (with the generation figures when `generation`); "runs" its run table.
    """
    sweep = store.get_sweep(sweep_id)
    finished = [r["id"] for r in latest_runs(sweep_id).values() if r["status"] == "finished"]
    # real: the same figures of the real test windows and of the Markov chain's samples, {name: {GEN_COLUMNS: value}}.
    generated, real = [], {}
    if generation:
        for run_id in finished:
            try:
                figures = generation_quality(run_id, samples, steps)
            except MusicgenError:
                continue  # no checkpoint here (e.g. a Ray storage path): no figures
            generated.append({"id": run_id, **{c: figures.get(c, math.nan) for c in GEN_COLUMNS}})
            real = {"test windows": figures["real"]}
        if generated:
            try:
                data = (sweep.get("config") or {}).get("data")
                real["per-note Markov chain"] = {
                    c: v for c, v in markov_generation(data, samples, steps).items() if c in GEN_COLUMNS
                }
            except MusicgenError:
                pass  # the dataset is gone: the models' figures stand without the baseline's
    f = study_findings_mod.study_findings(sweep_id, generated=pd.DataFrame(generated) if generated else None, real=real)
    table = f["runs"]
    done = measures.counted(table)
    groups = ranking.group_table(done) if len(done) else pd.DataFrame()
    ranks = (
        pd.concat(
            [ranking.rank_table(done, c, lower) for c, lower in ranking.CRITERIA.items() if done[c].notna().any()],
            ignore_index=True,
        )
        if len(done)
        else pd.DataFrame()
    )
    heard = listening.results_for(list(table["id"])) if len(table) else []  # the blind test's votes on these runs
    return {
        "sweep": sweep,
        "runs": table,
        "groups": groups,
        "ranks": ranks,
        "baselines": f["baselines"],
        "study": f,
        "listening": heard,
    }


def render(t: dict, fmt: str) -> str:
    """Return the study in `fmt` (md, csv: one row per run, json, html: md tables plus curve figures)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "md":
        return to_markdown(t)
    if fmt == "csv":  # the verdict as comment lines first (pandas: read_csv(..., comment="#"))
        return "".join(f"# {line}\n" for line in verdict_lines(verdict_items(t))) + t["runs"].to_csv(index=False)
    if fmt == "json":
        return json.dumps(
            {
                "verdict": verdict_items(t),
                "sweep": t["sweep"],
                "runs": t["runs"].to_dict("records"),
                "groups": t["groups"].to_dict("records"),
                "ranks": t["ranks"].to_dict("records"),
                "baselines": t["baselines"],
                "listening": t.get("listening") or [],
                **_study_json(t.get("study")),
            },
            default=_json_default,
            indent=1,
        )
    return to_html(t)


def _study_json(f: dict | None) -> dict:
    """Return the findings' part of the JSON report: findings, lr stage, statistics, pairwise tests, calibration."""
    if not f:
        return {}
    return {
        "findings": f["findings"],
        "lr_stage": f["study"],
        "target_nll": f["target_nll"],
        "stats": f["stats"].to_dict("records"),
        "pairs": f["pairs"].to_dict("records") if len(f["pairs"]) else [],
        "divergence": f["divergence"].to_dict("records"),
        "calibration": f["calibration"],
        "generation_reference": f["real"],
    }


def _json_default(x):
    if isinstance(x, (np.integer, np.floating)):
        return None if np.isnan(x) else x.item()
    return str(x)


def to_html(t: dict) -> str:
    """Render the study as one self-contained HTML page (tables, then mean ± std curves)."""
    ids = [r for r in t["runs"].loc[t["runs"]["status"] == "finished", "id"]]
    figs = [("valid", "nll", "epoch"), ("valid", "f1_best", "epoch"), ("train", "loss", "epoch"), ("valid", "f1_best", "seconds")]
    f = t.get("study")
    has_js = bool(f and f["calibration"])  # the reliability diagram, first on the page, brings plotly.js
    parts = []
    for i, (split, metric, x) in enumerate(figs):
        bands = curves.curve_bands(ids, metric, split, x=x)
        fig = plots.curves_figure(bands, f"{split} {metric} (mean ± std over seeds)", x_label=x, y_label=metric)
        parts.append(plots.figure_html(fig, include_plotlyjs=(i == 0 and not has_js)))
    findings_html = ""
    if f:
        lines = "".join(f"<li>{html.escape(line)}</li>" for line in verdict_lines(verdict_items(t)))
        findings_html = f"<h2>Verdict</h2><ul>{lines}</ul>" if lines else ""
        items = "".join(f"<li><b>{x['question']}</b>: {x['sentence']}</li>" for x in f["findings"])
        findings_html += f"<h2>Findings</h2><ul>{items}</ul>"
        if (f.get("study") or {}).get("choices"):
            findings_html += "<h2>Learning-rate stage</h2>" + summaries.lr_stage_frame(f["study"]).to_html(
                index=False, na_rep="–"
            )
        findings_html += "<h2>Per combination and baselines</h2>" + summaries.stats_with_baselines(
            f["stats"], f["baselines"]
        ).to_html(index=False, na_rep="–")
        findings_html += "<h2>Speed, stability and generation</h2>" + summaries.dynamics_frame(f["runs"], f["real"]).to_html(
            index=False, na_rep="–"
        )
        if len(f["pairs"]):
            findings_html += "<h2>Pairwise tests (Welch, Holm-adjusted)</h2>" + f["pairs"].to_html(
                index=False, na_rep="–", float_format=lambda v: f"{v:.4g}"
            )
        if f["calibration"]:
            fig = summaries.reliability_figure(f["calibration"])
            findings_html += "<h2>Calibration</h2>" + plots.figure_html(fig, include_plotlyjs=True)
    heard = "".join(f"<li>{line}</li>" for line in listening_lines(t))
    listening_html = f"<h2>Blind listening test</h2><ul>{heard}</ul>" if heard else ""
    tables = "".join(
        f"<h2>{name}</h2>" + df.to_html(index=False, na_rep="–", float_format=lambda v: f"{v:.4g}")
        for name, df in (("Summary", summaries.summary_frame(t["groups"])), ("Ranks", t["ranks"]), ("Runs", t["runs"]))
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Sweep {t['sweep']['id']}</title></head><body>"
        f"<h1>Sweep {t['sweep']['id']}: {t['sweep']['name']}</h1>{findings_html}{tables}{listening_html}"
        f"<h2>Curves</h2>{''.join(parts)}</body></html>"
    )
