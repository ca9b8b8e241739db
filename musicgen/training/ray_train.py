"""Data-parallel training on Ray Train: the same trainer in N workers under TorchTrainer (DDP: gloo on CPU, nccl on GPU).

`python -m musicgen train … --backend ray --workers N [--ray-address ADDR]`. The CLI process is the driver: it
claims the run in its store (so the app's Stop and `kill -TERM` reach it as any run's process), sends the
dataset (and, to resume, the run's checkpoints) through Ray's object store, starts `TorchTrainer` and replays
what rank 0 sends through a `Relay` actor: the store's rows (rank 0 alone reports, once per epoch), every
checkpoint it writes (as bytes, so no shared filesystem is needed), its batch progress (progress.json, at most
once a second), the summary or the error. A stop request
reaches the workers through the same actor; they agree on it in the step's all-reduce, rank 0 writes last.pt
and the run ends 'stopped', to be resumed (`--resume ID`; the run's backend is stored with it) exactly when the
number of workers is the same.

Global batch and learning rate: `batch_size` is the global batch whatever N is; each worker trains
batch_size / N of it and its loss is weighted so that the averaged gradient is the global batch's
(`musicgen.training.distributed`). So N workers at the same batch size and learning rate follow one
worker's training (the curves differ only by each worker's own dropout masks and the order of float
sums; BENCHMARKS.md measures how much), and N needs no change of learning rate. To use N workers for a
larger global batch instead, raise --batch-size yourself and scale the learning rate with it (linearly
for SGD, Goyal et al. 2017; about the square root for Adam), then check the validation curve.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from musicgen.config import ModelConfig, TrainConfig, from_dict, to_dict
from musicgen.data.datasets import load_dataset
from musicgen.errors import ConfigError, MusicgenError, TrainingError
from musicgen.paths import atomic_write, run_dir
from musicgen.runs.progress import write_progress
from musicgen.runs.ray_cluster import init_ray, private_home, write_dataset_files
from musicgen.runs.reporters import CallbackReporter
from musicgen.training import checkpoint as ckpt_io
from musicgen.training.distributed import TorchGroup
from musicgen.training.loop import NonFiniteError, Trainer

MAX_WORKERS = 1024
STOP_POLL_S = 0.2  # how often a worker asks the relay whether the user asked to stop


class Relay:
    """A Ray actor between rank 0 and the driver: events one way, the stop request the other."""

    def __init__(self):
        self.events, self.stop = [], False

    def put(self, event: tuple[str, dict]) -> None:
        """Queue one event (method, kwargs) for the driver."""
        self.events.append(event)

    def take(self) -> list:
        """Return the events queued so far, and forget them."""
        events, self.events = self.events, []
        return events

    def request_stop(self) -> None:
        """Ask the workers to stop after their current step."""
        self.stop = True

    def stopping(self) -> bool:
        """Return whether a stop was requested."""
        return self.stop


class _Silent:
    """The reporter of ranks other than 0: rank 0 alone writes the run's rows."""

    def update_run(self, run_id, **fields) -> None:
        """Write nothing."""

    def log_metrics(self, run_id, epoch, split, values, step=None, wall_time=None) -> None:
        """Write nothing."""


