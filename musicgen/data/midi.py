"""MIDI <-> piano-roll: the only module that knows MIDI files.

Array convention, once for the whole package: a roll is `(steps, notes)` uint8, column j is MIDI
pitch `low + j`; a batch of rolls is `(batch, steps, notes)`. A roll read from MIDI is onset-aware,
one of three states per cell: OFF (0), HELD (1: sounding, continued from the step before) and ONSET
(2: struck at this step), so a note struck again where the previous one ends stays two notes. A
hold-only roll (benchmark files, rolls from before onsets) holds 0/1, 1 meaning sounding; `roll > 0`
is the sounding plane in both forms, `roll == ONSET` the onsets.

The sustain pedal (CC64 >= 64, per channel, as a piano sounds it): a note released while the pedal is
down sounds on until the pedal is lifted or its pitch is struck again on that channel (`DataConfig.pedal`).

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
    group: np.ndarray | None = None  # int64 (n,): the channel (track) of each note, which its pedal acts on
    # Sustain pedal per group: {group: (down, up)} with the ticks (int64 (k,)) where it goes down and where it
    # is lifted next; and the same in seconds when the parser gives seconds (pretty_midi).
    pedal_ticks: dict | None = None
    pedal_s: dict | None = None
    bar_quarters: float | None = None  # quarter notes per bar of the first time signature (None: the file has none)


OFF, HELD, ONSET = 0, 1, 2  # the cell states of an onset-aware roll


def pedal_intervals(times: np.ndarray, values: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (down, up) times of the pedal from CC64 events (time, value) in time order; down while value >= 64.

    A pedal still down after the last event is lifted at `end`. Several events on one time: the last one counts.
    """
    times, values = np.asarray(times), np.asarray(values)
    if len(times):
        last = np.append(times[1:] != times[:-1], True)
        times, values = times[last], values[last]
    down = values >= 64
    change = np.flatnonzero(np.diff(np.concatenate([[False], down, [False]]).astype(np.int8)))
    starts, stops = change[0::2], change[1::2]  # runs of events with the pedal down
    ends = np.append(times, end)
    return times[starts], np.maximum(ends[stops], times[starts])


def sustained_ends(pitch, start, end, group, pedal: dict) -> np.ndarray:
    """Return each note's end under the sustain pedal: a note released while its group's pedal is down (down <= end < up)
    sounds until the pedal is lifted or the same pitch is struck again in its group, whichever comes first.

    Any monotonic time unit (ticks, seconds); arrays (n,). Notes are never shortened.
    """
    new_end = end.copy()
    if not pedal:
        return new_end
    # The next strike of the same pitch in the same group, for every note (inf when there is none).
    order = np.lexsort((start, pitch, group))
    same = (group[order][1:] == group[order][:-1]) & (pitch[order][1:] == pitch[order][:-1])
    next_start = np.full(len(start), np.inf)
    next_start[order[:-1][same]] = start[order][1:][same]
    for g, (down, up) in pedal.items():
        idx = np.flatnonzero(group == g)
        if not len(idx) or not len(down):
            continue
        e = end[idx]
        k = np.searchsorted(down, e, side="right") - 1  # the last time the pedal went down at or before the release
        caught = (k >= 0) & (e < up[np.maximum(k, 0)])
        held_to = np.minimum(up[np.maximum(k, 0)], next_start[idx])
        new_end[idx[caught]] = np.maximum(e[caught], held_to[caught])
    return new_end


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
        None,
        arr[:, 3].astype(np.int64),
        pedal_ticks,
        pedal_s,
        bar,
    )


def _ticks_of(pm, times: np.ndarray) -> np.ndarray:
    """Return pretty_midi's own `time_to_tick` for an array of seconds."""
    return np.fromiter((pm.time_to_tick(t) for t in times), dtype=np.int64, count=len(times))


def _steps(table: NoteTable, cfg: DataConfig, end_tick=None, end_s=None) -> tuple[np.ndarray, np.ndarray]:
    """Return first and one-past-last step (int64) of each note on the config's grid (ends: the table's, or those given)."""
    end_tick = table.end_tick if end_tick is None else end_tick
    if cfg.fs is None:
        spb, tpq = cfg.steps_per_beat, table.tpq
        # Exact integer rounding (half up) of tick * spb / tpq.
        start = (2 * table.start_tick * spb + tpq) // (2 * tpq)
        end = (2 * end_tick * spb + tpq) // (2 * tpq)
    else:
        if table.start_s is None:
            ticks, mspq = table.tempo_map
            table.start_s = _seconds_from_ticks(table.start_tick, ticks, mspq, table.tpq)
            table.end_s = _seconds_from_ticks(table.end_tick, ticks, mspq, table.tpq)
        if end_s is None:
            end_s = table.end_s if end_tick is table.end_tick else _seconds_from_ticks(end_tick, *table.tempo_map, table.tpq)
        # Clipped before the cast: a tempo of hours per beat must not wrap around int64.
        start = np.floor(table.start_s * cfg.fs + 0.5 + _TIE_EPS).clip(0, 2**62).astype(np.int64)
        end = np.floor(end_s * cfg.fs + 0.5 + _TIE_EPS).clip(0, 2**62).astype(np.int64)
    return start, np.maximum(end, start + 1)  # a note shorter than a step still marks one step


