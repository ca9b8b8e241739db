"""`python -m musicgen …`: argument parsing only; each area registers its commands from its own file.

Building the parser loads every area, so a command imports what it runs inside its own function:
`--help`, `datasets` or `preprocess` never pay for torch (about 2 s) or the study's modules.
`check_writable` is the one check of an output path (generate, ensemble, report).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from musicgen.errors import ConfigError, MusicgenError, OutputError, write_cause, write_failure
from musicgen.paths import probe_writable

# One module per area of the program; each has `register(subparsers)`.
AREAS = ("data", "train", "runs", "generate", "study", "bench")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one line (a ConfigError: `error: ...`, exit 2), not the usage text."""

    def error(self, message):
        fix = "write it as a whole number in digits (1000, not 1e3)" if "invalid int value" in message else "see --help"
        raise ConfigError(f"{self.prog}: {message}; {fix}")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every sub-command."""
    import importlib

    parser = _Parser(prog="python -m musicgen", description="Learn to generate polyphonic music from piano-rolls.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for area in AREAS:
        importlib.import_module(f"musicgen.cli.{area}").register(sub)
    return parser


def check_writable(path, suffixes: tuple[str, ...], option: str) -> Path:
    """Return output `path` once its suffix fits, it is no folder, and its folder can be created and written.

    Any suffix passes when `suffixes` is empty. Commands call it before their work, so that a bad
    output path fails at once, in one line (OutputError names the path and the cause).
    """
    path = Path(path).expanduser()
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{option} {path} must end in {' or '.join(suffixes)}; e.g. {option} out{suffixes[0]}")
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        probe_writable(path.parent)
    except OSError as e:
        raise OutputError(f"cannot write {option} {write_failure(path, e)}") from None
    return path


def check_writable_folder(path, option: str) -> Path:
    """Return output folder `path` once it can be created and written (it is no file, nor under one); else OutputError."""
    path = Path(path).expanduser()
    try:
        if path.exists() and not path.is_dir():
            raise FileExistsError(17, "File exists")
        path.mkdir(parents=True, exist_ok=True)
        probe_writable(path)
    except OSError as e:
        cause = f"{path} is a file, not a folder" if path.is_file() else write_cause(path / "dataset.npz", e)
        raise OutputError(f"cannot write {option} {path} ({cause}); choose a folder you may write to") from None
    return path


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user error prints one line to stderr and returns 2.

    Without `argv` the command is the process (`python -m musicgen`): signal handlers a command
    installs stay until it exits. Called with `argv` (tests, other code), they are put back.
    """
    try:
        args = build_parser().parse_args(argv)
    except ConfigError as e:  # a mistake in the options (_Parser.error)
        print(f"error: {e}", file=sys.stderr)
        return 2
    handlers = {}
    if argv is not None and threading.current_thread() is threading.main_thread():
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _run(args)
    finally:
        for s, h in handlers.items():
            if h is not None:  # None: a handler not set from Python, which cannot be put back from here
                signal.signal(s, h)


def _run(args) -> int:
    try:
        return int(args.func(args) or 0)
    except MusicgenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader closed the pipe (`runs | head`): stop quietly, as Unix tools do. Point stdout at
        # /dev/null so that the interpreter's final flush does not raise again.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141
