import os
import stat

import pytest

from musicgen.paths import atomic_write, cache_dir, checkpoints_dir, configs_dir, db_path, home_dir, logs_dir, run_dir


def test_atomic_write_replaces_whole_files_with_usual_permissions(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    with atomic_write(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]  # no temporary left


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_home_follows_musicgen_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGEN_HOME", str(tmp_path))
    assert home_dir() == tmp_path.resolve()


def test_every_folder_lives_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGEN_HOME", str(tmp_path))
    home = tmp_path.resolve()
    assert run_dir("r1") == checkpoints_dir() / "r1" == home / "checkpoints" / "r1"
    assert cache_dir() == home / "data" / ".cache"
    assert logs_dir() == home / "logs"
    assert configs_dir() == home / "jobs"  # not configs/: that folder holds the committed recipes
    assert db_path() == home / "runs.sqlite"
