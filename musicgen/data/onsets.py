"""Onsets and the sustain pedal: when each note starts and how long it sounds, and the onset-aware roll's notes.

A roll read from MIDI holds one of three states per cell (OFF, HELD, ONSET; musicgen.data.midi states the array
convention). The sustain pedal (CC64 >= 64, per channel; `DataConfig.pedal`) holds a note released while it is
down, as a piano's raised dampers do, until the first of: the pedal is lifted, the same key is struck again on
that channel, or the string has decayed (`DataConfig.pedal_decay_s`, measured from the note's onset and shorter
for higher strings: `pedal_decay_seconds`). A note is never shortened: the pedal only lengthens it.
"""

from __future__ import annotations

import numpy as np

from musicgen.config import DataConfig
from musicgen.data.notes import NoteTable, grid_steps, ticks_from_seconds
from musicgen.errors import ConfigError

OFF, HELD, ONSET = 0, 1, 2  # the cell states of an onset-aware roll
# The pitch whose decay limit `DataConfig.pedal_decay_s` gives: middle C. The limit halves each octave up and
# doubles each octave down (data/README.md says why).
DECAY_REFERENCE_PITCH = 60


def pedal_decay_seconds(pitch: np.ndarray, decay_s: float) -> np.ndarray:
    """Return how long (seconds, float64 (n,)) the pedal can hold each pitch after its onset: `decay_s` at middle C,
    halved per octave up and doubled per octave down (a piano's higher strings die away sooner)."""
    return decay_s * np.exp2((DECAY_REFERENCE_PITCH - np.asarray(pitch, np.float64)) / 12.0)


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


def pedal_words(config: dict) -> str:
    """Return the pedal rule of a dataset's stored config (report.json "config") in a few words.

    A config from before the decay limit has no `pedal_decay_s`: its pedal held notes until it lifted.
    """
    if not config.get("pedal", True):
        return "sustain pedal off"
    decay = config.get("pedal_decay_s")
    if decay is None:
        return "sustain pedal on, notes held until it lifts"
    return f"sustain pedal on, a held note decays within {decay:g} s at middle C"


def sustained_ends(pitch, start, end, group, pedal: dict, limit=None) -> np.ndarray:
    """Return each note's end under the sustain pedal: a note released while its group's pedal is down (down <= end < up)
    sounds until the pedal is lifted, the same pitch is struck again in its group, or its `limit` (the time its
    string has decayed; None: no limit), whichever comes first.

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
        if limit is not None:
            held_to = np.minimum(held_to, limit[idx])
        new_end[idx[caught]] = np.maximum(e[caught], held_to[caught])
    return new_end


def note_steps(table: NoteTable, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return first and one-past-last step (int64 (n,)) of each note, the pedal applied when `cfg.pedal`, and
    whether the pedal lengthened it (bool (n,))."""
    group = table.group if table.group is not None else np.zeros(len(table.pitch), np.int64)
    end_tick, end_s = table.end_tick, None
    if cfg.pedal and table.pedal_ticks:
        limit_tick = limit_s = None
        if cfg.pedal_decay_s is not None:  # the decay is in seconds: through the tempo map to ticks
            limit_s = table.start_seconds() + pedal_decay_seconds(table.pitch, cfg.pedal_decay_s)
            limit_tick = ticks_from_seconds(limit_s, table.tempo_map, table.tpq)
        end_tick = sustained_ends(table.pitch, table.start_tick, table.end_tick, group, table.pedal_ticks, limit_tick)
        if table.pedal_s:  # a parser that gives seconds: the pedal in seconds too
            end_s = sustained_ends(table.pitch, table.start_s, table.end_s, group, table.pedal_s, limit_s)
    start, end = grid_steps(table, cfg, end_tick, end_s)
    if end_tick is table.end_tick:
        return start, end, np.zeros(len(start), dtype=bool)
    _, plain_end = grid_steps(table, cfg)
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


def check_roll(roll) -> np.ndarray:
    """Return a roll as an array, or raise ConfigError when it is not 2-D (steps, notes)."""
    roll = np.asarray(roll)
    if roll.ndim != 2:
        raise ConfigError(f"a roll must be 2-D (steps, notes), got shape {roll.shape}; pass one sample, e.g. rolls[0]")
    return roll


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
    roll = check_roll(roll)
    sound = np.pad(roll.T > 0, ((0, 0), (1, 1)))  # (notes, steps + 2): silence on both ends
    strike = np.pad(roll.T == ONSET, ((0, 0), (1, 1)))
    begins = (sound[:, 1:] & ~sound[:, :-1]) | strike[:, 1:]  # (notes, steps + 1): a note starts at step j
    ends = (sound[:, :-1] & ~sound[:, 1:]) | (sound[:, :-1] & strike[:, 1:])  # a note ends before step j
    on_col, on_step = np.nonzero(begins[:, :-1])
    _, off_step = np.nonzero(ends[:, 1:])  # the same (column, step) order: each note's end follows its start
    return list(zip(on_col.tolist(), on_step.tolist(), (off_step + 1).tolist(), strict=True))
