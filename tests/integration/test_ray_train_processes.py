"""Data-parallel training on Ray Train, end to end on CPU: one worker equals the local trainer, metrics reach the store once
per epoch, a stop is agreed by the workers and resumes exactly, and two workers on a two-node local cluster (through the
CLI, stopped with SIGTERM and resumed) follow one worker's curve at the same global batch."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace

import pytest
import torch
from synthetic import make_dataset

from musicgen.config import ModelConfig, TrainConfig
from musicgen.errors import ConfigError
from musicgen.paths import REPO_ROOT, checkpoints_dir
from musicgen.runs import store
from musicgen.runs.progress import read_progress
from musicgen.runs.reporters import StoreReporter
from musicgen.training.checkpoint import load_checkpoint
from musicgen.training.train import NonFiniteError, run_training

ray = pytest.importorskip("ray")  # requirements-ray.txt; `make test` installs it
from musicgen.training.ray_train import RayBackend  # noqa: E402  (after the check that Ray is there)

MODEL = ModelConfig(conv_channels=4, hidden=8, gru_layers=2, dropout=0.2)
TRAIN = TrainConfig(epochs=2, batch_size=8, lr=0.01, device="cpu", threads=1)
# Two workers against one at the same global batch, without dropout: the same gradient up to the order of float sums
# (measured: identical to 7 digits over 2 epochs; BENCHMARKS.md has the JSB figures with dropout).
TWO_WORKER_RTOL = 1e-4
TIMING = ("epoch_s", "seqs_per_s")


class Counting(StoreReporter):
    """The store, and how many times each (epoch, split) was logged."""

    def __init__(self):
        self.logged = {}

    def log_metrics(self, run_id, epoch, split, values, step=None, wall_time=None):
        self.logged[(epoch, split)] = self.logged.get((epoch, split), 0) + 1
        super().log_metrics(run_id, epoch, split, values, step=step, wall_time=wall_time)


def curves(run_id: str) -> dict:
    m = store.metrics_frame([run_id])
    m = m[~m.name.isin(TIMING)]
    return m.set_index(["epoch", "split", "name"])["value"].sort_index().to_dict()


def weights(run_id: str) -> dict:
    return load_checkpoint(checkpoints_dir() / run_id / "last.pt")["model_state"]


@pytest.fixture
def local_ray():
    from musicgen.runs.ray_cluster import init_ray

    init_ray(None, num_cpus=2)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_one_worker_is_the_local_trainer_and_two_stop_and_resume_exactly(home, tmp_path, local_ray):
    data = str(make_dataset(tmp_path / "ds"))
    local = run_training(data, MODEL, TRAIN, name="local")
    counting = Counting()
    one = run_training(data, MODEL, TRAIN, name="ray-1", backend=RayBackend(workers=1), reporter=counting)
    assert one["status"] == "finished" and store.get_run(one["id"])["status"] == "finished"
    assert curves(one["id"]) == pytest.approx(curves(local["id"]), rel=1e-6)  # the same trainer, the same numbers
    for k, v in weights(local["id"]).items():
        assert torch.allclose(v, weights(one["id"])[k], atol=1e-6), k
    assert counting.logged == {(1, "train"): 1, (1, "valid"): 1, (2, "train"): 1, (2, "valid"): 1, (2, "test"): 1}
    assert (home / "checkpoints" / one["id"] / "best.pt").is_file()  # came back from the worker as bytes
    note = read_progress(one["id"])  # rank 0's batch progress, written by the driver for the page's bar
    assert note["epoch"] == 2 and note["batch"] == note["batches"] == 3
    config = store.get_run(one["id"])["config"]
    assert config["backend"] == {"name": "ray", "workers": 1, "address": None} and config["precision"] == "fp32"

    with pytest.raises(ConfigError, match=r"3 workers x 1 CPU \(--threads\) need 3 CPUs; the Ray cluster has 2"):
        run_training(data, MODEL, TRAIN, name="too-many", backend=RayBackend(workers=3))
    assert "too-many" not in set(store.list_runs()["name"])  # refused before the run exists
    counting = Counting()
    two = run_training(data, MODEL, TRAIN, name="ray-2", backend=RayBackend(workers=2), reporter=counting)
    assert two["status"] == "finished"
    assert set(counting.logged.values()) == {1}  # rank 0 alone reports: once per epoch, not once per worker
    # Stop asked before the workers are up: they agree on it after their first step, rank 0 saves last.pt there.
    stop = threading.Event()
    stop.set()
    stopped = run_training(data, MODEL, TRAIN, name="ray-2-stopped", backend=RayBackend(workers=2), stop=stop)
    assert stopped["status"] == "stopped" and store.get_run(stopped["id"])["status"] == "stopped"
    last = load_checkpoint(checkpoints_dir() / stopped["id"] / "last.pt")
    assert (last["epoch"], last["batch"]) == (0, 1) and len(last["rank_rng"]) == 2
    resumed = run_training(None, resume=stopped["id"])  # the run's own backend: two Ray workers
    assert resumed["status"] == "finished"
    assert curves(resumed["id"]) == pytest.approx(curves(two["id"]), rel=1e-6)
    for k, v in weights(two["id"]).items():
        assert torch.equal(v, weights(resumed["id"])[k]), k
    # A diverging run: every worker sees the same global loss, so all fail at the same batch, and the driver says so.
    with pytest.raises(NonFiniteError, match="became NaN or infinite at epoch 1, batch"):
        run_training(data, MODEL, replace(TRAIN, optimizer="sgd", lr=1e38, clip=0.0), name="nan", backend=RayBackend(workers=2))
    run = store.list_runs().set_index("name").loc["nan"]
    assert run["status"] == "failed" and "NaN or infinite" in run["error"]


def _ray_start(args: list[str], env: dict, log) -> subprocess.Popen:
    exe = os.path.join(os.path.dirname(sys.executable), "ray")
    return subprocess.Popen(
        [exe, "start", "--block", *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


@pytest.fixture
def two_node_cluster(tmp_path):
    """A head and a second node, one CPU each, on this machine; yield (address, env); stopped by their own pids."""
    from musicgen.runs.ray_cluster import probe_address

    port = 6400 + os.getpid() % 500
    folder = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # Ray's socket paths must stay short
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    log = open(tmp_path / "ray.log", "ab")  # noqa: SIM115  (closed below, after the nodes)
    address = f"127.0.0.1:{port}"
    nodes = [
        _ray_start(["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false", f"--temp-dir={folder}"], env, log)
    ]
    try:
        _wait_for(lambda: _answers(probe_address, address), 90, "the head node")
        nodes.append(_ray_start([f"--address={address}", "--num-cpus=1"], env, log))
        check = [sys.executable, "-c", f"import ray; ray.init(address='{address}'); print(ray.cluster_resources().get('CPU', 0))"]
        _wait_for(lambda: subprocess.run(check, env=env, capture_output=True, text=True).stdout.strip() == "2.0", 120, "2 CPUs")
        yield address, env
    finally:
        for node in reversed(nodes):
            node.terminate()  # `ray start --block` stops the processes it started
        for node in nodes:
            node.wait(60)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _answers(probe, address) -> bool:
    try:
        probe(address, timeout_s=1.0)
        return True
    except Exception:  # noqa: BLE001  (not up yet)
        return False


@pytest.mark.slow
def test_two_workers_on_a_two_node_cluster_follow_one_and_stop_and_resume_through_the_cli(home, tmp_path, two_node_cluster):
    address, env = two_node_cluster
    data = str(make_dataset(tmp_path / "ds"))
    flags = ["--conv-channels", "4", "--hidden", "8", "--gru-layers", "2", "--dropout", "0", "--batch-size", "8"]
    flags += ["--lr", "0.01", "--device", "cpu", "--threads", "1"]
    env = {**env, "MUSICGEN_HOME": str(home)}

    def cli(*args, **kw):
        return subprocess.Popen(
            [sys.executable, "-m", "musicgen", "train", "--data", data, *flags, *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **kw,
        )

    one = cli("--epochs", "2", "--name", "one")
    two = cli("--epochs", "2", "--name", "two", "--backend", "ray", "--workers", "2", "--ray-address", address)
    out_one, out_two = one.communicate(timeout=300)[0], two.communicate(timeout=300)[0]
    assert one.returncode == 0 and two.returncode == 0, out_one + out_two
    runs = store.list_runs().set_index("name")
    a, b = runs.loc["one", "id"], runs.loc["two", "id"]
    assert runs.loc["two", "status"] == "finished"
    assert curves(b) == pytest.approx(curves(a), rel=TWO_WORKER_RTOL)
    # Stopped with SIGTERM (what the app's Stop sends) once the first epoch is in the store, then resumed by id.
    long = cli("--epochs", "200", "--name", "long", "--backend", "ray", "--workers", "2", "--ray-address", address)
    run_id = _wait_for(lambda: _first_epoch_of("long"), 240, "the first epoch of the long run")
    long.send_signal(signal.SIGTERM)
    out = long.communicate(timeout=120)[0]
    assert long.returncode == 0, out
    run = store.get_run(run_id)
    assert run["status"] == "stopped" and 1 <= run["epochs_done"] < 200, out
    resumed = subprocess.run(
        [sys.executable, "-m", "musicgen", "train", "--resume", run_id, "--epochs", str(run["epochs_done"] + 1)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    run = store.get_run(run_id)
    assert run["status"] == "finished" and run["config"]["backend"]["workers"] == 2


def _first_epoch_of(name: str) -> str | None:
    runs = store.list_runs()
    rows = runs[(runs["name"] == name) & (runs["epochs_done"] >= 1)]
    return rows["id"].iloc[0] if len(rows) else None
