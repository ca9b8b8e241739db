"""Connect to a Ray cluster (probed first, so that a wrong address fails in seconds) or start a local Ray.

Ray is optional (requirements-ray.txt): it is imported only here, when a `--backend ray` asks for it.
Sweeps (musicgen.study.sweep_ray) and dataset builds (musicgen.data.shard_build) share this.
"""

from __future__ import annotations

import socket

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
    return ray
