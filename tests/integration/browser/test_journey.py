"""A newcomer's journeys in a real browser, in order: build a dataset, train and watch, stop, compare, listen.

Each test is one journey and leaves its state (dataset, runs) in the shared server's MUSICGEN_HOME for the next.
"""

import re

import numpy as np
import pytest
from browser_helpers import key, open_page, settle, shot

pytestmark = pytest.mark.browser
TINY_MODEL = {"model_hidden": "16", "model_conv_channels": "8", "model_gru_layers": "1"}


def write_midis(folder, n=6, steps=64):
    """Write `n` small block-chord MIDI files; return their paths."""
    from musicgen.data.midi import write_midi

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        roll = np.zeros((steps, 84), np.uint8)
        for start in range(0, steps, 4):
            root = int(rng.integers(36, 60))
            roll[start : start + 4, [root - 24, root - 20, root - 17, root - 12]] = 1
        paths.append(write_midi(roll, folder / f"piece{i}.mid"))
    return paths


def fill(page, name: str, value: str) -> None:
    """Type into the number/text input with key `name` and leave it, so Streamlit takes the value."""
    box = page.locator(f"{key(name)} input")
    box.fill(value)
    box.press("Tab")


def choose(page, name: str, option: str) -> None:
    """Pick `option` in the selectbox with key `name`."""
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):  # a rerun that lands while the list is open closes it: open it again
        page.locator(key(name)).click()
        try:
            wanted.wait_for(timeout=3000)
            wanted.click()
            return
        except Exception:  # noqa: BLE001 — playwright's TimeoutError; retried
            page.keyboard.press("Escape")
    raise AssertionError(f"option {option!r} never showed in selectbox {name}")


def test_build_a_dataset_from_uploaded_midi(server, page, tmp_path):
    url, home = server
    open_page(page, url, "home", "musicgen")
    shot(page, "1-home-empty")
    open_page(page, url, "data", "Dataset")
    page.get_by_text("upload MIDI files or a zip").click()
    page.locator(f"{key('data_upload')} input[type=file]").set_input_files([str(p) for p in write_midis(tmp_path)])
    page.get_by_text("piece5.mid").wait_for()
    fill(page, "data_name_2", "tiny")
    fill(page, "data_seq_len", "32")
    fill(page, "data_hop", "16")
    page.locator(key("data_build")).get_by_role("button").click()
    page.get_by_text("Dataset tiny ready").wait_for(timeout=90_000)
    page.locator(f"{key('data_window')} .js-plotly-plot").first.wait_for()
    settle(page)
    assert (home / "data" / "tiny" / "dataset.npz").is_file()
    shot(page, "2-dataset")


def _launch(page, name: str, epochs: str, optimizer: str | None = None, loss: str | None = None) -> None:
    choose(page, "train_data", "tiny")
    if optimizer:
        choose(page, "train_optimizer", optimizer)
    if loss:
        choose(page, "train_loss", loss)
    fill(page, "train_epochs", epochs)
    fill(page, "train_name", name)
    page.get_by_text("Model (Conv1D + GRU)").click()
    for k, v in TINY_MODEL.items():
        fill(page, k, v)
    page.locator(key("train_launch")).get_by_role("button").click()
    page.get_by_text("Training started").wait_for()


def test_train_watch_the_curve_and_see_it_finish(server, page):
    url, _ = server
    open_page(page, url, "train", "Train")
    _launch(page, "first", "2")
    # The live fragment follows the launched run: its curve appears, then the run finishes.
    page.locator(f"{key('train_curve_loss')} .js-plotly-plot").first.wait_for(timeout=90_000)
    page.get_by_text(re.compile(r"first — finished")).wait_for(timeout=90_000)
    page.locator(f"{key('train_curve_f1')} .js-plotly-plot").first.wait_for()
    shot(page, "3-train-finished")


def test_stop_a_long_run(server, page, monkeypatch):
    url, home = server
    open_page(page, url, "train", "Train")
    _launch(page, "second", "1000", optimizer="adam", loss="focal")
    page.get_by_text(re.compile(r"second — running")).wait_for(timeout=60_000)
    page.locator(f"{key('train_curve_loss')} .js-plotly-plot").first.wait_for(timeout=60_000)
    page.locator('[class*="st-key-train_stop_"] button').first.click()
    page.get_by_text(re.compile(r"second — stopped")).wait_for(timeout=60_000)
    from musicgen.runs import store

    monkeypatch.setenv("MUSICGEN_HOME", str(home))  # read the server's store from here
    runs = {r["name"]: r for r in store.list_runs().to_dict("records")}
    assert runs["second"]["status"] == "stopped" and runs["first"]["status"] == "finished"
    shot(page, "4-train-stopped")


def test_compare_the_two_runs(server, page):
    url, _ = server
    open_page(page, url, "compare", "Compare")
    page.locator(f"{key('cmp_curve_valid_f1')} .js-plotly-plot").first.wait_for(timeout=60_000)
    for label in ("first", "second"):
        assert page.locator(key("cmp_runs")).get_by_text(re.compile(label)).count() >= 1
    page.get_by_text("Per group (mean ± std over seeds), with the baselines").wait_for()
    page.locator(key("cmp_csv_runs")).wait_for()
    settle(page)
    shot(page, "5-compare")


def test_listen_to_demo_and_to_the_new_run(server, page):
    url, _ = server
    open_page(page, url, "generate", "Generate")
    models = page.locator(key("gen_models"))
    models.locator("input").click()
    page.get_by_role("option", name=re.compile(r"^first ")).click()
    page.keyboard.press("Escape")
    fill(page, "gen_steps", "32")
    page.locator(key("gen_go")).get_by_role("button").click()
    # Each model's audio plays in its card's playhead component (an iframe holding audio#audio and the roll).
    page.locator("iframe").nth(1).wait_for(timeout=90_000)
    settle(page, timeout=90)
    srcs = []
    for _ in range(100):
        srcs = [f.locator("audio#audio").get_attribute("src") for f in page.frames if f.locator("audio#audio").count()]
        if len(srcs) == 2:
            break
        page.wait_for_timeout(200)
    assert len(srcs) == 2 and all(s.startswith("data:audio/ogg;base64,") for s in srcs), [s[:40] for s in srcs]
    page.get_by_text("demo (shipped)", exact=True).first.wait_for()
    settle(page)
    shot(page, "6-generate")
    open_page(page, url, "home", "musicgen")
    shot(page, "7-home-after")
