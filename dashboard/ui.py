"""What every page shares: calling musicgen without ever showing a traceback, config inputs, small choices."""

from __future__ import annotations

import logging
import re
import traceback

import streamlit as st

from musicgen.data import datasets
from musicgen.errors import MusicgenError
from musicgen.paths import uploads_dir
from musicgen.runs.divergence import run_diverged

log = logging.getLogger("musicgen.app")
# A parser's own words in parentheses (e.g. "MiniMidi: Invaild midi file! ...: iostream error"); ours start "ticks per quarter".
_PARSER_WORDS = re.compile(r"not a readable MIDI file \((?!ticks per quarter)(?:[^()]|\([^()]*\))*\)")


def readable(message: str) -> str:
    """Return a message fit for the page: no parser library's text, no server folder of an upload (its file name stays)."""
    message = _PARSER_WORDS.sub("not a readable MIDI file (damaged, cut short or not MIDI)", str(message))
    return re.sub(re.escape(str(uploads_dir())) + r"/[0-9a-f]{16}/", "", message)


def call(what: str, fn, *args, warn: bool = False, **kwargs):
    """Run `fn(*args, **kwargs)`; on failure show one readable message and return None."""
    try:
        result = fn(*args, **kwargs)
        attrs = getattr(result, "attrs", None)
        for line in attrs.get("damaged", []) if isinstance(attrs, dict) else []:  # rows left out (store.list_runs)
            st.warning(f"{what}: {line}")
        return result
    except MusicgenError as e:
        (st.warning if warn else st.error)(f"{what}: {readable(e)}")
    except (ImportError, AttributeError) as e:
        # A part of musicgen that is missing or older than this page: say so, keep the page alive.
        log.error("%s failed:\n%s", what, traceback.format_exc())
        st.error(f"{what}: this musicgen install lacks a part the page needs ({e}); update the code (git pull) and reload.")
    except Exception as e:  # noqa: BLE001 — a bug: the user gets one line, the server log the traceback
        log.error("%s failed:\n%s", what, traceback.format_exc())
        st.error(f"{what} failed unexpectedly ({type(e).__name__}: {readable(e)[:200]}); the server log has the details.")
    return None


# What config_input returns for text that is not a number: the page shows the message and launches nothing.
INVALID = object()


def config_input(name: str, default, prefix: str, where=st):
    """Draw one input for a config field, typed by its default, keyed `<prefix>_<name>`; a None default: text, empty = None.

    Text that is not a number shows an error under the field and returns INVALID.
    """
    label, key = name.replace("_", " "), f"{prefix}_{name}"
    if isinstance(default, bool):
        return where.checkbox(label, value=default, key=key)
    if isinstance(default, int):
        return int(where.number_input(label, value=default, step=1, key=key))
    if isinstance(default, float):
        return float(where.number_input(label, value=default, format="%g", key=key))
    text = where.text_input(f"{label} (empty: automatic)", value="", key=key).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        where.error(f"{label}: {text[:40]!r} is not a number; type one (e.g. 2.5) or leave it empty for automatic.")
        return INVALID


def gpu_name() -> str | None:
    """Return the first CUDA device's name, or None without a GPU."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def dataset_refs() -> list[str]:
    """Return the dataset choices of a training form: 'builtin:bach' and every built dataset's name."""
    names = [d["name"] for d in datasets.list_datasets()]
    return ["builtin:bach"] + [n for n in names if n != "builtin:bach"]


def run_label(row) -> str:
    """Return a short label for a run row (a select box's format_func): id, name, status, and a mark when it diverged."""
    return f"{row['id']} · {row['name']} · {row['status']}" + (" · ⚠ diverged" if run_diverged(row) else "")
