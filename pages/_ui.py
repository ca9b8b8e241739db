"""What every page shares: calling musicgen without ever showing a traceback, and small cached reads."""

from __future__ import annotations

import logging
import traceback

import streamlit as st

from musicgen.errors import MusicgenError
from musicgen.runs import store
from musicgen.data import datasets

log = logging.getLogger("musicgen.app")


def _hand_over_to_the_router() -> None:
    # With a pages/ folder, Streamlit serves the first session in its old folder mode until some
    # script calls st.navigation: a first visit straight to /train would run this file alone, without
    # app.py's router (wrong menu, no page config). Switch to the router once and rerun.
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_hand_over_to_the_router()


def call(what: str, fn, *args, warn: bool = False, **kwargs):
    """Run `fn(*args, **kwargs)`; on failure show one readable message and return None."""
    try:
        return fn(*args, **kwargs)
    except MusicgenError as e:
        (st.warning if warn else st.error)(f"{what}: {e}")
    except (ImportError, AttributeError) as e:
        # A part of musicgen that is missing or older than this page: say so, keep the page alive.
        log.error("%s failed:\n%s", what, traceback.format_exc())
        st.error(f"{what}: this musicgen install lacks a part the page needs ({e}); update the code (git pull) and reload.")
    except Exception as e:  # noqa: BLE001 — a bug: the user gets one line, the server log the traceback
        log.error("%s failed:\n%s", what, traceback.format_exc())
        st.error(f"{what} failed unexpectedly ({type(e).__name__}: {str(e)[:200]}); the server log has the details.")
    return None


def gpu_name() -> str | None:
    """Return the first CUDA device's name, or None without a GPU."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def devices() -> list[str]:
    """Return the devices a run can use: 'cpu', plus 'cuda' when a GPU is present."""
    return ["cuda", "cpu"] if gpu_name() else ["cpu"]


def runs_frame():
    """Return the run store as a DataFrame (empty when there are no runs yet)."""
    return store.list_runs()  # it marks runs whose process died as failed first


def dataset_refs() -> list[str]:
    """Return the dataset choices: 'builtin:bach' and every built dataset's name."""
    names = [d["name"] for d in datasets.list_datasets()]
    return ["builtin:bach"] + [n for n in names if n != "builtin:bach"]


def run_label(row) -> str:
    """Return a short label for a run row: id, name and status."""
    return f"{row['id']} · {row['name']} · {row['status']}"
