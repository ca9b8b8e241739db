"""MIDI <-> piano-roll: the only module that knows MIDI files.

Array convention, once for the whole package: a roll is `(steps, notes)` uint8 of 0/1, column j
is MIDI pitch `low + j`; a batch of rolls is `(batch, steps, notes)`.

Time grid: with `steps_per_beat` a step is 1/steps_per_beat of a quarter note, following the
file's tempo map (computed on ticks, exactly); with `fs` a step is 1/fs seconds. A note covers
the steps from round(start) to round(end), and at least one step.

Memory: a file's length in steps is known from its notes before its roll is built, and a file
longer than MAX_STEPS_PER_FILE is refused there (MidiError); building a roll then needs the roll
and at most ~128 MiB more, whatever the notes (a 36-byte file can hold one note a million steps long).

Two parsers give the same notes: symusic (C++, fast, the default) and pretty_midi (the
reference). Known differences, both on ambiguous files: pretty_midi ignores tempo changes outside
the first track (it warns; symusic honours them, which matters only with `fs`), and overlapping
notes of one pitch on one channel may pair differently. pretty_midi also writes MIDI.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musicgen.config import DataConfig
from musicgen.errors import ConfigError, MidiError
from musicgen.paths import atomic_write

PARSERS = ("symusic", "pretty_midi")
# Tolerance for float noise at exact half steps, so that both parsers round ties the same way.
_TIE_EPS = 1e-9
# The longest roll one file may give: 36 hours at 4 steps per beat and 120 bpm; 9 minutes on the finest grid
# (960 steps per beat), 17 at --fs 1000. Its roll is at most 128 MiB (128 notes), and takes ~128 MiB more to build.
MAX_STEPS_PER_FILE = 2**20
# Notes covering up to this many cells are expanded into them at once (fast; 4 int64 arrays of 32 MiB at most);
# more (long or overlapping notes) are summed one pitch at a time (bounded by the roll, whatever the notes).
_FAST_CELLS = 2**22


@dataclass
class NoteTable:
    """The non-drum notes of one file: pitch, start and end (ticks and seconds), int/float arrays (n,)."""

    pitch: np.ndarray  # int64 (n,)
    start_tick: np.ndarray  # int64 (n,)
    end_tick: np.ndarray  # int64 (n,)
    start_s: np.ndarray | None  # float64 (n,); None: computed from `tempo_map` when a fixed-rate grid needs it
    end_s: np.ndarray | None
    tpq: int  # ticks per quarter note
    drum_notes: int  # notes on drum tracks (dropped)
    tempo_map: tuple | None = None  # (ticks int64 (k,), microseconds per quarter int64 (k,))


def _seconds_from_ticks(ticks: np.ndarray, tempo_ticks: np.ndarray, mspq: np.ndarray, tpq: int) -> np.ndarray:
    """Return seconds (float64) of absolute `ticks` under a tempo map of (tick, microseconds per quarter)."""
    if len(tempo_ticks) == 0 or tempo_ticks[0] != 0:  # MIDI's default tempo is 120 bpm until the first change
        tempo_ticks = np.concatenate([[0], tempo_ticks])
        mspq = np.concatenate([[500_000], mspq])
    scale = mspq.astype(np.float64) / (1e6 * tpq)  # seconds per tick in each segment
    seg_start = np.concatenate([[0.0], np.cumsum(np.diff(tempo_ticks) * scale[:-1])])
    i = np.searchsorted(tempo_ticks, ticks, side="right") - 1
    return seg_start[i] + (ticks - tempo_ticks[i]) * scale[i]


def _read_bytes(source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    try:
        return Path(source).read_bytes()
    except OSError as e:
        raise MidiError(f"{source}: cannot read the file ({e.strerror or type(e).__name__}); check its permissions") from None


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:160]


def notes_from_symusic(source, name: str = "") -> NoteTable:
    """Parse MIDI bytes or a path with symusic and return its non-drum notes."""
    import symusic  # lazy: the default parser, imported when a file is parsed (in the worker processes)

    data = _read_bytes(source)
    try:
        score = symusic.Score.from_midi(data)
    except Exception as e:  # noqa: BLE001 -- symusic raises bare RuntimeError/ValueError on malformed files
        raise MidiError(f"{name or source}: not a readable MIDI file ({_first_line(e)})") from None
    tpq = int(score.ticks_per_quarter)
    if tpq <= 0:
        raise MidiError(f"{name or source}: not a readable MIDI file (ticks per quarter is {tpq}); it may use SMPTE time")
    pitches, starts, ends, drums = [], [], [], 0
    for track in score.tracks:
        arr = track.notes.numpy()
        if track.is_drum:
            drums += len(arr["pitch"])
            continue
        keep = arr["duration"] > 0  # pretty_midi drops zero-length notes (note-off on the note-on's tick); so do we
        pitches.append(arr["pitch"][keep].astype(np.int64))
        starts.append(arr["time"][keep].astype(np.int64))
        ends.append(arr["time"][keep].astype(np.int64) + arr["duration"][keep].astype(np.int64))
    pitch = np.concatenate(pitches) if pitches else np.zeros(0, np.int64)
    start = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    end = np.concatenate(ends) if ends else np.zeros(0, np.int64)
    tempos = score.tempos.numpy()
    order = np.argsort(tempos["time"], kind="stable")
    t_ticks, t_mspq = tempos["time"][order].astype(np.int64), tempos["mspq"][order].astype(np.int64)
    if len(t_ticks):  # several tempo events on one tick: the last one wins, as in a MIDI player
        keep = np.append(t_ticks[1:] != t_ticks[:-1], True)
        t_ticks, t_mspq = t_ticks[keep], t_mspq[keep]
    return NoteTable(pitch, start, end, None, None, tpq, drums, (t_ticks, t_mspq))


def notes_from_pretty_midi(source, name: str = "") -> NoteTable:
    """Parse MIDI bytes or a path with pretty_midi (the reference parser) and return its non-drum notes."""
    import pretty_midi  # lazy: pretty_midi takes ~1 s to import; few paths need it

    data = _read_bytes(source)
    try:
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 -- mido/pretty_midi raise many kinds (OSError, EOFError, KeyError, ValueError...)
        raise MidiError(f"{name or source}: not a readable MIDI file ({_first_line(e)})") from None
    notes = [(n.pitch, n.start, n.end) for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    drums = sum(len(inst.notes) for inst in pm.instruments if inst.is_drum)
    arr = np.array(notes, dtype=np.float64).reshape(-1, 3)
    start_s, end_s = arr[:, 1], arr[:, 2]
    return NoteTable(
        arr[:, 0].astype(np.int64), _ticks_of(pm, start_s), _ticks_of(pm, end_s), start_s, end_s, int(pm.resolution), drums
    )


def _ticks_of(pm, times: np.ndarray) -> np.ndarray:
    """Return pretty_midi's own `time_to_tick` for an array of seconds."""
    return np.fromiter((pm.time_to_tick(t) for t in times), dtype=np.int64, count=len(times))


