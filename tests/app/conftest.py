"""AppTest fixtures: a MUSICGEN_HOME seeded with finished runs and their checkpoints (the empty `home`: tests/conftest.py)."""

from __future__ import annotations

import pytest
from app_helpers import seed_run


@pytest.fixture
def seeded_home(home):
    """MUSICGEN_HOME with four finished runs (adam/adamw × bce, two seeds each) and their checkpoints."""
    ids = [seed_run(f"{o}-s{s}", o, "bce", s) for o in ("adam", "adamw") for s in (0, 1)]
    return home, ids
