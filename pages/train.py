"""Train: launch a run as a separate process, watch its curves live, stop and resume it."""

from pathlib import Path

import streamlit as st

from dashboard.fields import form_errors, form_message
from dashboard.live import watch_runs
from dashboard.router import ensure_routed
from dashboard.train import PRECISION_HELP, backend_args, ray_installed, recipe_widgets
from dashboard.ui import INVALID, call, config_input, dataset_refs, gpu_name
from musicgen.config import (
    HEAD_NAMES,
    LOSS_NAMES,
    MONITORS,
    OPTIMIZER_NAMES,
    PRECISION_NAMES,
    SCHEDULE_NAMES,
    ModelConfig,
    TrainConfig,
    check_head_loss,
)
from musicgen.runs import jobs
from musicgen.study.recipes import load_recipe, shipped_recipes
from musicgen.training.knobs import train_knobs

# What the recipes in configs/ set beyond the optimizer: the schedule's knobs, weight averaging, augmentation.
RUN_KNOBS = ("min_lr_ratio", "plateau_patience", "ema", "transpose")
RUN_HELP = (
    "monitor: the validation figure that picks best.pt and early stopping; min lr ratio: the cosine schedule's floor; "
    "plateau patience: stalled epochs before the plateau schedule halves the rate; ema: weight averaging "
    "(0: off, e.g. 0.995; validation and best.pt use the average); transpose: move each training sequence by "
    "up to that many semitones"
)
FIELD_LABELS = {"lr": "learning rate"}  # config fields the form labels otherwise than by their name
MODEL_KNOBS = ("conv_channels", "conv_kernel", "conv_layers", "hidden", "gru_layers", "dropout", "input_dropout", "weight_drop")
HEAD_HELP = (
    "independent: each note of the next step gets its own probability (the course work's model); "
    "nade: the notes of a step are decided low to high, each given the ones below it, so chords are learned "
    "as chords (trains with the bce loss only)"
)


def start_from_recipe() -> None:
    """Set the form's fields to the chosen recipe's settings (a callback: it runs before the widgets are drawn)."""
    chosen = st.session_state.get("train_recipe")
    st.session_state.pop("train_recipe_note", None)
    if not chosen:
        return
    recipe = call("Reading the recipe", load_recipe, chosen)
    if recipe:
        state, note = recipe_widgets(recipe, MODEL_KNOBS, RUN_KNOBS)
        st.session_state.update(state)
        st.session_state["train_recipe_note"] = note


ensure_routed()
st.title("Train")
gpu = call("Checking for a GPU", gpu_name)
refs = call("Listing datasets", dataset_refs, warn=True) or ["builtin:bach"]
st.selectbox(
    "start from a recipe",
    [None, *map(str, shipped_recipes())],
    format_func=lambda r: "none (the fields as they are)" if r is None else f"configs/{Path(r).name}",
    key="train_recipe",
    on_change=start_from_recipe,
    help="a shipped recipe sets every field below to the settings its checkpoint was trained with; pick its dataset yourself",
)
if st.session_state.get("train_recipe_note"):
    st.info(st.session_state["train_recipe_note"])

# Outside the form: the form's knobs, defaults and help follow these at once.
c1, c2, c3 = st.columns(3)
optimizer = c1.selectbox(
    "optimizer",
    OPTIMIZER_NAMES,
    index=OPTIMIZER_NAMES.index(TrainConfig.optimizer),
    key="train_optimizer",
)
loss = c2.selectbox("loss", LOSS_NAMES, key="train_loss")
head = c3.radio("head", HEAD_NAMES, horizontal=True, key="model_head", help=HEAD_HELP)
base = TrainConfig(optimizer=optimizer, loss=loss)
fits = call("Checking the head and the loss", lambda: check_head_loss(ModelConfig(head=head), base) or True)

