"""Onset-aware rolls: re-strikes, the sustain pedal per channel, counts, and the MIDI -> roll -> MIDI round trip."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from musicgen.config import DataConfig
from musicgen.data.midi import HELD, ONSET, PARSERS, midi_from_roll, notes_from_roll, onset_roll, roll_from_midi, write_midi
from musicgen.data.roundtrip import round_trip

STEP = 120  # ticks per step at 480 ticks per quarter and 4 steps per beat


def write_piano(path, channels: dict, tpq: int = 480):
    """Write a type-1 MIDI with one track per channel: {channel: (notes [(pitch, start, end)], pedal [(tick, value)])}."""
    mf = mido.MidiFile(type=1, ticks_per_beat=tpq)
    mf.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)]))
    for channel, (notes, pedal) in channels.items():
        # At one tick: note-offs first, then the pedal, then note-ons (as sequencers write a re-strike).
        events = (
            [(e, 0, "off", p) for p, s, e in notes] + [(t, 1, "cc", v) for t, v in pedal] + [(s, 2, "on", p) for p, s, e in notes]
        )
        tr, tick = mido.MidiTrack(), 0
        for at, _, kind, x in sorted(events):
            if kind == "cc":
                msg = mido.Message("control_change", control=64, value=x, channel=channel, time=at - tick)
            else:
                msg = mido.Message("note_on", note=x, velocity=80 if kind == "on" else 0, channel=channel, time=at - tick)
            tr.append(msg)
            tick = at
        mf.tracks.append(tr)
    mf.save(path)
    return path


@pytest.mark.parametrize("parser", PARSERS)
def test_a_re_struck_note_stays_two_notes_and_is_counted(tmp_path, parser):
    # C4 struck at 0 and again at step 2, where the first ends (a hold-only roll merges them); E4 struck twice with a gap.
    notes = [(60, 0, 2 * STEP), (60, 2 * STEP, 4 * STEP), (64, 0, STEP), (64, 3 * STEP, 4 * STEP)]
    roll, info = roll_from_midi(write_piano(tmp_path / "r.mid", {0: (notes, [])}), DataConfig(), parser=parser)
    assert roll[:, 60 - 24].tolist() == [ONSET, HELD, ONSET, HELD]
    assert roll[:, 64 - 24].tolist() == [ONSET, 0, 0, ONSET]
    assert info["notes"] == 4 and info["restrikes"] == 1 and info["merged_notes"] == 0 and info["pedal_extended"] == 0
    assert sorted(notes_from_roll(roll)) == [(36, 0, 2), (36, 2, 4), (40, 0, 1), (40, 3, 4)]


@pytest.mark.parametrize("parser", PARSERS)
def test_the_pedal_holds_released_notes_until_it_is_lifted_or_the_pitch_is_struck_again(tmp_path, parser):
    # Pedal down at step 1, up at step 8. C4 released at step 2 (under the pedal): held to 8. D4 released at 3 and
    # struck again at 5 (inside the pedal): the first D4 sounds until 5, the second (released at 6) until 8.
    # E4 released at step 1 exactly when the pedal goes down: caught. G4 starts and ends after the pedal: untouched.
    notes = [(60, 0, 2 * STEP), (62, 0, 3 * STEP), (62, 5 * STEP, 6 * STEP), (64, 0, STEP), (67, 9 * STEP, 10 * STEP)]
    path = write_piano(tmp_path / "p.mid", {0: (notes, [(STEP, 127), (8 * STEP, 0)])})
    roll, info = roll_from_midi(path, DataConfig(), parser=parser)
    assert roll[:, 60 - 24].tolist() == [ONSET] + [HELD] * 7 + [0, 0]
    assert roll[:, 62 - 24].tolist() == [ONSET, HELD, HELD, HELD, HELD, ONSET, HELD, HELD, 0, 0]
    assert roll[:, 64 - 24].tolist() == [ONSET] + [HELD] * 7 + [0, 0]
    assert roll[:, 67 - 24].tolist() == [0] * 9 + [ONSET]
    assert info["pedal_extended"] == 4 and info["restrikes"] == 1 and info["notes"] == 5
    plain, info_off = roll_from_midi(path, DataConfig(pedal=False), parser=parser)
    assert plain[:, 60 - 24].tolist() == [ONSET, HELD] + [0] * 8 and info_off["pedal_extended"] == 0
    assert info_off["restrikes"] == 0  # without the pedal the two D4s do not touch


@pytest.mark.parametrize("parser", PARSERS)
def test_the_pedal_acts_on_its_own_channel_only(tmp_path, parser):
    # Channel 0 has the pedal down over steps 0..6; channel 1 none. Each releases C4 / C5 at step 1.
    path = write_piano(
        tmp_path / "c.mid",
        {0: ([(60, 0, STEP)], [(0, 100), (6 * STEP, 10)]), 1: ([(72, 0, STEP), (74, 7 * STEP, 8 * STEP)], [])},
    )
    roll, info = roll_from_midi(path, DataConfig(), parser=parser)
    assert (roll[:, 60 - 24] > 0).sum() == 6 and (roll[:, 72 - 24] > 0).sum() == 1
    assert info["pedal_extended"] == 1


@pytest.mark.parametrize("parser", PARSERS)
def test_short_and_overlapping_same_pitch_notes(tmp_path, parser):
    # Two C4 notes shorter than a step on steps 0 and 1; a D4 overlapped by a second D4 on another channel, struck
    # before the first ends (one key: the strike ends the first); two E4 on the same step (one onset: counted as merged).
    notes = [(60, 0, 10), (60, STEP, STEP + 10), (62, 0, 4 * STEP), (64, 0, STEP), (64, 20, STEP)]
    path = write_piano(tmp_path / "o.mid", {0: (notes, []), 1: ([(62, 2 * STEP, 3 * STEP)], [])})
    roll, info = roll_from_midi(path, DataConfig(), parser=parser)
    assert roll[:2, 60 - 24].tolist() == [ONSET, ONSET]
    assert roll[:, 62 - 24].tolist() == [ONSET, HELD, ONSET, 0]
    assert info["restrikes"] == 2 and info["merged_notes"] == 1


@pytest.mark.parametrize("parser", PARSERS)
def test_midi_roll_midi_keeps_every_onset_and_quantized_end(tmp_path, parser):
    notes = [(60, 0, 2 * STEP), (60, 2 * STEP, 4 * STEP), (60, 4 * STEP, 5 * STEP), (64, STEP, 3 * STEP), (67, 0, 40)]
    roll, _ = roll_from_midi(write_piano(tmp_path / "a.mid", {0: (notes, [])}), DataConfig(), parser=parser)
    again, _ = roll_from_midi(write_midi(roll, tmp_path / "b.mid"), DataConfig(), parser=parser)
    np.testing.assert_array_equal(again, roll)
    pm = midi_from_roll(roll)
    written = sorted((n.pitch, round(n.start / 0.125), round(n.end / 0.125)) for n in pm.instruments[0].notes)
    assert written == [(60, 0, 2), (60, 2, 4), (60, 4, 5), (64, 1, 3), (67, 0, 1)]


def test_onset_roll_strikes_each_run_of_a_hold_only_roll():
    hold = np.array([[1, 0], [1, 1], [0, 1], [1, 1]], dtype=np.uint8)
    assert onset_roll(hold).tolist() == [[2, 0], [1, 2], [0, 1], [2, 1]]
    onsets = np.array([[2, 0], [2, 2], [1, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(onset_roll(onsets), onsets)


@pytest.mark.parametrize("parser", PARSERS)
def test_real_piano_files_keep_every_grid_note_through_the_round_trip(piano_files, parser):
    totals = {}
    for f in piano_files[::6]:  # 16 of the 92 files, pedalled ones among them
        for k, v in round_trip(f.read_bytes(), DataConfig(), parser, f.name).items():
            totals[k] = totals.get(k, 0) + int(v)
    assert totals["notes_on_grid"] > 5000 and totals["restrikes"] > 500 and totals["pedal_extended"] > 0
    # Each grid note comes back struck where it was, and ends where it did; the written file has no other notes.
    assert totals["kept_onsets"] == totals["kept_ends"] == totals["notes_back"] == totals["notes_on_grid"]
    assert totals["same_roll"] == len(piano_files[::6])
    assert totals["notes_on_grid"] + totals["merged_notes"] == totals["notes"]
