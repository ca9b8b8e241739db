"""Onset-aware rolls: re-strikes, the sustain pedal per channel, counts, and the MIDI -> roll -> MIDI round trip."""

from __future__ import annotations

import json

import mido
import numpy as np
import pytest

from musicgen.cli import main
from musicgen.config import DataConfig
from musicgen.data.midi import HELD, ONSET, PARSERS, midi_from_roll, notes_from_roll, onset_roll, roll_from_midi, write_midi
from musicgen.data.onsets import pedal_decay_seconds
from musicgen.data.roundtrip import round_trip

STEP = 120  # ticks per step at 480 ticks per quarter and 4 steps per beat


def write_piano(path, channels: dict, tpq: int = 480, tempos=((0, 500_000),)):
    """Write a type-1 MIDI with one track per channel: {channel: (notes [(pitch, start, end)], pedal [(tick, value)])},
    and the tempo map [(tick, microseconds per quarter)] in the first track."""
    mf = mido.MidiFile(type=1, ticks_per_beat=tpq)
    ticks = [t for t, _ in tempos]
    mf.tracks.append(
        mido.MidiTrack(
            mido.MetaMessage("set_tempo", tempo=us, time=t - before)
            for (t, us), before in zip(tempos, [0, *ticks[:-1]], strict=True)
        )
    )
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


def sounding_steps(roll, pitch: int) -> list[tuple[int, int]]:
    """Return the (onset, one-past-last) steps of each note of `pitch` in a roll read with the default range."""
    return [(a, b) for c, a, b in notes_from_roll(roll) if c == pitch - 24]


# A pedal put down once and never lifted (CC64 127 and nothing after, as some files send), 120 bpm: a step is
# 0.125 s, so the 3 s decay limit at middle C is 24 steps. A1 is held by its key to step 100, the end of the file.
NEVER_LIFTED = [(0, 127)]
A1 = (33, 0, 100 * STEP)


def test_pedal_decay_halves_per_octave_up_from_middle_c():
    np.testing.assert_allclose(pedal_decay_seconds(np.array([48, 60, 72, 84]), 3.0), [6.0, 3.0, 1.5, 0.75])


@pytest.mark.parametrize("parser", PARSERS)
def test_a_never_lifted_pedal_holds_each_note_until_its_string_has_decayed(tmp_path, parser):
    # C3, C4, C5 released after one step: held 6, 3 and 1.5 s (48, 24, 12 steps). C6's key is held 20 steps, past its
    # 0.75 s (6 steps): it keeps its own end and is not counted as lengthened.
    notes = [(48, 0, STEP), (60, 0, STEP), (72, 0, STEP), (84, 0, 20 * STEP), A1]
    path = write_piano(tmp_path / "n.mid", {0: (notes, NEVER_LIFTED)})
    roll, info = roll_from_midi(path, DataConfig(), parser=parser)
    ends = {p: sounding_steps(roll, p) for p in (48, 60, 72, 84, 33)}
    assert ends == {48: [(0, 48)], 60: [(0, 24)], 72: [(0, 12)], 84: [(0, 20)], 33: [(0, 100)]}
    assert info["notes"] == 5 and info["pedal_extended"] == 3 and info["restrikes"] == 0
    # Without the limit (the rule before it) all four sound to the end of the file; without the pedal, as written.
    unbounded, info_none = roll_from_midi(path, DataConfig(pedal_decay_s=None), parser=parser)
    assert [sounding_steps(unbounded, p) for p in (48, 60, 72, 84)] == [[(0, 100)]] * 4 and info_none["pedal_extended"] == 4
    plain, info_off = roll_from_midi(path, DataConfig(pedal=False), parser=parser)
    assert [sounding_steps(plain, p) for p in (48, 60, 72)] == [[(0, 1)]] * 3 and info_off["pedal_extended"] == 0
    shorter, _ = roll_from_midi(path, DataConfig(pedal_decay_s=1.0), parser=parser)
    assert [sounding_steps(shorter, p) for p in (48, 60, 72)] == [[(0, 16)], [(0, 8)], [(0, 4)]]


