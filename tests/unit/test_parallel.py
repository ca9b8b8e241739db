"""Worker processes: the usable-core count, the map, the workers option and memory ceilings.

A crashing item: test_datasets.py, with the parsers; a worker at its memory ceiling: tests/integration/test_limits_processes.py.
"""

import os

import pytest

from musicgen.errors import ConfigError
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


def _out_of_memory_on_three(x):
    if x == 3:
        raise MemoryError  # what numpy raises at an allocation the worker's ceiling refuses
    return x * 10


def test_a_memory_error_costs_only_its_item_in_process():
    out = map_isolated(_out_of_memory_on_three, list(range(5)), workers=0, on_crash=lambda item, msg: f"skipped {item}: {msg}")
    assert out[:3] == [0, 10, 20] and out[4] == 40
    assert out[3] == "skipped 3: needs more memory than this machine has available"


@pytest.mark.parametrize("workers", [-1, 1.5, "2", True])
def test_workers_must_be_a_whole_number_of_at_least_zero(workers):
    with pytest.raises(ConfigError, match=f"workers must be a whole number >= 0 .*got {workers!r}; e.g. --workers"):
        map_isolated(_square, [1, 2], workers=workers)


def test_each_worker_gets_a_share_of_the_machine_within_the_cap(monkeypatch):
    from musicgen import parallel

    monkeypatch.setattr(parallel, "total_memory", lambda: 24 * 2**30)
    assert parallel.worker_memory(2) == parallel.WORKER_MEMORY_CAP == 4 * 2**30
    assert parallel.worker_memory(11) == 2 * 2**30  # 24 GiB over 11 workers and the parent
    assert parallel.worker_memory(1000) == parallel.WORKER_MEMORY_FLOOR
    assert 0 < parallel.usable_memory() and 0 < parallel.total_memory()


def _run_script(tmp_path, body: str):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "script.py"
    script.write_text(body)
    root = str(Path(__file__).resolve().parents[2])
    env = os.environ | {"PYTHONPATH": root}
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_script_without_a_main_guard_gets_one_clear_error(tmp_path):
    # Workers start fresh and import the caller's script again: unguarded, its top level would start workers of its own.
    call = "from musicgen.parallel import map_isolated\nprint(map_isolated(abs, [-1, 2], workers=2))\n"
    out = _run_script(tmp_path, call)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines()[-1] == (
        "musicgen.errors.ConfigError: worker processes do not start; run from a script, its top-level code must sit "
        'under `if __name__ == "__main__":` (or pass workers=0 / --workers 0)'
    )
    guarded = _run_script(
        tmp_path, "def main():\n    " + call.replace("\n", "\n    ") + '\nif __name__ == "__main__":\n    main()\n'
    )
    assert guarded.returncode == 0 and guarded.stdout == "[1, 2]\n"
