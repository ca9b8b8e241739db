"""Sources: walking input folders without leaving them, odd file names, and zips read in one pass."""

from __future__ import annotations

import json
import os
import random
import struct
import zipfile
from pathlib import Path

import pytest
from synthetic import crafted_roll

from musicgen.config import DataConfig
from musicgen.data.datasets import build_dataset
from musicgen.data.midi import write_midi
from musicgen.data.sources import collect_items
from musicgen.errors import DataError

CFG = DataConfig(seq_len=16, hop=16)


def _rows(report: dict) -> dict:
    return {r["file"]: r for r in report["files"]}


def test_a_file_name_that_is_not_utf8_is_read_and_reported_printably(home, tmp_path):
    folder = tmp_path / "in"
    write_midi(crafted_roll(64, seed=0), folder / "plain.mid")
    odd = os.fsencode(folder) + b"/caf\xe9.mid"  # Latin-1 'é': not UTF-8, so Python sees a surrogate
    with open(odd, "wb") as f:
        f.write((folder / "plain.mid").read_bytes())
    report = build_dataset([str(folder)], home / "data" / "odd", CFG, workers=0)
    rows = _rows(report)
    assert rows["caf\\xe9.mid"]["status"] == "ok" and rows["plain.mid"]["status"] == "ok"
    json.loads((home / "data" / "odd" / "report.json").read_text(encoding="utf-8"))  # written as valid UTF-8


def test_links_pipes_and_dangling_links_are_reported_and_never_followed_out(home, tmp_path):
    folder, elsewhere = tmp_path / "in", tmp_path / "elsewhere"
    write_midi(crafted_roll(64, seed=0), folder / "a.mid")
    write_midi(crafted_roll(64, seed=1), elsewhere / "secret.mid")
    (folder / "link_out.mid").symlink_to(elsewhere / "secret.mid")
    (folder / "folder_out").symlink_to(elsewhere)
    (folder / "link_in.mid").symlink_to(folder / "a.mid")
    (folder / "dangling.mid").symlink_to(tmp_path / "nothing.mid")
    os.mkfifo(folder / "pipe.mid")  # reading it would block forever
    (folder / "notes.txt").write_text("not an input: ignored as before")
    report = build_dataset([str(folder)], home / "data" / "links", CFG, workers=0)
    rows = _rows(report)
    assert {n for n, r in rows.items() if r["status"] == "ok"} == {"a.mid", "link_in.mid"}  # a link inside is followed
    reasons = {n: r["reason"] for n, r in rows.items() if r["status"] == "skipped"}
    assert reasons == {
        "link_out.mid": "a link to a file outside the input folder; not followed",
        "folder_out": "a link to a folder; not followed (copy the folder in instead)",
        "dangling.mid": "a dangling link (its target does not exist)",
        "pipe.mid": "a pipe (FIFO), not a file; left out",
    }
    assert all(r["split"] is None and r["notes"] == 0 for r in rows.values() if r["status"] == "skipped")
    assert report["stats"]["files_skipped"] == 4


def test_a_source_that_is_a_pipe_is_reported_not_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.mid")
    items, skipped = collect_items([str(tmp_path / "pipe.mid"), str(tmp_path / "missing.mid")], CFG)
    assert not items
    assert [r["reason"] for r in skipped] == [
        "is not a file or folder (a pipe, device or dangling link); check the path",
        "does not exist; check the path",
    ]


def _tiny_zip(path: Path, n: int) -> Path:
    tiny = write_midi(crafted_roll(16, seed=0), path.parent / "tiny.mid").read_bytes()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            z.writestr(f"d{i // 1000}/p{i}.mid", tiny)
    return path


def _count_opens(monkeypatch, log: Path) -> None:
    """Make every zipfile.ZipFile opened from now on, in this process or a forked worker, append its file to `log`."""
    real = zipfile.ZipFile

    class Counting(real):
        def __init__(self, file, *args, **kwargs):
            with open(log, "a") as f:
                f.write(f"{file}\n")
            super().__init__(file, *args, **kwargs)

    monkeypatch.setattr(zipfile, "ZipFile", Counting)


def test_a_zip_of_20000_entries_is_opened_once(home, tmp_path, monkeypatch):
    archive = _tiny_zip(tmp_path / "many.zip", 20_000)
    log = tmp_path / "opens.log"
    _count_opens(monkeypatch, log)
    report = build_dataset([str(archive)], home / "data" / "many", CFG, workers=0)
    assert report["stats"]["files_ok"] == 20_000
    # Once to list the entries, once to read them after the cache check: was once per entry, quadratic in the entries.
    assert log.read_text().splitlines().count(str(archive)) == 2
    again = build_dataset([str(archive)], home / "data" / "many", CFG, workers=0)
    assert again["cached"] and log.read_text().splitlines().count(str(archive)) == 3  # a cached build only lists it


def test_worker_processes_get_the_bytes_and_never_reopen_the_zip(home, tmp_path, monkeypatch):
    archive = _tiny_zip(tmp_path / "some.zip", 200)
    log = tmp_path / "opens.log"
    _count_opens(monkeypatch, log)
    report = build_dataset([str(archive)], home / "data" / "some", CFG, workers=2)
    assert report["stats"]["files_ok"] == 200 and log.read_text().splitlines().count(str(archive)) == 2  # list, read: no worker


def test_an_empty_zip_is_named_in_the_error(home, tmp_path):
    zipfile.ZipFile(tmp_path / "songs.zip", "w").close()
    with pytest.raises(DataError, match=r"songs\.zip: the archive holds no \.mid/\.midi/\.kar file"):
        build_dataset([str(tmp_path / "songs.zip")], home / "data" / "empty", CFG, workers=0)


def test_a_zip_entry_that_lies_about_its_size_is_refused_and_the_rest_kept(home, tmp_path):
    tiny = write_midi(crafted_roll(16, seed=0), tmp_path / "tiny.mid").read_bytes()
    body = tiny + random.Random(0).randbytes(50_000)  # incompressible: the ratio check alone would let it through
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok.mid", tiny)
        z.writestr("liar.mid", body)
    raw = archive.read_bytes()
    size = struct.pack("<I", len(body))
    assert raw.count(size) == 2  # the local header and the central directory
    archive.write_bytes(raw.replace(size, struct.pack("<I", 100)))  # claims 100 bytes, holds 50 kB
    report = build_dataset([str(archive)], home / "data" / "liar", CFG, workers=0)
    rows = _rows(report)
    assert rows["liar.zip/ok.mid"]["status"] == "ok"
    assert rows["liar.zip/liar.mid"]["status"] == "skipped" and "cannot read the zip entry" in rows["liar.zip/liar.mid"]["reason"]
