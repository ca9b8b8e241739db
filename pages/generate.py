"""Generate: write music with one to four models from the same primer and seed; see, hear and measure it."""

import streamlit as st

from dashboard.generate import (
    OWN,
    PRIMER_KINDS,
    default_excerpt,
    durations,
    generate_one,
    note_by_note,
    primer_spec,
    roll_figure,
    shared_pitch_range,
    short_label,
)
from dashboard.links import preset
from dashboard.playhead import playhead
from dashboard.router import ensure_routed
from dashboard.ui import call
from musicgen.data.datasets import list_datasets
from musicgen.music import plots
from musicgen.music.piece import checkpoint_choices
from musicgen.music.strategies import STRATEGIES

ensure_routed()
st.title("Generate")
choices = call("Listing checkpoints", checkpoint_choices)
if choices is not None and not choices:
    st.warning(
        "No checkpoint to generate with: the shipped `demo` is missing (restore it with `git checkout checkpoints/`) "
        "and no run has one yet (Train page)."
    )
if not choices:
    st.stop()
preset("model", "gen_models", choices, many=True, what="models")  # /generate?model=ID (or ID,ID)

# No form: the duration and which knobs apply follow each choice at once.
with st.container(border=True):
    models = st.multiselect(
        "models (1–4; several are drawn side by side with the same primer and seed)",
        list(choices),
        default=None if "gen_models" in st.session_state else ["demo"] if "demo" in choices else list(choices)[:1],
        max_selections=4,
        format_func=choices.get,
        key="gen_models",
    )
    c1, c2, c3, c4 = st.columns(4)
    strategy = c1.selectbox(
        "strategy",
        STRATEGIES,
        key="gen_strategy",
        help="sample: draw each note; threshold: notes above a probability; topk: the k likeliest above a floor. "
        "A nade model decides notes one by one: sample or threshold (greedy decoding)",
    )
    steps = int(c2.number_input("length (steps)", 8, 2048, 128, step=16, key="gen_steps"))
    seed = int(c3.number_input("seed", 0, 2**31 - 1, 0, key="gen_seed"))
    tempo = float(c4.number_input("tempo (bpm)", 30.0, 300.0, 100.0, key="gen_tempo"))
    c1, c2, c3, c4 = st.columns(4)
    temperature = c1.number_input(
        "temperature (0 = the checkpoint's)",
        0.0,
        5.0,
        0.0,
        step=0.05,
        key="gen_temperature",
        disabled=strategy != "sample",
        help="sample strategy: < 1 sharper, > 1 wilder. 0: the temperature chosen on validation when the model was "
        "trained (its samples closest to the data), 0.8 for older checkpoints",
    )
    threshold = c2.number_input(
        "threshold (0 = the checkpoint's best)", 0.0, 0.99, 0.0, step=0.05, key="gen_threshold", disabled=strategy != "threshold"
    )
    top_k = int(c3.number_input("top-k (topk)", 1, 84, 4, key="gen_topk", disabled=strategy != "topk"))
    floor = c4.number_input("floor (topk)", 0.0, 0.99, 0.05, step=0.01, key="gen_floor", disabled=strategy != "topk")
    one_by_one = call("Reading the models", note_by_note, models) if models else False
    c1, c2, c3 = st.columns(3)
    max_poly = int(c1.number_input("max notes per step (0 = no cap)", 0, 84, 6, key="gen_maxpoly"))
    min_notes = int(c2.number_input("min notes per step", 0, 84, 0, key="gen_minnotes", disabled=bool(one_by_one)))
    ref_sets = [d["name"] for d in call("Listing datasets", list_datasets, warn=True) or []]  # built ones: never starts a build
    reference = c3.selectbox(
        "compare with dataset",
        [OWN, "(none)"] + ref_sets,
        key="gen_reference",
        help="music metrics of the generated steps (primer excluded) against a dataset's test split "
        "(valid, then train, when it is empty), in pieces as long as its windows. By default each model against "
        "the dataset it was trained on (bach when that is unknown); choose one to measure every model against it",
    )
    st.markdown("**Primer** (shaded in the roll)")
    c1, c2, c3 = st.columns([2, 2, 1])
    primer_kind = c1.radio("primer", PRIMER_KINDS, horizontal=True, key="gen_primer_kind")
    upload = c2.file_uploader("primer MIDI", type=["mid", "midi"], key="gen_primer_file", disabled=primer_kind != PRIMER_KINDS[1])
    excerpt = c2.text_input(
        "excerpt DATASET:FILE:OFFSET",
        call("Finding an excerpt", default_excerpt, warn=True) or "",
        key="gen_primer_excerpt",
        help="a source file of a built dataset and the step to start from",
        disabled=primer_kind != PRIMER_KINDS[2],
    )
    primer_steps = int(c3.number_input("primer steps", 1, 1024, 16, key="gen_primer_steps", disabled=primer_kind == "none"))
    lasting = call("Reading the models' time grids", durations, models, steps, tempo) if models else None
    if lasting:
        st.caption(f"Each piece lasts {lasting} ({steps} steps at {tempo:g} bpm, primer included).")
    go = st.button("Generate", type="primary", key="gen_go")

