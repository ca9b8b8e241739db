"""Dataset: build one from the Bach chorales, a benchmark file or uploaded MIDI; look at its statistics."""

import pandas as pd
import streamlit as st

from dashboard import data as prep
from dashboard.fields import field_errors, form_message
from dashboard.router import ensure_routed
from dashboard.ui import call, readable
from musicgen.config import DataConfig
from musicgen.data.datasets import list_datasets
from musicgen.music import plots
from musicgen.paths import dataset_dir

ensure_routed()
st.title("Dataset")
limit_mb = st.get_option("server.maxUploadSize")
FIELD_LABELS = {
    "seq_len": "sequence length",
    "split": "train / valid / test shares",
    "seed": "split seed",
    "low": "pitch range",
    "pedal_decay_s": "pedal decay",
}
SOURCES = ("Bach chorales (builtin:bach)", "benchmark file (.mat / .pickle, e.g. JSB Chorales)", "upload MIDI files or a zip")

source = st.radio("source", SOURCES, key="data_source")
uploads, bench_path, whole = None, None, False
if source == SOURCES[1]:
    bench_path = st.text_input(
        "benchmark file",
        str(prep.JSB_DEFAULT) if prep.JSB_DEFAULT.is_file() else "",
        key="data_bench",
        help=prep.BENCHMARK_HELP,
    )
    whole = st.checkbox("whole sequences (the published benchmark setting)", value=True, key="data_whole")
elif source == SOURCES[2]:
    uploads = st.file_uploader(
        f"MIDI files or a zip of them (at most {limit_mb} MB each)",
        type=["mid", "midi", "kar", "zip"],
        accept_multiple_files=True,
        key="data_upload",
    )

d = DataConfig()
is_bench = source == SOURCES[1]
own_windows = is_bench and whole  # whole sequences in the file's own split: no windows, hop or shares to choose
with st.form("data_form"):
    c1, c2, c3, c4 = st.columns(4)
    default_name = {SOURCES[0]: "bach", SOURCES[1]: "jsb", SOURCES[2]: "uploaded"}[source]
    name = c1.text_input("dataset name", default_name, key=f"data_name_{SOURCES.index(source)}")
    grid = c2.radio(
        "time grid", ("steps per beat", "steps per second (fs)"), horizontal=True, key="data_grid", disabled=source == SOURCES[1]
    )
    per = c3.number_input(
        "steps per beat / fs",
        1.0,
        96.0,
        1.0 if source == SOURCES[1] else float(d.steps_per_beat),
        key=f"data_per_{SOURCES.index(source)}",
        disabled=source == SOURCES[1],
    )
    windows = c4.selectbox(
        "windows", ("all", "first"), key="data_windows", help="all: every hop; first: one window per file", disabled=own_windows
    )
    c1, c2, c3, c4 = st.columns(4)
    seq_len = int(c1.number_input("sequence length (steps)", 2, 4096, d.seq_len, key="data_seq_len", disabled=own_windows))
    hop = int(c2.number_input("hop (steps)", 1, 4096, d.hop, key="data_hop", disabled=own_windows))
    low, high = c3.slider("pitch range (MIDI, high exclusive)", 0, 128, (d.low, d.high), key="data_range", disabled=own_windows)
    # A benchmark file keeps its own train/valid/test split: the shares and their seed do not apply to it.
    seed = int(c4.number_input("split seed", 0, 10**6, d.seed, key="data_seed", disabled=is_bench))
    c1, c2, c3, c4 = st.columns(4)
    train_share = c1.number_input("train share", 0.0, 1.0, d.split[0], 0.05, key="data_train", disabled=is_bench)
    valid_share = c2.number_input("valid share", 0.0, 1.0, d.split[1], 0.05, key="data_valid", disabled=is_bench)
    test_share = c3.number_input("test share", 0.0, 1.0, d.split[2], 0.05, key="data_test", disabled=is_bench)
    pedal = c4.toggle(
        "sustain pedal",
        d.pedal,
        key="data_pedal",
        disabled=is_bench,
        help="On: a note released while the sustain pedal (CC64) is down sounds until the pedal is lifted or the key "
        "is struck again, as a piano sounds. Off: notes end where the file releases them. Benchmark files have no pedal.",
    )
    c1, c2 = st.columns(2)
    decay = c1.number_input(
        "pedal decay (s at middle C; 0: none)",
        0.0,
        3600.0,
        d.pedal_decay_s,
        0.5,
        key="data_pedal_decay",
        disabled=is_bench,
        help="The longest a pedal-held note sounds after it is struck, halved per octave up and doubled per octave down, "
        "as a piano string decays. 0: held until the pedal lifts, however long.",
    )
    layout = c2.radio(
        "format",
        ("npz", "shards"),
        horizontal=True,
        key="data_format",
        disabled=source == SOURCES[1],
        help=prep.FORMAT_HELP,
    )
    submitted = st.form_submit_button("Preprocess", type="primary", key="data_build")

