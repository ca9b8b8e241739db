"""Find the MIDI files of a dataset's inputs (folders, files, zip archives) and read them safely.

Zip entries are read into memory, never extracted, so that no entry name can write anywhere;
entries with unsafe names, oversized or over-compressed entries (zip bombs) are refused.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from musicgen.config import DataConfig
from musicgen.data.midi import notes_from_pretty_midi, notes_from_symusic, roll_from_notes
from musicgen.errors import MidiError

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
MAX_ZIP_RATIO = 100  # MIDI compresses ~2-10x; far more is a zip bomb
MAX_ZIP_TOTAL_MB = 2000  # refuse an archive whose MIDI entries unpack to more than this


@dataclass(frozen=True)
class Item:
    """One MIDI file to read: a file on disk, or an entry `member` of the zip at `path`."""

    name: str  # unique name in the report
    path: str
    member: str | None = None


def _is_midi(name: str) -> bool:
    return name.lower().endswith(MIDI_SUFFIXES)


def _unsafe(member: str) -> bool:
    p = PurePosixPath(member.replace("\\", "/"))
    return p.is_absolute() or ".." in p.parts or (len(member) > 1 and member[1] == ":")


def _zip_items(path: Path, name: str, max_bytes: int) -> tuple[list[Item], list[dict]]:
    """List the MIDI entries of a zip; return (items, skipped report rows)."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = [i for i in z.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        return [], [_skip(name, f"not a readable zip archive ({str(e)[:100]})")]
    items, skipped = [], []
    total = sum(i.file_size for i in infos if _is_midi(i.filename))
    if total > MAX_ZIP_TOTAL_MB * 2**20:
        return [], [_skip(name, f"archive unpacks to {total / 2**20:.0f} MB > {MAX_ZIP_TOTAL_MB} MB; refused as a zip bomb")]
    for info in infos:
        entry = f"{name}/{info.filename}"
        if _unsafe(info.filename):
            skipped.append(_skip(entry, "entry path points outside the archive folder (absolute or '..'); refused"))
        elif info.filename.lower().endswith(".zip"):
            skipped.append(_skip(entry, "nested zip archives are not opened; unpack it first"))
        elif not _is_midi(info.filename):
            continue
        elif info.file_size > max_bytes:
            skipped.append(_skip(entry, f"unpacks to {info.file_size / 2**20:.1f} MB > the {max_bytes / 2**20:g} MB limit"))
        elif info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            skipped.append(_skip(entry, f"compression ratio over {MAX_ZIP_RATIO}; refused as a zip bomb"))
        elif info.file_size == 0:
            skipped.append(_skip(entry, "empty file (0 bytes)"))
        else:
            items.append(Item(entry, str(path), info.filename))
    return items, skipped


def _skip(name: str, reason: str) -> dict:
    return {"file": name, "status": "skipped", "reason": reason, "notes": 0, "steps": 0, "dropped_notes": 0, "split": None}


def collect_items(sources: list, cfg: DataConfig) -> tuple[list[Item], list[dict]]:
    """Find every MIDI file and zip entry under `sources`; return (items to read, rows of files skipped already)."""
    max_bytes = int(cfg.max_file_mb * 2**20)
    items, skipped = [], []
    prefix = len(sources) > 1  # names stay unique across several sources
    for src in sources:
        root = Path(src).expanduser()
        base = root.name if prefix else ""
        if root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.is_file() and (_is_midi(p.name) or p.suffix.lower() == ".zip"))
            named = [(p, str(PurePosixPath(base, p.relative_to(root).as_posix()))) for p in files]
        elif root.is_file():
            named = [(root, root.name)]
        else:
            skipped.append(_skip(str(src), "does not exist; check the path"))
            continue
        for path, name in named:
            try:
                size = path.stat().st_size
            except OSError as e:
                skipped.append(_skip(name, f"cannot read the file ({e.strerror})"))
                continue
            if path.suffix.lower() == ".zip":
                zi, zs = _zip_items(path, name, max_bytes)
                items += zi
                skipped += zs
            elif not _is_midi(path.name):
                skipped.append(_skip(name, f"not a {'/'.join(MIDI_SUFFIXES)} or .zip file"))
            elif size == 0:
                skipped.append(_skip(name, "empty file (0 bytes)"))
            elif size > max_bytes:
                skipped.append(_skip(name, f"{size / 2**20:.1f} MB > the {cfg.max_file_mb:g} MB limit; raise --max-file-mb"))
            else:
                items.append(Item(name, str(path)))
    return items, skipped


def read_item(item: Item, max_bytes: int) -> bytes:
    """Return the bytes of an item, reading at most `max_bytes` from a zip entry (whatever its header claims)."""
    if item.member is None:
        try:
            return Path(item.path).read_bytes()
        except OSError as e:
            raise MidiError(
                f"{item.name}: cannot read the file ({e.strerror or type(e).__name__}); check its permissions"
            ) from None
    try:
        with zipfile.ZipFile(item.path) as z, z.open(item.member) as f:
            data = f.read(max_bytes + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as e:
        raise MidiError(f"{item.name}: cannot read the zip entry ({str(e)[:100]})") from None
    if len(data) > max_bytes:
        raise MidiError(f"{item.name}: unpacks past the {max_bytes / 2**20:g} MB limit; refused as a zip bomb")
    return data


def fingerprint(items: list[Item], skipped: list[dict]) -> str:
    """Return a content hash of the inputs: every file's bytes (zips whole) and the names skipped at listing."""
    h = hashlib.sha256()
    seen = set()
    for item in sorted(items, key=lambda i: i.name):
        h.update(item.name.encode() + b"\0")
        if item.path not in seen:
            seen.add(item.path)
            with open(item.path, "rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
    for row in sorted(skipped, key=lambda r: r["file"]):
        h.update(f"{row['file']}\0{row['reason']}\0".encode())
    return h.hexdigest()


def load_item(args) -> dict:
    """Read one item into a roll; return {file, status, reason, roll, info} (worker-process entry point)."""
    item, cfg, parser = args
    try:
        data = read_item(item, int(cfg.max_file_mb * 2**20))
        table = (notes_from_symusic if parser == "symusic" else notes_from_pretty_midi)(data, item.name)
        roll, info = roll_from_notes(table, cfg, item.name)
    except MidiError as e:
        return {"file": item.name, "status": "skipped", "reason": str(e).removeprefix(f"{item.name}: "), "roll": None, "info": {}}
    return {"file": item.name, "status": "ok", "reason": "", "roll": roll, "info": info}
