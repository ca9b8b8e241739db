"""Listen: a blind test of two models, or a model against a dataset's real music; votes and the preference rate."""

from functools import partial

import streamlit as st

from dashboard import data as prep
from dashboard.listen import NOTE, contender_label, current_pair, play, settings_now, vote
from dashboard.router import ensure_routed
from dashboard.ui import call
from musicgen.data.datasets import list_datasets
from musicgen.music import listening
from musicgen.music.piece import checkpoint_choices

ensure_routed()
st.title("Listen")
st.caption(
    "A blind test: two samples that continue the same primer (a real excerpt of the dataset), the same length, played "
    "by the same synthesizer, in random order and unlabelled. Vote for the one that sounds more musical."
)
choices = call("Listing checkpoints", checkpoint_choices) or {}
sets = call("Listing datasets", list_datasets) or []
if not sets or not choices:
    st.warning("The test needs a built dataset (primers and real music): open **Dataset** and build one first.")
    st.stop()

c1, c2, c3 = st.columns(3)
dataset = c3.selectbox("primers from dataset", [s["name"] for s in sets], key="listen_data")
a = c1.selectbox("model", list(choices), format_func=choices.get, key="listen_a")
others = [listening.real(dataset)] + [m for m in choices if m != a]
b = c2.selectbox("against", others, format_func=lambda c: contender_label(c, choices), key="listen_b")
c1, c2, c3 = st.columns(3)
steps = int(c1.number_input("length (steps)", 8, 512, 64, step=8, key="listen_steps"))
primer_steps = int(c2.number_input("primer (steps)", 1, 256, 16, key="listen_primer"))
tempo = float(c3.number_input("tempo (bpm)", 30.0, 300.0, 100.0, key="listen_tempo"))
ds = call("Loading the dataset", prep.load, next(s for s in sets if s["name"] == dataset))
if ds is None:
    st.stop()
st.caption(
    f"Each sample lasts {listening.duration_s(ds, steps, tempo):.1f} s ({steps} steps at {tempo:g} bpm); "
    f"the first {primer_steps} are the shared primer."
)

settings = settings_now()  # (a, b, dataset, steps, primer steps, tempo), as the widgets above hold them
pair = current_pair(settings)
if pair is None:
    st.button("Play a pair", type="primary", key="listen_new", on_click=play)
if st.session_state.pop(NOTE, None):
    st.success("Vote stored. Here is the next pair.")
if pair:
    st.markdown("**Which sounds more musical?** Listen to both, then vote for one.")
    for i, col in enumerate(st.columns(2)):
        with col.container(border=True):
            st.markdown(f"**Sample {i + 1}**")
            st.audio(pair.sounds[i], format=pair.mime)
            st.button(
                f"Sample {i + 1} sounds more musical",
                key=f"listen_vote_{i + 1}",
                width="stretch",
                on_click=vote,
                args=(pair.pair_seed, i),  # the pair heard, whatever changed since
            )

st.subheader("Results")
result = call("Reading the votes", listening.preference, a, b)
if result:
    label = partial(contender_label, choices=choices)
    st.metric(f"{label(a)} preferred", "–" if not result["votes"] else f"{result['rate']:.0%}", help=result["interval"])
    st.markdown(listening.sentence(result, label) + ".")
    rest = [r for r in call("Reading the votes", listening.results_for, None) or [] if {r["a"], r["b"]} != {a, b}]
    if rest:
        with st.expander(f"other pairs ({len(rest)})"):
            st.markdown("\n".join(f"- {listening.sentence(r, label)}" for r in rest))
