"""Unit fixtures: a tiny dataset of crafted MIDI files, the built-in Bach corpus (`home`: tests/conftest.py)."""

from __future__ import annotations

import os

import pytest
from synthetic import crafted_roll


@pytest.fixture
def tiny_dataset(home):
    """Build a small dataset named 'tiny' from 10 crafted MIDI files under the temporary home; return its folder."""
    from musicgen.data.datasets import build_dataset
    from musicgen.data.midi import write_midi
    from musicgen.paths import data_dir

    src = home / "midi_in"
    for i in range(10):
        write_midi(crafted_roll(150 + 20 * i, seed=i), src / f"song{i}.mid")
    build_dataset([str(src)], data_dir() / "tiny", workers=0)
    return data_dir() / "tiny"


@pytest.fixture(scope="session")
def bach_home(tmp_path_factory):
    """Build builtin:bach once per session under its own MUSICGEN_HOME; return that home (slow: ~20 s on 2 cores)."""
    from musicgen.data.datasets import load_dataset

    home = tmp_path_factory.mktemp("bach_home")
    old = os.environ.get("MUSICGEN_HOME")
    os.environ["MUSICGEN_HOME"] = str(home)
    try:
        load_dataset("builtin:bach")
    finally:
        if old is None:
            os.environ.pop("MUSICGEN_HOME", None)
        else:
            os.environ["MUSICGEN_HOME"] = old
    return home