@dataclass(frozen=True)
class RayBackend:
    """Train one run on `workers` Ray Train workers, on the cluster at `address` (None: a local Ray)."""

    workers: int = 1
    address: str | None = None

    def __post_init__(self):
        w = self.workers
        if not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= MAX_WORKERS:
            raise ConfigError(f"--workers must be a whole number from 1 to {MAX_WORKERS}, got {w!r}; e.g. --workers 2")

    def to_dict(self) -> dict:
        """Return what is stored with the run (config['backend']), so that a resume trains the same way."""
        return {"name": "ray", "workers": self.workers, "address": self.address}

    def resolve_device(self, name: str, threads: int = 0) -> torch.device:
        """Return the workers' device for --device `name`: cuda when asked for (or 'auto' and a GPU per worker), else cpu.

        Checks first that the cluster has `threads` CPUs (at least 1) for each worker: Ray would wait for them forever.
        """
        ray = init_ray(self.address)
        cpus, have = max(threads, 1), ray.cluster_resources().get("CPU", 0)
        if have < cpus * self.workers:
            raise ConfigError(
                f"{self.workers} workers x {cpus} CPU (--threads) need {cpus * self.workers} CPUs; the Ray cluster has "
                f"{have:g}: lower --workers or --threads, or add nodes to the cluster"
            )
        gpus = ray.cluster_resources().get("GPU", 0)
        if name == "mps":
            raise ConfigError("Ray Train workers train on cpu or cuda; use --device auto, cpu or cuda with --backend ray")
        if name == "cuda" and gpus < self.workers:
            raise ConfigError(
                f"--device cuda with --workers {self.workers} needs a GPU per worker; the Ray cluster has {gpus:g}: "
                "lower --workers or use --device cpu"
            )
        return torch.device("cuda" if name == "cuda" or (name == "auto" and gpus >= self.workers) else "cpu")

    def train(self, run_id, name, ds, model_cfg, train_cfg, device, reporter, stop, resume: bool) -> dict:
        """Train the claimed run `run_id` on the workers; replay rank 0's events into `reporter`; return the summary.

        resume: continue from the run's last.pt (sent with best.pt to the workers). Raises NonFiniteError or
        TrainingError as the local trainer does.
        """
        ray = init_ray(self.address)
        from ray.train import RunConfig, ScalingConfig  # lazy: Ray is optional (requirements-ray.txt)
        from ray.train.torch import TorchConfig, TorchTrainer

        cpus = train_cfg.threads or 1
        relay = ray.remote(Relay).options(num_cpus=0).remote()
        files = {p.name: p.read_bytes() for p in Path(ds.path).iterdir() if p.is_file()}
        ckpts = {p.name: p.read_bytes() for p in sorted(run_dir(run_id).glob("*.pt"))} if resume else {}
        config = {
            "run_id": run_id,
            "name": name,
            "model": to_dict(model_cfg),
            "train": to_dict(train_cfg),
            "dataset": ray.put(files),
            "checkpoints": ray.put(ckpts),
            "resume": resume,
            "relay": relay,
            "device": device.type,
        }
        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config=config,
            scaling_config=ScalingConfig(
                num_workers=self.workers, use_gpu=device.type == "cuda", resources_per_worker={"CPU": cpus}
            ),
            torch_config=TorchConfig(backend="nccl" if device.type == "cuda" else "gloo"),
            # Ray Train's own checkpointing is not used (checkpoints come back as bytes); its run folder needs a path
            # that every node can create, so not this home, which other machines may not have.
            run_config=RunConfig(name=run_id, storage_path=str(Path(tempfile.gettempdir()) / "musicgen-ray-train")),
        )
        outcome: dict = {}

        def fit():
            try:
                trainer.fit()
            except Exception as e:  # noqa: BLE001  (Ray wraps a worker's error in its own types; its last line says what)
                outcome["failed"] = e

        thread = threading.Thread(target=fit, name=f"ray-train-{run_id}", daemon=True)
        thread.start()
        asked = False
        while True:
            done = not thread.is_alive()
            if stop.is_set() and not asked:
                relay.request_stop.remote()
                asked = True
            for method, kwargs in ray.get(relay.take.remote()):
                _replay(method, kwargs, run_id, reporter, outcome)
            if done:
                break
            thread.join(STOP_POLL_S)
        if "error" in outcome:
            kind, message = outcome["error"]
            raise (NonFiniteError if kind == "NonFiniteError" else TrainingError)(message)
        if "result" in outcome:
            return {**outcome["result"], "checkpoint": str(run_dir(run_id) / "best.pt")}
        lines = [ln for ln in str(outcome.get("failed", "")).splitlines() if ln.strip()]
        raise TrainingError(f"Ray Train ended without a result ({lines[-1][:300] if lines else 'no message'})")


