"""The MIDI -> roll -> MIDI round trip of one file, counted note by note (tests and benchmarks/piano_roundtrip.py).

A note's place on the grid is its onset step and its quantized end (the pedal applied), cut where its pitch is
struck again: a piano key sounds one note at a time. Two notes struck on the same step of one pitch are one note
on the grid (counted as merged: the grid is too coarse for them); every other note must come back from the
written MIDI struck on its step, and with its end.
"""

from __future__ import annotations

import io

import numpy as np

from musicgen.config import DataConfig
from musicgen.data.midi import midi_from_roll, notes_from_pretty_midi, notes_from_symusic, roll_from_notes
from musicgen.data.onsets import note_steps, notes_from_roll


def grid_notes(table, cfg: DataConfig) -> dict[tuple[int, int], int]:
    """Return {(column, onset step): end step} of a note table's notes on the grid, each cut at its pitch's next onset."""
    start, end, _ = note_steps(table, cfg)
    keep = (table.pitch >= cfg.low) & (table.pitch < cfg.high)
    col, start, end = table.pitch[keep] - cfg.low, start[keep], end[keep]
    notes: dict[tuple[int, int], int] = {}
    for c, s, e in zip(col.tolist(), start.tolist(), end.tolist(), strict=True):
        notes[(c, s)] = max(e, notes.get((c, s), 0))  # struck twice on one step: one note, the longer end
    ordered = sorted(notes)
    for (c, s), nxt in zip(ordered, ordered[1:], strict=False):
        if nxt[0] == c:
            notes[(c, s)] = min(notes[(c, s)], nxt[1])
    return notes


def round_trip(data: bytes, cfg: DataConfig, parser: str = "symusic", name: str = "") -> dict:
    """Return the counts of one file's round trip: notes (read), merged, notes_on_grid, restrikes, kept_onsets,
    kept_ends (grid notes that came back with their onset, and with their end too), notes_back (notes in the
    written file)."""
    read = notes_from_symusic if parser == "symusic" else notes_from_pretty_midi
    table = read(data, name)
    roll, info = roll_from_notes(table, cfg, name)
    grid = grid_notes(read(data, name), cfg)
    pm = midi_from_roll(roll, low=cfg.low, steps_per_beat=cfg.steps_per_beat or 4, fs=cfg.fs)
    buf = io.BytesIO()
    pm.write(buf)
    again, _ = roll_from_notes(read(buf.getvalue(), name), cfg, name)
    back = {(c, s): e for c, s, e in notes_from_roll(again)}
    onsets = set(grid) & set(back)
    return {
        "notes": info["notes"],
        "merged_notes": info["merged_notes"],
        "notes_on_grid": len(grid),
        "restrikes": info["restrikes"],
        "pedal_extended": info["pedal_extended"],
        "kept_onsets": len(onsets),
        "kept_ends": sum(back[k] == grid[k] for k in onsets),
        "notes_back": len(back),
        "same_roll": bool(np.array_equal(again, roll)),
    }
