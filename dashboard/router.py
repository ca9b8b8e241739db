"""The app's pages and the router over them: app.py routes with `route`, every page starts with `ensure_routed`.

A `pages/` folder beside app.py puts Streamlit in its old folder mode until some script calls
`st.navigation` (its docstring: "As soon as any session of your app executes the st.navigation
command, your app will ignore the pages/ directory (across all sessions)"). On a freshly started
server the first visit therefore runs a deep-linked page file (/train runs pages/train.py) alone,
with a menu made from file names and without app.py; `AppTest` starts every run in that mode.
`ensure_routed` notices that the page runs outside `route` and does, with public calls only, what
app.py would have done before it: the page config and `st.navigation` over the same pages, which
also ends folder mode for the server. The page that runs is the one the router would have picked,
since every URL path is its file's name.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
PAGE_CONFIG = {"page_title": "musicgen", "page_icon": ":material/piano:", "layout": "wide"}
# (script under pages/, menu title, icon, URL path); the first is the home page, also served at the root URL.
PAGES = (
    ("home.py", "Home", ":material/home:", "home"),
    ("data.py", "Dataset", ":material/library_music:", "data"),
    ("train.py", "Train", ":material/monitoring:", "train"),
    ("compare.py", "Compare", ":material/compare_arrows:", "compare"),
    ("generate.py", "Generate", ":material/piano:", "generate"),
    ("listen.py", "Listen", ":material/hearing:", "listen"),
)
_REROUTED = "_router_rerouted"  # session flag: this session's unrouted first run was rerun through the router
_local = threading.local()  # one script run at a time per thread: whether this run came through `route`


def pages() -> list:
    """Return the st.Page of every page, and the home page once more, hidden, at its own URL path.

    Streamlit serves the default page at the root URL only; the hidden twin makes /home work as
    well (a file may be registered under several URL paths).
    """
    script, title, icon, url_path = PAGES[0]
    out = [st.Page(ROOT / "pages" / script, title=title, icon=icon, url_path="", default=True)]
    out += [st.Page(ROOT / "pages" / s, title=t, icon=i, url_path=u) for s, t, i, u in PAGES[1:]]
    out.append(st.Page(ROOT / "pages" / script, title=title, icon=icon, url_path=url_path, visibility="hidden"))
    return out


@contextmanager
def route():
    """Mark the script run as routed while the chosen page runs: `with route(): st.navigation(pages()).run()`."""
    _local.routed = True
    try:
        yield
    finally:
        _local.routed = False


def ensure_routed() -> None:
    """Give a page run that did not come through app.py's router what the router gives it: page config and menu."""
    if getattr(_local, "routed", False):
        return
    st.set_page_config(**PAGE_CONFIG)
    st.navigation(pages())
    # The widgets of this folder-mode run are keyed by the page file's folder-mode identity; every later run goes
    # through the router, whose page identity differs, so the first change made on them would be lost. Rerun once,
    # through the router, before the user can touch them. Once per session only: a session's first run is a page
    # load (no widget event to drop). A browser's session has HTTP headers; AppTest's has none and runs every script
    # run unrouted, with one page identity throughout, so it has nothing to lose and is left alone.
    if st.context.headers and not st.session_state.get(_REROUTED):
        st.session_state[_REROUTED] = True
        st.rerun()
