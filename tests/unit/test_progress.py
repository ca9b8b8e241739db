"""runs.progress: the trainer's batch progress file, written atomically and at most once a second."""

import json
from pathlib import Path

import pytest

from musicgen.paths import run_dir
from musicgen.runs.progress import FILE_NAME, ProgressWriter, read_progress


class Clock:
    """A clock the test moves by hand (seconds)."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_writes_are_throttled_and_the_eta_follows_the_rate(home):
    clock = Clock()
    w = ProgressWriter("r1", every_s=1.0, clock=clock)
    assert read_progress("r1") is None  # nothing before the first epoch
    w.begin(epoch=2, epochs=5, batch=0, batches=10)
    assert read_progress("r1") | {"time": 0} == {
        "epoch": 2,
        "epochs": 5,
        "batch": 0,
        "batches": 10,
        "seconds": 0.0,
        "eta_s": None,
        "time": 0,
    }
    clock.now += 0.5
    assert not w.update(1)  # half a second after the last write: skipped
    assert read_progress("r1")["batch"] == 0
    clock.now += 0.5
    assert w.update(2)  # 1 s for 2 batches: 8 left take 4 s
    p = read_progress("r1")
    assert (p["batch"], p["seconds"], p["eta_s"]) == (2, 1.0, 4.0)
    clock.now += 0.1
    assert w.update(10)  # the epoch's last batch is always written
    assert read_progress("r1")["batch"] == 10 and read_progress("r1")["eta_s"] == 0.0


def test_a_resumed_epoch_measures_only_its_own_batches(home):
    clock = Clock()
    w = ProgressWriter("r2", clock=clock)
    w.begin(epoch=1, epochs=1, batch=6, batches=10)  # resumed after 6 batches
    clock.now += 2.0
    w.update(8)  # 2 batches in 2 s: 2 left take 2 s (not 6 batches in 2 s)
    assert read_progress("r2")["eta_s"] == 2.0


def test_the_file_is_replaced_whole_and_no_temporary_file_stays(home):
    clock = Clock()
    w = ProgressWriter("r3", clock=clock)
    w.begin(1, 3, 0, 4)
    for b in range(1, 5):
        clock.now += 1.0
        w.update(b)
        json.loads((run_dir("r3") / FILE_NAME).read_text())  # always a whole JSON document
    assert sorted(f.name for f in run_dir("r3").iterdir()) == [FILE_NAME]


@pytest.mark.parametrize("text", ["", "{not json", '{"epoch": 1}', "[1, 2]"])
def test_a_damaged_file_reads_as_none(home, text):
    run_dir("r4").mkdir(parents=True)
    (run_dir("r4") / FILE_NAME).write_text(text)
    assert read_progress("r4") is None


def test_a_note_that_cannot_be_written_does_not_stop_the_training(home, monkeypatch):
    writer = ProgressWriter("r1", every_s=0.0)

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    writer.begin(1, 3, 0, 10)  # raises without the guard
    assert writer.update(5) is True and read_progress("r1") is None
