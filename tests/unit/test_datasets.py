"""Datasets: bad inputs, splits, windows, cache, builtin:bach, the .mat/.pickle importer."""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from synthetic import crafted_roll, make_dataset
from test_midi import write_mido

from musicgen.config import DataConfig
from musicgen.data.datasets import build_dataset, dataset_excerpt, list_datasets, load_dataset
from musicgen.data.midi import roll_from_midi, write_midi
from musicgen.data.rolls import SPLITS, window_starts
from musicgen.errors import ConfigError, DataError
from musicgen.parallel import map_isolated


def _bad_batch(folder: Path, outside: Path) -> dict:
    """Write good files and one file of each bad kind into `folder`; return {name: expected reason pattern}."""
    for i in range(3):
        write_midi(crafted_roll(100 + 40 * i, seed=i), folder / f"good{i}.mid")
    write_midi(crafted_roll(64, seed=9), folder / "sub" / "GOOD_UPPER.MID")
    (folder / "notmidi.mid").write_text("hello, I am a text file")
    (folder / "truncated.mid").write_bytes((folder / "good0.mid").read_bytes()[:30])
    write_mido(folder / "nonotes.mid", [])
    write_mido(folder / "drums.mid", [], drum_notes=[(36, 0, 120)])
    write_mido(folder / "outofrange.mid", [(5, 0, 120)])
    (folder / "zero.mid").write_bytes(b"")
    (folder / "big.mid").write_bytes(b"MThd" + bytes(3 * 2**20))
    (folder / "locked.mid").write_bytes((folder / "good0.mid").read_bytes())
    good = (folder / "good1.mid").read_bytes()
    with zipfile.ZipFile(folder / "pack.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("inner/ok.mid", good)
        z.writestr(f"../{outside.name}/evil.mid", good)
        z.writestr("/abs/evil2.mid", good)
        z.writestr("bomb.mid", bytes(2**20 + 5))  # 1 MB of zeros compresses ~1000x
    return {
        "notmidi.mid": "not a readable MIDI file",
        "truncated.mid": "not a readable MIDI file|no notes",
        "nonotes.mid": "has no notes",
        "drums.mid": "only drum notes",
        "outofrange.mid": "lie outside 24..107",
        "zero.mid": "empty file",
        "big.mid": "MB > the 2 MB limit",
        "locked.mid": "cannot read the file",
        f"pack.zip/../{outside.name}/evil.mid": "outside the archive",
        "pack.zip//abs/evil2.mid": "outside the archive",
        "pack.zip/bomb.mid": "zip bomb",
    }


def test_bad_inputs_are_reported_and_good_files_kept(home, monkeypatch):
    folder, outside = home / "in", home / "outside"
    expected = _bad_batch(folder, outside)
    real = Path.read_bytes

    def read_bytes(self):  # root reads any file, so an unreadable file is simulated
        if self.name == "locked.mid":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    report = build_dataset([str(folder)], home / "ds", DataConfig(max_file_mb=2), workers=0)
    rows = {r["file"]: r for r in report["files"]}
    for name, pattern in expected.items():
        assert rows[name]["status"] == "skipped", name
        assert __import__("re").search(pattern, rows[name]["reason"]), (name, rows[name]["reason"])
    ok = sorted(n for n, r in rows.items() if r["status"] == "ok")
    assert ok == ["good0.mid", "good1.mid", "good2.mid", "pack.zip/inner/ok.mid", "sub/GOOD_UPPER.MID"]
    assert not outside.exists() and not Path("/abs").exists()
    assert report["stats"]["files_ok"] == 5 and report["stats"]["files_skipped"] == len(expected)


def test_no_usable_file_raises(home):
    (home / "x.mid").write_text("nope")
    with pytest.raises(DataError, match="no usable MIDI file among 1 inputs"):
        build_dataset([str(home / "x.mid")], home / "ds", workers=0)


def test_split_is_by_file_disjoint_seeded_and_windows_are_padded(home):
    src = home / "in"
    for i in range(20):
        write_midi(crafted_roll(100 + 17 * i, seed=i), src / f"f{i:02d}.mid")
    cfg = DataConfig(seq_len=32, hop=16)
    report = build_dataset([str(src)], home / "a", cfg, workers=2)
    with np.load(home / "a" / "dataset.npz") as z:
        files = {s: set(z[f"{s}_files"].tolist()) for s in SPLITS}
        x, lengths = z["train"], z["train_lengths"]
    assert not (files["train"] & files["valid"]) and not (files["train"] & files["test"]) and not (files["valid"] & files["test"])
    assert [len(files[s]) for s in SPLITS] == [16, 2, 2]
    assert {r["file"]: r["split"] for r in report["files"]} == {f: s for s in SPLITS for f in files[s]}
    for w, n in zip(x, lengths, strict=True):
        assert 1 <= n <= 32 and not w[n:].any() and w[:n].any()
    assert (lengths < 32).any() and (lengths == 32).any()
    other = build_dataset([str(src)], home / "b", DataConfig(seq_len=32, hop=16, seed=1), workers=0)
    assert [r["split"] for r in other["files"]] != [r["split"] for r in report["files"]]
    again = build_dataset([str(src)], home / "c", cfg, workers=0)
    assert [r["split"] for r in again["files"]] == [r["split"] for r in report["files"]]


def test_window_starts_and_first_mode():
    cfg = DataConfig()
    assert window_starts(300, cfg) == [0, 64, 128, 192]
    assert window_starts(128, cfg) == [0]
    assert window_starts(129, cfg) == [0, 64]
    assert window_starts(1000, DataConfig(windows="first")) == [0]


def test_silent_windows_are_dropped(home):
    roll = np.zeros((400, 84), np.uint8)
    roll[:10, 30] = 1
    roll[390:, 40] = 1
    write_midi(roll, home / "in" / "gap.mid")
    build_dataset([str(home / "in")], home / "ds", DataConfig(split=(1, 0, 0)), workers=0)
    ds = load_dataset(str(home / "ds"))
    # windows start at 0, 64, ..., 320; only the first and the last (320..399, padded) sound
    assert ds.train_lengths.tolist() == [128, 80] and ds.train.shape == (2, 128, 84)


def test_cache_hit_and_rebuild_on_change(home):
    src = home / "in"
    for i in range(4):
        write_midi(crafted_roll(90, seed=i), src / f"s{i}.mid")
    first = build_dataset([str(src)], home / "ds", workers=0)
    mtime = (home / "ds" / "dataset.npz").stat().st_mtime_ns
    second = build_dataset([str(src)], home / "ds", workers=0)
    assert second["cached"] and second["id"] == first["id"]
    assert (home / "ds" / "dataset.npz").stat().st_mtime_ns == mtime
    write_midi(crafted_roll(90, seed=99), src / "s0.mid")
    third = build_dataset([str(src)], home / "ds", workers=0)
    assert not third["cached"] and third["id"] != first["id"]
    assert build_dataset([str(src)], home / "ds", DataConfig(hop=32), workers=0)["id"] != third["id"]


def test_load_list_and_excerpt(tiny_dataset):
    ds = load_dataset("tiny")
    assert ds.path == tiny_dataset and ds.config == DataConfig() and len(ds.id) == 16
    x, lengths = ds.split("train")
    assert x.dtype == np.uint8 and x.shape[1:] == (128, 84) and len(lengths) == len(x)
    # Valid and test hold whole pieces: one row per file, as long as the longest.
    x, lengths = ds.split("valid")
    valid_rows = [r for r in ds.report["files"] if r["split"] == "valid"]
    assert len(x) == len(valid_rows) and x.shape[1] == lengths.max() == max(r["steps"] for r in valid_rows)
    assert ds.onsets and ds.scoring == "whole pieces" and set(np.unique(ds.train)) == {0, 1, 2}
    assert [d["name"] for d in list_datasets()] == ["tiny"]
    row = next(r for r in ds.report["files"] if r["split"] == "train")
    src_roll, _ = roll_from_midi(tiny_dataset.parent.parent / "midi_in" / row["file"], DataConfig())
    np.testing.assert_array_equal(dataset_excerpt(ds, row["file"], 50, 100), src_roll[50:150])
    with pytest.raises(DataError, match="not a file of dataset"):
        dataset_excerpt(ds, "nope.mid", 0, 10)
    with pytest.raises(DataError, match="no dataset 'missing'"):
        load_dataset("missing")
    with pytest.raises(DataError, match="unknown split"):
        ds.split("dev")


def test_builtin_bach_has_at_least_350_chorales(bach_home, monkeypatch):
    monkeypatch.setenv("MUSICGEN_HOME", str(bach_home))
    ds = load_dataset("builtin:bach")
    st = ds.report["stats"]
    assert st["files_ok"] >= 350 and ds.config == DataConfig()
    assert len(ds.train) + len(ds.valid) + len(ds.test) == sum(st["windows"].values()) > 1000
    assert 0.01 < st["density"] < 0.1 and 3 < st["mean_polyphony"] < 5  # four voices
    again = build_dataset(["builtin:bach"], ds.path)
    assert again["cached"]


def test_bach_midi_agrees_with_music21_and_both_parsers(bach_home):
    from musicgen.data.corpora import _notes_from_music21, bach_sources, notes_from_musicxml

    src = bach_sources()
    for p in (src[3], src[200]):
        assert sorted(notes_from_musicxml(p)) == sorted(_notes_from_music21(p))
    cached = sorted((bach_home / "data" / ".cache").glob("bach-*/*.mid"))
    assert len(cached) >= 350
    for f in cached[::40]:
        a, _ = roll_from_midi(f, DataConfig(), parser="symusic")
        b, _ = roll_from_midi(f, DataConfig(), parser="pretty_midi")
        np.testing.assert_array_equal(a, b)


def test_mat_importer_on_jsb(home, jsb_mat):
    import scipy.io

    report = build_dataset([str(jsb_mat)], home / "jsb")
    ds = load_dataset(str(home / "jsb"))
    assert [len(ds.train), len(ds.valid), len(ds.test)] == [229, 76, 77]
    assert [int(ds.split(s)[1].sum()) for s in SPLITS] == [13807, 4602, 4725]
    longest = max(int(ds.split(s)[1].max()) for s in SPLITS)
    assert ds.train.shape[1] == ds.test.shape[1] == longest == 160 and ds.config.steps_per_beat == 1
    assert report["key_map"]["dropped_cells"] == 0 and report["key_map"]["used_pitches"] == [43, 96]
    raw = scipy.io.loadmat(jsb_mat)["traindata"][0][5]
    n = ds.train_lengths[5]
    np.testing.assert_array_equal(ds.train[5, :n], raw[:, 3:87])  # column j of 88 is MIDI 21 + j; ours is 24 + i
    assert not ds.train[5, n:].any()
    windowed = build_dataset([str(jsb_mat)], home / "jsbw", DataConfig(steps_per_beat=1, seq_len=32, hop=32))
    assert windowed["stats"]["windows"]["train"] > 229


def test_pickle_importer_and_refusal_of_code(home):
    d = {"train": [[[60, 64], [60], [], [21, 108]]], "valid": [[[50]]], "test": [[[70, 71], [72]]]}
    (home / "b.pickle").write_bytes(pickle.dumps(d, protocol=2))
    report = build_dataset([str(home / "b.pickle")], home / "p")
    ds = load_dataset(str(home / "p"))
    assert ds.train.shape == (1, 4, 84) and ds.train[0, 0, 60 - 24] == 1 and ds.train[0, 0].sum() == 2
    assert report["key_map"]["dropped_cells"] == 2  # MIDI 21 and 108 lie outside 24..107

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    buf = io.BytesIO()
    pickle.dump({"train": Evil()}, buf)
    (home / "evil.pickle").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="refusing to load"):
        build_dataset([str(home / "evil.pickle")], home / "e")


