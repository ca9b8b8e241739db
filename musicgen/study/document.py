"""The study report of a sweep: findings first (study.findings), the lr stage of a study, tables, generation quality.

As md, csv, json or html; a plain sweep (no lr stage) gets the same report without the lr stage.
"""

from __future__ import annotations

import html
import json
import math

import numpy as np
import pandas as pd
import torch

from musicgen.data.datasets import load_dataset
from musicgen.errors import ConfigError, MusicgenError
from musicgen.music import listening, plots
from musicgen.music.piece import make_piece, measure, reference_windows
from musicgen.paths import atomic_write, cache_dir
from musicgen.runs import store
from musicgen.study import curves, measures, ranking, summaries
from musicgen.study import findings as study_findings_mod
from musicgen.study.plan import latest_runs
from musicgen.study.verdict import verdict_lines
from musicgen.training import checkpoint
from musicgen.training.metrics import markov_table

FORMATS = ("md", "csv", "json", "html")
# The course work's four questions and the criteria (ranking.CRITERIA) that answer each.
QUESTIONS = {
    "1. Training stability": ["loss_spread", "loss_spikes"],
    "2. Convergence speed": ["epochs_to_95", "seconds_to_95"],
    "3. Generation quality": ["gen_overlap"],
    "4. Sparse targets": ["test_f1", "pos_rate_error", "test_nll", "best_valid_nll", "best_valid_f1"],
}
SHOWN = [
    "best_valid_nll",
    "best_valid_f1",
    "test_nll",
    "test_f1",
    "epochs_to_95",
    "seconds_to_95",
    "loss_spread",
    "loss_spikes",
    "pred_pos_rate",
    "density",
    "gen_overlap",
]


# Report column -> the music metric of `quality.METRICS` whose generated mean it holds ("overlap": the mean overlap area).
GEN_COLUMNS = {
    "gen_overlap": "overlap",
    "gen_polyphony": "mean_polyphony",
    "gen_note_length": "mean_note_length",
    "gen_repetition": "repetition",
}


def quality_figures(comparison: dict) -> dict:
    """Return {GEN_COLUMNS: generated value, "real": {GEN_COLUMNS but the overlap: the real windows' mean}} of a comparison."""
    metrics = comparison["metrics"]
    out = {"gen_overlap": float(np.nanmean([m["overlap"] for m in metrics.values()])), "real": {}}
    for column, name in GEN_COLUMNS.items():
        if name in metrics:
            out[column] = float(metrics[name]["generated_mean"])
            out["real"][column] = float(metrics[name]["real_mean"])
    return out


def _cached(key: str, compute) -> dict:
    """Return cache[key] of the report's generation cache, computing and storing it when missing."""
    cache_path = cache_dir() / "generation_quality.json"
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key not in cache:
        cache[key] = compute()
        with atomic_write(cache_path) as tmp:
            tmp.write_text(json.dumps(cache))
    return cache[key]


def generation_quality(run_id: str, samples: int = 4, steps: int = 64, seed: int = 0) -> dict:
    """Return quality_figures of `samples` generations of a run's best checkpoint against its dataset's test windows; cached.

    The generations and the measure are `piece.make_piece`'s, the same as `generate --data` and the Generate page.
    """
    ckpt_path = checkpoint.resolve_checkpoint(run_id)

    def compute() -> dict:
        run = store.get_run(run_id)
        data = run["config"].get("data_path") or run["config"]["data"]
        piece = make_piece(run_id, steps, samples=samples, seed=seed, data=data, strategy="sample", temperature=1.0)
        return quality_figures(piece.comparison)

    return _cached(f"run:{run_id}:{ckpt_path.stat().st_mtime_ns}:{samples}:{steps}:{seed}", compute)


def generation_overlap(run_id: str, samples: int = 4, steps: int = 64, seed: int = 0) -> float:
    """Return the mean overlapping area (0..1) of generation_quality: one number for a rank table."""
    return generation_quality(run_id, samples, steps, seed)["gen_overlap"]


def markov_generation(data: str, samples: int = 4, steps: int = 64, seed: int = 0) -> dict:
    """Return quality_figures of `samples` rolls sampled from the per-note Markov chain of `data`'s training split.

    The generation baseline: each note follows its own two-state chain (P(on | on before), P(on | off before)),
    started from the first step of a test window, as a model's samples start from their primer. Cached.
    """

    def compute() -> dict:
        ds = load_dataset(data)
        rolls, lengths = ds.split("train")
        # The sounding plane of an onset-aware dataset: the two-state chain knows no re-strikes.
        table = markov_table(torch.as_tensor(rolls > 0), torch.as_tensor(lengths)).numpy()  # (2, N): row = state before
        real = reference_windows(data, steps, ds.config.low, ds.config.n_notes)
        rng = np.random.default_rng(seed)
        out = np.zeros((samples, steps, ds.config.n_notes), dtype=np.uint8)
        notes = np.arange(ds.config.n_notes)
        for i in range(samples):
            out[i, 0] = real[i % len(real)][0] > 0
            for t in range(1, steps):
                out[i, t] = rng.random(ds.config.n_notes) < table[out[i, t - 1], notes]
        _, comparison = measure(out, 1, ds.config.low, [w[: steps - 1] for w in real])
        return quality_figures(comparison)

    return _cached(f"markov:{load_dataset(data).id}:{samples}:{steps}:{seed}", compute)


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


