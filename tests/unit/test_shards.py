"""Sharded datasets: the same rows as dataset.npz, memory-mapped, built in tasks, migrated, trained on, from the CLI."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from synthetic import TINY_ARGS, crafted_roll

from musicgen.cli import main
from musicgen.config import DataConfig
from musicgen.data import shard_build, shards
from musicgen.data.datasets import build_dataset, dataset_excerpt, list_datasets, load_dataset
from musicgen.data.midi import write_midi
from musicgen.data.rolls import SPLITS, Dataset
from musicgen.errors import DataError
from musicgen.training import shard_batches


def _midi_folder(folder, n=12):
    for i in range(n):
        write_midi(crafted_roll(90 + 37 * i, seed=i), folder / f"song{i:02d}.mid")
    (folder / "broken.mid").write_text("not midi")
    return folder


def _same_rows(old: Dataset, new: Dataset) -> None:
    """Assert that two datasets hold the same rows, lengths, files, starts and bars in every split."""
    with np.load(old.path / "dataset.npz") as z:
        files = {s: z[f"{s}_files"] for s in SPLITS}
    for s in SPLITS:
        x_old, n_old = old.split(s)
        x_new, n_new = new.split(s)
        assert x_new.shape == x_old.shape and len(x_old) > 0
        np.testing.assert_array_equal(np.asarray(x_new), x_old)
        np.testing.assert_array_equal(n_new, n_old)
        np.testing.assert_array_equal(new.index["source"][new.index[f"{s}_piece"]], files[s])
        for a, b in zip(new.positions(s), old.positions(s), strict=True):
            np.testing.assert_array_equal(a, b)


def test_pack_is_two_bits_a_cell_and_round_trips():
    rng = np.random.default_rng(0)
    roll = rng.integers(0, 3, size=(50, 83), dtype=np.uint8)
    packed = shards.pack(roll)
    assert packed.shape == (50, 21) and packed.dtype == np.uint8
    np.testing.assert_array_equal(shards.unpack(packed, 83), roll)
    assert shards.pack(np.array([[1, 2, 0, 2]], dtype=np.uint8)).tolist() == [[1 | 2 << 2 | 2 << 6]]


@pytest.mark.parametrize("windows", ["all", "first"])
def test_sharded_build_holds_the_npz_rows_and_statistics(home, monkeypatch, windows):
    src = _midi_folder(home / "in")
    cfg = DataConfig(seq_len=64, hop=32, windows=windows)
    monkeypatch.setattr(shard_build, "CHUNK_FILES", 5)  # three tasks, so that pieces span several shards
    monkeypatch.setattr(shard_build, "SHARD_BYTES", 2000)
    old_report = build_dataset([str(src)], home / "npz", cfg, workers=0)
    new_report = build_dataset([str(src)], home / "sh", cfg, workers=2, layout="shards")
    assert new_report["stats"] == old_report["stats"] and new_report["layout"] == "shards"
    new = load_dataset(str(home / "sh"))
    assert isinstance(new, shards.ShardedDataset) and new.onsets and new.scoring == old_report["scoring"]
    assert len(new.index["shards"]) > 3  # cut by size within a task, and one set per task
    _same_rows(load_dataset(str(home / "npz")), new)
    on_disk = json.loads((home / "sh" / "report.json").read_text())
    assert [r["file"] for r in on_disk["files"]] == ["broken.mid"]  # the pieces' rows live in index.npz
    listed = {r["file"]: r for r in new.report["files"]}  # and are listed from it when loaded
    assert len(listed) == 13 and listed["song03.mid"]["split"] in SPLITS and listed["broken.mid"]["status"] == "skipped"
    assert {k: listed["song03.mid"][k] for k in ("notes", "steps")} == {
        k: next(r for r in old_report["files"] if r["file"] == "song03.mid")[k] for k in ("notes", "steps")
    }
    assert new.index["counts"][:, 0].sum() == new.report["stats"]["notes"]
    # the same inputs again: the report, not a rebuild
    assert build_dataset([str(src)], home / "sh", cfg, workers=0, layout="shards")["cached"] is True
    piece = int(new.index["test_piece"][0]) if windows == "all" else 0
    name = str(new.index["source"][piece])
    np.testing.assert_array_equal(
        dataset_excerpt(new, name, 3, 20), dataset_excerpt(load_dataset(str(home / "npz")), name, 3, 20)
    )


def test_a_hold_only_benchmark_dataset_migrates_with_the_same_rows(home, capsys):
    d = {
        "train": [[[60, 64], [60], [], [62, 67]] * 5, [[50, 55]] * 9],
        "valid": [[[50], [52]] * 3],
        "test": [[[70, 71], [72]] * 4],
    }
    (home / "b.pickle").write_bytes(pickle.dumps(d, protocol=2))
    build_dataset([str(home / "b.pickle")], home / "data" / "bench")
    assert main(["shard", "bench", "--name", "bench_sh"]) == 0
    assert "2 / 1 / 1 train / valid / test rows" in capsys.readouterr().out
    old, new = load_dataset("bench"), load_dataset("bench_sh")
    assert not new.onsets and new.report["form"] == "hold" and new.report["stats"] == old.report["stats"]
    _same_rows(old, new)
    assert {r["name"] for r in list_datasets()} == {"bench", "bench_sh"}
    assert main(["shard", "bench_sh", "--name", "again"]) == 2  # sharded already: a one-line error
    assert "sharded already" in capsys.readouterr().err


def _mapped(path) -> bool:
    """Return True when this process maps file `path` (/proc/self/maps)."""
    with open("/proc/self/maps") as f:
        return any(line.rstrip().endswith(str(path)) for line in f)


def test_shards_are_read_at_their_offsets_never_mapped_nor_read_whole(home, monkeypatch):
    src = _midi_folder(home / "in")
    build_dataset([str(src)], home / "sh", DataConfig(seq_len=64, hop=32), workers=0, layout="shards")
    unpacked, read = [], []
    real_unpack, real_fromfile = shards.unpack, np.fromfile
    monkeypatch.setattr(shards, "unpack", lambda p, n: unpacked.append(len(p)) or real_unpack(p, n))
    monkeypatch.setattr(shards.np, "fromfile", lambda *a, **k: read.append(k["count"]) or real_fromfile(*a, **k))
    a, b = load_dataset(str(home / "sh")), load_dataset(str(home / "sh"))
    # Opening, counting rows and reading the statistics read and unpack nothing.
    assert len(a.split("train")[0]) == a.report["stats"]["windows"]["train"] and a.report["stats"]["density"] > 0
    assert unpacked == [] and read == []
    x, lengths = a.sampler("train", seed=1).random(4)
    assert x.shape == (4, 64, 84) and (lengths > 0).all() and sum(unpacked) == lengths.sum() <= 4 * 64
    assert sum(read) == lengths.sum() * shards.row_bytes(84)  # the windows' bytes, no more
    rows, _ = b.sampler("train").rows([0, 2])
    np.testing.assert_array_equal(rows, np.asarray(a.train[[0, 2]]))
    # Through the page cache, not a mapping: pages a reader touched do not stay in its memory (they did, mapped).
    assert not any(_mapped((home / "sh" / str(s)).resolve()) for s in a.index["shards"])
    shard = home / "sh" / str(a.index["shards"][0])
    shard.write_bytes(shard.read_bytes()[:200])  # cut short: a clear error, not a short window
    with pytest.raises(DataError, match="shorter than its index says; rebuild"):
        load_dataset(str(home / "sh")).sampler("train").rows(np.arange(len(a.train)))


def test_a_crashed_task_is_rebuilt_file_by_file_to_the_same_shards(home, monkeypatch):
    src = _midi_folder(home / "in", n=4)
    cfg = DataConfig(seq_len=64, hop=32)
    build_dataset([str(src)], home / "a", cfg, workers=0, layout="shards")

    def first_task_dies(fn, items, workers=None, on_crash=None):
        assert fn is shard_build.build_chunk  # the retry (one file a process) goes through map_isolated
        for i, task in enumerate(items):
            yield i, on_crash(task, "the worker process died") if i == 0 else fn(task)

    monkeypatch.setattr(shard_build, "imap_isolated", first_task_dies)
    build_dataset([str(src)], home / "b", cfg, workers=0, layout="shards")
    for f in ("index.npz", *[str(s) for s in load_dataset(str(home / "a")).index["shards"]]):
        assert (home / "a" / f).read_bytes() == (home / "b" / f).read_bytes()


def test_cli_builds_shards_with_progress_and_refuses_what_it_cannot(home, capsys):
    src = _midi_folder(home / "in", n=5)
    args = ["preprocess", str(src), "--name", "mine", "--format", "shards", "--workers", "0", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "shards" and summary["files_ok"] == 5 and summary["files_skipped"][0]["file"] == "broken.mid"
    assert sorted(f["file"] for f in summary["files"]) == [f"song{i:02d}.mid" for i in range(5)]
    assert sum(f["notes"] for f in summary["files"]) == summary["notes"] > 0
    folder = home / "data" / "mine"
    assert (folder / "index.npz").is_file() and not (folder / "dataset.npz").exists()
    seen = []
    build_dataset([str(src)], home / "other", DataConfig(), workers=0, layout="shards", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (6, 6)  # files done / total, the broken one included
    assert main(["preprocess", str(src), "--out", str(home / "x"), "--backend", "ray"]) == 2  # npz is built locally only
    assert "--format shards" in capsys.readouterr().err
    (home / "b.pickle").write_bytes(pickle.dumps({"train": [[[60]]], "valid": [[[60]]], "test": [[[60]]]}, protocol=2))
    with pytest.raises(DataError, match="benchmark file"):
        build_dataset([str(home / "b.pickle")], home / "y", layout="shards")


@pytest.mark.parametrize("per_batch", [False, True])
def test_training_and_evaluation_read_a_sharded_dataset_as_its_npz_twin(home, capsys, monkeypatch, per_batch):
    if per_batch:  # every split read from the shards a batch at a time, as a corpus larger than memory is
        monkeypatch.setattr(shard_batches, "LAZY_BYTES", 0)
        cut = []
        real_cut = shard_batches.LazyRolls.__getitem__
        monkeypatch.setattr(shard_batches.LazyRolls, "__getitem__", lambda self, key: cut.append(1) or real_cut(self, key))
    src = _midi_folder(home / "in", n=10)
    cfg = DataConfig(seq_len=32, hop=16, low=48, high=84)
    build_dataset([str(src)], home / "data" / "sh", cfg, workers=0, layout="shards")
    build_dataset([str(src)], home / "data" / "npz", cfg, workers=0)
    summaries = {}
    for name in ("sh", "npz"):
        argv = ["train", "--data", name, "--epochs", "1", "--batch-size", "8", "--threads", "1", "--device", "cpu", "--json"]
        argv += ["--transpose", "2"]
        assert main(argv + TINY_ARGS) == 0
        out = capsys.readouterr().out.splitlines()
        summaries[name] = json.loads(out[-1])
    assert summaries["sh"]["status"] == "finished" and summaries["sh"]["best"] == summaries["npz"]["best"]
    assert main(["evaluate", summaries["sh"]["id"], "--data", "sh", "--device", "cpu", "--json"]) == 0
    on_shards = json.loads(capsys.readouterr().out)["metrics"]
    assert main(["evaluate", summaries["sh"]["id"], "--data", "npz", "--device", "cpu", "--json"]) == 0
    on_npz = json.loads(capsys.readouterr().out)["metrics"]
    for k in ("nll", "f1_best", "frame_acc_best", "onset_f1", "steps"):
        assert on_shards[k] == pytest.approx(on_npz[k], rel=1e-9), k
    assert np.isfinite(on_shards["nll"]) and on_shards["steps"] > 0
    assert not per_batch or len(cut) > 10


def test_ray_backends_ship_a_sharded_dataset_whole(home, tmp_path):
    from musicgen.runs.ray_cluster import dataset_files, write_dataset_files

    src = _midi_folder(home / "in", n=4)
    build_dataset([str(src)], home / "data" / "sh", DataConfig(seq_len=32, hop=16), workers=0, layout="shards")
    files, where = dataset_files("sh")
    assert where == str(home / "data" / "sh") and any(name.startswith("shards-") for name in files)
    copy = write_dataset_files(files, tmp_path / "copy")  # what a Ray task without a shared filesystem writes
    np.testing.assert_array_equal(np.asarray(load_dataset(str(copy)).train), np.asarray(load_dataset("sh").train))


def test_a_wrong_ray_address_or_an_interrupted_build_leaves_nothing_behind(home, capsys, monkeypatch):
    src = _midi_folder(home / "in", n=3)
    out = home / "out"
    argv = ["preprocess", str(src), "--out", str(out), "--format", "shards", "--backend", "ray", "--ray-address", "127.0.0.1:1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no Ray cluster answers at 127.0.0.1:1" in err
    assert not list(out.glob("shards-*"))

    def interrupted(tasks, workers):
        next(tasks)  # the first task's arguments are made, then the build is cut short
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(shard_build, "_run_local", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_dataset([str(src)], out, DataConfig(), workers=0, layout="shards")
    assert not list(out.glob("shards-*")) and not (out / "report.json").exists()
