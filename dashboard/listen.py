"""The Listen page's Streamlit side: contenders' labels, a new pair with a fresh seed and the cached models, a vote."""

from __future__ import annotations

import secrets

import streamlit as st

from dashboard.generate import load
from dashboard.ui import call
from musicgen.music import listening

PAIR, NOTE = "listen_pair", "listen_note"  # session keys: (settings, the pair on the page), a note after a vote


def settings_now() -> tuple:
    """Return the page's settings as its widgets hold them now: (a, b, dataset, steps, primer steps, tempo).

    Callbacks read them here rather than from arguments bound when the button was drawn: a field changed
    just before the click would otherwise make a pair for the settings of the run before.
    """
    s = st.session_state
    return (
        s["listen_a"],
        s["listen_b"],
        s["listen_data"],
        int(s["listen_steps"]),
        int(s["listen_primer"]),
        float(s["listen_tempo"]),
    )


def contender_label(contender: str, choices: dict[str, str]) -> str:
    """Return what the page calls a contender: 'real music of DATASET' or the model's label."""
    if listening.is_real(contender):
        return f"real music of {contender.removeprefix(listening.REAL)}"
    return choices.get(contender, contender)


def new_pair(a: str, b: str, dataset: str, steps: int, primer_steps: int, tempo_bpm: float) -> listening.Pair:
    """Return a pair of `a` and `b` from a fresh random pair seed (stored with the vote), with the page's cached models."""
    return listening.make_pair(
        a,
        b,
        dataset,
        steps=steps,
        primer_steps=primer_steps,
        pair_seed=secrets.randbelow(2**31),
        tempo_bpm=tempo_bpm,
        loader=load,
    )


def current_pair(settings: tuple) -> listening.Pair | None:
    """Return the pair on the page when it was made for `settings` (a, b, dataset, steps, primer steps, tempo), else None."""
    held = st.session_state.get(PAIR)
    return held[1] if held and held[0] == settings else None


def play() -> None:
    """Make a pair for the page's settings and hold it for the page (a button's callback)."""
    settings = settings_now()
    with st.spinner("Generating and rendering the pair…"):
        pair = call("Making the pair", new_pair, *settings)
    st.session_state[PAIR] = (settings, pair) if pair else None


def vote(pair_seed: int, choice: int) -> None:
    """Store the vote for sample `choice` (0 or 1) of the pair heard (`pair_seed`), then make the next pair (a callback)."""
    held = st.session_state.get(PAIR)
    pair = held[1] if held else None
    if pair is not None and pair.pair_seed == pair_seed:
        if call("Storing the vote", listening.record_vote, pair, choice) is not None:
            st.session_state[NOTE] = True
            play()