def listening_lines(t: dict) -> list[str]:
    """Return one sentence per pair of the blind listening test that involves a run of the sweep (runs by name and id)."""
    names = dict(zip(t["runs"]["id"], t["runs"]["name"], strict=True)) if "name" in t["runs"] else {}
    label = lambda c: f"{names[c]} ({c})" if c in names else c  # noqa: E731
    return [listening.sentence(r, label) for r in t.get("listening") or []]


def lr_stage_frame(study: dict | None) -> pd.DataFrame:
    """Return one row per lr-stage candidate of a study: config, lr, status, best_valid_nll, chosen (empty for a plain sweep)."""
    rows = []
    for label, c in ((study or {}).get("choices") or {}).items():
        for cand in c["candidates"]:
            rows.append({"config": label, **cand, "chosen": "yes" if cand["lr"] == c["lr"] else ""})
    return pd.DataFrame(rows, columns=["config", "lr", "status", "best_valid_nll", "chosen"])


def reliability_frame(calibration: dict[str, list[dict]]) -> pd.DataFrame:
    """Return one row per probability bin and one column per combination: 'predicted → observed (cells)'."""
    labels = list(calibration)
    if not labels:
        return pd.DataFrame()
    rows = []
    for i, b in enumerate(calibration[labels[0]]):
        row = {"bin": f"{b['lo']:.1f}–{b['hi']:.1f}"}
        for label in labels:
            c = calibration[label][i]
            row[label] = f"{c['predicted']:.3f} → {c['observed']:.3f} ({c['count']:,})" if c["count"] else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def _findings_md(f: dict) -> str:
    """Return the Markdown of the findings, the lr stage, statistics with baselines, pairwise tests and calibration."""
    out = ["\n## Findings\n\n"]
    out += [f"- **{x['question']}**: {x['sentence']}\n" for x in f["findings"]]
    study = f.get("study")
    if study and study.get("stage") == "lr":
        out.append(
            "\n## Learning-rate stage\n\nThis sweep is a study's learning-rate stage: every rate of the grid, one seed, "
            "so the rows below are per rate, not means over seeds. The choices and the seeds are in the seed-stage "
            "sweep's report.\n"
        )
    elif study:
        b = study.get("budget") or {}
        out.append(
            f"\n## Learning-rate stage\n\nGrid {', '.join(f'{lr:g}' for lr in study.get('lr_grid', []))}, one seed each; "
            f"budget: at most {b.get('max_epochs')} epochs, early stopping on validation {b.get('monitor', 'nll')} "
            f"after {b.get('patience')} epochs without improvement (best.pt kept); lr-stage sweep {study.get('lr_sweep')}. "
            "The chosen rate has the lowest best validation NLL; diverged runs are never chosen.\n\n"
        )
        out.append(_md_table(lr_stage_frame(study)))
        for label in study.get("left_out") or []:
            out.append(f"\n{label} is left out: {study['choices'][label]['reason']}.\n")
    out.append(
        "\n## Per combination (mean ± std [95% CI, t]) and baselines\n\n"
        + _md_table(summaries.stats_with_baselines(f["stats"], f["baselines"]))
    )
    out.append(
        "\n## Speed, stability and generation per combination (mean ± std over seeds)\n\n"
        "Generation: samples of each run's best checkpoint against the dataset's real test windows (below: the windows' "
        "own figures and the per-note Markov chain's samples).\n\n" + _md_table(summaries.dynamics_frame(f["runs"], f["real"]))
    )
    pairs = f["pairs"]
    if len(pairs):
        out.append(
            "\n## Pairwise tests\n\nWelch t-tests over seeds, p Holm-adjusted over the pairs of each criterion; "
            "Hedges' g of a − b.\n\n" + _md_table(pairs)
        )
    if f["calibration"]:
        ece = measures.counted(f["runs"]).groupby("config")["ece"].mean()
        rows = pd.DataFrame([{"config": k, "test ECE (mean over seeds)": ece.get(k, math.nan)} for k in f["calibration"]])
        out.append("\n## Calibration (test split, 10 equal-width bins)\n\n" + _md_table(rows))
        out.append(
            "\nReliability, the diagram as a table: per bin of predicted probability, the mean predicted probability → the "
            "observed frequency of an active note, cells pooled over seeds (a calibrated model has the two equal).\n\n"
            + _md_table(reliability_frame(f["calibration"]))
        )
    return "".join(out)


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_no rows_\n"
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def summary_frame(groups: pd.DataFrame) -> pd.DataFrame:
    """Return per combination 'mean ± std' strings of the shown columns, and n."""
    if groups.empty:
        return groups
    out = pd.DataFrame({"config": groups["config"], "n": groups["n"]})
    for c in SHOWN:
        if f"{c}_mean" in groups:
            out[c] = [
                f"{_fmt(m)} ± {_fmt(s)}" if not pd.isna(m) else "–"
                for m, s in zip(groups[f"{c}_mean"], groups[f"{c}_std"], strict=True)
            ]
    return out


