"""`preprocess` and `datasets` commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

from synthetic import crafted_roll

from musicgen.cli import main
from musicgen.data.midi import write_midi


def test_preprocess_json_and_datasets(home, capsys):
    for i in range(5):
        write_midi(crafted_roll(140, seed=i), home / "in" / f"s{i}.mid")
    (home / "in" / "broken.mid").write_text("not midi")
    out = home / "data" / "mine"
    assert (
        main(["preprocess", str(home / "in"), "--out", str(out), "--seq-len", "64", "--hop", "32", "--workers", "0", "--json"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["files_ok"] == 5 and summary["files_skipped"][0]["file"] == "broken.mid"
    assert sum(summary["windows"].values()) > 5 and summary["notes"] > 0 and summary["out"] == str(out)
    assert (out / "dataset.npz").is_file() and json.loads((out / "report.json").read_text())["config"]["seq_len"] == 64
    assert main(["datasets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["mine"] and rows[0]["stats"]["files_ok"] == 5
    assert main(["preprocess", str(home / "in"), "--out", str(out), "--workers", "0"]) == 0
    assert "skipped broken.mid: not a readable MIDI file" in capsys.readouterr().out


def test_preprocess_fails_with_exit_2_when_nothing_is_usable(home, capsys):
    (home / "bad.mid").write_bytes(b"")
    assert main(["preprocess", str(home / "bad.mid"), "--out", str(home / "x"), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no usable MIDI file") and "empty file" in err and "Traceback" not in err


def test_preprocess_rejects_a_bad_split(home, capsys):
    assert main(["preprocess", "x.mid", "--out", str(home / "x"), "--split", "0.5,0.5"]) == 2
    assert "split must be three non-negative shares" in capsys.readouterr().err


def test_preprocess_name_writes_under_data_and_refuses_a_path(home, tmp_path, capsys):
    write_midi(crafted_roll(140, seed=0), tmp_path / "in" / "a.mid")
    for bad in ("../../x", str(tmp_path / "abs"), ".hidden"):
        assert main(["preprocess", str(tmp_path / "in"), "--name", bad, "--workers", "0"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: dataset name {bad!r} is not a name") and err.count("\n") == 1
    assert not (tmp_path / "x").exists() and not (tmp_path / "abs").exists() and not (home / "data").exists()
    assert main(["preprocess", str(tmp_path / "in"), "--name", "mine", "--workers", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(home / "data" / "mine")
    assert (home / "data" / "mine" / "dataset.npz").is_file()


def test_preprocess_reads_a_file_name_that_is_not_utf8(home, tmp_path, capsys):
    folder = tmp_path / "in"
    write_midi(crafted_roll(140, seed=0), folder / "a.mid")
    with open(os.fsencode(folder) + b"/caf\xe9.mid", "wb") as f:  # crashed with UnicodeEncodeError before
        f.write((folder / "a.mid").read_bytes())
    assert main(["preprocess", str(folder), "--name", "odd", "--workers", "0"]) == 0
    assert "files: 2 ok, 0 skipped" in capsys.readouterr().out


def test_preprocess_out_that_cannot_be_written_is_one_line(home, tmp_path, capsys):
    # The folder is checked before the build: builtin:bach is never built here.
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    cases = [
        (blocker, "is a file, not a folder"),
        (blocker / "sub", "is a file, not a folder"),
        (Path("/proc/x"), "cannot write --out"),
    ]
    if os.geteuid() != 0:  # root writes into a read-only folder anyway
        cases.append((readonly / "d", "Permission denied"))
    for out, match in cases:
        assert main(["preprocess", "builtin:bach", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: cannot write --out") and match in err, err
        assert "Traceback" not in err
    assert blocker.read_text() == "a file"


def test_split_warnings_flag_tiny_and_lopsided_splits():
    from musicgen.data.build import split_warnings

    asked = (0.8, 0.1, 0.1)
    assert split_warnings({"train": 80, "valid": 10, "test": 10}, asked) == []
    assert split_warnings({"train": 0, "valid": 0, "test": 0}, asked) == []
    (line,) = split_warnings({"train": 92, "valid": 51, "test": 12}, asked)  # the 5 files of the issue
    assert line.startswith("lopsided split: 92 / 51 / 12 windows (59% / 33% / 8%, asked 80% / 10% / 10%)")
    (line,) = split_warnings({"train": 200, "valid": 7, "test": 20}, asked)
    assert line == "valid has 7 windows (3% of 227): too few to measure on; add files or raise its share"
    lines = split_warnings({"train": 30, "valid": 40, "test": 30}, asked)
    assert lines == ["train is not the largest split (30 / 40 / 30 windows); add files or try another split seed"]
    assert split_warnings({"train": 100, "valid": 0, "test": 0}, (1.0, 0.0, 0.0)) == []  # empty splits that were not asked for
