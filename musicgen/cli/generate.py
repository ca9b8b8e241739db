"""Command `generate`: sample rolls from a checkpoint, write MIDI (and WAV), report music metrics."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from musicgen.errors import ConfigError, DataError, RenderError

DEFAULT_STEPS = 256


def register(sub) -> None:
    """Add `generate` to `sub`."""
    p = sub.add_parser("generate", help="generate music with a trained model; write MIDI and optionally WAV")
    p.add_argument("model", metavar="RUN_ID|CHECKPOINT|demo", help="run id, .pt file or folder, or a shipped name (demo)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help=f"length in steps, primer included (default {DEFAULT_STEPS})")
    length.add_argument("--seconds", type=float, help="length in seconds at --tempo on the checkpoint's time grid")
    p.add_argument("--out", required=True, help="MIDI file to write (.mid); with --samples N > 1: name_1.mid .. name_N.mid")
    p.add_argument("--wav", help="also render WAV (.wav) through FluidSynth; numbered like --out")
    s = p.add_argument_group("sampling")
    s.add_argument("--strategy", default="sample", help="sample|threshold|topk (default sample)")
    s.add_argument("--temperature", type=float, default=0.8,
                   help="divides the logits: < 1 sharper, > 1 wilder (default 0.8: the demo model is closest to the data there)")
    s.add_argument("--threshold", type=float, help="threshold strategy: note probability to play (default: the checkpoint's)")
    s.add_argument("--top-k", type=int, default=4, help="topk strategy: notes per step (default 4)")
    s.add_argument("--floor", type=float, default=0.05, help="topk strategy: least probability of a kept note (default 0.05)")
    s.add_argument("--max-polyphony", type=int, help="at most this many notes per step, the most likely kept")
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


def numbered(path: Path, count: int) -> list[Path]:
    """Return [path] for one file, else name_1.ext .. name_N.ext (zero-padded to the width of N)."""
    if count == 1:
        return [path]
    width = len(str(count))
    return [path.with_name(f"{path.stem}_{i + 1:0{width}d}{path.suffix}") for i in range(count)]


def check_writable(path: Path, suffixes: tuple[str, ...], option: str) -> Path:
    """Return `path` after checking its suffix and that its folder can be created and written."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"{option} {path} must end in {' or '.join(suffixes)}; e.g. {option} out{suffixes[0]}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise RenderError(f"cannot write to folder {path.parent} ({e.strerror or type(e).__name__}); choose another {option}") from None
    return path


def chunks(rolls, length: int) -> list[np.ndarray]:
    """Return the non-overlapping `length`-step pieces of each roll (a shorter roll stays whole)."""
    out = []
    for r in rolls:
        pieces = [r[i : i + length] for i in range(0, r.shape[0] - length + 1, length)]
        out.extend(pieces or [r])
    return out


