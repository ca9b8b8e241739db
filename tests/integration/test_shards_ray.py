"""`preprocess --format shards --backend ray` on a two-node Ray cluster here: the local build's bytes, bad files reported."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from synthetic import crafted_roll

from musicgen.cli import main
from musicgen.data import shard_build
from musicgen.data.midi import write_midi

RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(*args: str, temp: str) -> subprocess.Popen:
    """Start one Ray node in the foreground (--block), so that ending this process ends the node and only it."""
    return subprocess.Popen(
        [str(RAY), "start", "--block", "--num-cpus", "1", "--disable-usage-stats", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RAY_TMPDIR": temp, "RAY_AUTH_MODE": "disabled", "PATH": f"{RAY.parent}:{os.environ.get('PATH', '')}"},
    )


def _wait_for_nodes(address: str, n: int, timeout_s: float = 90) -> None:
    import ray

    deadline = time.monotonic() + timeout_s
    ray.init(address=address, log_to_driver=False)
    try:
        while sum(node["Alive"] for node in ray.nodes()) < n:
            if time.monotonic() > deadline:
                pytest.fail(f"the Ray cluster at {address} did not reach {n} nodes in {timeout_s:.0f} s")
            time.sleep(0.5)
    finally:
        ray.shutdown()


@pytest.fixture
def two_node_cluster(monkeypatch):
    """A head and a second node joining it by address, each with one CPU; yields the head's address."""
    pytest.importorskip("ray")  # requirements-ray.txt; `make test` installs it
    # Without a token: a token in ~/.ray (another cluster's on this machine) would switch this one to token mode.
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _node("--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", temp, temp=temp)
    nodes = [head]
    try:
        time.sleep(3)
        nodes.append(_node("--address", address, temp=temp))
        _wait_for_nodes(address, 2)
        yield address
    finally:
        import ray

        ray.shutdown()
        for p in reversed(nodes):
            p.terminate()
        for p in reversed(nodes):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_build_on_two_nodes_equals_the_local_build_and_reports_bad_files(home, two_node_cluster, monkeypatch, capsys):
    src = home / "in"
    for i in range(10):
        write_midi(crafted_roll(80 + 23 * i, seed=i), src / f"s{i:02d}.mid")
    (src / "s04_broken.mid").write_bytes(b"MThd\x00\x00\x00\x06broken")  # parsed in a Ray task, refused there
    monkeypatch.setattr(shard_build, "CHUNK_FILES", 3)  # four tasks, spread over both nodes
    common = ["--format", "shards", "--seq-len", "32", "--hop", "16", "--json"]
    assert main(["preprocess", str(src), "--out", str(home / "local"), "--workers", "2", *common]) == 0
    local = json.loads(capsys.readouterr().out)
    argv = ["preprocess", str(src), "--out", str(home / "ray"), "--backend", "ray", "--ray-address", two_node_cluster, *common]
    assert main(argv) == 0
    on_ray = json.loads(capsys.readouterr().out)
    assert on_ray["files_ok"] == local["files_ok"] == 10 and on_ray["id"] == local["id"]
    assert on_ray["files_skipped"] == local["files_skipped"]
    assert [r["file"] for r in on_ray["files_skipped"]] == ["s04_broken.mid"] and "MIDI" in on_ray["files_skipped"][0]["reason"]
    files = sorted(p.relative_to(home / "local") for p in (home / "local").rglob("*.np[yz]"))
    assert len(files) == 5  # index.npz and one shard per task
    for f in files:
        assert (home / "ray" / f).read_bytes() == (home / "local" / f).read_bytes(), f
    report = json.loads((home / "ray" / "report.json").read_text())
    assert report["stats"] == json.loads((home / "local" / "report.json").read_text())["stats"]
