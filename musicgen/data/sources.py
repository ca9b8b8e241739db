"""Find the MIDI files of a dataset's inputs (folders, files, zip archives) and read them safely.

Folders are walked without leaving them: a symbolic link is followed only to a file inside the
same input folder; links elsewhere, dangling links, pipes and devices are reported as skipped.
Zip entries are read into memory, never extracted, so that no entry name can write anywhere;
entries with unsafe names, oversized or over-compressed entries (zip bombs) are refused. Each
archive is opened once, in the parent, and its entries read in order, their bytes handed to the
workers: reopening it per entry reparsed its whole directory each time (quadratic in the entries).
The parent so holds the zips' MIDI bytes while they are parsed: at most MAX_ZIP_TOTAL_MB for a whole
build, across all its archives (each file's size at listing; a zip entry is never read past it).
Two entries of one archive with the same name are two members, the later named "(entry 2 of that name)".
File names that are not UTF-8 are reported with their odd bytes written as \\xNN.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from musicgen.config import DataConfig
from musicgen.data.midi import notes_from_pretty_midi, notes_from_symusic, roll_from_notes
from musicgen.errors import DataError, MidiError

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
MAX_ZIP_RATIO = 100  # MIDI compresses ~2-10x; far more is a zip bomb
# The zip entries a build holds in memory, across all its archives (three 760 MB zips took 2.9 GB when this was
# per archive); loose files are read by the workers one at a time. Unzip a larger collection into a folder.
MAX_ZIP_TOTAL_MB = 256
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError, zlib.error)


@dataclass(frozen=True)
class Item:
    """One MIDI file to read: a file on disk at `path`, or entry `member` of the zip at `path` with its bytes `data`."""

    name: str  # unique name in the report, always printable (see `_printable`)
    path: str
    member: str | None = None
    data: bytes | None = field(default=None, repr=False)
    index: int | None = None  # position of the entry in the zip's directory: names may repeat
    size: int = 0  # bytes unpacked, as the zip's directory says (reading never goes past it)


def _is_midi(name: str) -> bool:
    return name.lower().endswith(MIDI_SUFFIXES)


def _is_input(name: str) -> bool:
    return _is_midi(name) or name.lower().endswith(".zip")


def _printable(name: str) -> str:
    """Return `name` with the bytes that are not UTF-8 (kept by the OS as surrogates) written as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _unsafe(member: str) -> bool:
    p = PurePosixPath(member.replace("\\", "/"))
    # A drive ("C:/x", "C:\\x") is absolute on Windows; "a:b.mid" is a legal POSIX name, and entries are never extracted.
    return p.is_absolute() or ".." in p.parts or bool(re.match(r"[A-Za-z]:[\\/]", member))


def _zip_items(path: Path, name: str, max_bytes: int) -> tuple[list[Item], list[dict]]:
    """List the MIDI entries of a zip from its directory; return (items, skipped report rows). `read_zip_members` reads them."""
    try:
        with zipfile.ZipFile(path) as z:
            return _zip_entries(z, path, name, max_bytes)
    except _ZIP_ERRORS as e:
        return [], [_skip(name, f"not a readable zip archive ({str(e)[:100]})")]


