"""Helpers of the AppTest files: tiny MIDI files, seeded runs with checkpoints, opening a page, reading its output."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the pages import `dashboard` as under `streamlit run app.py` (the script's folder on sys.path)
    sys.path.insert(0, str(ROOT))

TINY_MODEL = {"n_notes": 84, "conv_channels": 4, "conv_kernel": 2, "conv_layers": 1, "hidden": 8, "gru_layers": 1, "dropout": 0.0}


def chorale_like_roll(steps: int, rng: np.random.Generator) -> np.ndarray:
    """Return a 4-voice block-chord roll (steps, 84) uint8: new chords every 4 steps."""
    roll = np.zeros((steps, 84), np.uint8)
    for start in range(0, steps, 4):
        root = int(rng.integers(36, 60))
        for p in (root, root + 4, root + 7, root + 12):
            roll[start : start + 4, p - 24] = 1
    return roll


def write_midis(folder: Path, n: int = 6, steps: int = 48) -> list[Path]:
    """Write `n` small MIDI files with musicgen.midi.write_midi; return their paths."""
    from musicgen.data.midi import write_midi

    rng = np.random.default_rng(0)
    return [write_midi(chorale_like_roll(steps, rng), folder / f"piece{i}.mid") for i in range(n)]


def seed_run(
    name: str, optimizer: str, loss: str, seed: int, epochs: int = 4, status: str = "finished", head: str = "independent"
) -> str:
    """Put a run with per-epoch metrics and a tiny checkpoint (of the given head) into the store; return its id."""
    import torch

    from musicgen.config import DataConfig, ModelConfig, TrainConfig, to_dict
    from musicgen.nn.convgru import ConvGRU
    from musicgen.paths import checkpoints_dir
    from musicgen.runs import store
    from musicgen.training.checkpoint import save_checkpoint

    train = TrainConfig(optimizer=optimizer, loss=loss, seed=seed, epochs=epochs)
    model_cfg = ModelConfig(**TINY_MODEL, head=head, nade_hidden=8)
    config = {
        "model": to_dict(model_cfg),
        "train": to_dict(train),
        "data": to_dict(DataConfig()),
        "optimizer": optimizer,
        "loss": loss,
    }
    run_id = store.create_run(name, config, dataset_id="fixture", status="running")
    t0, rng = 1_000_000.0, np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        loss_v = 1.0 / epoch + 0.01 * rng.random()
        store.log_metrics(
            run_id,
            epoch,
            "train",
            {"loss": loss_v, "grad_norm": 1.0, "lr": 1e-3, "epoch_s": 2.0, "seqs_per_s": 50.0},
            wall_time=t0 + 2 * epoch,
        )
        store.log_metrics(
            run_id,
            epoch,
            "valid",
            {
                "loss": loss_v + 0.1,
                "nll": 10 / epoch,
                "precision": 0.2 * epoch / epochs,
                "recall": 0.3 * epoch / epochs,
                "f1": 0.25 * epoch / epochs,
                "f1_best": 0.3 * epoch / epochs,
                "threshold": 0.3,
                "frame_acc": 0.1,
                "pred_pos_rate": 0.04,
                "density": 0.045,
            },
            wall_time=t0 + 2 * epoch + 1,
        )
    torch.manual_seed(seed)
    model = ConvGRU(model_cfg)
    save_checkpoint(
        checkpoints_dir() / run_id / "best.pt",
        {
            "model_config": to_dict(model_cfg),
            "data_config": to_dict(DataConfig()),
            "model_state": model.state_dict(),
            "train_config": to_dict(train),
            "epoch": epochs,
            "threshold": 0.3,
            "run_id": run_id,
            "dataset_id": "fixture",
        },
    )
    store.update_run(
        run_id,
        status=status,
        epochs_done=epochs,
        summary={"best_epoch": epochs, "best": {"nll": 10 / epochs, "f1_best": 0.3}, "threshold": 0.3},
    )
    return run_id


APP = str(ROOT / "app.py")


def open_page(page: str, timeout: float = 60):
    """Return an AppTest that has run app.py and switched to pages/<page>.py."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout).run()
    assert not at.exception, at.exception
    return at.switch_page(f"pages/{page}.py").run()


def open_upload(files=()):
    """Return an AppTest on the Data page's upload source, with `files` in its uploader (MIDI paths, or
    (name, bytes, type) tuples as they are); without files the uploader is left empty."""
    at = open_page("data")
    at.radio(key="data_source").set_value(at.radio(key="data_source").options[2]).run()
    if files:
        uploads = [f if isinstance(f, tuple) else (f.name, f.read_bytes(), "audio/midi") for f in files]
        at.get("file_uploader")[0].set_value(uploads)
    return at


def texts(elements) -> list[str]:
    """Return the values of st.error/st.warning/st.info/st.success elements."""
    return [e.value for e in elements]


def no_failure(at) -> None:
    """Assert the page ran without an exception or an st.error."""
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, texts(at.error)


def frame(at, *columns):
    """Return the first st.dataframe value that has all `columns` (AppTest keeps no dataframe keys)."""
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise AssertionError(f"no dataframe with columns {columns}; have {[list(d.value.columns) for d in at.dataframe]}")
