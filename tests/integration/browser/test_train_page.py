"""The Train page in a real browser: the live panel stays on the watched run, and typed text never crashes the form."""

import re

import pytest
from browser_helpers import key, open_page, settle, shot
from test_journey import choose, fill

from musicgen.study.recipes import RECIPES_DIR, load_recipe

pytestmark = pytest.mark.browser


def open_train(page, url) -> None:
    """Open the Train page twice: past the router's one rerun of a fresh server's first run (dashboard.router)."""
    open_page(page, url, "train", "Train")
    open_page(page, url, "train", "Train")


def test_the_live_panel_stays_on_the_watched_run_when_runs_end(server, page, monkeypatch):
    url, home = server
    monkeypatch.setenv("MUSICGEN_HOME", str(home))  # write the server's store from here
    from musicgen.runs import store

    # Rows as two training processes write them (no pid: nothing here marks them dead); the second is newer.
    watched = store.create_run("watched-a", {"train": {"epochs": 3, "optimizer": "adam", "loss": "bce"}}, "x", status="running")
    other = store.create_run("other-b", {"train": {"epochs": 3, "optimizer": "sgd", "loss": "bce"}}, "x", status="running")
    open_page(page, url, "train", "Train")
    choose(page, "train_run", f"{watched} · watched-a · running")
    page.get_by_text(re.compile(r"watched-a — running")).wait_for()
    store.update_run(watched, status="finished", epochs_done=3, summary={"best_epoch": 2, "best": {"nll": 3.2}})
    page.get_by_text(re.compile(r"watched-a — finished")).wait_for(timeout=20_000)
    page.get_by_text("Finished at epoch 3; best epoch 2").wait_for()
    store.update_run(other, status="finished", epochs_done=3)  # the second run ends too
    page.wait_for_timeout(6000)  # three refreshes of the live fragment
    assert page.get_by_text(re.compile(r"watched-a — finished")).count() == 1
    assert page.get_by_text(re.compile(r"other-b — ")).count() == 0
    # The select box's label agrees with the panel (Streamlit shows the choice as text or as an input's value).
    shown = page.locator(key("train_run")).evaluate(
        "e => e.textContent + ' ' + [...e.querySelectorAll('input')].map(i => i.value + ' ' + i.placeholder).join(' ')"
    )
    assert f"{watched} · watched-a · finished" in shown, shown
    shot(page, "train-watched-stays")


def test_text_in_the_fields_is_a_message_not_a_crash(server, page):
    url, _ = server
    open_train(page, url)
    choose(page, "train_loss", "weighted-bce")
    settle(page)
    page.get_by_text("Optimizer and loss knobs").click()
    lr = page.locator(f"{key('train_lr')} input")  # type=number: the browser drops the letters, the field keeps a number
    lr.select_text()
    page.keyboard.type("abc")
    lr.press("Tab")
    fill(page, "train_batch", "0")
    fill(page, "train_pos_weight", "abc")
    page.locator(key("train_launch")).get_by_role("button").click()
    page.get_by_text("pos weight: 'abc' is not a number").wait_for()
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Training started").count() == 0
    fill(page, "train_pos_weight", "")
    page.locator(key("train_launch")).get_by_role("button").click()
    page.get_by_text("batch size must be a whole number from 1 to 65,536, got 0").wait_for()
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Training started").count() == 0
    shot(page, "train-bad-fields")


def test_a_recipe_fills_the_form(server, page):
    url, _ = server
    open_train(page, url)
    choose(page, "train_recipe", "configs/jsb-nade.json")
    settle(page)
    page.get_by_text("Schedule, weight averaging, augmentation").click()
    page.get_by_text("Model (Conv1D + GRU)").click()
    settle(page)
    recipe = load_recipe(RECIPES_DIR / "jsb-nade.json")
    model, train = recipe["model"], recipe["train"]
    assert page.locator(f"{key('train_ema')} input").input_value() == str(train.ema)
    assert page.locator(f"{key('model_input_dropout')} input").input_value() == str(model.input_dropout)
    assert page.locator(f"{key('model_nade_hidden')} input").input_value() == str(model.nade_hidden)
    assert page.locator(f"{key('model_nade_layers')} input").input_value() == str(model.nade_layers)
    checked = {"input_dropout": model, "nade_hidden": model, "nade_layers": model, "ema": train}
    for name, cfg in checked.items():  # each field checked differs from its default, so that the recipe is what filled it
        assert getattr(cfg, name) != getattr(type(cfg)(), name), name
    assert page.locator(f"{key('model_head')} input[type=radio]:checked").evaluate("e => e.value") in ("1", "nade")
    assert page.locator('[data-testid="stException"]').count() == 0
    shot(page, "train-recipe")
