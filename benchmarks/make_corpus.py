"""Write N distinct MIDI files derived from real ones, to measure scale without downloads.

Each file splices 1-3 sections of real pieces (the Bach chorales of `builtin:bach`, or the MIDI files
under --from), each transposed by -5..+6 semitones and time-stretched by 0.5..2x; the same seed gives
the same files, byte for byte. Files land in OUT/000/000000.mid ... (1,000 per folder); a file whose
notes equal an earlier one's is drawn again, so all N are distinct.

    .venv/bin/python benchmarks/make_corpus.py 1000 /tmp/corpus [--seed 0] [--from ../shared/data/piano]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runs from a checkout without installing

TPQ = 480
STRETCH = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
PER_FOLDER = 1000


def read_sources(folder: Path | None) -> list[dict]:
    """Return the note arrays (time, duration, pitch, velocity in ticks of TPQ) of each readable MIDI file."""
    import symusic

    if folder is None:
        from musicgen.data.corpora import bach_midi_dir

        folder = bach_midi_dir()
    out = []
    for f in sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".mid", ".midi")):
        try:
            score = symusic.Score(str(f)).resample(TPQ, min_dur=1)
        except Exception:  # noqa: BLE001 - a broken source file is simply not used
            continue
        arrays = [t.notes.numpy() for t in score.tracks if not t.is_drum and len(t.notes)]
        if arrays:
            notes = {
                k: np.concatenate([a[k] for a in arrays]).astype(np.int64) for k in ("time", "duration", "pitch", "velocity")
            }
            out.append(notes)
    if not out:
        raise SystemExit(f"no readable MIDI file under {folder}")
    return out


def derive(sources: list[dict], rng: np.random.Generator) -> dict:
    """Return the notes of one new piece: 1-3 sections of random sources, each transposed and stretched, one after another."""
    parts, at = [], 0
    for _ in range(int(rng.integers(1, 4))):
        src = sources[int(rng.integers(len(sources)))]
        end = int((src["time"] + src["duration"]).max())
        a, b = sorted(int(v) for v in rng.integers(0, end + 1, size=2))
        b = max(b, a + 4 * TPQ)  # at least a bar of 4/4
        keep = (src["time"] >= a) & (src["time"] < b)
        if not keep.any():
            keep = np.ones(len(src["time"]), dtype=bool)
            a = 0
        stretch = STRETCH[int(rng.integers(len(STRETCH)))]
        shift = int(rng.integers(-5, 7))
        t = ((src["time"][keep] - a) * stretch).astype(np.int64) + at
        d = np.maximum((src["duration"][keep] * stretch).astype(np.int64), 1)
        parts.append(
            {"time": t, "duration": d, "pitch": np.clip(src["pitch"][keep] + shift, 0, 127), "velocity": src["velocity"][keep]}
        )
        at = int((t + d).max()) + TPQ  # a beat of rest between sections
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def midi_bytes(notes: dict) -> bytes:
    """Return a one-track MIDI file (TPQ ticks per quarter, 120 bpm) of the notes."""
    import symusic

    score = symusic.Score(TPQ)
    track = symusic.Track("piano")
    track.notes.extend(
        symusic.Note.from_numpy(
            time=notes["time"].astype(np.int32),
            duration=notes["duration"].astype(np.int32),
            pitch=notes["pitch"].astype(np.int8),
            velocity=notes["velocity"].astype(np.int8),
        )
    )
    score.tracks.append(track)
    return score.dumps_midi()


def make_corpus(n: int, out: Path, seed: int = 0, source: Path | None = None) -> list[Path]:
    """Write `n` distinct derived MIDI files under `out`; return their paths (the same for the same seed and sources)."""
    sources = read_sources(source)
    rng = np.random.default_rng(seed)
    seen, paths = set(), []
    for i in range(n):
        while True:
            data = midi_bytes(derive(sources, rng))
            digest = hashlib.sha256(data).digest()
            if digest not in seen:
                break
        seen.add(digest)
        path = Path(out) / f"{i // PER_FOLDER:03d}" / f"{i:06d}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, help="how many files to write")
    ap.add_argument("out", type=Path, help="folder to write them to")
    ap.add_argument("--seed", type=int, default=0, help="seed of the derivation (default 0)")
    ap.add_argument(
        "--from", dest="source", type=Path, default=None, help="folder of MIDI files to derive from (default: builtin:bach)"
    )
    args = ap.parse_args()
    if args.n < 1:
        raise SystemExit("N must be at least 1")
    t0 = time.perf_counter()
    paths = make_corpus(args.n, args.out, args.seed, args.source)
    size = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths):,} MIDI files ({size / 2**20:.1f} MiB) to {args.out} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