def real_windows(ref: str, steps: int, low: int, n_notes: int) -> list[np.ndarray]:
    """Return the test windows of dataset `ref` (valid when test is empty), cut to `steps` and to their real length."""
    from musicgen.data.datasets import load_dataset

    ds = load_dataset(ref)
    if ds.config.low != low or ds.config.n_notes != n_notes:
        raise DataError(
            f"dataset {ds.name} covers MIDI {ds.config.low}..{ds.config.high - 1}, the model {low}..{low + n_notes - 1}; "
            "compare with a dataset built on the model's pitch range"
        )
    for split in ("test", "valid", "train"):
        rolls, lengths = ds.split(split)
        windows = [r[: min(int(n), steps)] for r, n in zip(rolls, lengths) if n > 0]
        if windows:
            return windows
    raise DataError(f"dataset {ds.name} has no sequences to compare with; build it from more files")


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
    import torch

    from musicgen.music.audio import check_soundfont, render_wav
    from musicgen.training.checkpoint import data_config_of, load_model
    from musicgen.music.generate import check_options, default_threshold, generate, load_primer, steps_from_seconds
    from musicgen.data.midi import write_midi
    from musicgen.music.quality import compare, music_metrics

    # Validate everything cheap before the model runs, so that a bad option leaves no file behind.
    out = check_writable(args.out, (".mid", ".midi"), "--out")
    wav = check_writable(args.wav, (".wav",), "--wav") if args.wav else None
    soundfont = check_soundfont(args.soundfont) if (wav or args.soundfont) else None
    if not 0 <= args.program <= 127:
        raise ConfigError(f"--program must be a General MIDI program 0..127, got {args.program}; e.g. --program 0")
    if not (math.isfinite(args.tempo) and args.tempo > 0):
        raise ConfigError(f"--tempo must be > 0 bpm, got {args.tempo}; e.g. --tempo 120")
    model, ckpt = load_model(args.model, args.device)
    cfg = data_config_of(ckpt)
    n_notes = model.cfg.n_notes
    if args.seconds is not None:
        steps = steps_from_seconds(args.seconds, cfg, args.tempo)
    else:
        steps = args.steps if args.steps is not None else DEFAULT_STEPS
    threshold = args.threshold if args.threshold is not None else default_threshold(ckpt)
    options = {"strategy": args.strategy, "temperature": args.temperature, "threshold": threshold, "top_k": args.top_k,
                   "floor": args.floor, "max_polyphony": args.max_polyphony, "min_notes": args.min_notes}
    check_options(steps, samples=args.samples, n_notes=n_notes, **options)
    if args.primer_steps is not None and args.primer_steps <= 0:
        raise ConfigError(f"--primer-steps must be >= 1, got {args.primer_steps}; e.g. --primer-steps 32")
    primer = load_primer(args.primer, cfg, args.primer_steps)
    primer_len = 0 if primer is None else primer.shape[0]
    real = real_windows(args.data, steps - primer_len, cfg.low, n_notes) if args.data else None

    # One step of a small batch is too small to split across threads; on a shared CPU the extra
    # threads mostly spin-wait, so generation runs on one.
    torch.set_num_threads(1)
    rolls = generate(model, steps, primer=primer, samples=args.samples, seed=args.seed, device=args.device, **options)

    grid = {"low": cfg.low, "steps_per_beat": cfg.steps_per_beat or 4, "fs": cfg.fs, "tempo_bpm": args.tempo, "program": args.program}
    midi_paths = numbered(out, args.samples)
    wav_paths = numbered(wav, args.samples) if wav else [None] * args.samples
    written: list[Path] = []
    results = []
    try:
        for i, roll in enumerate(rolls):
            write_midi(roll, midi_paths[i], **grid)
            written.append(midi_paths[i])
            entry = {"index": i + 1, "midi": str(midi_paths[i]), "wav": None, "backend": None}
            if wav_paths[i] is not None:
                info = render_wav(roll, wav_paths[i], soundfont=soundfont, sample_rate=args.sample_rate, **grid)
                written.append(wav_paths[i])
                entry.update(wav=str(wav_paths[i]), backend=info["backend"], duration_s=info["duration_s"])
            entry["metrics"] = music_metrics(roll[primer_len:], cfg.low)
            results.append(entry)
    except BaseException:
        for p in written:  # all or nothing: a failure halfway leaves none of this command's files
            Path(p).unlink(missing_ok=True)
        raise
    comparison = None
    if real is not None:
        # Compare like with like: the generated part in pieces as long as the dataset's windows
        # (pitch range and pitch classes grow with length).
        window = max(r.shape[0] for r in real)
        comparison = {"window_steps": window, **compare(chunks(rolls[:, primer_len:], window), real, cfg.low)}

    report = {
        "checkpoint": args.model, "steps": steps, "primer_steps": primer_len, "seed": args.seed, "samples": results,
        **options, "comparison": comparison,
    }
    if args.json:
        print(json.dumps(_clean(report), indent=2, allow_nan=False))
        return 0
    for e in results:
        m = e["metrics"]
        files = e["midi"] + (f", {e['wav']} ({e['backend']})" if e["wav"] else "")
        print(f"sample {e['index']}: {files}; {m['mean_polyphony']:.1f} notes/step, {m['empty_step_share']:.0%} silent steps, "
              f"scale consistency {m['scale_consistency']:.2f}")
    if comparison:
        print(f"{comparison['n_generated']} generated and {comparison['n_real']} real windows of {comparison['window_steps']} steps "
              f"({args.data}; primer excluded):")
        for v in comparison["metrics"].values():
            print("  " + v["reading"])
    return 0
