"""Limits on sizes: crafted MIDI files that asked for absurd memory, bad options, a training step that cannot fit.

The pathological files are written byte by byte, as small as the reliability issue's: a 36-byte file
whose one note lasts a million steps, an 83-byte file whose one note would need a 56 GiB roll, and a
valid 111-byte file (which `--steps-per-beat 100000000` turned into 33 GB). Each must be skipped with a
reason that names the limit and the option that moves it, and the good file beside it must be built.
Tests that start worker processes are in tests/integration/test_limits_processes.py.
"""

from __future__ import annotations

import pickle
import struct

import pytest
from synthetic import make_dataset

from musicgen.cli import main
from musicgen.config import MAX_SEQ_LEN, DataConfig, ModelConfig, TrainConfig
from musicgen.data import rolls
from musicgen.data.datasets import build_dataset, load_dataset
from musicgen.data.rolls import MAX_WINDOWS_PER_FILE, window_count, window_starts
from musicgen.errors import ConfigError, DataError
from musicgen.training.batches import check_step_memory, step_memory_bytes


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _smf(tpq: int, *tracks: bytes) -> bytes:
    head = b"MThd" + struct.pack(">IHHH", 6, 0 if len(tracks) == 1 else 1, len(tracks), tpq)
    return head + b"".join(b"MTrk" + struct.pack(">I", len(t)) + t for t in tracks)


EOT = b"\x00\xff\x2f\x00"
TEMPO_TRACK = b"\x00\xff\x51\x03\x07\xa1\x20" + b"\x00\xff\x58\x04\x04\x02\x18\x08" + EOT  # 120 bpm, 4/4


def far_note_off() -> bytes:
    """36 bytes: one quarter is one tick, and the note-off comes 262,100 ticks later: 1,048,400 steps, 16,381 windows."""
    return _smf(1, b"\x00\x90\x3c\x40" + _vlq(262_100) + b"\x80\x3c\x00" + EOT)


def long_note() -> bytes:
    """83 bytes: one note 178,956,971 quarters long, 715,827,884 steps: a 56 GiB roll at 84 notes."""
    notes = b"\x00\xff\x03\x0clong-note-xx" + b"\x00\xc0\x00" + b"\x00\x90\x3c\x40" + _vlq(178_956_971) + b"\x80\x3c\x00"
    return _smf(1, TEMPO_TRACK, notes + EOT)


def valid_small() -> bytes:
    """111 bytes: a C major arpeggio, one quarter note each, at 480 ticks per quarter."""
    events = b"\x00\xff\x03\x0fpiece-of-music!\x00\xc0\x00"
    for p in (60, 64, 67, 72):
        events += b"\x00" + bytes([0x90, p, 80]) + _vlq(480) + bytes([0x80, p, 0])
    return _smf(480, TEMPO_TRACK, events + EOT)


def held_note(quarters: int, tpq: int = 480) -> bytes:
    """A valid file of one note `quarters` quarter notes long."""
    return _smf(tpq, TEMPO_TRACK, b"\x00\x90\x3c\x40" + _vlq(quarters * tpq) + b"\x80\x3c\x00" + EOT)