def verdict_items(t: dict) -> list[dict]:
    """Return the study's verdict (study.verdict), [] for tables without findings."""
    return (t.get("study") or {}).get("verdict") or []


def to_markdown(t: dict) -> str:
    """Render the study as Markdown: the verdict, the findings, the questions with ranks (ties marked), every run."""
    s, runs, ranks = t["sweep"], t["runs"], t["ranks"]
    counts = runs["status"].value_counts().to_dict()
    diverged = int(runs["diverged"].fillna(False).astype(bool).sum()) if "diverged" in runs else 0
    verdict = "".join(f"- {line}\n" for line in verdict_lines(verdict_items(t)))
    out = [
        f"# Sweep {s['id']}: {s['name']}\n",
        f"\n## Verdict\n\n{verdict}\n" if verdict else "",
        f"Data `{s['config'].get('data')}`; runs: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + (f" ({diverged} of them diverged, left out)" if diverged else "")
        + ". Statistics over finished runs that did not diverge; mean ± std over seeds.\n",
        _findings_md(t["study"]) if t.get("study") else "",
        (
            "\n## Ranks per question\n\n"
            "Ranks: rank = 1 + the number of combinations significantly better (Welch t-test over seeds, Holm-adjusted "
            "p < 0.05 over all pairs), and those better by their mean where no test is possible; `tied with` lists those "
            "the seeds cannot tell apart; a group of one run is ranked by its mean and marked 'one seed: no test'.\n"
        ),
    ]
    if "head" in runs and (runs["head"] == "nade").any():
        out.append(
            "Heads: `+nade` marks the nade head. NLL is the exact NLL per step for both heads; a nade run's F1 and "
            "frame accuracy are those of its greedy note-by-note decoding at the validation-chosen threshold.\n"
        )
    for question, criteria in QUESTIONS.items():
        out.append(f"\n## {question}\n")
        for c in criteria:
            r = ranks[ranks["criterion"] == c] if len(ranks) else ranks
            if r.empty:
                out.append(f"- {c}: no data\n")
                continue
            better = "lower" if ranking.CRITERIA[c] else "higher"
            out.append(f"\n**{c}** ({better} is better)\n\n")
            out.append(
                _md_table(
                    r[["config", "rank", "mean", "std", "n", "tied_with", "note", "p_vs_best"]].rename(
                        columns={"tied_with": "tied with", "p_vs_best": "p vs best"}
                    )
                )
            )
    out.append("\n## Summary per combination\n\n" + _md_table(summary_frame(t["groups"])))
    if t["baselines"]:
        rows = pd.DataFrame(
            [
                {"baseline": k, **{m: v.get(m) for m in ("f1", "frame_acc", "pred_pos_rate", "density")}}
                for k, v in t["baselines"].items()
            ]
        )
        out.append("\n## Baselines (test split)\n\n" + _md_table(rows))
    cols = [
        "id",
        "config",
        "seed",
        "status",
        "diverged",
        "epochs_done",
        "best_valid_nll",
        "test_nll",
        "test_f1",
        "epochs_to_95",
        "loss_spread",
        "loss_spikes",
        "pos_rate_ratio",
        "gen_overlap",
    ]
    if listening_lines(t):
        out.append("\n## Blind listening test\n\n" + "".join(f"- {line}\n" for line in listening_lines(t)))
    out.append("\n## Runs\n\n" + _md_table(runs[cols]))
    return "".join(out)


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
            findings_html += "<h2>Learning-rate stage</h2>" + lr_stage_frame(f["study"]).to_html(index=False, na_rep="–")
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
        for name, df in (("Summary", summary_frame(t["groups"])), ("Ranks", t["ranks"]), ("Runs", t["runs"]))
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Sweep {t['sweep']['id']}</title></head><body>"
        f"<h1>Sweep {t['sweep']['id']}: {t['sweep']['name']}</h1>{findings_html}{tables}{listening_html}"
        f"<h2>Curves</h2>{''.join(parts)}</body></html>"
    )
