import os
import stat

import pytest

from musicgen.errors import ConfigError, RenderError
from musicgen.paths import (
    ALLOWED_PATHS_ENV,
    atomic_write,
    cache_dir,
    check_user_file,
    checkpoints_dir,
    configs_dir,
    dataset_dir,
    db_path,
    home_dir,
    is_dataset_name,
    logs_dir,
    run_dir,
    uploads_dir,
)


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
    assert uploads_dir() == home / "uploads"


@pytest.mark.parametrize("name", ["bach", "my-chorales_2", "jsb.v1", "_x", "A1"])
def test_a_dataset_name_is_a_folder_under_data(home, name):
    assert is_dataset_name(name) and dataset_dir(name) == home.resolve() / "data" / name


@pytest.mark.parametrize(
    "name", ["../x", "../../../../x", "/tmp/x", "a/b", "a\\b", ".hidden", "..", ".", "", "a..b", "-x", "é", "x" * 101]
)
def test_a_dataset_name_that_is_a_path_is_refused(home, name):
    assert not is_dataset_name(name)
    with pytest.raises(ConfigError, match="is not a name: use up to 100 letters, digits"):
        dataset_dir(name)


def test_an_existing_dataset_may_have_any_plain_folder_name(home):
    assert dataset_dir("My Set (v2)", new=False) == home.resolve() / "data" / "My Set (v2)"  # preprocess --out "data/My Set (v2)"
    for name in ("../x", "a/b", ".cache", "..", ""):
        assert not is_dataset_name(name, new=False)
        with pytest.raises(ConfigError, match="is not the name of a folder under MUSICGEN_HOME/data"):
            dataset_dir(name, new=False)


def test_app_paths_stay_in_home_or_the_allow_list(home, tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.mat").write_bytes(b"m")
    (outside / "other.mat").write_bytes(b"m")
    (home / "in.mat").write_bytes(b"m")
    assert check_user_file(str(home / "in.mat"), (".mat",), "benchmark file") == home.resolve() / "in.mat"
    assert check_user_file("in.mat", (".mat",), "benchmark file") == home.resolve() / "in.mat"  # relative: from home
    for typed in (outside / "x.mat", home / ".." / "outside" / "x.mat", outside / "missing.mat"):
        with pytest.raises(ConfigError, match="lies outside MUSICGEN_HOME .*MUSICGEN_ALLOWED_PATHS"):
            check_user_file(str(typed), (".mat",), "benchmark file")
    (home / "link.mat").symlink_to(outside / "x.mat")  # a link counts where it points
    with pytest.raises(ConfigError, match="lies outside MUSICGEN_HOME"):
        check_user_file(str(home / "link.mat"), (".mat",), "benchmark file")
    # One file allowed by name allows no sibling; a folder of the allow-list allows its files; the CLI is not confined.
    assert check_user_file(str(outside / "x.mat"), (".mat",), "benchmark file", also=(outside / "x.mat",))
    with pytest.raises(ConfigError, match="lies outside"):
        check_user_file(str(outside / "other.mat"), (".mat",), "benchmark file", also=(outside / "x.mat",))
    assert check_user_file(str(outside / "other.mat"), (".mat",), "benchmark file", confine=False)
    monkeypatch.setenv(ALLOWED_PATHS_ENV, f"{tmp_path / 'nowhere'}{os.pathsep}{outside}")
    assert check_user_file(str(outside / "other.mat"), (".mat",), "benchmark file") == outside.resolve() / "other.mat"


def test_app_paths_must_be_regular_files_of_the_kind(home):
    (home / "folder.mat").mkdir()
    os.mkfifo(home / "pipe.mat")
    (home / "x.txt").write_text("t")
    cases = [
        ("/", "benchmark file / is not a .mat/.pickle file"),
        (str(home / "x.txt"), "is not a .mat/.pickle file"),
        (str(home / "folder.mat"), "is not a regular file"),
        (str(home / "pipe.mat"), "is not a regular file"),
        (str(home / "missing.mat"), "missing.mat does not exist; give the path of a .mat/.pickle file"),
        ("  ", "no benchmark file given"),
    ]
    for typed, message in cases:
        with pytest.raises(ConfigError, match=message):
            check_user_file(typed, (".mat", ".pickle"), "benchmark file")


def test_the_soundfont_rule_is_the_path_rule(home, tmp_path):
    from musicgen.music.audio import check_soundfont, default_soundfont

    outside = tmp_path / "font.sf2"
    outside.write_bytes(default_soundfont().read_bytes()[:64])
    assert check_soundfont(outside) == outside.resolve()  # the CLI's --soundfont: any path
    with pytest.raises(RenderError, match="soundfont .*font.sf2 lies outside MUSICGEN_HOME"):
        check_soundfont(outside, confine=True)
    (home / "font.sf2").mkdir()
    with pytest.raises(RenderError, match="is not a regular file"):
        check_soundfont(home / "font.sf2")
