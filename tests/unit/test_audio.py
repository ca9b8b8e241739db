import ctypes.util
import sys
import wave

import numpy as np
import pytest

from musicgen.errors import RenderError
from musicgen.music.audio import (
    PEAK,
    check_soundfont,
    default_soundfont,
    fluidsynth_available,
    read_wav,
    render_audio,
    render_wav,
)

SR = 22050  # half of CD rate keeps the tests quick; the duration maths is the same


def chord_roll(steps=16):
    """Return a C-major chord held for half the roll, then a G, as (steps, 84) uint8."""
    roll = np.zeros((steps, 84), np.uint8)
    roll[: steps // 2, [36, 40, 43]] = 1  # C4 E4 G4
    roll[steps // 2 :, 43] = 1
    return roll


def test_fluidsynth_is_installed_here():
    # The project's set-up installs libfluidsynth3; the fallback is tested separately below.
    assert fluidsynth_available()


def test_wav_has_the_expected_duration_and_sound(tmp_path):
    info = render_wav(chord_roll(16), tmp_path / "a.wav", sample_rate=SR, tail_s=0.5, tempo_bpm=120, steps_per_beat=4)
    assert info["backend"] == "fluidsynth"
    with wave.open(str(tmp_path / "a.wav")) as w:
        assert (w.getsampwidth(), w.getnchannels(), w.getframerate()) == (2, 1, SR)
        assert w.getnframes() == round((16 * 0.125 + 0.5) * SR)  # 16 steps of 1/8 s at 120 bpm + tail
    audio, sr = read_wav(tmp_path / "a.wav")
    assert sr == SR
    assert np.sqrt(np.mean(audio[: 2 * SR] ** 2)) > 0.02  # clearly audible, not silence
    peak = np.abs(audio).max()
    assert peak == pytest.approx(PEAK, abs=1e-3)  # normalised to -1 dBFS
    with wave.open(str(tmp_path / "a.wav")) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    assert np.abs(pcm.astype(np.int32)).max() < 32767  # no clipped samples


def test_tempo_and_grid_set_the_duration():
    slow, info = render_audio(chord_roll(8), sample_rate=SR, tail_s=0.0, tempo_bpm=60, steps_per_beat=4)
    assert slow.size == round(8 * 0.25 * SR) and info["duration_s"] == pytest.approx(2.0)
    fixed, _ = render_audio(chord_roll(8), sample_rate=SR, tail_s=0.0, fs=16)
    assert fixed.size == round(8 / 16 * SR)


def test_silent_roll_gives_silence_of_the_right_length(tmp_path):
    info = render_wav(np.zeros((8, 84), np.uint8), tmp_path / "s.wav", sample_rate=SR, tail_s=0.0)
    audio, _ = read_wav(tmp_path / "s.wav")
    assert audio.size == round(1.0 * SR) and not audio.any() and info["peak"] == 0.0


def test_render_from_pretty_midi_object():
    from musicgen.data.midi import midi_from_roll

    pm = midi_from_roll(chord_roll(16), program=19)  # church organ
    audio, _info = render_audio(pm, sample_rate=SR, tail_s=1.0)
    assert audio.size == round((pm.get_end_time() + 1.0) * SR)
    assert np.abs(audio).max() > 0.5


def test_fallback_to_sine_when_libfluidsynth_is_missing(monkeypatch, tmp_path):
    # Simulate a machine without libfluidsynth: pyfluidsynth's import then fails to find the library.
    monkeypatch.delitem(sys.modules, "fluidsynth", raising=False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert not fluidsynth_available()
    with pytest.warns(RuntimeWarning, match="libfluidsynth could not be loaded.*sine"):
        info = render_wav(chord_roll(16), tmp_path / "f.wav", sample_rate=SR, tail_s=0.0)
    assert info["backend"] == "sine" and info["soundfont"] is None
    audio, _ = read_wav(tmp_path / "f.wav")
    assert audio.size == round(2.0 * SR)
    assert np.abs(audio).max() == pytest.approx(PEAK, abs=1e-3)


def test_default_and_custom_soundfonts(tmp_path):
    assert default_soundfont().name == "TimGM6mb.sf2" and check_soundfont() == default_soundfont()
    info = render_wav(chord_roll(8), tmp_path / "c.wav", soundfont=default_soundfont(), sample_rate=SR)
    assert info["soundfont"] == str(default_soundfont())


def test_missing_soundfont(tmp_path):
    with pytest.raises(RenderError, match="soundfont .*nope.sf2 does not exist; give a .sf2 file"):
        render_wav(chord_roll(), tmp_path / "x.wav", soundfont=tmp_path / "nope.sf2")
    assert not list(tmp_path.iterdir())


def test_file_that_is_not_a_soundfont(tmp_path):
    fake = tmp_path / "fake.sf2"
    fake.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(64))  # a WAV header, not sfbk
    with pytest.raises(RenderError, match="fake.sf2 is not a SoundFont 2 file"):
        render_wav(chord_roll(), tmp_path / "x.wav", soundfont=fake)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.sf2"]


def test_unwritable_output_folder_leaves_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RenderError, match="cannot write .*x.wav"):
        render_wav(chord_roll(), blocker / "x.wav", sample_rate=SR)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_bad_sample_rate():
    with pytest.raises(RenderError, match="sample_rate must be an integer between 8000 and 192000"):
        render_audio(chord_roll(), sample_rate=100)


def test_cached_synth_leaves_nothing_from_the_previous_render():
    first, _ = render_audio(chord_roll(16), sample_rate=SR, tail_s=0.0)
    loud = np.zeros((16, 84), np.uint8)
    loud[:, 20:60] = 1  # forty held notes: long release and reverb if anything leaked
    render_audio(loud, sample_rate=SR, tail_s=0.0)
    again, _ = render_audio(chord_roll(16), sample_rate=SR, tail_s=0.0)
    np.testing.assert_allclose(again, first, atol=1e-4)


@pytest.mark.parametrize("fmt", ["ogg", "flac"])
def test_compressed_audio_decodes_to_the_same_length_and_rate_and_is_smaller(tmp_path, fmt):
    import soundfile

    from musicgen.music.audio import encode_audio

    roll = chord_roll(64)
    wav = render_wav(roll, tmp_path / "a.wav", sample_rate=SR, tail_s=0.5, tempo_bpm=120, steps_per_beat=4)
    info = render_wav(roll, tmp_path / f"a.{fmt}", sample_rate=SR, tail_s=0.5, tempo_bpm=120, steps_per_beat=4)
    data, rate = soundfile.read(tmp_path / f"a.{fmt}", dtype="float32")
    assert rate == SR and data.ndim == 1
    assert data.size == round((64 * 0.125 + 0.5) * SR) == round(info["duration_s"] * SR)
    assert (tmp_path / f"a.{fmt}").stat().st_size < (tmp_path / "a.wav").stat().st_size / 2
    pcm, _ = read_wav(wav["path"])
    assert np.abs(data).max() > 0.5 and np.corrcoef(data, pcm)[0, 1] > 0.9  # the same music, not silence or noise
    assert encode_audio(pcm, SR, fmt)[:4] == (b"OggS" if fmt == "ogg" else b"fLaC")


def test_an_unknown_audio_format_is_refused(tmp_path):
    from musicgen.music.audio import write_audio

    with pytest.raises(RenderError, match=r"unknown audio format 'mp3'; use one of wav, ogg, flac"):
        write_audio(np.zeros(100, np.float32), tmp_path / "a.mp3")
    assert not (tmp_path / "a.mp3").exists()
