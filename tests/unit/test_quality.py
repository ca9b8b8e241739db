import math

import numpy as np
import pytest

from musicgen.errors import ConfigError
from musicgen.music.quality import METRICS, compare, music_metrics, note_onsets, overlap_and_kl, pitch_class_histogram

LOW = 24
C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def roll_of(pitches_per_step, n_notes=84, low=LOW):
    """Build a roll from a list of pitch lists, one per step."""
    roll = np.zeros((len(pitches_per_step), n_notes), np.uint8)
    for t, pitches in enumerate(pitches_per_step):
        for p in pitches:
            roll[t, p - low] = 1
    return roll


def test_c_major_scale_is_fully_consistent():
    m = music_metrics(roll_of([[p] for p in C_MAJOR]))
    assert m["scale_consistency"] == 1.0
    assert m["pitch_classes_used"] == 7
    assert m["pitch_range"] == 12
    assert m["mean_polyphony"] == 1.0
    assert m["empty_step_share"] == 0.0
    assert m["mean_note_length"] == 1.0
    assert m["repetition"] == 0.0


def test_chromatic_run_is_not_in_one_scale_and_has_max_entropy():
    m = music_metrics(roll_of([[60 + i] for i in range(12)]))
    assert m["scale_consistency"] == pytest.approx(7 / 12)
    assert m["pitch_class_entropy"] == pytest.approx(math.log2(12))
    assert m["pitch_classes_used"] == 12


def test_a_minor_melody_fits_a_minor_scale():
    # Natural A minor has the notes of C major; harmonic G# lowers the share.
    m = music_metrics(roll_of([[57], [59], [60], [62], [64], [65], [68], [69]]))
    assert m["scale_consistency"] == pytest.approx(7 / 8)


def test_empty_roll():
    m = music_metrics(np.zeros((16, 84), np.uint8))
    assert m["empty_step_share"] == 1.0
    assert m["note_density"] == 0.0
    assert m["mean_polyphony"] == 0.0
    assert m["pitch_range"] == 0.0
    assert m["pitch_classes_used"] == 0.0
    assert m["repetition"] == 1.0
    assert math.isnan(m["scale_consistency"]) and math.isnan(m["pitch_class_entropy"])
    assert set(m) == set(METRICS)


def test_held_chord_gives_long_notes_polyphony_and_repetition():
    chord = [60, 64, 67]
    roll = roll_of([chord] * 8 + [[]] * 8)
    m = music_metrics(roll)
    assert m["mean_note_length"] == 8.0
    assert m["mean_polyphony"] == 3.0
    assert m["empty_step_share"] == 0.5
    assert m["note_density"] == pytest.approx(24 / (16 * 84))
    assert m["repetition"] == pytest.approx(14 / 15)  # every step but the change chord -> silence
    assert m["pitch_class_entropy"] == pytest.approx(math.log2(3))


def test_note_onsets_split_repeated_runs():
    roll = roll_of([[60], [60], [], [60], [62]])
    cols, lengths = note_onsets(roll)
    pairs = sorted(zip(cols.tolist(), lengths.tolist(), strict=True))
    assert pairs == [(36, 1), (36, 2), (38, 1)]
    assert pitch_class_histogram(roll)[0] == 2  # C twice (two notes, not three steps)


def test_metrics_reject_a_batch():
    with pytest.raises(ConfigError, match="2-D"):
        music_metrics(np.zeros((2, 4, 84)))


def test_overlap_and_kl():
    a = np.linspace(0, 1, 50)
    assert overlap_and_kl(a, a) == pytest.approx((1.0, 0.0))
    ov, kl = overlap_and_kl(np.zeros(10), np.ones(10))
    assert ov == 0.0 and kl > 1.0
    ov_half, kl_half = overlap_and_kl(np.r_[np.zeros(5), np.ones(5)], np.ones(10))
    assert ov_half == pytest.approx(0.5) and 0 < kl_half < kl
    assert overlap_and_kl([3.0, 3.0], [3.0]) == (1.0, 0.0)


def test_compare_tells_alike_from_unlike():
    rng = np.random.default_rng(0)
    real = [roll_of([[rng.choice(C_MAJOR)] for _ in range(16)]) for _ in range(20)]
    like = [roll_of([[rng.choice(C_MAJOR)] for _ in range(16)]) for _ in range(20)]
    noise = [(rng.random((16, 84)) < 0.3).astype(np.uint8) for _ in range(20)]
    good, bad = compare(like, real), compare(noise, real)
    assert good["n_generated"] == 20 and good["n_real"] == 20
    assert set(good["metrics"]) == set(METRICS)
    assert good["metrics"]["scale_consistency"]["overlap"] > bad["metrics"]["scale_consistency"]["overlap"]
    assert bad["metrics"]["mean_polyphony"]["overlap"] == 0.0
    assert "higher" in bad["metrics"]["mean_polyphony"]["reading"]
    assert "far from" in bad["metrics"]["mean_polyphony"]["reading"]
    assert bad["metrics"]["note_density"]["kl"] > good["metrics"]["note_density"]["kl"]


def test_compare_needs_rolls():
    with pytest.raises(ConfigError, match="at least one"):
        compare([], [np.zeros((4, 84))])


def test_window_metrics_cut_each_window_to_its_real_length():
    from musicgen.music.quality import window_metrics

    rolls = np.zeros((3, 8, 84), np.uint8)
    rolls[:, :, 40] = 1  # one note held over the whole window, padding included
    out = window_metrics(rolls, np.array([8, 4, 2]), low=24, limit=2)
    assert len(out) == 2 and [m["mean_note_length"] for m in out] == [8.0, 4.0]
    assert out == [music_metrics(rolls[0], 24), music_metrics(rolls[1][:4], 24)]


def test_onset_aware_rolls_count_re_struck_notes_and_their_intervals():
    from musicgen.music.quality import duration_distributions, music_metrics, note_onsets, onset_intervals

    r = np.zeros((8, 2), np.uint8)
    r[0:3, 0] = [2, 1, 2]  # C struck at 0, struck again at 2
    r[5:7, 0] = [2, 1]
    r[1:4, 1] = [2, 2, 1]  # C# struck at 1 and again at 2
    cols, lengths = note_onsets(r)
    assert cols.tolist() == [0, 0, 0, 1, 1] and lengths.tolist() == [2, 1, 2, 1, 2]
    assert onset_intervals(r).tolist() == [1, 1, 3]  # struck steps 0, 1, 2, 5
    m = music_metrics(r)
    assert m["notes_per_step"] == 5 / 8 and m["mean_ioi"] == 5 / 3 and m["mean_note_length"] == 8 / 5
    # Only step 6 strikes nothing and sounds what step 5 sounded (C held); step 7 falls silent, step 3 drops C.
    assert m["repetition"] == 1 / 7
    hold = (r > 0).astype(np.uint8)  # the same roll without onsets joins the re-struck notes
    assert note_onsets(hold)[1].tolist() == [3, 2, 3]
    d = duration_distributions([r], [hold])
    assert d["bins"][:3] == [1, 2, 3] and d["note_length"]["generated"][:3] == [0.4, 0.6, 0.0]
    assert d["note_length"]["real"][:3] == [0.0, 1 / 3, 2 / 3] and abs(sum(d["ioi"]["real"]) - 1) < 1e-12
