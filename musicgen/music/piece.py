"""The one path from a model to music: generate, write MIDI/WAV, measure against a dataset.

The `generate` command, the Generate page and the study document all go through `make_piece`
(and `write_piece` for files), so one rule set measures every generation:
- the primer is not the model's music: metrics cover the generated steps only;
- the reference is the dataset's test split, else valid, else train (a small dataset may leave a
  split empty), each window cut to its real length and to the generated length;
- the dataset must cover the model's pitch range (same lowest pitch and number of notes);
- generated music is compared in pieces as long as the longest reference window, since pitch
  range and pitch classes grow with length.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from musicgen.config import DataConfig
from musicgen.data.datasets import load_dataset
from musicgen.data.midi import write_midi
from musicgen.errors import CheckpointError, ConfigError, DataError, OutputError, write_failure
from musicgen.music import audio
from musicgen.music.generate import default_temperature, default_threshold, generate, note_by_note
from musicgen.music.primers import load_primer
from musicgen.music.quality import compare, music_metrics
from musicgen.music.strategies import check_options
from musicgen.ranges import SEED
from musicgen.runs import store
from musicgen.training import checkpoint
from musicgen.training.evaluate import check_pitch_range

# What a generation may vary besides its length, seed and primer; the CLI's defaults.
DEFAULT_OPTIONS = {
    "strategy": "sample",
    "temperature": None,  # None: the checkpoint's (musicgen.music.generate.default_temperature)
    "threshold": None,
    "top_k": 4,
    "floor": 0.05,
    "max_polyphony": None,
    "min_notes": 0,
}


@dataclass(frozen=True)
class Piece:
    """Generated rolls and their measures, before or after they are written to files."""

    rolls: np.ndarray  # uint8 (samples, steps, notes), the primer at the start of each
    primer_steps: int
    data_config: DataConfig  # the checkpoint's pitch range and time grid
    options: dict  # DEFAULT_OPTIONS' keys, the threshold resolved
    seed: int
    data: str | None  # the reference dataset, None when not measured against one
    metrics: list[dict]  # music_metrics of each sample's generated steps
    comparison: dict | None  # {"window_steps", "n_generated", "n_real", "metrics"} (quality.compare), None without data
    files: list[dict] = field(default_factory=list)  # write_piece's entries

    @property
    def steps(self) -> int:
        """Return the length of each roll in steps, primer included."""
        return int(self.rolls.shape[1])


def chunks(rolls, length: int) -> list[np.ndarray]:
    """Return the non-overlapping `length`-step pieces of each roll (a shorter roll stays whole)."""
    out = []
    for r in rolls:
        pieces = [r[i : i + length] for i in range(0, r.shape[0] - length + 1, length)]
        out.extend(pieces or [r])
    return out


def reference_windows(ref: str, steps: int, low: int, n_notes: int) -> list[np.ndarray]:
    """Return the test windows of dataset `ref` (valid, then train, when test is empty), cut to their real length and `steps`.

    Whole test pieces are cut into consecutive windows of min(steps, seq_len) steps.
    """
    ds = load_dataset(ref)
    check_pitch_range({"low": low, "high": low + n_notes}, ds)
    for split in ("test", "valid", "train"):
        rolls, lengths = ds.split(split)
        windows = [r[: min(int(n), steps)] for r, n in zip(rolls, lengths, strict=True) if n > 0]
        if ds.scoring == "whole pieces" and split != "train":  # whole pieces: cut as the windows were, without overlap
            windows = chunks([r[: int(n)] for r, n in zip(rolls, lengths, strict=True) if n > 0], min(steps, ds.config.seq_len))
        if windows:
            return windows
    raise DataError(f"dataset {ds.name} has no sequences to compare with; build it from more files")


def measure(rolls, primer_steps: int, low: int, real: list | None = None) -> tuple[list[dict], dict | None]:
    """Return (music metrics of each roll's generated steps, the comparison with `real` windows or None)."""
    generated = np.asarray(rolls)[:, primer_steps:]  # (samples, steps - primer, notes)
    metrics = [music_metrics(r, low) for r in generated]
    if real is None:
        return metrics, None
    window = max(r.shape[0] for r in real)
    return metrics, {"window_steps": window, **compare(chunks(generated, window), real, low)}


def load(model, device="cpu") -> tuple:
    """Return (model, checkpoint dict) for a checkpoint ref, or the pair itself when given one."""
    if isinstance(model, str | Path):
        return checkpoint.load_model(str(model), device)
    return model


def make_piece(
    model,
    steps: int,
    *,
    primer=None,
    primer_steps: int | None = None,
    samples: int = 1,
    seed: int = 0,
    data: str | None = None,
    device="cpu",
    **options,
) -> Piece:
    """Generate `samples` rolls of `steps` steps and measure them against dataset `data` (when given).

    `model` is a checkpoint ref (run id, .pt file or folder, shipped name) or the (model, checkpoint)
    pair of `checkpoint.load_model`. `primer` is a .mid path, 'DATASET:FILE:OFFSET' or None;
    `primer_steps` its length (default: 32 from a dataset, the whole MIDI file). `options` are
    DEFAULT_OPTIONS' (threshold None: the checkpoint's); a nade model takes strategies sample and
    threshold (music.generate says why). Every option, the primer and the reference are checked
    before the model runs.
    """
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown generation options {unknown}; use {', '.join(DEFAULT_OPTIONS)}")
    net, ckpt = load(model, device)
    cfg = checkpoint.data_config_of(ckpt)
    n_notes = net.cfg.n_notes
    opts = {**DEFAULT_OPTIONS, **options}
    if opts["threshold"] is None:
        opts["threshold"] = default_threshold(ckpt)
    if opts["temperature"] is None:
        opts["temperature"] = default_temperature(ckpt)
    check_options(steps, samples=samples, n_notes=n_notes, independent=not note_by_note(net), **opts)
    SEED.check("seed", seed)  # the configs' range: torch refuses past 2**64 in a traceback
    if primer_steps is not None and primer_steps <= 0:
        raise ConfigError(f"--primer-steps must be >= 1, got {primer_steps}; e.g. --primer-steps 32")
    prime = load_primer(primer, cfg, primer_steps)
    primer_len = 0 if prime is None else prime.shape[0]
    real = reference_windows(data, steps - primer_len, cfg.low, n_notes) if data else None

    rolls = generate(net, steps, primer=prime, samples=samples, seed=seed, device=device, **opts)
    metrics, comparison = measure(rolls, primer_len, cfg.low, real)
    return Piece(
        rolls=rolls,
        primer_steps=primer_len,
        data_config=cfg,
        options=opts,
        seed=int(seed),
        data=data,
        metrics=metrics,
        comparison=comparison,
    )


def numbered(path: Path, count: int) -> list[Path]:
    """Return [path] for one file, else name_1.ext .. name_N.ext (zero-padded to the width of N)."""
    if count == 1:
        return [path]
    width = len(str(count))
    return [path.with_name(f"{path.stem}_{i + 1:0{width}d}{path.suffix}") for i in range(count)]


def write_piece(
    piece: Piece,
    midi_path,
    wav_path=None,
    *,
    tempo_bpm: float = 120.0,
    program: int = 0,
    soundfont=None,
    sample_rate: int = 44100,
) -> Piece:
    """Write each sample as MIDI (and WAV), numbered when there are several; return the piece with its `files`.

    Each entry of `files` is {"index", "midi", "wav", "backend", "metrics"} (and "duration_s" with a
    WAV). All or nothing: a failure halfway removes the files already written. A file that cannot be
    written (a full or read-only disk, a folder in the way) raises OutputError naming it and the cause.
    """
    cfg = piece.data_config
    grid = {"low": cfg.low, "steps_per_beat": cfg.steps_per_beat or 4, "fs": cfg.fs, "tempo_bpm": tempo_bpm, "program": program}
    count = len(piece.rolls)
    midi_paths = numbered(Path(midi_path), count)
    wav_paths = numbered(Path(wav_path), count) if wav_path else [None] * count
    written: list[Path] = []
    files = []
    try:
        for i, roll in enumerate(piece.rolls):
            try:
                write_midi(roll, midi_paths[i], **grid)
            except OSError as e:
                raise OutputError(f"cannot write MIDI file {write_failure(midi_paths[i], e)}") from None
            written.append(midi_paths[i])
            entry = {"index": i + 1, "midi": str(midi_paths[i]), "wav": None, "backend": None}
            if wav_paths[i] is not None:
                info = audio.render_wav(roll, wav_paths[i], soundfont=soundfont, sample_rate=sample_rate, **grid)
                written.append(wav_paths[i])
                entry.update(wav=str(wav_paths[i]), backend=info["backend"], duration_s=info["duration_s"])
            entry["metrics"] = piece.metrics[i]
            files.append(entry)
    except BaseException:
        for p in written:
            Path(p).unlink(missing_ok=True)
        raise
    return replace(piece, files=files)


def metrics_rows(piece: Piece) -> list[dict]:
    """Return one row per music metric: the generated mean and, with a reference, the dataset's mean, std and the reading."""
    if piece.comparison is None:
        return [{"metric": k, "generated": _finite_mean([m[k] for m in piece.metrics])} for k in piece.metrics[0]]
    return [
        {
            "metric": k,
            "generated": m["generated_mean"],
            "dataset": m["real_mean"],
            "dataset std": m["real_std"],
            "reading": m["reading"],
        }
        for k, m in piece.comparison["metrics"].items()
    ]


def _finite_mean(values: list[float]) -> float:
    v = np.asarray(values, dtype=np.float64)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")


def training_dataset(ckpt: dict, built: list[dict]) -> str | None:
    """Return the name of the built dataset a checkpoint was trained on, None when none of `built` is it.

    `built` is `datasets.list_datasets()`. The checkpoint's dataset id (its content hash) decides; a
    checkpoint without one is matched by the dataset it names (`data_path`, e.g. builtin:bach -> bach).
    """
    by_id = [d["name"] for d in built if ckpt.get("dataset_id") and d.get("id") == ckpt.get("dataset_id")]
    if by_id:
        return by_id[0]
    named = Path(str(ckpt.get("data_path") or "")).name.removeprefix("builtin:")
    return named if named and named in {d["name"] for d in built} and not ckpt.get("dataset_id") else None


def checkpoint_choices() -> dict[str, str]:
    """Return {checkpoint ref: label}: the shipped ones that exist, then every run that has a checkpoint."""
    out = {}
    for name in checkpoint.SHIPPED:
        try:
            checkpoint.resolve_checkpoint(name)
            out[name] = f"{name} (shipped)"
        except CheckpointError:
            pass
    for r in store.list_runs().to_dict("records"):
        try:
            checkpoint.resolve_checkpoint(r["id"])
        except CheckpointError:
            continue
        out[r["id"]] = f"{r['name']} ({r['id']}, {r['status']})"
    return out
