"""MIDI <-> piano-roll: the only module that knows MIDI files.

Array convention, once for the whole package: a roll is `(steps, notes)` uint8, column j is MIDI
pitch `low + j`; a batch of rolls is `(batch, steps, notes)`. A roll read from MIDI is onset-aware,
one of three states per cell: OFF (0), HELD (1: sounding, continued from the step before) and ONSET
(2: struck at this step), so a note struck again where the previous one ends stays two notes. A
hold-only roll (benchmark files, rolls from before onsets) holds 0/1, 1 meaning sounding; `roll > 0`
is the sounding plane in both forms, `roll == ONSET` the onsets.

The sustain pedal and onsets live in `musicgen.data.onsets` (re-exported here), the note table and its time
grid in `musicgen.data.notes`.

Time grid: with `steps_per_beat` a step is 1/steps_per_beat of a quarter note, following the
file's tempo map (computed on ticks, exactly); with `fs` a step is 1/fs seconds. A note covers
the steps from round(start) to round(end), and at least one step; its first step is its onset.

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
from pathlib import Path

import numpy as np

from musicgen.config import DataConfig
from musicgen.data.notes import NoteTable
from musicgen.data.onsets import (  # noqa: F401 -- re-exported: the onset helpers' home before musicgen.data.onsets
    HELD,
    OFF,
    ONSET,
    check_roll,
    cut_at_next_strike,
    note_steps,
    notes_from_roll,
    onset_roll,
    pedal_intervals,
    restrikes,
    sustained_ends,
)
from musicgen.errors import ConfigError, MidiError
from musicgen.paths import atomic_write

PARSERS = ("symusic", "pretty_midi")
# The longest roll one file may give: 36 hours at 4 steps per beat and 120 bpm; 9 minutes on the finest grid
# (960 steps per beat), 17 at --fs 1000. Its roll is at most 128 MiB (128 notes), and takes ~128 MiB more to build.
MAX_STEPS_PER_FILE = 2**20
# Notes covering up to this many cells are expanded into them at once (fast; 4 int64 arrays of 32 MiB at most);
# more (long or overlapping notes) are summed one pitch at a time (bounded by the roll, whatever the notes).
_FAST_CELLS = 2**22


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
    pitches, starts, ends, groups, cc64, drums = [], [], [], [], {}, 0
    for g, track in enumerate(score.tracks):  # symusic keeps one track per channel, with that channel's controls
        arr = track.notes.numpy()
        if track.is_drum:
            drums += len(arr["pitch"])
            continue
        keep = arr["duration"] > 0  # pretty_midi drops zero-length notes (note-off on the note-on's tick); so do we
        pitches.append(arr["pitch"][keep].astype(np.int64))
        starts.append(arr["time"][keep].astype(np.int64))
        ends.append(arr["time"][keep].astype(np.int64) + arr["duration"][keep].astype(np.int64))
        groups.append(np.full(int(keep.sum()), g, np.int64))
        cc = track.controls.numpy()
        sustain = cc["number"] == 64
        if sustain.any():
            order = np.argsort(cc["time"][sustain], kind="stable")
            cc64[g] = (cc["time"][sustain][order].astype(np.int64), cc["value"][sustain][order])
    pitch, start, end, group = (np.concatenate(a) if a else np.zeros(0, np.int64) for a in (pitches, starts, ends, groups))
    last = int(end.max()) if len(end) else 0
    pedal = {g: pedal_intervals(t, v, last) for g, (t, v) in cc64.items()}
    sigs = score.time_signatures.numpy()
    bar = _bar_quarters(sigs["numerator"], sigs["denominator"], sigs["time"])
    tempos = score.tempos.numpy()
    order = np.argsort(tempos["time"], kind="stable")
    t_ticks, t_mspq = tempos["time"][order].astype(np.int64), tempos["mspq"][order].astype(np.int64)
    if len(t_ticks):  # several tempo events on one tick: the last one wins, as in a MIDI player
        keep = np.append(t_ticks[1:] != t_ticks[:-1], True)
        t_ticks, t_mspq = t_ticks[keep], t_mspq[keep]
    return NoteTable(pitch, start, end, None, None, tpq, drums, (t_ticks, t_mspq), group, pedal, None, bar)


def _bar_quarters(numerators, denominators, times) -> float | None:
    """Return the quarter notes per bar of the first time signature (by time), None when there is none."""
    if not len(times):
        return None
    i = int(np.argmin(times))
    num, den = int(numerators[i]), int(denominators[i])
    return num * 4.0 / den if num > 0 and den > 0 else None


def notes_from_pretty_midi(source, name: str = "") -> NoteTable:
    """Parse MIDI bytes or a path with pretty_midi (the reference parser) and return its non-drum notes."""
    import pretty_midi  # lazy: pretty_midi takes ~1 s to import; few paths need it

    data = _read_bytes(source)
    try:
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as e:  # noqa: BLE001 -- mido/pretty_midi raise many kinds (OSError, EOFError, KeyError, ValueError...)
        raise MidiError(f"{name or source}: not a readable MIDI file ({_first_line(e)})") from None
    pitched = [inst for inst in pm.instruments if not inst.is_drum]
    notes = [(n.pitch, n.start, n.end, g) for g, inst in enumerate(pitched) for n in inst.notes]
    drums = sum(len(inst.notes) for inst in pm.instruments if inst.is_drum)
    arr = np.array(notes, dtype=np.float64).reshape(-1, 4)
    start_s, end_s = arr[:, 1], arr[:, 2]
    end_t = _ticks_of(pm, end_s)
    pedal_ticks, pedal_s = {}, {}
    for g, inst in enumerate(pitched):  # pretty_midi keeps one instrument per channel, with that channel's controls
        cc = sorted(((c.time, c.value) for c in inst.control_changes if c.number == 64), key=lambda c: c[0])
        if cc:
            times = np.array([c[0] for c in cc])
            values = np.array([c[1] for c in cc])
            pedal_s[g] = pedal_intervals(times, values, float(end_s.max()) if len(end_s) else 0.0)
            pedal_ticks[g] = pedal_intervals(_ticks_of(pm, times), values, int(end_t.max()) if len(end_t) else 0)
    tempo_s, bpm = pm.get_tempo_changes()  # the tempo map pretty_midi timed the notes with (the pedal's decay needs it)
    tempo_map = (_ticks_of(pm, tempo_s), 60e6 / bpm)
    sigs = pm.time_signature_changes
    bar = _bar_quarters([t.numerator for t in sigs], [t.denominator for t in sigs], [t.time for t in sigs])
    return NoteTable(
        arr[:, 0].astype(np.int64),
        _ticks_of(pm, start_s),
        end_t,
        start_s,
        end_s,
        int(pm.resolution),
        drums,
        tempo_map,
        arr[:, 3].astype(np.int64),
        pedal_ticks,
        pedal_s,
        bar,
    )


def _ticks_of(pm, times: np.ndarray) -> np.ndarray:
    """Return pretty_midi's own `time_to_tick` for an array of seconds."""
    return np.fromiter((pm.time_to_tick(t) for t in times), dtype=np.int64, count=len(times))


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
    """Return the onset-aware roll `(steps, cfg.n_notes)` uint8 (OFF/HELD/ONSET) of a note table and info
    {notes, dropped_notes, drum_notes, steps, restrikes, merged_notes, pedal_extended, bar_steps}.

    `first_steps` builds only the beginning of the file (notes cut there). Raises MidiError for a table
    without usable notes, or longer than MAX_STEPS_PER_FILE steps (checked before anything is allocated).
    """
    if len(table.pitch) == 0:
        what = "only drum notes" if table.drum_notes else "no notes"
        raise MidiError(f"{name}: has {what}; give a file with pitched (non-drum) notes")
    start, end, extended = note_steps(table, cfg)
    keep = (table.pitch >= cfg.low) & (table.pitch < cfg.high)
    dropped = int((~keep).sum())
    if not keep.any():
        lo, hi = int(table.pitch.min()), int(table.pitch.max())
        raise MidiError(
            f"{name}: all {dropped} notes (MIDI {lo}..{hi}) lie outside {cfg.low}..{cfg.high - 1}; widen --low/--high"
        )
    col, start, end, extended = table.pitch[keep] - cfg.low, start[keep], end[keep], extended[keep]
    steps = int(end.max())
    if first_steps is not None:
        steps = max(min(steps, int(first_steps)), 0)
        inside = start < steps
        col, start, end, extended = col[inside], start[inside], np.minimum(end[inside], steps), extended[inside]
    if steps > MAX_STEPS_PER_FILE:
        raise MidiError(_too_long(name, steps, cfg))
    n_restrikes, merged = restrikes(col, start, end)
    roll = _fill_roll(start, cut_at_next_strike(col, start, end), col, steps, cfg.n_notes)
    roll[start, col] = ONSET
    bar_steps = 0
    if cfg.steps_per_beat is not None:
        bar_steps = int(round((table.bar_quarters or 4.0) * cfg.steps_per_beat))  # no time signature: MIDI's 4/4
    info = {
        "notes": int(len(col)),
        "dropped_notes": dropped,
        "drum_notes": int(table.drum_notes),
        "steps": steps,
        "restrikes": n_restrikes,
        "merged_notes": merged,
        "pedal_extended": int(extended.sum()),
        "bar_steps": bar_steps,
    }
    return roll, info


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


