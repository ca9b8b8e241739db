"""Connect to a Ray cluster (probed first, so that a wrong address fails in seconds) or start a local Ray.

Ray is optional (requirements-ray.txt): it is imported only here, when a ray backend asks for it. Dataset builds
(musicgen.data.shard_build) and the run-level backends (musicgen.runs.ray_cluster: sweeps, data-parallel
training) share it.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading

from musicgen.errors import ConfigError
from musicgen.paths import REPO_ROOT

PROBE_TIMEOUT_S = 3.0


def probe_address(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail fast with a ConfigError when nothing answers at a Ray address ('host:port' or 'ray://host:port')."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"bad --ray-address {address!r}; give HOST:PORT of the head's GCS (e.g. 10.0.0.5:6379) or ray://HOST:10001"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise ConfigError(
            f"no Ray cluster answers at {address} ({e.strerror or type(e).__name__} within {timeout_s:.0f} s); "
            "start one with `ray start --head` or drop --ray-address for a local Ray"
        ) from None
    if "://" in address:
        return  # Ray Client: ray.init itself fails fast when the server is not there
    # Something listens, but is it a GCS? One client attempt answers in milliseconds; ray.init would retry for ~20 s.
    try:
        from ray._raylet import GcsClient

        GcsClient(address=hostport).internal_kv_get(b"musicgen-probe", None, timeout=timeout_s)
    except ImportError:
        return
    except Exception as e:  # noqa: BLE001  (Ray raises RpcError, RuntimeError or TimeoutError here)
        raise ConfigError(
            f"{address} answers but is not a Ray cluster's GCS ({str(e).splitlines()[0][:120]}); "
            "give the head's GCS port (default 6379) or drop --ray-address for a local Ray"
        ) from None


def init_ray(address: str | None, num_cpus: int | None = None):
    """Connect to the cluster at `address` (probed first), or start a local Ray when it is None; return the ray module."""
    try:
        import ray  # lazy: Ray is optional (requirements-ray.txt); only --backend ray needs it
    except ImportError:
        raise ConfigError("the ray backend needs Ray: pip install -r requirements-ray.txt (or use --backend local)") from None
    if ray.is_initialized():
        return ray
    with _own_signal_handlers():
        _init(ray, address, num_cpus)
    return ray


@contextlib.contextmanager
def _own_signal_handlers():
    """Put this process's SIGTERM and SIGINT handlers back after the block.

    ray.init installs Ray's own in the driver, which aborts the process on SIGTERM: the trainer's handler (a clean
    stop with last.pt, what the app's Stop sends) would never run.
    """
    main = threading.current_thread() is threading.main_thread()
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)} if main else {}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


def _init(ray, address: str | None, num_cpus: int | None) -> None:
    if address:
        probe_address(address)
        # Ship the package itself: the cluster's nodes need not have this checkout.
        try:
            ray.init(address=address, log_to_driver=False, runtime_env={"py_modules": [str(REPO_ROOT / "musicgen")]})
        except (ConnectionError, RuntimeError) as e:
            raise ConfigError(f"cannot connect to the Ray cluster at {address} ({str(e).splitlines()[0][:160]})") from None
    else:
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}},
        )
