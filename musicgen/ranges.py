"""One check of every field of a config dataclass: its type from its annotation, its range from a table.

A config class lists the range of each of its numbers in a dict {field: Whole(...) | Real(...)} and calls
`check_fields(self, table)` first in `__post_init__`. The CLI, config files, recipes, stored runs and the
app all build configs, so each value passes this one check, whoever typed it. Types come from the
annotations: a bool is not a number (`"epochs": true` is refused, not one epoch), a number is not text,
`X | None` admits None. tests/unit/test_config.py fails for a numeric field that has no range here.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass

from musicgen.errors import ConfigError

# A seed as numpy (SeedSequence, default_rng) and torch (manual_seed) both take it, and as both print it.
MAX_SEED = 2**32 - 1


def _fix(name: str, example) -> str:
    flag = name if name.startswith("-") else "--" + name.replace("_", "-")
    return f"; e.g. {flag} {example:g}" if example is not None else ""


def is_whole(x) -> bool:
    """Return True for an integer that is not a bool (True is an int to Python, never to a config)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def is_real(x) -> bool:
    """Return True for a finite real number that is not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class Whole:
    """A whole number in [low, high]; `high` may be a function (the machine's cores), read at each check."""

    low: int
    high: int | Callable[[], int]
    example: int | None = None  # shown in the fix: "e.g. --hop 64"
    note: str = ""  # what a special value means: "0: automatic"

    def check(self, name: str, value) -> None:
        high = self.high() if callable(self.high) else self.high
        note = f" ({self.note})" if self.note else ""
        what = f"must be a whole number from {self.low} to {high:,}{note}, got {value!r}"
        if not is_whole(value):
            raise ConfigError(f"{name} has the wrong type: it {what} ({type(value).__name__}){_fix(name, self.example)}")
        if not self.low <= value <= high:
            raise ConfigError(f"{name} {what}{_fix(name, self.example)}")


@dataclass(frozen=True)
class Real:
    """A finite number between `low` and `high`, each bound closed unless said open."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    what: str = ""  # "a number of steps per second"
    example: float | None = None
    note: str = ""

    def interval(self) -> str:
        if math.isinf(self.high):
            return f"{'>' if self.low_open else '>='} {self.low:g} and finite"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"

    def check(self, name: str, value) -> None:
        note = f" ({self.note})" if self.note else ""
        what = f"must be {self.what + ' ' if self.what else ''}{self.interval()}{note}, got {value!r}"
        if not (isinstance(value, numbers.Real) and not isinstance(value, bool)):
            raise ConfigError(f"{name} has the wrong type: it {what} ({type(value).__name__}){_fix(name, self.example)}")
        low_ok = value > self.low if self.low_open else value >= self.low
        high_ok = value < self.high if self.high_open else value <= self.high
        if not (math.isfinite(value) and low_ok and high_ok):
            raise ConfigError(f"{name} {what}{_fix(name, self.example)}")


SEED = Whole(0, MAX_SEED, example=0)
SHARE = Real(0, 1)  # [0, 1]
DROPOUT = Real(0, 1, high_open=True)  # [0, 1)
NON_NEGATIVE = Real(0)
POSITIVE = Real(0, low_open=True)


def _kinds(annotation) -> tuple[set, bool]:
    """Return (the base types an annotation admits, whether it admits None); tuple[...] counts as tuple."""
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    kinds = {typing.get_origin(a) or a for a in args}
    return kinds - {type(None)}, type(None) in kinds


def numeric_fields(cls) -> list[str]:
    """Return the fields of dataclass `cls` whose annotation admits an int or a float (bools excluded)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        kinds, _ = _kinds(hints[f.name])
        if kinds & {int, float} or (tuple in kinds and set(typing.get_args(hints[f.name])) & {int, float}):
            out.append(f.name)
    return out


def check_fields(cfg, table: dict) -> None:
    """Raise ConfigError for the first field of dataclass `cfg` whose value has the wrong type or lies outside `table`'s range."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        kinds, optional = _kinds(hints[f.name])
        if value is None:
            if not optional:
                raise ConfigError(f"{f.name} must be given, got None")
            continue
        rule = table.get(f.name)
        if tuple in kinds:
            if not isinstance(value, tuple | list):
                raise ConfigError(f"{f.name} must be a list of numbers, got {value!r}")
            for k, v in enumerate(value):
                (rule or Real()).check(f"{f.name}[{k}]", v)
        elif rule is not None:
            rule.check(f.name, value)
        elif bool in kinds and not isinstance(value, bool):
            raise ConfigError(f"{f.name} must be true or false, got {value!r}")
        elif str in kinds and not isinstance(value, str):
            raise ConfigError(f"{f.name} must be text, got {value!r}")
