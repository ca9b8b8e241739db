"""What every page shares: calling musicgen without ever showing a traceback, config inputs, small choices."""

from __future__ import annotations

import logging
import re
import traceback

import streamlit as st

from musicgen.data import datasets
from musicgen.errors import MusicgenError
from musicgen.paths import home_dir, uploads_dir
from musicgen.runs.divergence import run_diverged

log = logging.getLogger("musicgen.app")
# Said on the Train and Compare pages wherever a run's dataset is onset-aware (MIDI).
ONSET_NOTE = (
    "Onset-aware data: onset F1 (a new note predicted on the step where it starts) and NLL lead, since most notes that "
    "sound at a step already sounded at the one before: frame F1 near copy-previous's only says that held notes go on."
)
# A parser's own words in parentheses (e.g. "MiniMidi: Invaild midi file! ...: iostream error"); ours start "ticks per quarter".
_PARSER_WORDS = re.compile(r"not a readable MIDI file \((?!ticks per quarter)(?:[^()]|\([^()]*\))*\)")


def readable(message: str) -> str:
    """Return a message fit for the page: no parser library's text, no server folder of an upload (its file name
    stays), paths under MUSICGEN_HOME relative to it (the server's folders are not the user's business).
    """
    message = _PARSER_WORDS.sub("not a readable MIDI file (damaged, cut short or not MIDI)", str(message))
    message = re.sub(re.escape(str(uploads_dir())) + r"/[0-9a-f]{16}/", "", message)
    home = re.escape(str(home_dir()))
    return re.sub(home + r"(?![\w.-])", "MUSICGEN_HOME", re.sub(home + "/", "", message))


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
    """Return the first CUDA device's name, or None without a GPU.

    A torch built for the CPU only cannot use a GPU: its version file says so, and reading it spares the page
    the import of torch (seconds on a freshly started server: BENCHMARKS.md, Dashboard cold start).
    """
    if not torch_has_gpu_build():
        return None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def torch_has_gpu_build() -> bool:
    """Return whether the installed torch was built for CUDA or ROCm (torch/version.py), without importing torch."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("torch")
    version = Path(next(iter(spec.submodule_search_locations or []), "")) / "version.py" if spec else None
    try:
        text = version.read_text() if version else ""
    except OSError:
        return True  # unknown: ask torch itself
    builds = re.findall(r"^(?:cuda|hip)\b[^=\n]*=\s*(.+)$", text, flags=re.MULTILINE)
    return not builds or any(b.strip() != "None" for b in builds)


def dataset_refs() -> list[str]:
    """Return the dataset choices of a training form: 'builtin:bach' and every built dataset's name."""
    names = [d["name"] for d in datasets.list_datasets()]
    return ["builtin:bach"] + [n for n in names if n != "builtin:bach"]


def run_label(row) -> str:
    """Return a short label for a run row (a select box's format_func): id, name, status, and a mark when it diverged."""
    return f"{row['id']} · {row['name']} · {row['status']}" + (" · ⚠ diverged" if run_diverged(row) else "")