@pytest.mark.parametrize("parser", PARSERS)
def test_the_decay_limit_is_in_seconds_through_the_tempo_map(tmp_path, parser):
    # 120 bpm for the first 8 steps (1 s), then 60 bpm (0.25 s a step): C4's 3 s end 8 steps later, at step 16.
    path = write_piano(tmp_path / "t.mid", {0: ([(60, 0, STEP), A1], NEVER_LIFTED)}, tempos=((0, 500_000), (8 * STEP, 1_000_000)))
    roll, info = roll_from_midi(path, DataConfig(), parser=parser)
    assert sounding_steps(roll, 60) == [(0, 16)] and info["pedal_extended"] == 1


@pytest.mark.parametrize("parser", PARSERS)
def test_a_never_lifted_pedal_acts_on_its_own_channel_only(tmp_path, parser):
    path = write_piano(tmp_path / "c.mid", {0: ([(60, 0, STEP), A1], NEVER_LIFTED), 1: ([(64, 0, STEP)], [])})
    roll, info = roll_from_midi(path, DataConfig(), parser=parser)
    assert sounding_steps(roll, 60) == [(0, 24)] and sounding_steps(roll, 64) == [(0, 1)]
    assert info["pedal_extended"] == 1 and info["notes"] == 3


@pytest.mark.parametrize("parser", PARSERS)
def test_a_re_strike_inside_a_never_lifted_pedal_ends_the_first_note_and_decays_the_second(tmp_path, parser):
    # C4 struck at 0 and again at step 10 (before its 24-step decay): the first sounds to 10, the second to 10 + 24.
    path = write_piano(tmp_path / "s.mid", {0: ([(60, 0, STEP), (60, 10 * STEP, 11 * STEP), A1], NEVER_LIFTED)})
    roll, info = roll_from_midi(path, DataConfig(), parser=parser)
    assert roll[:36, 60 - 24].tolist() == [ONSET] + [HELD] * 9 + [ONSET] + [HELD] * 23 + [0, 0]
    assert sounding_steps(roll, 60) == [(0, 10), (10, 34)]
    assert info["notes"] == 3 and info["restrikes"] == 1 and info["pedal_extended"] == 2


def test_preprocess_pedal_decay_reaches_the_report_and_refuses_a_bad_value(home, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    write_piano(tmp_path / "in" / "p.mid", {0: ([(48, 0, STEP), (60, 0, STEP), (60, 40 * STEP, 41 * STEP), A1], NEVER_LIFTED)})
    counts = {}
    for flag in ([], ["--pedal-decay", "none"], ["--pedal-decay", "1"], ["--pedal", "off"]):
        out = tmp_path / ("d" + "".join(flag))
        assert main(["preprocess", str(tmp_path / "in"), "--out", str(out), "--workers", "0", "--json", *flag]) == 0
        summary = json.loads(capsys.readouterr().out)
        stored = json.loads((out / "report.json").read_text())["config"]
        assert summary["pedal_decay_s"] == stored["pedal_decay_s"] and summary["pedal"] == stored["pedal"]
        counts[stored["pedal"], stored["pedal_decay_s"]] = (summary["pedal_extended"], summary["restrikes"])
    # 3 s: C3 held 48 steps, C4 24 (its re-strike at 40 is apart); none: C3 and the first C4 to the end, the C4 re-struck
    # inside the pedal; 1 s: 16 and 8 steps.
    assert counts == {(True, 3.0): (3, 0), (True, None): (3, 1), (True, 1.0): (3, 0), (False, 3.0): (0, 0)}
    assert main(["preprocess", str(tmp_path / "in"), "--out", str(tmp_path / "x"), "--pedal-decay", "0"]) == 2
    assert "pedal_decay_s must be seconds in [0.01, 3600], got 0.0" in capsys.readouterr().err
    assert main(["preprocess", str(tmp_path / "in"), "--out", str(tmp_path / "x"), "--pedal-decay", "soon"]) == 2
    assert "argument --pedal-decay: 'soon' is not a number of seconds" in capsys.readouterr().err
