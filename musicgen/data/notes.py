"""The note table of one MIDI file and its time grid: ticks, seconds and steps (shared by `midi` and `onsets`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musicgen.config import DataConfig

# Tolerance for float noise at exact half steps, so that both parsers round ties the same way.
_TIE_EPS = 1e-9


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
    tempo_map: tuple | None = None  # (ticks int64 (k,), microseconds per quarter (k,))
    group: np.ndarray | None = None  # int64 (n,): the channel (track) of each note, which its pedal acts on
    # Sustain pedal per group: {group: (down, up)} with the ticks (int64 (k,)) where it goes down and where it
    # is lifted next; and the same in seconds when the parser gives seconds (pretty_midi).
    pedal_ticks: dict | None = None
    pedal_s: dict | None = None
    bar_quarters: float | None = None  # quarter notes per bar of the first time signature (None: the file has none)

    def start_seconds(self) -> np.ndarray:
        """Return (and keep) the notes' start and end in seconds, computed from the tempo map when the parser gave ticks."""
        if self.start_s is None:
            self.start_s = seconds_from_ticks(self.start_tick, self.tempo_map, self.tpq)
            self.end_s = seconds_from_ticks(self.end_tick, self.tempo_map, self.tpq)
        return self.start_s


def _segments(tempo_map, tpq: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (first tick, first second, seconds per tick) of each constant-tempo segment of a tempo map."""
    tempo_ticks, mspq = tempo_map if tempo_map is not None else (np.zeros(0, np.int64), np.zeros(0))
    if len(tempo_ticks) == 0 or tempo_ticks[0] != 0:  # MIDI's default tempo is 120 bpm until the first change
        tempo_ticks = np.concatenate([[0], tempo_ticks])
        mspq = np.concatenate([[500_000], mspq])
    scale = np.asarray(mspq, np.float64) / (1e6 * tpq)  # seconds per tick in each segment
    seg_start = np.concatenate([[0.0], np.cumsum(np.diff(tempo_ticks) * scale[:-1])])
    return np.asarray(tempo_ticks), seg_start, scale


def seconds_from_ticks(ticks: np.ndarray, tempo_map, tpq: int) -> np.ndarray:
    """Return seconds (float64) of absolute `ticks` under a tempo map of (tick, microseconds per quarter)."""
    tempo_ticks, seg_start, scale = _segments(tempo_map, tpq)
    i = np.searchsorted(tempo_ticks, ticks, side="right") - 1
    return seg_start[i] + (ticks - tempo_ticks[i]) * scale[i]


def ticks_from_seconds(seconds: np.ndarray, tempo_map, tpq: int) -> np.ndarray:
    """Return the nearest absolute ticks (int64) of `seconds` under a tempo map: the inverse of `seconds_from_ticks`."""
    tempo_ticks, seg_start, scale = _segments(tempo_map, tpq)
    i = np.searchsorted(seg_start, seconds, side="right") - 1
    ticks = tempo_ticks[i] + (seconds - seg_start[i]) / scale[i]
    return np.floor(ticks + 0.5).clip(0, 2**62).astype(np.int64)  # clipped: a limit hours away must not wrap


def grid_steps(table: NoteTable, cfg: DataConfig, end_tick=None, end_s=None) -> tuple[np.ndarray, np.ndarray]:
    """Return first and one-past-last step (int64) of each note on the config's grid (ends: the table's, or those given)."""
    end_tick = table.end_tick if end_tick is None else end_tick
    if cfg.fs is None:
        spb, tpq = cfg.steps_per_beat, table.tpq
        # Exact integer rounding (half up) of tick * spb / tpq.
        start = (2 * table.start_tick * spb + tpq) // (2 * tpq)
        end = (2 * end_tick * spb + tpq) // (2 * tpq)
    else:
        start_s = table.start_seconds()
        if end_s is None:
            end_s = table.end_s if end_tick is table.end_tick else seconds_from_ticks(end_tick, table.tempo_map, table.tpq)
        # Clipped before the cast: a tempo of hours per beat must not wrap around int64.
        start = np.floor(start_s * cfg.fs + 0.5 + _TIE_EPS).clip(0, 2**62).astype(np.int64)
        end = np.floor(end_s * cfg.fs + 0.5 + _TIE_EPS).clip(0, 2**62).astype(np.int64)
    return start, np.maximum(end, start + 1)  # a note shorter than a step still marks one step