def _steps(table: NoteTable, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Return first and one-past-last step (int64) of each note on the config's grid."""
    if cfg.fs is None:
        spb, tpq = cfg.steps_per_beat, table.tpq
        # Exact integer rounding (half up) of tick * spb / tpq.
        start = (2 * table.start_tick * spb + tpq) // (2 * tpq)
        end = (2 * table.end_tick * spb + tpq) // (2 * tpq)
    else:
        if table.start_s is None:
            ticks, mspq = table.tempo_map
            table.start_s = _seconds_from_ticks(table.start_tick, ticks, mspq, table.tpq)
            table.end_s = _seconds_from_ticks(table.end_tick, ticks, mspq, table.tpq)
        # Clipped before the cast: a tempo of hours per beat must not wrap around int64.
        start = np.floor(table.start_s * cfg.fs + 0.5 + _TIE_EPS).clip(0, 2**62).astype(np.int64)
        end = np.floor(table.end_s * cfg.fs + 0.5 + _TIE_EPS).clip(0, 2**62).astype(np.int64)
    return start, np.maximum(end, start + 1)  # a note shorter than a step still marks one step


def _too_long(name: str, steps: int, cfg: DataConfig) -> str:
    if cfg.fs is None:
        length, fix = f"{steps / cfg.steps_per_beat:,.0f} beats", "lower --steps-per-beat"
    else:
        length, fix = f"{steps / cfg.fs:,.0f} s", "lower --fs"
    return (
        f"{name}: {steps:,} steps ({length}) on this grid, over the limit of {MAX_STEPS_PER_FILE:,} steps per file "
        f"(MAX_STEPS_PER_FILE); {fix} or cut the file"
    )


def _fill_roll(start: np.ndarray, end: np.ndarray, col: np.ndarray, steps: int, n_notes: int) -> np.ndarray:
    """Return the roll (steps, n_notes) uint8 with column col[i] set over steps start[i]..end[i]-1."""
    length = end - start
    roll = np.zeros((steps, n_notes), dtype=np.uint8)
    if int(length.sum()) <= _FAST_CELLS:
        # Expand each note into its cells in one vectorised step: row start + 0..length-1, its column.
        first = np.repeat(np.cumsum(length) - length, length)
        rows = np.repeat(start, length) + (np.arange(int(length.sum())) - first)
        roll[rows, np.repeat(col, length)] = 1
        return roll
    # Notes that overlap or last long: one pitch at a time, +1 at each note's first step and -1 after its
    # last, summed down the steps; memory is the roll plus one column's counts, however many notes overlap.
    order = np.argsort(col, kind="stable")
    col, start, end = col[order], start[order], end[order]
    cuts = np.flatnonzero(np.diff(col)) + 1
    for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(col)], strict=True):
        count = np.bincount(start[a:b], minlength=steps + 1) - np.bincount(end[a:b], minlength=steps + 1)
        roll[:, col[a]] = np.cumsum(count[:steps]) > 0
    return roll


