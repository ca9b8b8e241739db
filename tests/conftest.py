"""Fixtures for every layer: a temporary MUSICGEN_HOME, and the team's JSB Chorales file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The tests start local Ray clusters, in this process and in `ray start` children. Ray reads its auth mode once per
# process, and a token left in ~/.ray by any earlier Ray use turns new clusters to token mode: with the mode fixed
# here for every test, drivers and clusters agree (a test that set it only for itself left the next one mismatched).
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

ROOT = Path(__file__).resolve().parents[1]
JSB_MAT = ROOT.parent / "shared" / "data" / "jsb" / "JSB_Chorales.mat"  # the benchmark's split; see its README there
PIANO_DIR = ROOT.parent / "shared" / "data" / "piano"  # 92 real piano MIDI files: re-strikes, pedal, tempo changes


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """Point MUSICGEN_HOME at a fresh empty folder and return it (tmp_path/home: tmp_path stays free for inputs)."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("MUSICGEN_HOME", str(folder))
    return folder


@pytest.fixture(scope="session")
def jsb_mat() -> Path:
    """Return the path of JSB_Chorales.mat; fail (not skip) with where it belongs when it is missing."""
    if not JSB_MAT.is_file():
        pytest.fail(
            f"{JSB_MAT} is missing: the JSB tests read the team's copy in ../shared/data/jsb/ beside the repo "
            "(the TCN repository's poly_music/mdata/JSB_Chorales.mat)",
            pytrace=False,
        )
    return JSB_MAT


@pytest.fixture(scope="session")
def piano_files() -> list[Path]:
    """Return the team's real piano MIDI files, sorted; fail (not skip) with where they belong when they are missing."""
    files = sorted(PIANO_DIR.glob("*.mid"))
    if not files:
        pytest.fail(f"no MIDI files in {PIANO_DIR}: the piano tests read the team's copy in ../shared/data/piano/", pytrace=False)
    return files