def _crash_on_three(x):
    if x == 3:
        os._exit(1)  # stands in for a segfault inside a C parser
    return x * 10


def test_a_crashing_worker_costs_only_its_item():
    out = map_isolated(_crash_on_three, list(range(8)), workers=2, on_crash=lambda item, msg: f"crashed {item}")
    assert out == [0, 10, 20, "crashed 3", 40, 50, 60, 70]


def test_report_json_on_disk_matches_format(tiny_dataset):
    report = json.loads((tiny_dataset / "report.json").read_text())
    assert {"files", "config", "stats", "id"} <= set(report)
    assert {"density", "mean_polyphony", "empty_step_share", "pitch_histogram", "windows", "notes"} <= set(report["stats"])
    assert len(report["stats"]["pitch_histogram"]) == 84
    assert set(report["files"][0]) == {
        "file",
        "status",
        "reason",
        "notes",
        "steps",
        "dropped_notes",
        "restrikes",
        "merged_notes",
        "pedal_extended",
        "split",
    }
    assert report["form"] == "onsets" and report["scoring"] == "whole pieces"


def test_dataset_exists_follows_load_dataset(home):
    from musicgen.data.datasets import dataset_exists
    from musicgen.paths import data_dir

    d = {"train": [[[60, 64], [60]]], "valid": [[[50]]], "test": [[[70, 71], [72]]]}
    (home / "b.pickle").write_bytes(pickle.dumps(d, protocol=2))
    build_dataset([str(home / "b.pickle")], data_dir() / "small")
    for ref in ("small", str(data_dir() / "small"), "builtin:bach"):
        assert dataset_exists(ref), ref
    assert load_dataset("small").path == load_dataset(str(data_dir() / "small")).path
    for ref in ("missing", "small:b.pickle", str(home)):
        assert not dataset_exists(ref), ref


