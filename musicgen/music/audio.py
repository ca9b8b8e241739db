"""Listening: render a roll or a PrettyMIDI to audio with FluidSynth; write 16-bit WAV, OGG Vorbis or FLAC files.

FluidSynth comes from pyfluidsynth over the system's libfluidsynth (Debian: libfluidsynth3). The
default soundfont is the General MIDI `TimGM6mb.sf2` inside the pretty_midi package, so sound works
with no download. Where libfluidsynth cannot be loaded, rendering falls back to pretty_midi's sine
synthesis with a warning instead of failing. OGG and FLAC go through soundfile (libsndfile): a WAV of a long
piece is tens of MB, its OGG a few percent of that, which is what a page should send to a browser.
"""

from __future__ import annotations

import ctypes
import io
import threading
import warnings
import wave
from pathlib import Path

import numpy as np

from musicgen.data.midi import midi_from_roll
from musicgen.errors import ConfigError, RenderError
from musicgen.paths import atomic_write, check_user_file

DEFAULT_SAMPLE_RATE = 44100
SOUNDFONT_SUFFIXES = (".sf2", ".sf3")  # FluidSynth reads both (.sf3: Ogg-compressed samples)
AUDIO_FORMATS = ("wav", "ogg", "flac")  # file suffixes render_wav/write_audio write; ogg is Vorbis
MIME = {"wav": "audio/wav", "ogg": "audio/ogg", "flac": "audio/flac"}
PEAK = 10 ** (-1 / 20)  # normalise to -1 dBFS: loud, with headroom so int16 rounding never clips
GAIN = 0.5  # FluidSynth master gain; output is float and normalised afterwards, so only the mix matters
# Loading a soundfont costs about as much as rendering a minute of music, so loaded synths are kept
# per (soundfont, mtime, sample rate) and reset before each use; the lock serialises app sessions.
_SYNTHS: dict[tuple, tuple] = {}
_SYNTH_LOCK = threading.Lock()


def default_soundfont() -> Path:
    """Return the path of the General MIDI soundfont shipped inside pretty_midi (TimGM6mb.sf2)."""
    import pretty_midi  # lazy: pretty_midi takes ~1 s to import; few paths need it

    return Path(pretty_midi.__file__).resolve().parent / "TimGM6mb.sf2"


def check_soundfont(path=None, confine: bool = False) -> Path:
    """Return `path` (or the default soundfont) after checking that it is a readable SoundFont 2 file.

    The path follows `paths.check_user_file`: `confine=True` for a path typed in the app (MUSICGEN_HOME or the allow-list).
    """
    hint = "give a .sf2 file, e.g. /usr/share/sounds/sf2/FluidR3_GM.sf2, or leave it out for the built-in TimGM6mb.sf2"
    if path is None:
        p = default_soundfont()
        if not p.is_file():
            raise RenderError(f"soundfont {p} does not exist; reinstall pretty_midi (pip install pretty_midi)")
    else:
        try:
            p = check_user_file(path, SOUNDFONT_SUFFIXES, "soundfont", confine=confine, hint=hint)
        except ConfigError as e:
            raise RenderError(str(e)) from None
    try:
        with open(p, "rb") as f:
            head = f.read(12)
    except OSError as e:
        raise RenderError(f"soundfont {p} cannot be read ({e.strerror}); {hint}") from None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise RenderError(f"{p} is not a SoundFont 2 file (no RIFF/sfbk header); {hint}")
    return p


def _load_fluidsynth():
    """Return the pyfluidsynth module, or None and the reason when libfluidsynth cannot be loaded."""
    try:
        import fluidsynth  # lazy: optional system library: only rendering audio needs it, and its absence is reported then
    except (ImportError, OSError) as e:
        return None, str(e).strip() or type(e).__name__
    return fluidsynth, ""


def fluidsynth_available() -> bool:
    """Return True when libfluidsynth can be loaded (else rendering uses sine waves)."""
    return _load_fluidsynth()[0] is not None


def _events(pm) -> list[tuple[float, int, int, int, int, int]]:
    """Return (time_s, order, channel, kind, pitch, velocity) sorted, note-offs before note-ons at a time."""
    events = []
    for chan, inst in _channels(pm):
        for n in inst.notes:
            events.append((n.start, 1, chan, 1, n.pitch, n.velocity))
            events.append((n.end, 0, chan, 0, n.pitch, 0))
    events.sort()
    return events


def _channels(pm):
    """Pair each instrument with a MIDI channel: drums on 9, the rest on the other 15 in turn."""
    melodic = [c for c in range(16) if c != 9]
    pairs, i = [], 0
    for inst in pm.instruments:
        if inst.is_drum:
            pairs.append((9, inst))
        else:
            pairs.append((melodic[i % len(melodic)], inst))
            i += 1
    return pairs


