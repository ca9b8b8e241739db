"""Command `generate`: sample rolls from a checkpoint, write MIDI (and WAV), report music metrics."""

from __future__ import annotations

import json
import math

import numpy as np

from musicgen.cli import check_writable
from musicgen.errors import ConfigError

DEFAULT_STEPS = 256


def register(sub) -> None:
    """Add `generate` to `sub`."""
    p = sub.add_parser("generate", help="generate music with a trained model; write MIDI and optionally WAV")
    p.add_argument("model", metavar="RUN_ID|CHECKPOINT|demo", help="run id, .pt file or folder, or a shipped name (demo)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help=f"length in steps, primer included (default {DEFAULT_STEPS})")
    length.add_argument("--seconds", type=float, help="length in seconds at --tempo on the checkpoint's time grid")
    p.add_argument("--out", required=True, help="MIDI file to write (.mid); with --samples N > 1: name_1.mid .. name_N.mid")
    p.add_argument(
        "--wav", help="also render audio through FluidSynth (.wav, or .ogg/.flac with --audio-format); numbered like --out"
    )
    p.add_argument(
        "--audio-format",
        choices=("wav", "ogg", "flac"),
        default="wav",
        help="format of the --wav file: wav (16-bit), ogg (Vorbis, ~1/13 of the WAV) or flac (lossless, ~1/4) (default wav)",
    )
    s = p.add_argument_group("sampling")
    s.add_argument(
        "--strategy",
        default="sample",
        help="sample|threshold|topk (default sample); a nade model: sample (note by note) or threshold (greedy decoding)",
    )
    s.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="divides the logits: < 1 sharper, > 1 wilder (default: the checkpoint's, chosen on validation as the one whose "
        "samples are closest to the data; 0.8 for checkpoints from before that)",
    )
    s.add_argument("--threshold", type=float, help="threshold strategy: note probability to play (default: the checkpoint's)")
    s.add_argument("--top-k", type=int, default=4, help="topk strategy: notes per step (default 4)")
    s.add_argument("--floor", type=float, default=0.05, help="topk strategy: least probability of a kept note (default 0.05)")
    s.add_argument(
        "--max-polyphony", type=int, help="at most this many notes per step, the most likely kept (nade: the first ones decided)"
    )
    s.add_argument("--min-notes", type=int, default=0, help="at least this many notes per step, the most likely added")
    s.add_argument("--samples", type=int, default=1, help="rolls to generate in one batch (default 1)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--primer", help="DATASET:FILE:OFFSET (e.g. builtin:bach:<file>:0) or a .mid file to continue")
    s.add_argument("--primer-steps", type=int, help="steps of the primer (default: 32 from a dataset, the whole MIDI file)")
    o = p.add_argument_group("output")
    o.add_argument("--tempo", type=float, default=120.0, help="beats per minute of the MIDI/WAV (default 120)")
    o.add_argument("--program", type=int, default=0, help="General MIDI program 0..127 (default 0: piano; 19: church organ)")
    o.add_argument("--soundfont", help=".sf2 file for the WAV (default: TimGM6mb.sf2 shipped with pretty_midi)")
    o.add_argument("--sample-rate", type=int, default=44100, help="WAV sample rate in Hz (default 44100)")
    o.add_argument("--data", help="compare the music metrics with this dataset's test windows (e.g. builtin:bach)")
    o.add_argument("--json", action="store_true", help="print files, metrics and the comparison as JSON")
    o.add_argument("--device", default="cpu", help="cpu|cuda (default cpu: one step of a small batch is fastest there)")
    p.set_defaults(func=cmd_generate)


def _clean(obj):
    """Return obj with nan/inf floats as None, numpy scalars as Python numbers (strict JSON)."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def cmd_generate(args) -> int:
    """Generate, write the files, print what was written (and metrics)."""
    from musicgen.music import piece as pieces
    from musicgen.music.audio import check_soundfont
    from musicgen.music.generate import steps_from_seconds
    from musicgen.training.checkpoint import data_config_of

    # Validate everything cheap before the model runs, so that a bad option leaves no file behind.
    out = check_writable(args.out, (".mid", ".midi"), "--out")
    wav = check_writable(args.wav, (f".{args.audio_format}",), "--wav") if args.wav else None
    soundfont = check_soundfont(args.soundfont) if (wav or args.soundfont) else None
    if not 0 <= args.program <= 127:
        raise ConfigError(f"--program must be a General MIDI program 0..127, got {args.program}; e.g. --program 0")
    if not (math.isfinite(args.tempo) and args.tempo > 0):
        raise ConfigError(f"--tempo must be > 0 bpm, got {args.tempo}; e.g. --tempo 120")
    model, ckpt = pieces.load(args.model, args.device)
    if args.seconds is not None:
        steps = steps_from_seconds(args.seconds, data_config_of(ckpt), args.tempo)
    else:
        steps = args.steps if args.steps is not None else DEFAULT_STEPS
    options = {
        "strategy": args.strategy,
        "temperature": args.temperature,
        "threshold": args.threshold,
        "top_k": args.top_k,
        "floor": args.floor,
        "max_polyphony": args.max_polyphony,
        "min_notes": args.min_notes,
    }
    piece = pieces.make_piece(
        (model, ckpt),
        steps,
        primer=args.primer,
        primer_steps=args.primer_steps,
        samples=args.samples,
        seed=args.seed,
        data=args.data,
        device=args.device,
        **options,
    )
    piece = pieces.write_piece(
        piece, out, wav, tempo_bpm=args.tempo, program=args.program, soundfont=soundfont, sample_rate=args.sample_rate
    )
    comparison = piece.comparison
    report = {
        "checkpoint": args.model,
        "steps": steps,
        "primer_steps": piece.primer_steps,
        "seed": args.seed,
        "samples": piece.files,
        **piece.options,
        "comparison": comparison,
    }
    if args.json:
        print(json.dumps(_clean(report), indent=2, allow_nan=False))
        return 0
    for e in piece.files:
        m = e["metrics"]
        files = e["midi"] + (f", {e['wav']} ({e['backend']})" if e["wav"] else "")
        print(
            f"sample {e['index']}: {files}; {m['mean_polyphony']:.1f} notes/step, {m['empty_step_share']:.0%} silent steps, "
            f"scale consistency {m['scale_consistency']:.2f}"
        )
    if comparison:
        print(
            f"{comparison['n_generated']} generated and {comparison['n_real']} real windows "
            f"of {comparison['window_steps']} steps "
            f"({args.data}; primer excluded):"
        )
        for v in comparison["metrics"].values():
            print("  " + v["reading"])
    return 0
