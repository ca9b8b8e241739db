"""Where musicgen keeps its files: everything lives under MUSICGEN_HOME (default: the repo root).

Also the one rule for paths a user types: a dataset name is a bare name under `data_dir()`
(`dataset_dir`), and a server file typed in the app lies under MUSICGEN_HOME or a folder of
MUSICGEN_ALLOWED_PATHS (os.pathsep-separated) and is a regular file of the expected kind
(`check_user_file`).
"""

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path

from musicgen.errors import ConfigError

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


def uploads_dir() -> Path:
    """Return the folder of files handed over in the app (`<hash of names and contents>/<name>`)."""
    return home_dir() / "uploads"


def configs_dir() -> Path:
    """Return the folder of the run configs that the app hands to training processes (not configs/: that holds recipes)."""
    return home_dir() / "jobs"


ALLOWED_PATHS_ENV = "MUSICGEN_ALLOWED_PATHS"
# A dataset name: no separators, no '..', no leading '.' or '-' (hidden folders, options).
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


def is_dataset_name(name: str, new: bool = True) -> bool:
    """Return True when `name` names a dataset folder under data_dir(): one path component, not hidden.

    A new name (`new`) is stricter: letters, digits, '-', '_' and '.', not starting with '.' or '-', no '..'.
    An existing folder may have another name (`preprocess --out` writes any folder), so looking one up needs less.
    """
    if new:
        return bool(_NAME.fullmatch(name)) and ".." not in name
    return bool(name) and not name.startswith(".") and "/" not in name and os.sep not in name and "\0" not in name


def dataset_dir(name: str, new: bool = True) -> Path:
    """Return the folder of dataset `name` under data_dir(); raise ConfigError when `name` is not a name (see is_dataset_name)."""
    if new and not is_dataset_name(name):
        raise ConfigError(
            f"dataset name {name!r} is not a name: use up to 100 letters, digits, '-', '_' and '.' "
            "(no '/', no '..', not starting with '.'), e.g. 'my-chorales'"
        )
    if not is_dataset_name(name, new=False):
        raise ConfigError(f"dataset {name!r} is not the name of a folder under MUSICGEN_HOME/data; give a listed dataset's name")
    return data_dir() / name


def allowed_roots() -> list[Path]:
    """Return the folders the app may read typed server paths from: MUSICGEN_HOME, then each of MUSICGEN_ALLOWED_PATHS."""
    extra = [Path(p).expanduser().resolve() for p in os.environ.get(ALLOWED_PATHS_ENV, "").split(os.pathsep) if p.strip()]
    return [home_dir(), *extra]


def check_user_file(
    text, suffixes: tuple[str, ...], what: str, *, confine: bool = True, also: tuple = (), hint: str = ""
) -> Path:
    """Return the resolved path of a file a user typed, after checking its kind (a regular file, one of `suffixes`).

    With `confine` (paths typed in the app) a relative path counts from MUSICGEN_HOME and the file
    must lie under `allowed_roots()` or be one of the files `also`; a symbolic link counts where it
    points. A shell user owns their shell: the CLI passes confine=False. Raises ConfigError ending
    with `hint` (default: give a file of the right kind).
    """
    typed = str(text).strip()
    hint = hint or f"give the path of a {'/'.join(suffixes)} file"
    if not typed:
        raise ConfigError(f"no {what} given; {hint}")
    path = Path(typed).expanduser()
    if not path.name.lower().endswith(tuple(s.lower() for s in suffixes)):
        raise ConfigError(f"{what} {typed} is not a {'/'.join(suffixes)} file; {hint}")
    try:
        real = ((home_dir() if confine else Path.cwd()) / path).resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links
        raise ConfigError(f"{what} {typed} cannot be resolved (a loop of links?); {hint}") from None
    roots = allowed_roots()
    # Confinement is checked before existence, so that the app tells nothing about files elsewhere.
    if confine and real not in {Path(a).resolve() for a in also} and not any(real.is_relative_to(r) for r in roots):
        raise ConfigError(
            f"{what} {typed} lies outside MUSICGEN_HOME ({roots[0]}); copy it there, or add its folder to "
            f"{ALLOWED_PATHS_ENV} (folders separated by {os.pathsep!r}) and restart the app"
        )
    try:
        mode = real.stat().st_mode
    except OSError:
        raise ConfigError(f"{what} {typed} does not exist; {hint}") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{what} {typed} is not a regular file (a folder, pipe or device); {hint}")
    return real


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: setting the umask to read it is process-wide, and the app writes from several threads.
_UMASK = _read_umask()


def probe_writable(folder: Path) -> None:
    """Raise OSError unless a file can be created in `folder` (the folder's own answer, not a guess from its mode bits)."""
    fd, probe = tempfile.mkstemp(prefix=".probe-", dir=folder)
    os.close(fd)
    os.unlink(probe)


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
