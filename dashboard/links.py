"""Shareable links: a page opens in the state its URL names (/compare?sweep=ID, /compare?runs=A,B, /generate?model=ID).

`preset` runs before the page draws the widget: the first time a session sees a query parameter's value it
sets the widget's state from it (values this store does not have are named in a warning instead), and
leaves later changes to the user. `share` writes the page's current choice back into the URL, so the
address bar always holds a link to what the page shows.
"""

from __future__ import annotations

import streamlit as st

_SEEN = "_links_seen"  # session: {(parameter, raw value): warning or ""}, the values applied or written by `share`


def values(raw: str) -> list[str]:
    """Return the comma-separated values of a query parameter, stripped, empty ones dropped."""
    return [v.strip() for v in raw.split(",") if v.strip()]


def preset(param: str, key: str, allowed, *, many: bool = False, also: dict | None = None, what: str = "") -> None:
    """Set widget `key` from query parameter `param` once per value: a list when `many`, else one value.

    Only values in `allowed` are taken; `also` sets further widget states with it (e.g. the mode that shows
    the widget); a link that names values the store lacks shows a warning that names them, `what` saying
    what they are (default: the parameter's name).
    """
    raw = st.query_params.get(param)
    if raw is None:
        return
    seen = st.session_state.setdefault(_SEEN, {})
    if (param, raw) not in seen:
        wanted = values(raw) if many else values(raw)[:1]
        known = [v for v in wanted if v in allowed]
        unknown = [v for v in wanted if v not in allowed]
        seen[(param, raw)] = (
            f"The link names {what or param} {', '.join(unknown)}, which this musicgen home does not have; "
            f"{'showing the others' if known else 'pick from the list instead'}."
            if unknown
            else ""
        )
        if known:
            st.session_state[key] = known if many else known[0]
            st.session_state.update(also or {})
    if seen[(param, raw)]:
        st.warning(seen[(param, raw)])


def share(**params) -> None:
    """Make the URL's query hold exactly `params` (lists joined by commas; None or empty left out), if it differs."""
    wanted = {k: ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v) for k, v in params.items() if v}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
    seen = st.session_state.setdefault(_SEEN, {})
    for item in wanted.items():  # what the page wrote is its own state: `preset` must not apply it on the next run
        seen.setdefault(item, "")