def test_a_name_is_looked_up_under_data_only_when_it_is_a_name(home, tmp_path, monkeypatch):
    from musicgen.data.datasets import dataset_exists
    from musicgen.paths import data_dir

    make_dataset(home / "beside")  # beside data/, reachable before as data_dir() / "../beside"
    make_dataset(data_dir() / "mine", seed=1)
    make_dataset(tmp_path / "cwd" / "mine", seed=2)
    monkeypatch.chdir(tmp_path / "cwd")
    assert not dataset_exists("../beside")
    with pytest.raises(DataError, match="no dataset '../beside'"):
        load_dataset("../beside")
    assert load_dataset("mine").id == "synthetic-1-60"  # the name under data/ first, then a folder ./mine
    assert load_dataset("./mine").id == "synthetic-2-60" and load_dataset(str(home / "beside")).id == "synthetic-0-60"
    make_dataset(data_dir() / "My Set", seed=3)  # a name `preprocess --out` allows: still found by name
    assert load_dataset("My Set").id == "synthetic-3-60"


def test_a_benchmark_file_must_be_a_regular_file(home):
    (home / "folder.mat").mkdir()
    with pytest.raises(ConfigError, match="benchmark file .*folder.mat is not a regular file"):
        build_dataset([str(home / "folder.mat")], home / "data" / "x")
    assert not (home / "data").exists()