def midi_from_roll(
    roll,
    low: int = 24,
    steps_per_beat: int = 4,
    fs: float | None = None,
    tempo_bpm: float = 120.0,
    program: int = 0,
    velocity: int = 100,
):
    """Return a pretty_midi.PrettyMIDI of a roll `(steps, notes)`; its notes are `notes_from_roll`'s (re-strikes apart).

    A step lasts 1/fs seconds when fs is given, else 60 / (tempo_bpm * steps_per_beat) seconds.
    """
    import pretty_midi  # lazy: pretty_midi takes ~1 s to import; few paths need it

    roll = check_roll(roll)
    if not 0 <= low or low + roll.shape[1] > 128:
        raise ConfigError(f"pitches {low}..{low + roll.shape[1] - 1} do not fit MIDI 0..127; lower `low` or use fewer notes")
    if tempo_bpm <= 0 or (fs is not None and fs <= 0) or (fs is None and steps_per_beat < 1):
        raise ConfigError(f"tempo_bpm={tempo_bpm}, fs={fs}, steps_per_beat={steps_per_beat}: all must be > 0")
    if not 0 <= program <= 127:
        raise ConfigError(f"program must be a General MIDI program 0..127, got {program}")
    step_s = 1.0 / fs if fs is not None else 60.0 / (tempo_bpm * steps_per_beat)
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    inst = pretty_midi.Instrument(program=program)
    for c, s, e in notes_from_roll(roll):
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
