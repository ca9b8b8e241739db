"""Preprocessing throughput: symusic vs pretty_midi paths, cold and cached, on real MIDI collections.

Writes the built-in Bach corpus and the JSB Chorales benchmark (if present) out as MIDI files with
`write_midi` into a temporary folder, then times `build_dataset` end to end (list, hash, parse,
roll, windows, split, write) with each parser, and a cached re-run.

    .venv/bin/python benchmarks/preprocess_speed.py [--workers N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from common import JSB_MAT  # also puts the repo root on sys.path: runs from a checkout without installing

from musicgen.parallel import map_isolated


def _write_collections(root: Path) -> dict[str, Path]:
    from musicgen.data.benchmark_files import read_benchmark
    from musicgen.data.corpora import bach_midi_dir
    from musicgen.data.midi import roll_from_midi, write_midi

    out = {}
    folder = root / "bach_midi"
    for f in sorted(bach_midi_dir().glob("*.mid")):  # the music21 chorales, converted and cached on first use
        roll, _ = roll_from_midi(f)
        write_midi(roll, folder / f.name)
    out["Bach chorales (builtin)"] = folder
    if JSB_MAT.is_file():
        folder = root / "jsb_midi"
        for split, seqs in read_benchmark(JSB_MAT).items():
            for i, x in enumerate(seqs):
                write_midi(x[:, 3:87], folder / f"{split}_{i:03d}.mid", steps_per_beat=1)
        out["JSB Chorales (write_midi)"] = folder
    return out


def _time_build(folder: Path, out: Path, parser: str, workers) -> tuple[float, dict]:
    from musicgen.data.datasets import build_dataset

    t0 = time.perf_counter()
    report = build_dataset([str(folder)], out, workers=workers, parser=parser)
    return time.perf_counter() - t0, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    ap.add_argument("--repeat", type=int, default=3, help="cold runs per path; the best is reported")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MUSICGEN_HOME"] = tmp
        root = Path(tmp)
        # A process's first pool also starts the worker server (musicgen.parallel); later pools fork from it.
        starts = []
        for _ in range(2):
            t0 = time.perf_counter()
            map_isolated(abs, [-1], workers=1)
            starts.append(time.perf_counter() - t0)
        print(f"a pool of one worker, one item: {starts[0]:.3f} s the first time (starts the server), {starts[1]:.3f} s after")
        t0 = time.perf_counter()
        collections = _write_collections(root)
        print(f"prepared MIDI collections in {time.perf_counter() - t0:.1f} s (includes the Bach conversion)")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print("| collection | files | notes | path | cold s | files/s | notes/s | cached s | speed-up |")
        print("|---|---|---|---|---|---|---|---|---|")
        for label, folder in collections.items():
            best = {}
            for parser in ("pretty_midi", "symusic"):
                runs = []
                for r in range(args.repeat if parser == "symusic" else 1):
                    out = root / f"ds_{parser}_{r}_{folder.name}"
                    runs.append(_time_build(folder, out, parser, args.workers))
                cold, report = min(runs, key=lambda x: x[0])
                cached, hit = _time_build(folder, out, parser, args.workers)
                assert hit["cached"], "the re-run should hit the cache"
                best[parser] = cold
                st = report["stats"]
                n_files = st["files_ok"] + st["files_skipped"]
                ratio = f"{best['pretty_midi'] / cold:.1f}x" if parser == "symusic" else "1.0x"
                print(
                    f"| {label} | {n_files} | {st['notes']:,} | {parser} | {cold:.3f} | {n_files / cold:,.0f} | "
                    f"{st['notes'] / cold:,.0f} | {cached:.3f} | {ratio} |"
                )


if __name__ == "__main__":
    main()
