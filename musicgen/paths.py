"""Where musicgen keeps its files: everything lives under MUSICGEN_HOME (default: the repo root)."""

import contextlib
import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Shipped checkpoints (`demo`, the JSB recipe) live in the repo, whatever MUSICGEN_HOME says.
SHIPPED_CHECKPOINTS = REPO_ROOT / "checkpoints"


def home_dir() -> Path:
    """Return MUSICGEN_HOME, or the repo root when it is unset."""
    return Path(os.environ.get("MUSICGEN_HOME") or REPO_ROOT).expanduser().resolve()


def data_dir() -> Path:
    """Return the folder of datasets (one sub-folder each)."""
    return home_dir() / "data"


def checkpoints_dir() -> Path:
    """Return the folder of run checkpoints (`<run-id>/last.pt`, `best.pt`)."""
    return home_dir() / "checkpoints"


def run_dir(run_id: str) -> Path:
    """Return the checkpoint folder of one run (`last.pt`, `best.pt`)."""
    return checkpoints_dir() / run_id


def db_path() -> Path:
    """Return the SQLite run store's path."""
    return home_dir() / "runs.sqlite"


def cache_dir() -> Path:
    """Return the cache folder (converted built-in corpora, generation metrics and similar)."""
    return home_dir() / "data" / ".cache"


def logs_dir() -> Path:
    """Return the folder of job logs (`<kind>-<pid>.log`; a sweep's workers under `sweep-<sweep-id>/`)."""
    return home_dir() / "logs"


def configs_dir() -> Path:
    """Return the folder of the run configs that the app hands to training processes (not configs/: that holds recipes)."""
    return home_dir() / "jobs"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: setting the umask to read it is process-wide, and the app writes from several threads.
_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_write(path: Path):
    """Yield a temporary path beside `path`; on success fsync it and rename it over `path`.

    A crash at any point leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a written file gets the usual permissions
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)
