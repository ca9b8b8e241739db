"""Built-in corpora: the Bach chorales of music21's corpus, converted once to MIDI and cached.

The conversion reads the MusicXML files of music21's `corpus/bach` folder with a small reader of
its own (positions, durations, chords, voices via backup/forward), which is ~50x faster than a
full music21 parse; a test checks that it gives the same notes as music21. Files it cannot read
fall back to music21.
"""

from __future__ import annotations

import json
import zipfile
from fractions import Fraction
from pathlib import Path
from xml.etree import ElementTree

from musicgen.errors import DataError
from musicgen.parallel import map_isolated
from musicgen.paths import atomic_write, cache_dir

BUILTINS = ("builtin:bach",)
# The one keyboard piece in music21's bach folder; everything else there is a chorale setting.
_NOT_CHORALES = {"bwv846"}
_STEP = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_TPQ = 480  # ticks per quarter of the cached MIDI files: divides every duration the chorales use
_FORMAT = 2  # bump when the conversion changes, so that old caches are rebuilt


def bach_sources() -> list[Path]:
    """Return the MusicXML files of the Bach chorales in music21's corpus, sorted by name."""
    import music21  # lazy: music21 takes seconds to import; only the built-in Bach corpus needs it

    folder = Path(music21.__file__).parent / "corpus" / "bach"
    files = sorted(p for p in folder.iterdir() if p.suffix in (".mxl", ".xml") and p.stem not in _NOT_CHORALES)
    if not files:
        raise DataError(f"music21's corpus has no Bach files under {folder}; reinstall music21 (pip install music21)")
    return files


def _xml_root(path: Path):
    if path.suffix == ".mxl":
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith(".xml") and not n.startswith("META-INF")]
            try:
                container = ElementTree.fromstring(z.read("META-INF/container.xml"))
                names = [container.find(".//rootfile").get("full-path")]
            except (KeyError, AttributeError):
                pass  # no container: the first XML file is the score
            return ElementTree.fromstring(z.read(names[0]))
    return ElementTree.parse(path).getroot()


def notes_from_musicxml(path: Path) -> list[tuple[int, Fraction, Fraction]]:
    """Return the notes (midi pitch, start, end in quarter notes) of a partwise MusicXML or .mxl file."""
    root = _xml_root(Path(path))
    if root.tag != "score-partwise":
        raise ValueError(f"{path}: only score-partwise MusicXML is read here, got {root.tag}")
    out = []
    for part in root.iter("part"):
        pos, divisions, last_start = Fraction(0), 1, Fraction(0)
        tied = {}  # pitch -> index in `out` of a note whose tie continues into a later note
        for measure in part.iter("measure"):
            for el in measure:
                if el.tag == "attributes" and el.find("divisions") is not None:
                    divisions = int(el.find("divisions").text)
                elif el.tag in ("backup", "forward"):
                    d = Fraction(int(el.find("duration").text), divisions)
                    pos += d if el.tag == "forward" else -d
                elif el.tag == "note":
                    if el.find("grace") is not None or el.find("cue") is not None:
                        continue  # grace and cue notes take no time in the score
                    dur = Fraction(int(el.find("duration").text), divisions)
                    start = last_start if el.find("chord") is not None else pos
                    pitch = el.find("pitch")
                    if pitch is not None:
                        alter = pitch.find("alter")
                        midi = 12 * (int(pitch.find("octave").text) + 1) + _STEP[pitch.find("step").text]
                        midi += round(float(alter.text)) if alter is not None else 0
                        ties = {t.get("type") for t in el.findall("tie")}
                        i = tied.pop(midi, None)
                        if "stop" in ties and i is not None and out[i][2] == start:
                            out[i] = (midi, out[i][1], start + dur)  # a tie lengthens the note it continues
                        elif dur > 0:
                            out.append((midi, start, start + dur))
                            i = len(out) - 1
                        if "start" in ties and i is not None:
                            tied[midi] = i
                    if el.find("chord") is None:
                        last_start, pos = pos, pos + dur
    return out


def _notes_from_music21(path: Path) -> list[tuple[int, Fraction, Fraction]]:
    """Return the notes of any score music21 reads (slow; the fallback)."""
    from music21 import converter  # lazy: music21 takes seconds to import; only the built-in Bach corpus needs it

    score = converter.parse(str(path)).stripTies()
    out = []
    for n in score.flatten().notes:
        start = Fraction(n.offset).limit_denominator(960)
        end = start + Fraction(n.quarterLength).limit_denominator(960)
        out.extend((p.midi, start, end) for p in n.pitches if end > start)
    return out


def _merge_unisons(notes: list) -> list:
    """Merge overlapping notes of one pitch (two voices in unison): MIDI cannot pair their note-offs unambiguously."""
    out = []
    for m, a, b in sorted(notes):
        if out and out[-1][0] == m and a < out[-1][2]:
            out[-1] = (m, out[-1][1], max(b, out[-1][2]))
        else:
            out.append((m, a, b))
    return out


def _convert_one(args) -> str | None:
    """Write one score as a MIDI file (120 bpm, quarter = 480 ticks); return an error line or None."""
    src, dst = args
    import symusic  # writes a small file ~20x faster than pretty_midi

    try:
        try:
            notes = notes_from_musicxml(src)
        except (ValueError, KeyError, AttributeError, TypeError, ElementTree.ParseError, zipfile.BadZipFile):
            notes = _notes_from_music21(src)
        notes = _merge_unisons(notes)
        score = symusic.Score(_TPQ)
        score.tempos.append(symusic.Tempo(0, 120.0))
        track = symusic.Track(src.stem, 0, False)
        track.notes.extend([symusic.Note(int(a * _TPQ), int((b - a) * _TPQ), m, 80) for m, a, b in notes if 0 <= m <= 127])
        score.tracks.append(track)
        with atomic_write(dst) as tmp:
            score.dump_midi(str(tmp))
    except Exception as e:  # noqa: BLE001 -- one odd score must not stop the corpus; it is reported
        return f"{src.name}: {type(e).__name__}: {str(e)[:120]}"
    return None


def bach_midi_dir(workers: int | None = None) -> Path:
    """Return a folder of MIDI files of the Bach chorales, converting them on first use (cached by music21 version)."""
    import music21  # lazy: music21 takes seconds to import; only the built-in Bach corpus needs it

    out = cache_dir() / f"bach-music21-{music21.__version__}-v{_FORMAT}"
    marker = out / "done.json"
    if marker.is_file():
        return out
    sources = bach_sources()
    jobs = [(src, out / f"{src.stem}.mid") for src in sources]

    errors = [e for e in map_isolated(_convert_one, jobs, workers=workers) if e]
    with atomic_write(marker) as tmp:
        tmp.write_text(json.dumps({"music21": music21.__version__, "files": len(jobs), "errors": errors}, indent=1))
    return out
