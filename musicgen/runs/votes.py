"""The blind listening test's votes in the run store (the table: runs/db.py; the test itself: music/listening.py).

A vote is one pair of samples played in the order `first`, `second` and the contender the listener
`chosen` as the more musical. A contender is a checkpoint ref (a run id or a shipped name) or
`real:DATASET` (that dataset's music). Every vote keeps what rebuilds its pair: the pair's seed, each
sample's generation seed (None for real music), the primer, the length in steps and the synthesizer.
"""

from __future__ import annotations

import pandas as pd

from musicgen.errors import StoreError
from musicgen.runs.db import connect, now

VOTE_COLUMNS = [
    "id",
    "created",
    "first",
    "second",
    "chosen",
    "seed_first",
    "seed_second",
    "pair_seed",
    "primer",
    "steps",
    "synth",
    "dataset",
]


def add_vote(
    first: str,
    second: str,
    chosen: str,
    *,
    pair_seed: int,
    seed_first: int | None,
    seed_second: int | None,
    primer: str,
    steps: int,
    synth: str,
    dataset: str,
) -> int:
    """Store one vote and return its id; `chosen` must be `first` or `second`."""
    if chosen not in (first, second):
        raise StoreError(f"a vote chooses one of the pair ({first!r} or {second!r}), not {chosen!r}")
    with connect() as con:
        cur = con.execute(
            "INSERT INTO votes (created, first, second, chosen, seed_first, seed_second, pair_seed, primer, steps, synth, "
            "dataset) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (now(), first, second, chosen, seed_first, seed_second, int(pair_seed), primer, int(steps), synth, dataset),
        )
        return int(cur.lastrowid)


def list_votes(a: str | None = None, b: str | None = None) -> pd.DataFrame:
    """Return the votes (columns VOTE_COLUMNS), oldest first: all, or those of the pair {a, b} in either order."""
    with connect() as con:
        if a is None:
            rows = con.execute("SELECT * FROM votes ORDER BY id").fetchall()
        else:
            rows = con.execute(
                "SELECT * FROM votes WHERE (first = ? AND second = ?) OR (first = ? AND second = ?) ORDER BY id", (a, b, b, a)
            ).fetchall()
    return pd.DataFrame([dict(r) for r in rows], columns=VOTE_COLUMNS)