with st.form("train_form"):
    c1, c2, c3, c4, c5 = st.columns(5)
    data_ref = c1.selectbox("dataset", refs, key="train_data")
    # No min_value: a bad number gets the config's own message instead of being silently clamped.
    lr = c2.number_input("learning rate", value=base.lr, format="%g", key="train_lr")
    epochs = int(c3.number_input("epochs", value=base.epochs, step=1, key="train_epochs"))
    batch_size = int(c4.number_input("batch size", value=base.batch_size, step=1, key="train_batch"))
    seed = int(c5.number_input("seed", value=base.seed, step=1, key="train_seed"))
    c1, c2, c3, c4 = st.columns(4)
    labels = {
        "auto": f"auto ({'GPU: ' + gpu if gpu else 'CPU, no GPU found'})",
        "cpu": "cpu",
        "cuda": f"cuda ({gpu or 'none found'})",
    }
    device = c1.selectbox("device", list(labels) if gpu else ["auto", "cpu"], format_func=labels.get, key="train_device")
    schedule = c2.selectbox("schedule", SCHEDULE_NAMES, key="train_schedule")
    # One field per optimizer: its default is the CLI's (0.01 for adamw, 0 otherwise), and a typed value stays with it.
    weight_decay = c3.number_input(
        "weight decay",
        value=base.weight_decay,
        min_value=None,
        format="%g",
        key=f"train_wd_{optimizer}",
        help=f"default for {optimizer}: {base.weight_decay:g} (0.01 for adamw, 0 otherwise, as on the command line)",
    )
    name = c4.text_input("run name (optional)", key="train_name")
    c1, c2, c3 = st.columns(3)
    precision = c1.selectbox("precision", PRECISION_NAMES, key="train_precision", help=PRECISION_HELP)
    backend = c2.selectbox(
        "where it trains",
        ("local", "ray") if ray_installed() else ("local",),
        format_func={"local": "this machine, one process", "ray": "Ray Train, data-parallel workers"}.get,
        key="train_backend",
        help="Ray: the same trainer in several workers (DDP), the batch size staying the global batch"
        + ("" if ray_installed() else "; install Ray to offer it: pip install -r requirements-ray.txt"),
    )
    workers = c3.number_input("Ray workers", value=2, step=1, key="train_workers", help="with Ray: processes training at once")
    with st.expander(f"Optimizer and loss knobs (defaults for {optimizer} + {loss})"):
        names = train_knobs(optimizer, loss)
        extra = {k: config_input(k, getattr(base, k), "train", col) for k, col in zip(names, st.columns(len(names)), strict=True)}
    with st.expander("Schedule, weight averaging, augmentation"):
        st.caption(RUN_HELP)
        cols = st.columns(len(RUN_KNOBS) + 1)
        monitor = cols[0].selectbox("monitor", list(MONITORS), key="train_monitor")
        extra |= {k: config_input(k, getattr(base, k), "train", col) for k, col in zip(RUN_KNOBS, cols[1:], strict=True)}
    with st.expander("Model (Conv1D + GRU)"):
        knobs = MODEL_KNOBS + (("nade_hidden", "nade_layers") if head == "nade" else ())
        model_kw = {
            k: config_input(k, getattr(ModelConfig, k), "model", col)
            for k, col in zip(knobs, st.columns(len(knobs)), strict=True)
        }
        model_kw["position"] = st.checkbox(
            "position in the beat and the bar as inputs",
            key="model_position",
            help="onset-aware datasets (built from MIDI) only: one-hots of the step's place in the beat and the bar",
        )
    graphs = gpu is not None and st.checkbox(
        "CUDA graphs",
        key="train_cuda_graphs",
        help="on the GPU, replay each batch shape's step as one CUDA graph: fewer launches for small models; "
        "not yet checked on a GPU, so off by default (docs/training.md)",
    )
    launch = st.form_submit_button("Launch training", type="primary", key="train_launch")

settings = dict(lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, device=device, schedule=schedule, monitor=monitor)
settings |= {"precision": precision, "cuda_graphs": bool(graphs)}
train_kw = dict(optimizer=optimizer, loss=loss, **settings, weight_decay=weight_decay, **extra)
not_numbers = [k for k, v in (*extra.items(), *model_kw.items()) if v is INVALID]
bad = form_errors(not_numbers, (TrainConfig, train_kw), (ModelConfig, model_kw)) if launch else {}
if launch and bad:
    st.error(form_message(bad, FIELD_LABELS))  # every bad field at once, named as the form names it
elif launch and fits:
    train_cfg = call("Checking the training settings", TrainConfig, **train_kw)
    model_cfg = call("Checking the model settings", ModelConfig, head=head, **model_kw)
    where = call("Checking the Ray workers", backend_args, backend, workers)
    if train_cfg and model_cfg and where is not None:
        args = jobs.train_args(data_ref, model_cfg, train_cfg, name=name.strip() or None) + where
        pid = call("Launching the training process", jobs.start_training, args)
        if pid:
            st.session_state["train_follow_pid"] = pid  # the live panel says "starting" and follows the run once it registers
            st.caption("Its command line: `python -m musicgen train " + " ".join(args) + "`")


@st.fragment(run_every=2)
def live() -> None:
    """Redraw the run picker, the watched run's panel and the runs table from the store (every ~2 s)."""
    watch_runs("train")


st.subheader("Live")
live()
