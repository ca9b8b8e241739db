"""The study report of a sweep: tables (study.stats, study.ranking), generation quality; as md, csv, json or html."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from musicgen.errors import ConfigError, MusicgenError
from musicgen.music import plots
from musicgen.music.piece import make_piece
from musicgen.paths import atomic_write, cache_dir
from musicgen.runs import store
from musicgen.study import ranking
from musicgen.study import stats as report
from musicgen.study.plan import latest_runs
from musicgen.training import checkpoint

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


def generation_overlap(run_id: str, samples: int = 4, steps: int = 64, seed: int = 0) -> float:
    """Return the mean overlapping area (0..1) of the music metrics of `samples` generations against the run's dataset; cached.

    The generations and the measure are `piece.make_piece`'s, the same as `generate --data` and the Generate page.
    """
    cache_path = cache_dir() / "gen_overlap.json"
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    ckpt_path = checkpoint.resolve_checkpoint(run_id)
    # "piece": values measured by piece.py's rules; older entries (another rule set) are not reused.
    key = f"piece:{run_id}:{ckpt_path.stat().st_mtime_ns}:{samples}:{steps}:{seed}"
    if key in cache:
        return float(cache[key])
    run = store.get_run(run_id)
    data = run["config"].get("data_path") or run["config"]["data"]
    piece = make_piece(run_id, steps, samples=samples, seed=seed, data=data, strategy="sample", temperature=1.0)
    value = float(np.nanmean([m["overlap"] for m in piece.comparison["metrics"].values()]))
    cache[key] = value
    with atomic_write(cache_path) as tmp:
        tmp.write_text(json.dumps(cache))
    return value


def study_tables(sweep_id: str, generation: bool = True, samples: int = 4, steps: int = 64) -> dict:
    """Return {"sweep", "runs", "groups", "ranks", "baselines"} for a sweep (finished runs only in the statistics)."""
    sweep = store.get_sweep(sweep_id)
    runs = list(latest_runs(sweep_id).values())
    table = report.run_table([r["id"] for r in runs])
    if generation:
        for i, row in table.iterrows():
            if row["status"] == "finished":
                try:
                    table.loc[i, "gen_overlap"] = generation_overlap(row["id"], samples, steps)
                except MusicgenError:
                    table.loc[i, "gen_overlap"] = math.nan  # no checkpoint here (e.g. a Ray storage path): no figure
    done = table[table["status"] == "finished"]
    groups = ranking.group_table(done) if len(done) else pd.DataFrame()
    ranks = (
        pd.concat(
            [ranking.rank_table(done, c, lower) for c, lower in ranking.CRITERIA.items() if done[c].notna().any()],
            ignore_index=True,
        )
        if len(done)
        else pd.DataFrame()
    )
    baselines = {}
    for r in runs:
        for name, b in ((r.get("summary") or {}).get("baselines") or {}).items():
            baselines.setdefault(name, b.get("test") or b.get("valid") or {})
    return {"sweep": sweep, "runs": table, "groups": groups, "ranks": ranks, "baselines": baselines}


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


def to_markdown(t: dict) -> str:
    """Render the study as Markdown: the four questions with ranks (ties marked), the summary and every run."""
    s, runs, ranks = t["sweep"], t["runs"], t["ranks"]
    counts = runs["status"].value_counts().to_dict()
    out = [
        f"# Sweep {s['id']}: {s['name']}\n",
        f"Data `{s['config'].get('data')}`; runs: "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + ". Statistics over finished runs; mean ± std over seeds.\n",
        (
            "Ranks: rank = 1 + the number of combinations significantly better (Welch t-test over seeds, p < 0.05); "
            "`tied with` lists those the seeds cannot tell apart.\n"
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
                    r[["config", "rank", "mean", "std", "n", "tied_with", "p_vs_best"]].rename(
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
    out.append("\n## Runs\n\n" + _md_table(runs[cols]))
    return "".join(out)


def render(t: dict, fmt: str) -> str:
    """Return the study in `fmt` (md, csv: one row per run, json, html: md tables plus curve figures)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "md":
        return to_markdown(t)
    if fmt == "csv":
        return t["runs"].to_csv(index=False)
    if fmt == "json":
        return json.dumps(
            {
                "sweep": t["sweep"],
                "runs": t["runs"].to_dict("records"),
                "groups": t["groups"].to_dict("records"),
                "ranks": t["ranks"].to_dict("records"),
                "baselines": t["baselines"],
            },
            default=_json_default,
            indent=1,
        )
    return to_html(t)


def _json_default(x):
    if isinstance(x, (np.integer, np.floating)):
        return None if np.isnan(x) else x.item()
    return str(x)


def to_html(t: dict) -> str:
    """Render the study as one self-contained HTML page (tables, then mean ± std curves)."""
    ids = [r for r in t["runs"].loc[t["runs"]["status"] == "finished", "id"]]
    figs = [("valid", "nll", "epoch"), ("valid", "f1_best", "epoch"), ("train", "loss", "epoch"), ("valid", "f1_best", "seconds")]
    parts = []
    for i, (split, metric, x) in enumerate(figs):
        bands = report.curve_bands(ids, metric, split, x=x)
        fig = plots.curves_figure(bands, f"{split} {metric} (mean ± std over seeds)", x_label=x, y_label=metric)
        parts.append(plots.figure_html(fig, include_plotlyjs=(i == 0)))
    tables = "".join(
        f"<h2>{name}</h2>" + df.to_html(index=False, na_rep="–", float_format=lambda v: f"{v:.4g}")
        for name, df in (("Summary", summary_frame(t["groups"])), ("Ranks", t["ranks"]), ("Runs", t["runs"]))
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Sweep {t['sweep']['id']}</title></head><body>"
        f"<h1>Sweep {t['sweep']['id']}: {t['sweep']['name']}</h1>{tables}<h2>Curves</h2>{''.join(parts)}</body></html>"
    )
