"""Onset prediction on piano MIDI (issue 21): each head against the onset baselines, on the file-split test set.

Builds (or reuses) the onset-aware dataset of a MIDI folder with the product's defaults, trains each
head through `python -m musicgen train` (the defaults, `--epochs`, one thread), and reads `evaluate
--json` of each run on the test split: the model's and every baseline's onset F1 (at the threshold
chosen on validation) and NLL per step (total, sounding part, onset part). Then checks the issue's
targets: the best head's onset F1 at least twice the onset-aware Markov chain's and above the
beat-position prior's, and its NLL at least 1 nat per step below the chain's.

    MUSICGEN_HOME=/tmp/mgh-piano .venv/bin/python benchmarks/piano_onsets.py --midi ../shared/data/piano --epochs 4
    MUSICGEN_HOME=/tmp/mgh-piano .venv/bin/python benchmarks/piano_onsets.py --runs RUN_A,RUN_B --splits test,valid
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import ROOT, append_report, table

BASELINES = ("copy_previous", "markov", "beat_prior")
COLUMNS = ("onset_f1", "onset_precision", "onset_recall", "nll", "nll_sound", "nll_onset", "f1_best")


def musicgen(*args: str) -> dict:
    """Run `python -m musicgen ARGS --json` and return its last JSON line."""
    out = subprocess.run([sys.executable, "-m", "musicgen", *args, "--json"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"musicgen {' '.join(args)} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def row(label: str, m: dict) -> list:
    return [label, *(m[k] if isinstance(m.get(k), int | float) else "–" for k in COLUMNS)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--midi", default=str(ROOT.parent / "shared" / "data" / "piano"), help="folder of MIDI files")
    ap.add_argument("--name", default="piano", help="dataset name under MUSICGEN_HOME")
    ap.add_argument("--heads", default="independent,nade")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--extra", default="", help="more train options for every head, e.g. '--position'")
    ap.add_argument("--runs", help="comma-separated runs already trained on the dataset (skips training)")
    ap.add_argument("--splits", default="test", help="comma-separated splits to evaluate, e.g. test,valid")
    ap.add_argument("--md", help="append the table to this Markdown file (e.g. BENCHMARKS.md)")
    args = ap.parse_args()

    report = musicgen("preprocess", args.midi, "--name", args.name)
    if args.runs:
        runs = args.runs.split(",")
    else:
        runs = []
        for head in args.heads.split(","):
            train = ["--data", args.name, "--head", head, "--epochs", str(args.epochs), "--threads", "1", *args.extra.split()]
            runs.append(musicgen("train", *train)["id"])
    body = f"Dataset {args.name} ({report.get('files_ok')} files), thresholds chosen on validation."
    for split in args.splits.split(","):
        results = [musicgen("evaluate", run, "--data", args.name, "--split", split) for run in runs]
        rows = [row(f"{r['run_id']} ({r['inputs']})", r["metrics"]) for r in results]
        base = results[0]["baselines"]
        rows += [row(f"baseline {k}", base[k]) for k in BASELINES if k in base]
        best = max(results, key=lambda r: r["metrics"]["onset_f1"])["metrics"]
        markov, prior = base["markov"], base.get("beat_prior", {})
        checks = [
            f"onset F1 {best['onset_f1']:.4f} >= 2 x Markov's {markov['onset_f1']:.4f}: "
            f"{best['onset_f1'] >= 2 * markov['onset_f1']}",
            f"onset F1 above the beat prior's {prior.get('onset_f1', float('nan')):.4f}: "
            f"{best['onset_f1'] > prior.get('onset_f1', float('inf'))}",
            f"NLL {best['nll']:.4f} <= Markov's {markov['nll']:.4f} - 1: {best['nll'] <= markov['nll'] - 1}",
        ]
        body += (
            f"\n\n**{split}** (scored on {results[0]['scoring']}):\n\n{table(['model', *COLUMNS], rows)}\n\n"
            "Targets (best head by onset F1): " + "; ".join(checks)
        )
    append_report(args.md, "Piano onsets (issue 21)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
