"""Worker processes under a memory ceiling: an item that would take the machine costs only itself.

Every allocation here stays small (at most ~600 MB, in one process), so that the tests are safe even
on code without the ceiling, where they fail instead of skipping.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import zipfile

import mido
import numpy as np

from musicgen import parallel
from musicgen.config import DataConfig
from musicgen.data.datasets import build_dataset
from musicgen.parallel import map_isolated
from musicgen.paths import REPO_ROOT


def _grow(x):
    if x == 2:
        return int(np.ones(600 * 2**20, dtype=np.uint8).sum())  # 600 MB, touched: what a runaway roll does
    return x


def test_an_item_past_its_worker_s_ceiling_is_skipped_and_the_others_are_computed():
    out = map_isolated(_grow, list(range(5)), workers=2, on_crash=lambda item, msg: f"skipped {item}: {msg}", memory_bytes=2**28)
    assert out[:2] == [0, 1] and out[3:] == [3, 4]
    assert out[2] == "skipped 2: needs more than its worker's memory ceiling of 256 MiB (WORKER_MEMORY_CAP)"


def _killed_on_two(x):
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's out-of-memory killer does
    return x


def test_a_worker_killed_by_the_kernel_costs_only_its_item():
    out = map_isolated(_killed_on_two, list(range(5)), workers=2, on_crash=lambda item, msg: f"skipped {item}: {msg}")
    assert out[:2] == [0, 1] and out[3:] == [3, 4]
    assert out[2].startswith("skipped 2: the worker process died on it (a crash in the parser, or its")


def _write(path, notes, tpq=480):
    """Write a one-track MIDI of [(pitch, start_tick, end_tick)] at 120 bpm."""
    events = sorted([(s, 1, p) for p, s, e in notes] + [(e, 0, p) for p, s, e in notes])
    track, tick = mido.MidiTrack(), 0
    for at, on, p in events:
        track.append(mido.Message("note_on" if on else "note_off", note=p, velocity=80 if on else 0, time=at - tick))
        tick = at
    mf = mido.MidiFile(type=0, ticks_per_beat=tpq)
    mf.tracks.append(track)
    mf.save(path)


def test_a_build_in_workers_skips_the_crafted_files_and_keeps_the_good_one(home, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "far_note_off.mid", [(60, 0, 262_100)], tpq=1)  # 16,381 windows
    _write(folder / "long_note.mid", [(60, 0, 178_956_971)], tpq=1)  # a 56 GiB roll
    _write(folder / "valid.mid", [(60, 0, 480), (64, 480, 960), (67, 960, 1440)])
    report = build_dataset([str(folder)], home / "out", workers=2)
    rows = {r["file"]: r for r in report["files"]}
    assert rows["valid.mid"]["status"] == "ok"
    assert "MAX_WINDOWS_PER_FILE" in rows["far_note_off.mid"]["reason"]
    assert "MAX_STEPS_PER_FILE" in rows["long_note.mid"]["reason"]


def test_a_file_that_exhausts_its_worker_is_skipped_and_the_build_goes_on(home, tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "valid.mid", [(60, 0, 480), (64, 480, 960)])
    _write(folder / "long.mid", [(60, 0, 250_000)], tpq=1)  # 1M steps, within the limits: an 84 MB roll
    monkeypatch.setattr(parallel, "WORKER_MEMORY_CAP", 48 * 2**20)
    monkeypatch.setattr(parallel, "WORKER_MEMORY_FLOOR", 48 * 2**20)
    report = build_dataset([str(folder)], home / "out", DataConfig(windows="first"), workers=2)
    rows = {r["file"]: r for r in report["files"]}
    assert rows["valid.mid"]["status"] == "ok"
    assert rows["long.mid"]["status"] == "skipped"
    reason = rows["long.mid"]["reason"]
    assert reason == (
        "needs more than its worker's memory ceiling of 48 MiB (WORKER_MEMORY_CAP); cut the file or lower --steps-per-beat/--fs"
    )


def _big_result(x):
    return np.ones(200 * 2**20, dtype=np.uint8) if x == 1 else x  # fits the ceiling once, not twice (its pickled copy)


def test_a_result_too_big_to_send_back_is_skipped_and_the_others_are_computed():
    out = map_isolated(_big_result, [0, 1, 2], workers=2, on_crash=lambda item, msg: f"skipped {item}: {msg}", memory_bytes=2**28)
    assert out[0] == 0 and out[2] == 2
    assert out[1] == "skipped 1: its result does not fit its worker's memory ceiling of 256 MiB (WORKER_MEMORY_CAP)"


class _Cycle:
    pass


def _allocate(x):
    gc.collect()  # as any work that makes objects soon does, freeing what the parent left
    return len(np.ones(x * 2**20, dtype=np.uint8))


def test_the_parent_s_garbage_does_not_lend_a_worker_room_above_its_ceiling():
    gc.disable()  # the parent holds 300 MB of cyclic garbage when it forks, as a long test session or app may
    try:
        for _ in range(3):
            node = _Cycle()
            node.self, node.buf = node, np.ones(100 * 2**20, dtype=np.uint8)
        del node
        out = map_isolated(_allocate, [1, 100], workers=2, on_crash=lambda item, msg: msg, memory_bytes=2**26)
    finally:
        gc.enable()
        gc.collect()
    assert out == [2**20, "needs more than its worker's memory ceiling of 64 MiB (WORKER_MEMORY_CAP)"]


def _allocate_pieces(mb):
    return len([bytearray(20 * 2**20) for _ in range(mb // 20)]) * 20  # pieces that fit in the holes of a heap


def test_the_parent_s_freed_heap_does_not_lend_a_worker_room_above_its_ceiling():
    # A long test session or app leaves holes in its heap: freed, yet still inside its address space. A worker
    # that were a copy of it (fork) could fill them past its ceiling without growing that space (glibc serves
    # blocks under its mmap threshold, raised to 30 MB below by freeing a block of that size, from the heap).
    bytearray(30 * 2**20)  # allocated and freed at once
    blocks, pins = [], []
    for _ in range(8):
        blocks.append(bytearray(25 * 2**20))
        pins.append(bytearray(1024))  # keeps each block's hole from merging into the heap's top and being trimmed
    del blocks
    out = map_isolated(_allocate_pieces, [20, 100], workers=2, on_crash=lambda item, msg: msg, memory_bytes=2**26)
    assert len(pins) == 8
    assert out == [20, "needs more than its worker's memory ceiling of 64 MiB (WORKER_MEMORY_CAP)"]


# Linux starts a child's peak memory at its parent's (fork, vfork, then exec keep the high-water mark): the
# child is started from this small process, not from the test session, whose peak would be read instead.
_MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _peak_rss_mb(home, tmp_path, *argv) -> tuple[int, str, float]:
    """Run `python -m musicgen argv` in a child; return (exit code, its stderr, its peak resident memory in MB)."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-m", "musicgen", *map(str, argv)],
        env={**os.environ, "MUSICGEN_HOME": str(home)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    code, peak_kb = done.stdout.split()
    return int(code), done.stderr, int(peak_kb) / 1024


def _one_line(err: str) -> bool:
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


_MAT_BOMB = """
import sys
import numpy as np
from scipy.io import savemat
seqs = np.empty((1, 1), dtype=object)
seqs[0, 0] = np.zeros((5_000_000, 88), dtype=np.uint8)  # 440 MB of zeros: about 0.5 MB compressed
small = np.empty((1, 1), dtype=object)
small[0, 0] = np.zeros((4, 88), dtype=np.uint8)
savemat(sys.argv[1], {"traindata": seqs, "validdata": small, "testdata": small}, do_compression=True)
"""


def test_18_a_compressed_mat_that_unpacks_past_its_limit_is_refused_before_it_is_inflated(home, tmp_path):
    bomb = tmp_path / "bomb.mat"
    subprocess.run([sys.executable, "-c", _MAT_BOMB, str(bomb)], check=True)
    assert bomb.stat().st_size < 2**20
    code, err, peak = _peak_rss_mb(home, tmp_path, "preprocess", bomb, "--out", tmp_path / "o")
    assert code == 2 and _one_line(err) and "bomb.mat unpacks to more than 256 MB (MAX_MAT_MB)" in err, err
    assert peak < 500, f"peak {peak:.0f} MB"  # loadmat inflated it whole first: about 1 GB


def test_19_one_budget_holds_for_all_the_zips_of_a_build(home, tmp_path):
    # Each entry is 19 MB under --max-file-mb 20 and compresses 64:1 (under MAX_ZIP_RATIO); each zip alone holds 152 MB.
    block = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    entry = (block * (19 * 2**20 // len(block) + 1))[: 19 * 2**20]
    zips = []
    for k in range(3):
        zips.append(tmp_path / f"z{k}.zip")
        with zipfile.ZipFile(zips[-1], "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for i in range(8):
                z.writestr(f"song{i}.mid", entry)
    code, err, peak = _peak_rss_mb(home, tmp_path, "preprocess", *zips, "--out", tmp_path / "o")
    assert code == 2 and _one_line(err), err
    assert "the zip archives of this build unpack to 456 MB of MIDI, over the 256 MB a build holds in memory" in err, err
    assert peak < 500, f"peak {peak:.0f} MB"  # a budget per archive let the parent hold all three: 456 MB of bytes
