"""Every command with an output path (generate: tests/unit/test_generate.py) fails in one line, before its work, when the
path cannot be written."""

import pytest

from musicgen.cli import main


@pytest.fixture
def places(tmp_path):
    """Return {kind: path} of outputs that cannot be written, whoever runs the tests (root ignores permission bits)."""
    (tmp_path / "blocker").write_text("a file where a folder must be")
    (tmp_path / "folder.out").mkdir()
    return {
        "file as folder": (tmp_path / "blocker" / "r.out", "blocker is a file, not a folder"),
        "file under a file": (tmp_path / "blocker" / "a" / "r.out", "blocker is a file, not a folder"),
        "existing folder": (tmp_path / "folder.out", "it is a folder"),
    }


@pytest.mark.parametrize("kind", ["file as folder", "file under a file", "existing folder"])
@pytest.mark.parametrize(
    "argv",
    [
        ["ensemble", "run-a", "run-b", "--out"],  # checked before the members are looked up
        ["report", "no-such-sweep", "--out"],  # checked before the sweep is read
    ],
    ids=["ensemble", "report"],
)
def test_unwritable_out_is_one_line_naming_path_and_cause(home, places, capsys, kind, argv):
    path, cause = places[kind]
    assert main([*argv, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write --out {path} (") and cause in err and err.count("\n") == 1, err


def test_report_out_that_fails_while_writing(home, monkeypatch, capsys, tmp_path):
    import errno

    import musicgen.study.document as document

    monkeypatch.setattr(document, "study_tables", lambda *a, **k: {})
    monkeypatch.setattr(document, "render", lambda tables, fmt: "# report\n")

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("pathlib.Path.write_text", full)
    out = tmp_path / "r.md"
    assert main(["report", "s1", "--out", str(out), "--samples", "0"]) == 2
    full = "(No space left on device); free some disk space or write elsewhere"
    assert capsys.readouterr().err == f"error: cannot write --out {out} {full}\n"
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "home"]