@pytest.fixture
def crafted(tmp_path):
    """Write the crafted files and a good one into tmp_path/in; return that folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, data in (("far_note_off.mid", far_note_off()), ("long_note.mid", long_note()), ("valid.mid", valid_small())):
        (folder / name).write_bytes(data)
    return folder


def _rows(report: dict) -> dict:
    return {r["file"]: r for r in report["files"]}


def test_crafted_files_are_as_small_as_the_issue_s():
    assert (len(far_note_off()), len(long_note()), len(valid_small())) == (36, 83, 111)


def test_each_crafted_file_is_skipped_with_its_limit_and_the_good_file_is_built(home, crafted):
    report = build_dataset([str(crafted)], home / "out", workers=0)
    rows = _rows(report)
    assert rows["valid.mid"]["status"] == "ok" and report["stats"]["files_ok"] == 1
    assert rows["long_note.mid"]["status"] == "skipped"
    assert "715,827,884 steps" in rows["long_note.mid"]["reason"]
    assert "MAX_STEPS_PER_FILE" in rows["long_note.mid"]["reason"] and "--steps-per-beat" in rows["long_note.mid"]["reason"]
    assert rows["far_note_off.mid"]["status"] == "skipped"
    assert "16,381 windows" in rows["far_note_off.mid"]["reason"]
    assert "MAX_WINDOWS_PER_FILE" in rows["far_note_off.mid"]["reason"] and "--hop" in rows["far_note_off.mid"]["reason"]
    ds = load_dataset(str(home / "out"))
    assert sum(len(ds.split(s)[0]) for s in ("train", "valid", "test")) == 1  # the good file's one window


def test_a_long_file_on_the_finest_grid_is_skipped_not_built(home, tmp_path):
    folder = tmp_path / "grid"
    folder.mkdir()
    (folder / "valid.mid").write_bytes(valid_small())
    (folder / "hour.mid").write_bytes(held_note(7200))  # one hour at 120 bpm
    report = build_dataset([str(folder)], home / "spb", DataConfig(steps_per_beat=960), workers=0)
    rows = _rows(report)
    assert rows["valid.mid"]["status"] == "ok"
    reason = rows["hour.mid"]["reason"]
    assert "6,912,000 steps (7,200 beats)" in reason and "lower --steps-per-beat" in reason
    report = build_dataset([str(folder)], home / "fs", DataConfig(fs=1000.0), workers=0)
    rows = _rows(report)
    assert rows["valid.mid"]["status"] == "ok"
    reason = rows["hour.mid"]["reason"]
    assert "3,600,000 steps (3,600 s)" in reason and "lower --fs" in reason


def test_the_dataset_s_cells_are_checked_before_the_windows_are_allocated(home, crafted, monkeypatch):
    monkeypatch.setattr(rolls, "MAX_DATASET_CELLS", 1000)  # one window of 128 x 84 is 10,752 cells
    match = r"1 windows of 128 steps x 84 notes = 10,752 cells .*limit of 1,000 \(MAX_DATASET_CELLS\); raise --hop"
    with pytest.raises(DataError, match=match):
        build_dataset([str(crafted / "valid.mid")], home / "cells", workers=0)
    assert not (home / "cells" / "dataset.npz").exists()


def test_window_count_matches_window_starts_without_listing_them():
    for cfg in (DataConfig(), DataConfig(seq_len=16, hop=5), DataConfig(seq_len=2, hop=1), DataConfig(windows="first")):
        for steps in (0, 1, 2, 15, 16, 17, 127, 128, 129, 1000):
            assert window_count(steps, cfg) == len(window_starts(steps, cfg)), (cfg, steps)
    assert window_count(1_048_400, DataConfig()) == 16_381 > MAX_WINDOWS_PER_FILE


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"seq_len": 10**9}, "seq_len must be a whole number from 2 to 65,536, got 1000000000; e.g. --seq-len 128"),
        ({"seq_len": 64.5}, "seq_len has the wrong type: it must be a whole number .* got 64.5 \\(float\\)"),
        ({"hop": 10**7}, "hop must be a whole number from 1 to 65,536, got 10000000"),
        ({"steps_per_beat": 10**8}, "steps_per_beat must be a whole number from 1 to 960, got 100000000; e.g. --steps-per"),
        ({"fs": float("inf")}, r"fs must be a number of steps per second in \[0.5, 1000\], got inf; e.g. --fs 8"),
        ({"fs": float("nan")}, "got nan"),
        ({"fs": 1e6}, "got 1000000.0"),
        ({"low": 10.5}, "low has the wrong type"),
    ],
)
def test_data_options_have_sane_ranges(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DataConfig(**kwargs)


def test_the_largest_data_options_are_accepted():
    DataConfig(seq_len=MAX_SEQ_LEN, hop=MAX_SEQ_LEN, steps_per_beat=960)
    DataConfig(fs=1000.0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"hidden": 100_000}, "hidden must be a whole number from 1 to 8,192, got 100000; e.g. --hidden 256"),
        ({"conv_kernel": 100_000}, "conv_kernel must be a whole number from 1 to 64, got 100000; e.g. --conv-kernel 3"),
        ({"conv_channels": 10**6}, "conv_channels must be a whole number from 1 to 8,192"),
        ({"gru_layers": 100}, "gru_layers must be a whole number from 1 to 16"),
        ({"conv_layers": 100}, "conv_layers must be a whole number from 0 to 16"),
        ({"hidden": 256.0}, "hidden has the wrong type: .* got 256.0 \\(float\\)"),
        ({"n_notes": 1000}, "n_notes must be a whole number from 1 to 128"),
    ],
)
def test_model_sizes_have_sane_ranges(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**kwargs)


def test_step_memory_grows_with_every_size_and_is_refused_past_what_is_free():
    base = ModelConfig()
    need = step_memory_bytes(base, 32, 128)
    assert 100 * 2**20 < need < 400 * 2**20  # measured: 155 MiB on CPU
    for bigger in ({"hidden": 512}, {"conv_channels": 512}, {"conv_kernel": 9}, {"gru_layers": 4}, {"conv_layers": 2}):
        assert step_memory_bytes(ModelConfig(**bigger), 32, 128) > need, bigger
    assert step_memory_bytes(base, 64, 128) > need and step_memory_bytes(base, 32, 256) > need
    check_step_memory(base, 32, 128, "cpu", available=need)
    with pytest.raises(ConfigError, match=r"needs about .* GiB \(batch 32 x 128 steps x 84 notes.* lower --batch-size, --hidden"):
        check_step_memory(base, 32, 128, "cpu", available=need - 1)


def test_the_trainer_refuses_a_step_that_does_not_fit_before_the_run_exists(home, monkeypatch):
    from musicgen.runs import store
    from musicgen.training import batches
    from musicgen.training.train import run_training

    data = make_dataset(home / "synthetic")
    monkeypatch.setattr(batches, "usable_memory", lambda: 100 * 2**20)  # a machine with 100 MiB free
    with pytest.raises(ConfigError, match="one training step needs about 0.[0-9] GiB .* but cpu has 0.1 GiB free"):
        run_training(str(data), ModelConfig(hidden=1024), TrainConfig(epochs=1, device="cpu"))
    assert len(store.list_runs()) == 0


def _one_line_error(capsys, argv: list[str], match: str) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err


def test_bad_arguments_are_one_line_errors(home, crafted, capsys):
    out = str(home / "out")
    empty = home / "empty.pickle"
    empty.write_bytes(pickle.dumps({"train": [], "valid": [], "test": []}))
    valid = str(crafted / "valid.mid")
    cases = [
        (["preprocess", str(empty), "--out", out], "empty.pickle holds no sequence of 2 steps or more"),
        (["preprocess", valid, "--out", out, "--seq-len", "1e9"], "invalid int value: '1e9'; write it as a whole number"),
        (["preprocess", valid, "--out", out, "--seq-len", "1000000000"], "got 1000000000; e.g. --seq-len 128"),
        (["preprocess", valid, "--out", out, "--fs", "inf"], "got inf; e.g. --fs 8"),
        (["preprocess", valid, "--out", out, "--workers", "-1"], "workers must be a whole number >= 0"),
        (["preprocess", valid, "--out", out, "--steps-per-beat", "100000000"], "got 100000000; e.g. --steps-per-beat 4"),
        (["train", "--data", "x", "--hidden", "100000"], "got 100000; e.g. --hidden 256"),
        (["train", "--data", "x", "--conv-kernel", "100000"], "got 100000; e.g. --conv-kernel 3"),
    ]
    for argv, match in cases:
        _one_line_error(capsys, argv, match)
    assert not (home / "out" / "dataset.npz").exists()


def test_a_primer_with_an_absurdly_long_note_is_a_one_line_error(home, crafted, capsys):
    primer = str(crafted / "long_note.mid")
    _one_line_error(capsys, ["generate", "demo", "--primer", primer, "--out", str(home / "g.mid")], "--primer-steps")
    assert main(["generate", "demo", "--primer", primer, "--primer-steps", "32", "--out", str(home / "g.mid")]) == 0


def test_benchmark_files_without_music_are_refused(home):
    for name, d in (
        ("empty.pickle", {"train": [], "valid": [], "test": []}),
        ("blank.pickle", {"train": [[]], "valid": [[[]]], "test": []}),
    ):
        (home / name).write_bytes(pickle.dumps(d))
        with pytest.raises(DataError, match=f"{name} holds no sequence of 2 steps or more"):
            build_dataset([str(home / name)], home / "b")


def test_a_pickle_of_absurd_length_is_refused_before_its_rolls_exist(home, monkeypatch):
    from musicgen.data import benchmark_files

    # A pickle refers to one list for 2 bytes a time: 2**31 cells (the real limit) take a 50 MB file; 2,000 steps show it.
    monkeypatch.setattr(benchmark_files, "MAX_DATASET_CELLS", 88 * 1000)
    step = []
    d = {"train": [[step] * 2000], "valid": [], "test": []}
    (home / "huge.pickle").write_bytes(pickle.dumps(d, protocol=2))
    match = r"huge.pickle holds 2,000 steps, 176,000 cells as piano-rolls, over the limit of 88,000 \(MAX_DATASET_CELLS\)"
    with pytest.raises(DataError, match=match):
        build_dataset([str(home / "huge.pickle")], home / "h")


def test_a_whole_sequence_longer_than_a_window_may_be_is_refused(home):
    d = {"train": [[[60]] * (MAX_SEQ_LEN + 1)], "valid": [[[60], [62]]], "test": []}
    (home / "long.pickle").write_bytes(pickle.dumps(d, protocol=2))
    with pytest.raises(DataError, match="a sequence of 65,537 steps.*--seq-len 128"):
        build_dataset([str(home / "long.pickle")], home / "l")
