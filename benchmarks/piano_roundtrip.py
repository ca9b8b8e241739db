"""MIDI -> roll -> MIDI on a real collection: notes kept with their onset and quantized end, re-strikes, the pedal.

    .venv/bin/python benchmarks/piano_roundtrip.py [FOLDER] [--steps-per-beat 4] [--pedal on|off] [--pedal-decay 3]

FOLDER defaults to the team's piano collection (../shared/data/piano). Prints one Markdown table row per grid.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import ROOT, table  # also puts the repo root on sys.path

from musicgen.config import DataConfig
from musicgen.data.roundtrip import round_trip as file_round_trip

PIANO = ROOT.parent / "shared" / "data" / "piano"
KEYS = ("notes", "merged_notes", "notes_on_grid", "restrikes", "pedal_extended", "kept_onsets", "kept_ends", "notes_back")


def round_trip(files, cfg: DataConfig, parser: str = "symusic") -> dict:
    """Return the summed round-trip counts of `files` (musicgen.data.roundtrip), with `files` and `same_roll` counts."""
    total = dict.fromkeys(KEYS, 0) | {"files": 0, "same_roll": 0}
    for f in files:
        counts = file_round_trip(Path(f).read_bytes(), cfg, parser, Path(f).name)
        for k in KEYS:
            total[k] += counts[k]
        total["files"] += 1
        total["same_roll"] += counts["same_roll"]
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default=str(PIANO))
    ap.add_argument("--steps-per-beat", type=int, nargs="+", default=[4, 8, 12])
    ap.add_argument("--pedal", choices=["on", "off"], default="on")
    ap.add_argument(
        "--pedal-decay", type=float, default=DataConfig().pedal_decay_s, help="seconds at middle C; 0: no limit (default 3)"
    )
    ap.add_argument("--parser", choices=["symusic", "pretty_midi"], default="symusic")
    args = ap.parse_args()
    files = sorted(Path(args.folder).glob("*.mid"))
    if not files:
        print(f"no .mid files in {args.folder}", file=sys.stderr)
        return 2
    rows = []
    for spb in args.steps_per_beat:
        c = round_trip(
            files, DataConfig(steps_per_beat=spb, pedal=args.pedal == "on", pedal_decay_s=args.pedal_decay or None), args.parser
        )
        grid = c["notes_on_grid"]
        rows.append(
            [
                spb,
                c["files"],
                c["notes"],
                c["restrikes"],
                c["pedal_extended"],
                c["merged_notes"],
                grid,
                f"{c['kept_onsets'] / grid:.4%}",
                f"{c['kept_ends'] / grid:.4%}",
                c["notes_back"] == grid,
                c["same_roll"],
            ]
        )
    header = [
        "steps/beat",
        "files",
        "notes read",
        "re-strikes",
        "pedal-held",
        "merged on the grid",
        "grid notes",
        "onsets kept",
        "onset+end kept",
        "count equal",
        "files whose roll comes back equal",
    ]
    print(f"{args.folder}, parser {args.parser}, pedal {args.pedal}, pedal decay {args.pedal_decay or 'none'} s at middle C")
    print(table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
