"""What the sustain pedal's decay limit does to a real collection (issue 21): notes sounding at once, per split and piece.

For each decay limit (seconds at middle C; none: held until the pedal lifts; off: no pedal), reads every MIDI file of
FOLDER with the product's defaults otherwise and prints the mean polyphony (notes sounding per sounding step) of each
split, the notes the pedal lengthened, and the mean polyphony of each test piece. The split is the one `preprocess`
makes of FOLDER (its seed-0 file split, taken from the dataset NAME under MUSICGEN_HOME).

    MUSICGEN_HOME=/tmp/mgh-piano .venv/bin/python benchmarks/piano_pedal.py [FOLDER] --name piano --decays none,8,4,3,2,1,off
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import ROOT, table  # also puts the repo root on sys.path

from musicgen.config import DataConfig
from musicgen.data.datasets import load_dataset
from musicgen.data.midi import notes_from_symusic, roll_from_notes


def config(decay: str) -> DataConfig:
    if decay == "off":
        return DataConfig(pedal=False)
    return DataConfig(pedal_decay_s=None if decay == "none" else float(decay))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default=str(ROOT.parent / "shared" / "data" / "piano"))
    ap.add_argument("--name", default="piano", help="a dataset built from FOLDER, for its file split")
    ap.add_argument("--decays", default="none,8,4,3,2,1,off")
    args = ap.parse_args()
    split = {f["file"]: f.get("split") for f in load_dataset(args.name).report["files"]}
    files = sorted(Path(args.folder).glob("*.mid"))
    tables = [notes_from_symusic(f, f.name) for f in files]
    tests = [f.name for f in files if split.get(f.name) == "test"]
    rows, pieces = [], {name: [name] for name in tests}
    for decay in args.decays.split(","):
        cfg = config(decay)
        sums = {s: [0, 0] for s in ("train", "valid", "test")}
        extended = 0
        for f, notes in zip(files, tables, strict=True):
            roll, info = roll_from_notes(notes, cfg, f.name)
            sounding = (roll > 0).sum(1)
            sounding = sounding[sounding > 0]
            extended += info["pedal_extended"]
            if split.get(f.name) in sums:
                sums[split[f.name]][0] += int(sounding.sum())
                sums[split[f.name]][1] += len(sounding)
            if f.name in pieces:
                pieces[f.name].append(round(float(sounding.mean()), 1))
        rows.append([decay, *(round(a / max(b, 1), 2) for a, b in sums.values()), extended])
    print(
        table(["pedal decay (s at middle C)", "train polyphony", "valid polyphony", "test polyphony", "pedal-held notes"], rows)
    )
    print()
    print(table(["test piece", *(f"polyphony, decay {d}" for d in args.decays.split(","))], list(pieces.values())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
