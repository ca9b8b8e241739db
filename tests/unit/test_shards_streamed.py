"""A sharded build streams: inputs walked lazily, a few tasks in flight, the index written a chunk at a time."""

from __future__ import annotations

import os

import numpy as np
import pytest
from synthetic import crafted_roll

from musicgen.config import DataConfig
from musicgen.data import build, shard_build, shards
from musicgen.data.datasets import build_dataset, load_dataset
from musicgen.data.midi import write_midi
from musicgen.data.npz_columns import ColumnFiles, read_columns
from musicgen.data.sources import collect_items, iter_items
from musicgen.parallel import imap_isolated


def _dies_on_three(x):
    if x == 3:
        os._exit(1)  # a segfault in a parser, as the worker sees it
    return x * x


def test_imap_isolated_keeps_a_few_items_in_flight_and_survives_a_dying_worker():
    pulled = []

    def items():
        for x in range(10):
            pulled.append(x)
            yield x

    seen = {}
    for i, r in imap_isolated(_dies_on_three, items(), workers=1, on_crash=lambda item, msg: ("crashed", item), in_flight=2):
        seen[i] = r
        assert len(pulled) <= len(seen) + 2  # never more than `in_flight` items drawn ahead of the results
    # The dying item, and at most the one in flight beside it, crashed; a fresh pool took the rest.
    assert seen[3] == ("crashed", 3) and seen[4] in (16, ("crashed", 4))
    assert {i: seen[i] for i in range(10) if i not in (3, 4)} == {i: i * i for i in range(10) if i not in (3, 4)}
    assert dict(imap_isolated(abs, iter([-2, 3]), workers=0)) == {0: 2, 1: 3}  # in this process


def test_column_files_write_the_npz_that_np_savez_writes(tmp_path):
    chunks = [
        {"name": np.array(["a", "bbb"]), "n": np.array([1, 2]), "pair": np.zeros((2, 3), np.int32)},
        {"name": np.array([], dtype=str), "n": np.array([], np.int64), "pair": np.zeros((0, 3), np.int32)},
        {"name": np.array(["cccccc"]), "n": np.array([3]), "pair": np.ones((1, 3), np.int32)},
    ]
    cols = ColumnFiles(tmp_path / "cols")
    for c in chunks:
        for k, v in c.items():
            cols.add(k, v)
    cols.write(tmp_path / "streamed.npz")
    np.savez(tmp_path / "whole.npz", **{k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]})
    with np.load(tmp_path / "streamed.npz") as a, np.load(tmp_path / "whole.npz") as b:
        assert a.files == b.files == ["name", "n", "pair"]
        for k in b.files:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
            np.testing.assert_array_equal(a[k], b[k])
    assert (tmp_path / "streamed.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
    chunks_read = list(read_columns(tmp_path / "streamed.npz", ("pair", "name"), rows=2))  # and read back 2 rows at a time
    assert [len(c["name"]) for c in chunks_read] == [2, 1]
    with np.load(tmp_path / "whole.npz") as b:
        for k in ("pair", "name"):
            np.testing.assert_array_equal(np.concatenate([c[k] for c in chunks_read]), b[k])
    assert not (tmp_path / "cols").exists()
    bad = ColumnFiles(tmp_path / "c2")
    bad.add("x", np.zeros((2, 3)))
    with pytest.raises(ValueError, match="does not extend"):
        bad.add("x", np.zeros((2, 4)))


def test_the_lazy_walk_lists_in_sorted_path_order(tmp_path):
    root = tmp_path / "in"
    for rel in ("a b/x.mid", "a/z.mid", "a/b/y.mid", "a-b.mid", "a.mid", "b/c/d.mid", "c.txt", "Z.MID"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"MThd")
    (root / "linked").symlink_to(root / "a", target_is_directory=True)
    cfg = DataConfig()
    names = [i.name for i in iter_items([str(root)], cfg) if not isinstance(i, dict)]
    wanted = sorted(root.rglob("*.[mM][iI][dD]"))  # the order a build used to sort its whole listing into
    assert names == [p.relative_to(root).as_posix() for p in wanted]
    items, skipped = collect_items([str(root)], cfg)
    assert [i.name for i in items] == names and [r["file"] for r in skipped] == ["linked"]


def test_a_sharded_build_walks_its_inputs_twice_and_hands_out_tasks_as_it_walks(home, monkeypatch):
    src = home / "in"
    for i in range(12):
        write_midi(crafted_roll(90 + 37 * i, seed=i), src / f"song{i:02d}.mid")
    monkeypatch.setattr(shard_build, "MIN_CHUNK_FILES", 3)
    monkeypatch.setattr(shard_build, "CHUNK_FILES", 3)  # four tasks of three files
    walked, started = [], []
    real_iter, real_chunk = build.iter_items, shard_build.build_chunk

    def counted(sources, cfg):
        walked.append(0)
        for found in real_iter(sources, cfg):
            walked[-1] += 1
            yield found

    def chunk(args):
        started.append(walked[-1])  # files the build's walk had listed when this task started
        return real_chunk(args)

    monkeypatch.setattr(build, "iter_items", counted)
    monkeypatch.setattr(shard_build, "build_chunk", chunk)
    cfg = DataConfig(seq_len=64, hop=32)
    report = build_dataset([str(src)], home / "sh", cfg, workers=0, layout="shards")
    # Once to count and hash, once to build; the build's tasks start while it walks, not after a whole listing.
    assert walked == [12, 12] and started == [3, 6, 9, 12]
    assert report["stats"]["files_ok"] == 12 and not (home / "sh" / f"shards-{report['id']}" / shard_build.ROWS).exists()
    build_dataset([str(src)], home / "npz", cfg, workers=0)
    sharded = load_dataset(str(home / "sh"))
    assert isinstance(sharded, shards.ShardedDataset) and len(sharded.index["shards"]) == 4
    np.testing.assert_array_equal(np.asarray(sharded.train), load_dataset(str(home / "npz")).train)
