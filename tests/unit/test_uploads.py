"""Uploads: one saver for the Dataset page's MIDI files and the Generate page's primer."""

import pytest

from musicgen.data.uploads import save_uploads
from musicgen.errors import ConfigError


def test_same_files_same_folder_and_names_lose_their_path(home):
    files = [("a.mid", b"MThd1"), ("../../etc/b.mid", b"MThd2")]
    folder = save_uploads(files)
    assert folder.parent == home / "uploads"
    assert sorted(p.name for p in folder.iterdir()) == ["a.mid", "b.mid"] and (folder / "b.mid").read_bytes() == b"MThd2"
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}
    assert save_uploads(files) == folder  # saved by content: the second save writes nothing new
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()} == before
    assert save_uploads([("a.mid", b"other")]) != folder


def test_an_upload_without_a_name_is_refused(home):
    with pytest.raises(ConfigError, match="no usable file name"):
        save_uploads([("", b"x")])
