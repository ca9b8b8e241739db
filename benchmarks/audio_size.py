"""Size of what the Generate page sends to a browser: one generated piece as WAV, OGG Vorbis and FLAC.

Run: .venv/bin/python benchmarks/audio_size.py [--checkpoint demo] [--steps 2048] [--tempo 100]
Generates one sample (seed 0, the page's defaults), renders it once with FluidSynth and encodes the same
audio in each format (`musicgen.music.audio.encode_audio`); prints a Markdown table.
"""

from __future__ import annotations

import argparse

from common import machine, table

from musicgen.music.audio import AUDIO_FORMATS, DEFAULT_SAMPLE_RATE, encode_audio, render_audio
from musicgen.music.piece import make_piece


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="demo")
    ap.add_argument("--steps", type=int, default=2048)
    ap.add_argument("--tempo", type=float, default=100.0)
    args = ap.parse_args()
    piece = make_piece(args.checkpoint, args.steps, seed=0)
    cfg = piece.data_config
    grid = {"fs": cfg.fs} if cfg.fs else {"steps_per_beat": cfg.steps_per_beat, "tempo_bpm": args.tempo}
    audio, info = render_audio(piece.rolls[0], low=cfg.low, **grid)
    sizes = {fmt: len(encode_audio(audio, DEFAULT_SAMPLE_RATE, fmt)) for fmt in AUDIO_FORMATS}
    print(f"{machine()}; {args.checkpoint}, {args.steps} steps at {args.tempo:g} bpm: {audio.size / DEFAULT_SAMPLE_RATE:.0f} s")
    print(f"of mono audio at {DEFAULT_SAMPLE_RATE} Hz ({info['backend']})\n")
    rows = [[fmt, f"{n / 1e6:.2f}", f"{n / sizes['wav']:.3f}"] for fmt, n in sizes.items()]
    print(table(["format", "MB", "share of the WAV"], rows))


if __name__ == "__main__":
    main()