def _replay(method: str, kwargs: dict, run_id: str, reporter, outcome: dict) -> None:
    """Apply one event of rank 0 on the driver: a store write, a checkpoint, the result or the error."""
    if method == "update_run":
        kwargs = dict(kwargs)
        reporter.update_run(kwargs.pop("run_id"), **kwargs)
    elif method == "log_metrics":
        reporter.log_metrics(**kwargs)
    elif method == "checkpoint":
        with atomic_write(run_dir(run_id) / kwargs["name"]) as tmp:
            tmp.write_bytes(kwargs["data"])
    elif method == "progress":
        write_progress(run_id, kwargs["record"])
    elif method in ("result", "error"):
        outcome[method] = kwargs["value"]
    else:
        raise ValueError(f"unknown event {method!r} from a Ray Train worker")


def backend_of(config: dict) -> RayBackend | None:
    """Return the backend a stored run trained with (config['backend']), None for the local trainer."""
    b = config.get("backend") or {}
    return RayBackend(workers=b["workers"], address=b.get("address")) if b.get("name") == "ray" else None


def _watch_stop(relay, stop: threading.Event, done: threading.Event) -> None:
    import ray

    while not done.wait(STOP_POLL_S):
        if ray.get(relay.stopping.remote()):
            stop.set()
            return


def _worker_loop(config: dict) -> None:
    """Body of each Ray Train worker: the trainer on this rank's share, in a private home; rank 0 reports to the relay."""
    import ray
    import ray.train
    import ray.train.torch

    rank = ray.train.get_context().get_world_rank()
    relay, run_id = config["relay"], config["run_id"]

    def send(event):
        return relay.put.remote(event)

    with tempfile.TemporaryDirectory(prefix="musicgen-ddp-") as tmp, private_home(tmp):
        folder = Path(tmp) / "dataset"
        folder.mkdir()
        write_dataset_files(ray.get(config["dataset"]), folder)
        for fname, blob in ray.get(config["checkpoints"]).items():
            run_dir(run_id).mkdir(parents=True, exist_ok=True)
            (run_dir(run_id) / fname).write_bytes(blob)
        device = ray.train.torch.get_device() if config["device"] == "cuda" else torch.device("cpu")
        stop, done = threading.Event(), threading.Event()
        if ray.get(relay.stopping.remote()):  # asked before the workers were up
            stop.set()
        watcher = threading.Thread(target=_watch_stop, args=(relay, stop, done), daemon=True)
        watcher.start()
        model_cfg, train_cfg = from_dict(ModelConfig, config["model"]), from_dict(TrainConfig, config["train"])
        # --threads 0 would mean half this machine's cores, more than the CPUs Ray reserved for this worker (1).
        train_cfg = replace(train_cfg, threads=train_cfg.threads or 1)
        main = rank == 0
        trainer = Trainer(
            run_id,
            config["name"],
            load_dataset(folder),
            model_cfg,
            train_cfg,
            device,
            CallbackReporter(send) if main else _Silent(),
            False,
            stop,
            group=TorchGroup(device),
            on_save=(lambda path: send(("checkpoint", {"name": path.name, "data": path.read_bytes()}))) if main else None,
            on_progress=(lambda record: send(("progress", {"record": record}))) if main else lambda record: None,
        )
        ckpt = ckpt_io.load_checkpoint(run_dir(run_id) / "last.pt", map_location=device) if config["resume"] else None
        try:
            result = trainer.run(ckpt)
        except MusicgenError as e:
            if main:
                ray.get(send(("error", {"value": (type(e).__name__, str(e))})))
            raise
        finally:
            done.set()
        if main:
            ray.get(send(("result", {"value": result})))  # waited for: every event before it has arrived too