def _synth(fluidsynth, soundfont: Path, sample_rate: int):
    """Return a cached (Synth, soundfont id, [samples rendered]) for this soundfont file and sample rate."""
    key = (str(soundfont), soundfont.stat().st_mtime_ns, sample_rate)
    if key not in _SYNTHS:
        # Reverb and chorus off: their tails survive `system_reset`, and a reused synth must start
        # silent so that the same roll always renders to the same samples.
        synth = fluidsynth.Synth(gain=GAIN, samplerate=float(sample_rate), **{"synth.reverb.active": 0, "synth.chorus.active": 0})
        sfid = synth.sfload(str(soundfont))
        if sfid < 0:
            synth.delete()
            raise RenderError(f"FluidSynth could not load soundfont {soundfont}; give another .sf2 file")
        _SYNTHS[key] = (synth, sfid, [0])
    return _SYNTHS[key]


def _render_fluidsynth(fluidsynth, pm, n_samples: int, sample_rate: int, soundfont: Path) -> np.ndarray:
    """Return FluidSynth's mono float32 (n_samples,) rendering of `pm`."""
    # pyfluidsynth only wraps 16-bit output, which clips loud chords; float output is normalised later.
    write_float = fluidsynth._fl.fluid_synth_write_float
    write_float.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    write_float.restype = ctypes.c_int
    left = np.zeros(n_samples, np.float32)
    right = np.zeros(n_samples, np.float32)
    with _SYNTH_LOCK:
        synth, sfid, count = _synth(fluidsynth, soundfont, sample_rate)  # count: [samples rendered so far]
        # Silence what the previous render left: the reset fades voices out over the next writes, so
        # blocks are rendered and thrown away until one ends in silence.
        # FluidSynth applies events at its 64-sample block edges, so the scratch also realigns the
        # synth's running sample count to a block edge: then the same roll gives the same samples.
        synth.system_reset()
        for _ in range(16):
            block = 4096 + (-count[0] - 4096) % 64
            scratch = np.zeros(block, np.float32)
            write_float(synth.synth, block, scratch.ctypes.data, 0, 1, scratch.ctypes.data, 0, 1)
            count[0] += block
            if not scratch[-256:].any():
                break
        for chan, inst in _channels(pm):
            synth.program_select(chan, sfid, 128 if inst.is_drum else 0, inst.program)

        def render(start: int, stop: int) -> None:
            if stop > start:
                lp = left.ctypes.data + 4 * start
                rp = right.ctypes.data + 4 * start
                write_float(synth.synth, stop - start, lp, 0, 1, rp, 0, 1)
                count[0] += stop - start

        pos = 0
        for time_s, _, chan, kind, pitch, velocity in _events(pm):
            at = min(round(time_s * sample_rate), n_samples)
            render(pos, at)
            pos = max(pos, at)
            if kind:
                synth.noteon(chan, pitch, velocity)
            else:
                synth.noteoff(chan, pitch)
        render(pos, n_samples)
    return (left + right) / 2


def _render_sine(pm, n_samples: int, sample_rate: int) -> np.ndarray:
    """Return pretty_midi's sine-wave rendering of `pm`, cut or padded to n_samples, float32."""
    audio = np.zeros(n_samples, np.float32)
    if any(inst.notes for inst in pm.instruments):
        wav = pm.synthesize(fs=sample_rate).astype(np.float32)[:n_samples]
        audio[: wav.size] = wav
    return audio


