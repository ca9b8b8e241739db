"""AppTest fixtures: an empty MUSICGEN_HOME, and one seeded with finished runs and their checkpoints."""

from __future__ import annotations

import pytest
from app_helpers import seed_run


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty MUSICGEN_HOME."""
    monkeypatch.setenv("MUSICGEN_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def seeded_home(home):
    """MUSICGEN_HOME with four finished runs (adam/adamw × bce, two seeds each) and their checkpoints."""
    ids = [seed_run(f"{o}-s{s}", o, "bce", s) for o in ("adam", "adamw") for s in (0, 1)]
    return home, ids
