"""Errors a user can cause. User-facing code catches `MusicgenError`; bugs keep their tracebacks."""

import errno
from pathlib import Path


class MusicgenError(Exception):
    """Base class: the message is one line that says what is wrong, the value, and the fix."""


class ConfigError(MusicgenError):
    """A bad option or configuration value."""


class MidiError(MusicgenError):
    """A MIDI file that cannot be read or holds nothing usable."""


class DataError(MusicgenError):
    """A dataset that is missing, malformed or does not fit."""


class CheckpointError(MusicgenError):
    """A checkpoint that is missing, corrupt or not one of ours."""


class StoreError(MusicgenError):
    """The run store: unknown ids, an unwritable home, a run in the wrong state."""


class RunNotFoundError(StoreError):
    """A run id that the store does not hold (the store itself opened fine)."""


class TrainingError(MusicgenError):
    """Training that cannot go on (for instance a NaN loss)."""


class RenderError(MusicgenError):
    """Audio or MIDI output that cannot be produced."""


class OutputError(MusicgenError):
    """A file to write that cannot be written: a read-only or full disk, a file where a folder must be, a folder in the way."""


# What to do about a failed write, by errno; anything else: choose another place.
_WRITE_FIXES = {
    errno.ENOSPC: "free some disk space or write elsewhere",
    errno.EDQUOT: "free some space within your disk quota or write elsewhere",
    errno.EFBIG: "the file would pass the size limit of this process (ulimit -f) or file system; write elsewhere",
    errno.EROFS: "choose a folder on a writable disk",
    errno.EACCES: "choose a folder you may write to",
    errno.EPERM: "choose a folder you may write to",
}


def write_cause(path, error: OSError) -> str:
    """Return why writing file `path` failed, in words: the part of the path in the way, else the system's reason.

    A file where a folder must be, or a folder where the file must be, is named rather than the
    temporary file or the errno text that the failed call gave.
    """
    path = Path(path)
    if error.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT):
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return f"{blocker} is a file, not a folder"
    if error.errno == errno.EISDIR or path.is_dir():
        return f"{path} is a folder"
    cause = error.strerror or type(error).__name__
    return cause if path.parent.is_dir() else f"its folder {path.parent} cannot be created: {cause}"


def write_failure(path, error: OSError) -> str:
    """Return '<path> (<cause>); <fix>': why writing file `path` failed and what to do, for a one-line error message."""
    path = Path(path)
    if error.errno == errno.EISDIR or path.is_dir():
        return f"{path} (it is a folder); give a file name"
    fix = _WRITE_FIXES.get(error.errno, "choose another place to write")
    return f"{path} ({write_cause(path, error)}); {fix}"