def render_audio(
    roll_or_pm, soundfont=None, sample_rate: int = DEFAULT_SAMPLE_RATE, tail_s: float = 1.0, **midi_kwargs
) -> tuple[np.ndarray, dict]:
    """Render a roll (steps, notes) or a PrettyMIDI to mono float32 audio in [-PEAK, PEAK].

    The audio lasts the roll's steps (or the MIDI's end time) plus `tail_s` seconds for release.
    `midi_kwargs` (low, steps_per_beat, fs, tempo_bpm, program) go to `midi.midi_from_roll`.
    Returns (audio (samples,), info {backend: "fluidsynth"|"sine", soundfont, sample_rate, duration_s}).
    """
    if not (isinstance(sample_rate, int | np.integer) and 8000 <= sample_rate <= 192000):
        raise RenderError(f"sample_rate must be an integer between 8000 and 192000 Hz, got {sample_rate}; use 44100")
    if not tail_s >= 0:
        raise RenderError(f"tail_s must be >= 0 seconds, got {tail_s}")
    soundfont = check_soundfont(soundfont)
    if isinstance(roll_or_pm, (np.ndarray, list)):
        roll = np.asarray(roll_or_pm)
        pm = midi_from_roll(roll, **midi_kwargs)
        fs, spb = midi_kwargs.get("fs"), midi_kwargs.get("steps_per_beat", 4)
        step_s = 1.0 / fs if fs else 60.0 / (midi_kwargs.get("tempo_bpm", 120.0) * spb)
        duration_s = roll.shape[0] * step_s
    else:
        pm = roll_or_pm
        duration_s = float(pm.get_end_time())
    n_samples = round((duration_s + tail_s) * sample_rate)
    fluidsynth, reason = _load_fluidsynth()
    if not any(inst.notes for inst in pm.instruments):
        # Nothing to play: silence, not FluidSynth's noise floor blown up by the normalisation.
        audio, backend = np.zeros(n_samples, np.float32), "fluidsynth" if fluidsynth is not None else "sine"
    elif fluidsynth is not None:
        audio, backend = _render_fluidsynth(fluidsynth, pm, n_samples, sample_rate, soundfont), "fluidsynth"
    else:
        warnings.warn(
            f"libfluidsynth could not be loaded ({reason}); rendering with sine waves instead. "
            "For real instruments install it: apt-get install libfluidsynth3",
            RuntimeWarning,
            stacklevel=2,
        )
        audio, backend = _render_sine(pm, n_samples, sample_rate), "sine"
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 1e-4:  # below -80 dBFS there is only numerical noise to amplify
        audio = audio * np.float32(PEAK / peak)
    info = {
        "backend": backend,
        "soundfont": str(soundfont) if backend == "fluidsynth" else None,
        "sample_rate": sample_rate,
        "duration_s": n_samples / sample_rate,
    }
    return audio.astype(np.float32), info


def int16_from_audio(audio: np.ndarray) -> np.ndarray:
    """Return float audio in [-1, 1] as int16 samples, clipped to the int16 range."""
    return np.clip(np.round(np.asarray(audio, np.float64) * 32767), -32768, 32767).astype(np.int16)


def encode_audio(audio: np.ndarray, sample_rate: int = DEFAULT_SAMPLE_RATE, fmt: str = "ogg") -> bytes:
    """Return mono float audio in [-1, 1] as the bytes of a `fmt` file: wav (16-bit), ogg (Vorbis) or flac (16-bit)."""
    if fmt not in AUDIO_FORMATS:
        raise RenderError(f"unknown audio format {fmt!r}; use one of {', '.join(AUDIO_FORMATS)}")
    if fmt == "wav":
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(int16_from_audio(audio).tobytes())
        return buf.getvalue()
    import soundfile  # lazy: only compressed audio needs libsndfile

    buf = io.BytesIO()
    subtype = "VORBIS" if fmt == "ogg" else "PCM_16"
    audio = np.asarray(audio, np.float32)
    with soundfile.SoundFile(buf, "w", sample_rate, 1, subtype, format=fmt.upper()) as f:
        # In blocks: libsndfile 1.2's Vorbis encoder crashes the process on one write of minutes of audio.
        for start in range(0, audio.size, 2**16):
            f.write(audio[start : start + 2**16])
    return buf.getvalue()


def write_audio(audio: np.ndarray, path, sample_rate: int = DEFAULT_SAMPLE_RATE) -> Path:
    """Write mono float audio in [-1, 1] atomically, in the format its suffix names (.wav, .ogg or .flac)."""
    path = Path(path)
    data = encode_audio(audio, sample_rate, path.suffix.lower().lstrip("."))
    try:
        with atomic_write(path) as tmp:
            tmp.write_bytes(data)
    except OSError as e:
        raise RenderError(f"cannot write {path} ({e.strerror or type(e).__name__}); choose a writable folder") from None
    return path


def render_wav(
    roll_or_pm, path, soundfont=None, sample_rate: int = DEFAULT_SAMPLE_RATE, tail_s: float = 1.0, **midi_kwargs
) -> dict:
    """Render a roll (steps, notes) or a PrettyMIDI to a normalised mono audio file at `path` (.wav, .ogg or .flac).

    Arguments as in `render_audio`; returns its info plus `path` and `peak` (largest |sample|, 0..1).
    Nothing is left at `path` when rendering or writing fails.
    """
    audio, info = render_audio(roll_or_pm, soundfont=soundfont, sample_rate=sample_rate, tail_s=tail_s, **midi_kwargs)
    write_audio(audio, path, sample_rate)
    return {**info, "path": str(path), "peak": float(np.abs(audio).max()) if audio.size else 0.0}


def read_wav(path) -> tuple[np.ndarray, int]:
    """Return (float32 mono audio in [-1, 1], sample_rate) of a 16-bit WAV file."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise RenderError(f"{path} is not 16-bit PCM (sample width {w.getsampwidth()} bytes)")
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, w.getnchannels())
        return (pcm.mean(axis=1) / 32768).astype(np.float32), w.getframerate()