def _zip_entries(z: zipfile.ZipFile, path: Path, name: str, max_bytes: int) -> tuple[list[Item], list[dict]]:
    infos = [(k, i) for k, i in enumerate(z.infolist()) if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    items, skipped, seen = [], [], {}
    for index, info in infos:
        entry = f"{name}/{info.filename}"
        seen[info.filename] = seen.get(info.filename, 0) + 1
        if seen[info.filename] > 1:  # zipfile opens a repeated name as its last entry: read each by position
            entry += f" (entry {seen[info.filename]} of that name)"
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
            items.append(Item(entry, str(path), info.filename, index=index, size=info.file_size))
    if not items and not skipped:
        skipped.append(_skip(name, f"the archive holds no {'/'.join(MIDI_SUFFIXES)} file; zip MIDI files into it"))
    return items, skipped


def _skip(name: str, reason: str) -> dict:
    return {"file": name, "status": "skipped", "reason": reason, "notes": 0, "steps": 0, "dropped_notes": 0, "split": None}


_KINDS = {stat.S_ISFIFO: "a pipe (FIFO)", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device", stat.S_ISBLK: "a device"}


def _not_regular(mode: int) -> str:
    return next((kind for test, kind in _KINDS.items() if test(mode)), "not a regular file")


def _walk(root: Path, base: str) -> Iterator[tuple[Path, str] | dict]:
    """Yield the MIDI and zip files under folder `root` without leaving it, as (path, report name), and skipped rows.

    Lazily, in the order of their sorted paths (each folder's names sorted, a subfolder walked in its place): only
    the names of the folders being walked are held, never the whole listing. A link is followed only to a regular
    file inside `root`; linked folders are not entered.
    """
    inside = root.resolve()

    def report_name(p: Path) -> str:
        return _printable(str(PurePosixPath(base, p.relative_to(root).as_posix())))

    def walk(folder: Path):
        try:
            names = sorted(os.listdir(folder))
        except OSError as e:
            yield _skip(report_name(folder) or ".", f"cannot list the folder ({e.strerror}); check its permissions")
            return
        for f in names:
            p = folder / f
            if p.is_dir():  # following a link, as os.walk sorted them: a linked folder is listed, not entered
                if p.is_symlink():
                    yield _skip(report_name(p), "a link to a folder; not followed (copy the folder in instead)")
                else:
                    yield from walk(p)
                continue
            if not _is_input(f):
                continue
            try:
                mode = p.lstat().st_mode
                if stat.S_ISLNK(mode):
                    target = p.resolve(strict=True)
                    if not target.is_relative_to(inside):
                        yield _skip(report_name(p), "a link to a file outside the input folder; not followed")
                        continue
                    mode = target.stat().st_mode
            except FileNotFoundError:
                yield _skip(report_name(p), "a dangling link (its target does not exist)")
                continue
            except (OSError, RuntimeError) as e:  # RuntimeError: a loop of links
                yield _skip(report_name(p), f"cannot follow the link ({getattr(e, 'strerror', None) or e})")
                continue
            if stat.S_ISREG(mode):
                yield p, report_name(p)
            else:
                yield _skip(report_name(p), f"{_not_regular(mode)}, not a file; left out")

    yield from walk(root)


def iter_items(sources: list, cfg: DataConfig) -> Iterator[Item | dict]:
    """Yield every MIDI file and zip entry under `sources` as an Item, and a row (dict) for each input left out.

    Lazily, in a fixed order (the sources in turn, a folder's files in the order of their sorted paths): a build
    can walk its inputs again instead of holding their listing. A zip's entries are listed from its directory.
    """
    max_bytes = int(cfg.max_file_mb * 2**20)
    prefix = len(sources) > 1  # names stay unique across several sources
    for src in sources:
        root = Path(src).expanduser()
        base = root.name if prefix else ""
        if root.is_dir():
            named = _walk(root, base)
        elif root.is_file():
            named = [(root, _printable(root.name))]
        else:
            why = "is not a file or folder (a pipe, device or dangling link)" if os.path.lexists(root) else "does not exist"
            yield _skip(_printable(str(src)), f"{why}; check the path")
            continue
        for found in named:
            if isinstance(found, dict):
                yield found
                continue
            path, name = found
            try:
                size = path.stat().st_size
            except OSError as e:
                yield _skip(name, f"cannot read the file ({e.strerror})")
                continue
            if path.suffix.lower() == ".zip":
                zi, zs = _zip_items(path, name, max_bytes)
                yield from zi
                yield from zs
            elif not _is_midi(path.name):
                yield _skip(name, f"not a {'/'.join(MIDI_SUFFIXES)} or .zip file")
            elif size == 0:
                yield _skip(name, "empty file (0 bytes)")
            elif size > max_bytes:
                yield _skip(name, f"{size / 2**20:.1f} MB > the {cfg.max_file_mb:g} MB limit; raise --max-file-mb")
            else:
                yield Item(name, str(path))


def collect_items(sources: list, cfg: DataConfig) -> tuple[list[Item], list[dict]]:
    """Find every MIDI file and zip entry under `sources`; return (items to read, rows of files skipped already)."""
    items, skipped = [], []
    for found in iter_items(sources, cfg):
        (skipped if isinstance(found, dict) else items).append(found)
    return items, skipped


def read_zip_members(items: list[Item], max_bytes: int, opened: dict | None = None) -> tuple[list[Item], list[dict]]:
    """Return the items with the bytes of their zip entries read, each archive opened once, and the entries refused.

    Called after the cache check (a cached build unpacks nothing); the bytes go to the workers with the
    items, so no worker reopens an archive (reopening per entry made a zip's time grow with its square).
    `opened` ({path: ZipFile}, the caller closes them) keeps archives open across calls of one build.
    """
    held = sum(item.size for item in items if item.member is not None)
    if held > MAX_ZIP_TOTAL_MB * 2**20:
        raise DataError(
            f"the zip archives of this build unpack to {held / 2**20:,.0f} MB of MIDI, over the {MAX_ZIP_TOTAL_MB} MB "
            "a build holds in memory (MAX_ZIP_TOTAL_MB, across all archives); unzip them into a folder and give the folder"
        )
    out, skipped, archives = [], [], {}
    for item in items:
        if item.member is None:
            out.append(item)
        else:
            archives.setdefault(item.path, []).append(item)
    for path, members in archives.items():
        try:
            z = opened[path] if opened is not None and path in opened else zipfile.ZipFile(path)
            if opened is not None:
                opened[path] = z
            with contextlib.nullcontext(z) if opened is not None else z:
                for item in members:
                    try:
                        info = z.infolist()[item.index] if item.index is not None else z.getinfo(item.member)
                        if info.filename != item.member:
                            raise zipfile.BadZipFile("the archive changed since it was listed")
                        with z.open(info) as f:
                            data = f.read(max_bytes + 1)  # never more than the limit, whatever the header claims
                    except (*_ZIP_ERRORS, IndexError) as e:
                        skipped.append(_skip(item.name, f"cannot read the zip entry ({str(e)[:100]})"))
                        continue
                    if len(data) > max_bytes:
                        skipped.append(
                            _skip(item.name, f"unpacks past the {max_bytes / 2**20:g} MB limit; refused as a zip bomb")
                        )
                    else:
                        out.append(replace(item, data=data))
        except _ZIP_ERRORS as e:
            skipped += [_skip(item.name, f"cannot read the zip archive ({str(e)[:100]})") for item in members]
    order = {item.name: k for k, item in enumerate(items)}
    return sorted(out, key=lambda i: order[i.name]), skipped


def read_item(item: Item) -> bytes:
    """Return the bytes of an item: those read from its zip already, or the file's (its size was checked at listing)."""
    if item.data is not None:
        return item.data
    if item.member is not None:  # a zip entry that read_zip_members did not read beforehand
        try:
            read, refused = read_zip_members([item], MAX_ZIP_TOTAL_MB * 2**20)
        except DataError as e:  # over the build's budget on its own
            raise MidiError(f"{item.name}: {e}") from None
        if refused:
            raise MidiError(f"{item.name}: {refused[0]['reason']}")
        return read[0].data
    try:
        return Path(item.path).read_bytes()
    except OSError as e:
        raise MidiError(f"{item.name}: cannot read the file ({e.strerror or type(e).__name__}); check its permissions") from None


def fingerprint(items: Iterable[Item], skipped: list[dict]) -> str:
    """Return a content hash of the inputs: every file's bytes (zips whole) and the names skipped at listing.

    The items are hashed in the order given (an iterator is read once, its items not kept); `skipped` is read
    after them, so a generator may fill it while it yields the items.
    """
    h = hashlib.sha256()
    zips = set()  # an archive is hashed once, whole; a loose file each time it is listed
    for item in items:
        h.update(item.name.encode("utf-8", "surrogateescape") + b"\0")
        if item.path not in zips:
            if item.member is not None:
                zips.add(item.path)
            with open(item.path, "rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest())
    for row in sorted(skipped, key=lambda r: r["file"]):
        h.update(f"{row['file']}\0{row['reason']}\0".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def load_item(args) -> dict:
    """Read one item into a roll; return {file, status, reason, roll, info} (worker-process entry point)."""
    item, cfg, parser = args
    try:
        data = read_item(item)
        table = (notes_from_symusic if parser == "symusic" else notes_from_pretty_midi)(data, item.name)
        roll, info = roll_from_notes(table, cfg, item.name)
    except MidiError as e:
        return {"file": item.name, "status": "skipped", "reason": str(e).removeprefix(f"{item.name}: "), "roll": None, "info": {}}
    return {"file": item.name, "status": "ok", "reason": "", "roll": roll, "info": info}