if submitted:
    fs, spb = (float(per), None) if grid.startswith("steps per second") and source != SOURCES[1] else (None, int(per))
    values = dict(
        seq_len=seq_len, hop=hop, windows=windows, steps_per_beat=spb, fs=fs, low=low, high=high, seed=seed, pedal=pedal
    )
    values["pedal_decay_s"] = float(decay) or None
    bad = field_errors(DataConfig, **values, split=(train_share, valid_share, test_share))
    if bad:
        st.error(form_message(bad, FIELD_LABELS))  # every bad field at once, named as the form names it
    cfg = None if bad else DataConfig(**values, split=(train_share, valid_share, test_share))
    out = call("Checking the dataset name", dataset_dir, name.strip())  # a bare name under MUSICGEN_HOME/data
    sources, report = None, None
    if out is None:
        pass  # the name's error is shown; nothing is saved or built
    elif source == SOURCES[0]:
        sources = ["builtin:bach"]
    elif source == SOURCES[1]:
        bench = call("Checking the benchmark file", prep.benchmark_file, bench_path or "")
        sources = [str(bench)] if bench else None
        cfg = None if whole else cfg
    elif not uploads:
        st.error("Upload at least one .mid file or a .zip of them first.")
    else:
        folder = call("Saving the uploads", prep.save_uploads, uploads)
        sources = [str(folder)] if folder else None
    if sources and (cfg is not None or source == SOURCES[1]):
        bar = st.progress(0.0, text="reading files…")
        report = call("Preprocessing", prep.build, sources, out, cfg, bar, layout if source != SOURCES[1] else "npz")
        if report:
            bar.progress(1.0, text="done")
            st.session_state["data_view"] = report["name"]
            line, split_notes, skipped = prep.ready_message(report)
            st.success(line)
            for note in split_notes:
                st.warning(f"{note}.")
            if skipped:
                with st.expander(f"why {len(skipped)} {'file was' if len(skipped) == 1 else 'files were'} skipped"):
                    reasons = pd.DataFrame(skipped)[["file", "reason"]].assign(reason=lambda f: f["reason"].map(readable))
                    st.dataframe(reasons, key="data_skipped_now", hide_index=True, width="stretch")
    if not (sources and report):  # nothing was built: no older dataset's statistics under the error, as if they were its
        st.info("Nothing was built. Fix what the message says and press Preprocess again; built datasets show below then.")
        st.stop()

st.divider()
sets = call("Listing datasets", list_datasets) or []
if not sets:
    st.info("No dataset yet: choose a source above and press Preprocess.")
    st.stop()
names = [s["name"] for s in sets]
if st.session_state.get("data_view") not in names:
    st.session_state["data_view"] = names[0]
view = st.selectbox("dataset", names, key="data_view")
ds = call("Loading the dataset", prep.load, next(s for s in sets if s["name"] == view))
if ds is None:
    st.stop()
stats = ds.report.get("stats", {})
c = st.columns(7)  # one number each: a "92 / 51 / 12" value was cut off in a narrow column
c[0].metric("files used", stats.get("files_ok", "?"))
c[1].metric("files skipped", stats.get("files_skipped", 0))
for col, s in zip(c[2:5], ("train", "valid", "test"), strict=True):
    col.metric(f"{s} {prep.row_unit(ds, s)}", len(ds.split(s)[0]))
c[5].metric("density", f"{stats.get('density', 0):.2%}")
c[6].metric("mean polyphony", f"{stats.get('mean_polyphony', 0):.2f}")
st.caption(prep.form_line(ds))
if ds.onsets:
    c = st.columns(4)
    c[0].metric("notes", f"{stats.get('notes', 0):,}")
    c[1].metric("re-struck notes kept apart", f"{stats.get('restrikes', 0):,}", help=prep.RESTRIKE_HELP)
    c[2].metric("notes held by the pedal", f"{stats.get('pedal_extended', 0):,}")
    c[3].metric("notes merged on the grid", f"{stats.get('merged_notes', 0):,}", help=prep.MERGED_HELP)
c1, c2, c3 = st.columns(3)
c1.plotly_chart(plots.pitch_figure(stats.get("pitch_histogram"), ds.config.low), key="data_pitch", width="stretch")
figs = call("Measuring windows", prep.window_figures, ds)
if figs:
    c2.plotly_chart(figs[0], key="data_poly", width="stretch")
    c3.plotly_chart(figs[1], key="data_density", width="stretch")
split = st.radio("window from", ("train", "valid", "test"), horizontal=True, key="data_win_split")
n = len(ds.split(split)[0])
if n:
    idx = st.slider("window", 0, max(n - 1, 1), 0, key="data_win_index") if n > 1 else 0
    st.plotly_chart(plots.window_figure(ds, split, min(idx, n - 1)), key="data_window", width="stretch")
st.subheader("Per-file report")
files = prep.files_table(ds.report.get("files", []), readable)
if len(files):
    only_skipped = st.checkbox("only skipped files", key="data_only_skipped")
    st.dataframe(files[files["status"] != "kept"] if only_skipped else files, key="data_files", hide_index=True)