if go:
    if not models:
        st.warning("Pick at least one model: `demo` is always there.")
    else:
        options = {
            "strategy": strategy,
            "temperature": temperature or None,
            "threshold": threshold or None,
            "top_k": top_k,
            "floor": floor,
            "max_polyphony": max_poly or None,
            "min_notes": min_notes,
            "seed": seed,
            "steps": steps,
            "tempo_bpm": tempo,
        }
        data = None if reference == "(none)" else reference
        results = []
        primer = call("Reading the primer", primer_spec, primer_kind, upload, excerpt)
        if primer_kind == "none" or primer:
            with st.spinner(f"Generating {steps} steps with {len(models)} model(s)…"):
                for ref in models:
                    res = call(f"Generating with {choices.get(ref, ref)}", generate_one, ref, primer, primer_steps, data, options)
                    if res:
                        results.append(res)
        st.session_state["gen_results"] = results

results = st.session_state.get("gen_results") or []
if not results:
    st.info("Choose models and press Generate; `demo` works before you train anything.")
cols = st.columns(len(results)) if results else []  # equal widths; a short title keeps the cards in line
pitch_range = shared_pitch_range(results) if results else None
columns = ["metric", "generated", "dataset"] if len(results) > 2 else list(results[0]["metrics"][0]) if results else []
numbers = {c: st.column_config.NumberColumn(c, format="%.3g") for c in ("generated", "dataset", "dataset std")}
for i, (col, res) in enumerate(zip(cols, results, strict=False)):
    label = choices.get(res["ref"], res["ref"])
    with col.container(border=True):
        st.markdown(f"**{short_label(label)}**", help=f"{label}  \n{res['title']}; {res['reference_note']}")
        st.caption(res["reference_note"])
        playhead(
            res["roll"],
            res["audio"],
            res["audio_mime"],
            res["seconds_per_step"],
            res["low"],
            pitch_range,
            primer_steps=res["primer_steps"],
            steps_per_beat=res["steps_per_beat"],
        )
        if res.get("audio_note"):
            st.warning(res["audio_note"])
        with st.expander("roll (beats, pitches on hover)"):
            st.plotly_chart(roll_figure(res, pitch_range), key=f"gen_roll_{i}", width="stretch")
        d1, d2 = st.columns(2)
        d1.download_button("MIDI", res["midi"], f"{res['slug']}.mid", "audio/midi", key=f"gen_dl_mid_{i}")
        d2.download_button("WAV", res["wav"], f"{res['slug']}.wav", "audio/wav", key=f"gen_dl_wav_{i}")
        st.dataframe(
            res["metrics"],
            key=f"gen_metrics_{i}",
            hide_index=True,
            width="stretch",
            column_config=numbers,
            column_order=columns,  # narrow cards: numbers only, the readings one click away
        )
        if res["comparison"] and "distributions" in res["comparison"]:
            with st.expander("note lengths and time between onsets, against the data"):
                for what in ("note_length", "ioi"):
                    fig = plots.durations_figure(res["comparison"]["distributions"], what)
                    st.plotly_chart(fig, key=f"gen_{what}_{i}", width="stretch")
        if columns != list(res["metrics"][0]) and res["comparison"]:
            with st.expander("readings"):
                st.markdown("\n".join(f"- {row['reading']}" for row in res["metrics"]))
