"""`python -m musicgen …`: argument parsing only; each area registers its commands from its own file.

Building the parser loads every area, so a command imports what it runs inside its own function:
`--help`, `datasets` or `preprocess` never pay for torch (about 2 s) or the study's modules.
"""

from __future__ import annotations

import argparse
import os
import sys

from musicgen.errors import MusicgenError

# One module per area of the program; each has `register(subparsers)`.
AREAS = ("data", "train", "generate", "study", "bench")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every sub-command."""
    import importlib

    parser = argparse.ArgumentParser(
        prog="python -m musicgen", description="Learn to generate polyphonic music from piano-rolls."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for area in AREAS:
        importlib.import_module(f"musicgen.cli.{area}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user error prints one line to stderr and returns 2."""
    args = build_parser().parse_args(argv)
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
