"""Worker processes: the usable-core count and the map (a crashing item: test_datasets.py, with the parsers)."""

import os

from musicgen.parallel import map_isolated, usable_cores


def _square(x):
    return x * x


def test_usable_cores_counts_this_process_s_cores():
    cores = usable_cores()
    assert cores >= 1
    if hasattr(os, "sched_getaffinity"):
        assert cores == len(os.sched_getaffinity(0))


def test_map_isolated_in_process_and_in_workers():
    assert map_isolated(_square, [1, 2, 3], workers=0) == [1, 4, 9]
    assert map_isolated(_square, [1, 2, 3], workers=2) == [1, 4, 9]