def note_steps(table: NoteTable, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return first and one-past-last step (int64 (n,)) of each note, the pedal applied when `cfg.pedal`, and
    whether the pedal lengthened it (bool (n,))."""
    group = table.group if table.group is not None else np.zeros(len(table.pitch), np.int64)
    end_tick, end_s = table.end_tick, None
    if cfg.pedal and table.pedal_ticks:
        end_tick = sustained_ends(table.pitch, table.start_tick, table.end_tick, group, table.pedal_ticks)
        if table.pedal_s and table.start_s is not None:  # a parser that gives seconds: the pedal in seconds too
            end_s = sustained_ends(table.pitch, table.start_s, table.end_s, group, table.pedal_s)
    start, end = _steps(table, cfg, end_tick, end_s)
    if end_tick is table.end_tick:
        return start, end, np.zeros(len(start), dtype=bool)
    _, plain_end = _steps(table, cfg)
    return start, end, end > plain_end


def cut_at_next_strike(col: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Return the ends (int64 (n,)) of notes cut where their column is struck again: one key sounds one note at a time.

    Notes struck on the same step of a column end together, at the latest of their ends (then cut likewise).
    """
    if not len(col):
        return end
    order = np.lexsort((start, col))
    c, s, e = col[order], start[order], end[order]
    first = np.concatenate([[True], (c[1:] != c[:-1]) | (s[1:] != s[:-1])])  # the first note of each (column, step)
    group = np.cumsum(first) - 1
    g_end = np.maximum.reduceat(e, np.flatnonzero(first))
    g_col, g_start = c[first], s[first]
    nxt = np.append(np.where(g_col[1:] == g_col[:-1], g_start[1:], np.iinfo(np.int64).max), np.iinfo(np.int64).max)
    out = np.empty_like(end)
    out[order] = np.minimum(g_end, nxt)[group]
    return out


def restrikes(col: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[int, int]:
    """Return (restrikes, merged): notes that begin at or before the end step of the previous note of their column
    (a hold-only roll joins them to it; an onset-aware roll keeps them apart), and notes that begin on the same step
    as the previous one of their column (one onset for both, in either form)."""
    order = np.lexsort((end, start, col))
    c, s, e = col[order], start[order], end[order]
    same = c[1:] == c[:-1]
    merged = same & (s[1:] == s[:-1])
    return int((same & ~merged & (s[1:] <= e[:-1])).sum()), int(merged.sum())


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
    """Return a pretty_midi.PrettyMIDI of a roll `(steps, notes)`; its notes are `notes_from_roll`'s (re-strikes apart).

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
    for c, s, e in notes_from_roll(roll):
        inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=low + c, start=s * step_s, end=e * step_s))
    pm.instruments.append(inst)
    return pm


def onset_roll(roll) -> np.ndarray:
    """Return the onset-aware roll (OFF/HELD/ONSET, uint8) of a roll: a hold-only roll's runs of sounding steps become
    notes struck at their first step; an onset-aware roll is returned as it is."""
    roll = np.asarray(roll)
    out = (roll > 0).astype(np.uint8)
    before = np.concatenate([np.zeros_like(out[:1]), out[:-1]]) if len(out) else out
    out[(roll == ONSET) | ((out == 1) & (before == 0))] = ONSET
    return out


def notes_from_roll(roll) -> list[tuple[int, int, int]]:
    """Return the notes (column, first step, one-past-last step) of a roll, sorted by column then step.

    A note starts at each ONSET cell and where a column starts sounding; it ends where the column falls
    silent or the next ONSET strikes it again. A hold-only roll (0/1) gives one note per run of sounding steps.
    """
    roll = _check_roll(roll)
    sound = np.pad(roll.T > 0, ((0, 0), (1, 1)))  # (notes, steps + 2): silence on both ends
    strike = np.pad(roll.T == ONSET, ((0, 0), (1, 1)))
    begins = (sound[:, 1:] & ~sound[:, :-1]) | strike[:, 1:]  # (notes, steps + 1): a note starts at step j
    ends = (sound[:, :-1] & ~sound[:, 1:]) | (sound[:, :-1] & strike[:, 1:])  # a note ends before step j
    on_col, on_step = np.nonzero(begins[:, :-1])
    _, off_step = np.nonzero(ends[:, 1:])  # the same (column, step) order: each note's end follows its start
    return list(zip(on_col.tolist(), on_step.tolist(), (off_step + 1).tolist(), strict=True))


def write_midi(roll, path, **kwargs) -> Path:
    """Write a roll `(steps, notes)` to a MIDI file atomically; kwargs as in `midi_from_roll`."""
    pm = midi_from_roll(roll, **kwargs)
    path = Path(path)
    with atomic_write(path) as tmp:
        pm.write(str(tmp))
    return path