def roll_from_notes(table: NoteTable, cfg: DataConfig, name: str = "", first_steps: int | None = None) -> tuple[np.ndarray, dict]:
    """Return the roll `(steps, cfg.n_notes)` uint8 of a note table and info {notes, dropped_notes, drum_notes, steps}.

    `first_steps` builds only the beginning of the file (notes cut there). Raises MidiError for a table
    without usable notes, or longer than MAX_STEPS_PER_FILE steps (checked before anything is allocated).
    """
    if len(table.pitch) == 0:
        what = "only drum notes" if table.drum_notes else "no notes"
        raise MidiError(f"{name}: has {what}; give a file with pitched (non-drum) notes")
    start, end = _steps(table, cfg)
    keep = (table.pitch >= cfg.low) & (table.pitch < cfg.high)
    dropped = int((~keep).sum())
    if not keep.any():
        lo, hi = int(table.pitch.min()), int(table.pitch.max())
        raise MidiError(
            f"{name}: all {dropped} notes (MIDI {lo}..{hi}) lie outside {cfg.low}..{cfg.high - 1}; widen --low/--high"
        )
    col, start, end = table.pitch[keep] - cfg.low, start[keep], end[keep]
    steps = int(end.max())
    if first_steps is not None:
        steps = max(min(steps, int(first_steps)), 0)
        start, end = np.minimum(start, steps), np.minimum(end, steps)
    if steps > MAX_STEPS_PER_FILE:
        raise MidiError(_too_long(name, steps, cfg))
    roll = _fill_roll(start, end, col, steps, cfg.n_notes)
    return roll, {"notes": int(keep.sum()), "dropped_notes": dropped, "drum_notes": int(table.drum_notes), "steps": steps}


def roll_from_midi(
    path, cfg: DataConfig | None = None, parser: str = "symusic", name: str = "", first_steps: int | None = None
) -> tuple[np.ndarray, dict]:
    """Read a MIDI file (path or bytes) into a roll `(steps, cfg.n_notes)` uint8 and an info dict.

    Merges all non-drum instruments; out-of-range notes are dropped and counted in
    info["dropped_notes"]. `first_steps` reads only the beginning. Raises MidiError for unreadable
    files, files with no usable notes, or files longer than MAX_STEPS_PER_FILE steps.
    """
    cfg = cfg or DataConfig()
    if not name:
        name = "<bytes>" if isinstance(path, (bytes, bytearray)) else str(path)
    if parser == "symusic":
        table = notes_from_symusic(path, name)
    elif parser == "pretty_midi":
        table = notes_from_pretty_midi(path, name)
    else:
        raise ConfigError(f"unknown MIDI parser {parser!r}; use one of {list(PARSERS)}")
    return roll_from_notes(table, cfg, name, first_steps)


def _check_roll(roll) -> np.ndarray:
    roll = np.asarray(roll)
    if roll.ndim != 2:
        raise ConfigError(f"a roll must be 2-D (steps, notes), got shape {roll.shape}; pass one sample, e.g. rolls[0]")
    return roll


def midi_from_roll(
    roll,
    low: int = 24,
    steps_per_beat: int = 4,
    fs: float | None = None,
    tempo_bpm: float = 120.0,
    program: int = 0,
    velocity: int = 100,
):
    """Return a pretty_midi.PrettyMIDI of a roll `(steps, notes)`; consecutive active steps become one note.

    A step lasts 1/fs seconds when fs is given, else 60 / (tempo_bpm * steps_per_beat) seconds.
    """
    import pretty_midi  # lazy: pretty_midi takes ~1 s to import; few paths need it

    roll = _check_roll(roll)
    if not 0 <= low or low + roll.shape[1] > 128:
        raise ConfigError(f"pitches {low}..{low + roll.shape[1] - 1} do not fit MIDI 0..127; lower `low` or use fewer notes")
    if tempo_bpm <= 0 or (fs is not None and fs <= 0) or (fs is None and steps_per_beat < 1):
        raise ConfigError(f"tempo_bpm={tempo_bpm}, fs={fs}, steps_per_beat={steps_per_beat}: all must be > 0")
    if not 0 <= program <= 127:
        raise ConfigError(f"program must be a General MIDI program 0..127, got {program}")
    step_s = 1.0 / fs if fs is not None else 60.0 / (tempo_bpm * steps_per_beat)
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    inst = pretty_midi.Instrument(program=program)
    # Pad with silence on both ends so that every run of active steps has an onset and an offset.
    active = np.pad(roll.T > 0, ((0, 0), (1, 1)))
    edges = np.diff(active.astype(np.int8), axis=1)
    on_col, on_step = np.nonzero(edges == 1)
    _, off_step = np.nonzero(edges == -1)  # same (col, step) order as the onsets
    for c, s, e in zip(on_col.tolist(), on_step.tolist(), off_step.tolist(), strict=True):
        inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=low + c, start=s * step_s, end=e * step_s))
    pm.instruments.append(inst)
    return pm


def write_midi(roll, path, **kwargs) -> Path:
    """Write a roll `(steps, notes)` to a MIDI file atomically; kwargs as in `midi_from_roll`."""
    pm = midi_from_roll(roll, **kwargs)
    path = Path(path)
    with atomic_write(path) as tmp:
        pm.write(str(tmp))
    return path
