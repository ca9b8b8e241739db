"""The study document as Markdown: the verdict, the findings, the lr stage, the questions with ranks, every run.

`to_markdown(t)` renders `document.study_tables`' tables; `listening_lines` and `verdict_items` are the
lines that every form of the document (`document.render`) shows.
"""

from __future__ import annotations

import math

import pandas as pd

from musicgen.music import listening
from musicgen.study import measures, ranking, summaries
from musicgen.study.verdict import verdict_lines

# The course work's four questions and the criteria (ranking.CRITERIA) that answer each.
QUESTIONS = {
    "1. Training stability": ["loss_spread", "loss_spikes"],
    "2. Convergence speed": ["epochs_to_95", "seconds_to_95"],
    "3. Generation quality": ["gen_overlap"],
    "4. Sparse targets": ["test_f1", "pos_rate_error", "test_nll", "best_valid_nll", "best_valid_f1"],
}


def listening_lines(t: dict) -> list[str]:
    """Return one sentence per pair of the blind listening test that involves a run of the sweep (runs by name and id)."""
    names = dict(zip(t["runs"]["id"], t["runs"]["name"], strict=True)) if "name" in t["runs"] else {}
    label = lambda c: f"{names[c]} ({c})" if c in names else c  # noqa: E731
    return [listening.sentence(r, label) for r in t.get("listening") or []]


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
        out.append(_md_table(summaries.lr_stage_frame(study)))
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
            + _md_table(summaries.reliability_frame(f["calibration"]))
        )
    return "".join(out)


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_no rows_\n"
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(summaries.cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


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
    out.append("\n## Summary per combination\n\n" + _md_table(summaries.summary_frame(t["groups"])))
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
