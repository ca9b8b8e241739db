"""Train: launch a run as a separate process, watch its curves live, stop and resume it."""

import streamlit as st

from dashboard.live import run_panel
from dashboard.router import ensure_routed
from dashboard.ui import call, config_input, dataset_refs, gpu_name, run_label
from musicgen.config import HEAD_NAMES, LOSS_NAMES, OPTIMIZER_NAMES, SCHEDULE_NAMES, ModelConfig, TrainConfig, check_head_loss
from musicgen.runs import jobs, store
from musicgen.training.optim import train_knobs

MODEL_KNOBS = ("conv_channels", "conv_kernel", "conv_layers", "hidden", "gru_layers", "dropout", "input_dropout", "nade_hidden")
HEAD_HELP = (
    "independent: each note of the next step gets its own probability (the course work's model); "
    "nade: the notes of a step are decided low to high, each given the ones below it, so chords are learned "
    "as chords (trains with the bce loss only)"
)

ensure_routed()
st.title("Train")
gpu = call("Checking for a GPU", gpu_name)
refs = call("Listing datasets", dataset_refs, warn=True) or ["builtin:bach"]

with st.form("train_form"):
    c1, c2, c3 = st.columns(3)
    data_ref = c1.selectbox("dataset", refs, key="train_data")
    optimizer = c2.selectbox(
        "optimizer", OPTIMIZER_NAMES, index=OPTIMIZER_NAMES.index(TrainConfig.optimizer), key="train_optimizer"
    )
    loss = c3.selectbox("loss", LOSS_NAMES, key="train_loss")
    c1, c2, c3, c4 = st.columns(4)
    base = TrainConfig(optimizer=optimizer, loss=loss)
    lr = c1.number_input("learning rate", value=base.lr, format="%g", key="train_lr")
    epochs = int(c2.number_input("epochs", min_value=1, value=base.epochs, key="train_epochs"))
    batch_size = int(c3.number_input("batch size", min_value=1, value=base.batch_size, key="train_batch"))
    seed = int(c4.number_input("seed", value=base.seed, step=1, key="train_seed"))
    c1, c2, c3, c4 = st.columns(4)
    labels = {
        "auto": f"auto ({'GPU: ' + gpu if gpu else 'CPU, no GPU found'})",
        "cpu": "cpu",
        "cuda": f"cuda ({gpu or 'none found'})",
    }
    device = c1.selectbox("device", list(labels) if gpu else ["auto", "cpu"], format_func=labels.get, key="train_device")
    schedule = c2.selectbox("schedule", SCHEDULE_NAMES, key="train_schedule")
    weight_decay = c3.number_input(
        "weight decay",
        value=float(base.weight_decay),
        format="%g",
        key="train_wd",
        help="default: 0.01 for adamw, 0 otherwise (applied when you change the optimizer and submit)",
    )
    name = c4.text_input("run name (optional)", key="train_name")
    with st.expander(f"Optimizer and loss knobs (defaults for {optimizer} + {loss})"):
        names = train_knobs(optimizer, loss)
        extra = {k: config_input(k, getattr(base, k), "train", col) for k, col in zip(names, st.columns(len(names)), strict=True)}
    with st.expander("Model (Conv1D + GRU)"):
        head = st.radio("head", HEAD_NAMES, horizontal=True, key="model_head", help=HEAD_HELP)
        model_kw = {
            k: config_input(k, getattr(ModelConfig, k), "model", col)
            for k, col in zip(MODEL_KNOBS, st.columns(len(MODEL_KNOBS)), strict=True)
        }
    launch = st.form_submit_button("Launch training", type="primary", key="train_launch")

if launch:
    train_cfg = call(
        "Checking the training settings",
        TrainConfig,
        optimizer=optimizer,
        loss=loss,
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        device=device,
        schedule=schedule,
        weight_decay=weight_decay,
        **extra,
    )
    model_cfg = call("Checking the model settings", ModelConfig, head=head, **model_kw)
    fits = (
        train_cfg and model_cfg and call("Checking the head and the loss", lambda: check_head_loss(model_cfg, train_cfg) or True)
    )
    if fits:
        args = jobs.train_args(data_ref, model_cfg, train_cfg, name=name.strip() or None)
        pid = call("Launching the training process", jobs.start_training, args)
        if pid:
            st.session_state["train_follow_pid"] = pid
            st.success(f"Training started (process {pid}); it keeps running if you close or reload this tab.")
            st.code("python -m musicgen train " + " ".join(args), language="bash")


@st.fragment(run_every=2)
def live() -> None:
    """Redraw the run picker, the chosen run's curves and the run table from the store (every ~2 s)."""
    runs = call("Reading the run store", store.list_runs)
    if runs is None or not len(runs):
        st.info("No runs yet: launch one above.")
        return
    records = {r["id"]: r for r in runs.to_dict("records")}
    follow = st.session_state.get("train_follow_pid")
    launched = [rid for rid, r in records.items() if follow and r.get("pid") == follow]
    if launched:  # the run this tab just launched has reached the store: show it
        st.session_state["train_run"] = launched[0]
        del st.session_state["train_follow_pid"]
    elif st.session_state.get("train_run") not in records:
        running = [rid for rid, r in records.items() if r["status"] == "running"]
        st.session_state["train_run"] = (running or list(records))[0]
    elif follow:
        st.caption(f"Waiting for process {follow} to register its run…")
    run_id = st.selectbox("run", list(records), key="train_run", format_func=lambda rid: run_label(records[rid]))
    run_panel(records[run_id], prefix="train")
    st.subheader("Recent runs")
    cols = [c for c in ("id", "name", "status", "created", "epochs_done", "pid", "error") if c in runs.columns]
    st.dataframe(runs[cols].head(30), key="train_runs_table", hide_index=True)


st.subheader("Live")
live()
