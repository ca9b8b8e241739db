"""The Home checklist follows the store, a link opens Compare on its sweep, the Train form names every bad field in
one line, and a vote on the Listen page is stored with its seeds and counted."""

import pytest
from browser_helpers import key, open_page, settle, shot
from synthetic import crafted_roll

pytestmark = pytest.mark.browser


def build_tiny(home) -> None:
    """Build the dataset 'tiny' (MIDI 24..107 like the shipped demo model, windows of 32 steps) under `home`."""
    from musicgen.config import DataConfig
    from musicgen.data.datasets import build_dataset
    from musicgen.data.midi import write_midi
    from musicgen.paths import data_dir

    midis = [write_midi(crafted_roll(64, seed=i), home / "in" / f"p{i}.mid") for i in range(5)]
    build_dataset([str(p) for p in midis], data_dir() / "tiny", DataConfig(seq_len=32, hop=16), workers=0)


def picked(page, name: str) -> str:
    """Return the value a select box shows (its combobox input's value)."""
    return page.locator(f"{key(name)} input").input_value()


def steps_text(page) -> list[str]:
    """Return the text of the four steps (a done step starts with its icon's name, check_circle)."""
    return [page.locator(key(f"home_step_{i}")).inner_text() for i in range(1, 5)]


def test_the_home_checklist_follows_the_store_and_its_link_opens_the_sweep(fresh_server, page, tmp_path, monkeypatch):
    url, home = fresh_server, tmp_path / "home"
    monkeypatch.setenv("MUSICGEN_HOME", str(home))  # the server's store, read and written from here
    from musicgen.runs import store

    open_page(page, url, "", "musicgen")
    page.get_by_text("none yet: build the Bach chorales").wait_for()  # past the router's rerun of a fresh server's first run
    steps = steps_text(page)
    assert not any("check_circle" in s for s in steps), steps
    assert "none yet: build the Bach chorales" in steps[0] and "no run yet" in steps[1]

    build_tiny(home)
    run = store.create_run("mine", {"train": {"optimizer": "adam", "loss": "bce"}}, "tiny", status="finished")
    store.create_sweep("first grid", {"data": "tiny"})
    store.create_sweep("course grid", {"data": "tiny"})
    names = dict(zip(store.list_sweeps()["id"], store.list_sweeps()["name"], strict=True))  # newest first
    (sweep, latest), (older, first) = names.items()
    store.update_run(run, sweep_id=sweep, epochs_done=1)
    open_page(page, url, "", "musicgen")
    page.get_by_text("built: tiny").wait_for()
    steps = steps_text(page)
    assert [s.startswith("check_circle") for s in steps] == [True, True, True, False], steps
    assert "built: tiny" in steps[0] and "1 finished run" in steps[1] and f"the latest: {latest}" in steps[2]
    shot(page, "home-checklist")

    page.locator(key("home_step_3")).get_by_role("link", name="Open Compare").click()
    page.get_by_role("heading", name="Compare", exact=True).first.wait_for()
    settle(page)
    assert page.url.endswith(f"/compare?sweep={sweep}")
    assert picked(page, "cmp_sweep") == f"{sweep} · {latest}"  # the link's sweep is picked
    # A shared link to the older sweep opens that one, though the page would pick the newest.
    page.goto(f"{url}/compare?sweep={older}")
    page.get_by_role("heading", name="Compare", exact=True).first.wait_for()
    settle(page)
    assert picked(page, "cmp_sweep") == f"{older} · {first}"
    shot(page, "compare-from-a-link")


def test_the_train_form_names_every_bad_field_in_one_line(fresh_server, page):
    open_page(page, fresh_server, "home", "musicgen")  # past the router's one rerun of a fresh server's first run
    open_page(page, fresh_server, "train", "Train")
    for field, value in (("train_lr", "-1"), ("train_batch", "0")):
        box = page.locator(f"{key(field)} input")
        box.fill(value)
        box.press("Tab")
    page.locator(key("train_launch")).get_by_role("button").click()
    settle(page)
    errors = page.locator('[data-testid="stAlertContentError"]')
    errors.first.wait_for()
    assert errors.count() == 1
    text = errors.first.inner_text()
    assert text.startswith("These 2 fields need a fix: learning rate must be a positive finite number, got -1.0; ")
    assert "batch size must be a whole number from 1 to 65,536, got 0" in text and "\n" not in text.strip() and "--" not in text
    shot(page, "train-two-bad-fields")


def test_a_vote_on_the_listen_page_is_stored_and_counted(fresh_server, page, tmp_path, monkeypatch):
    url, home = fresh_server, tmp_path / "home"
    monkeypatch.setenv("MUSICGEN_HOME", str(home))
    from musicgen.runs import votes

    build_tiny(home)
    open_page(page, url, "home", "musicgen")  # past the router's one rerun of a fresh server's first run
    open_page(page, url, "listen", "Listen")
    assert picked(page, "listen_b") == "real music of tiny"  # demo against the dataset's own music
    for field, value in (("listen_steps", "32"), ("listen_primer", "8")):
        box = page.locator(f"{key(field)} input")
        box.fill(value)
        box.press("Tab")
        settle(page)
    assert page.get_by_text("Each sample lasts 4.8 s (32 steps at 100 bpm)").count() == 1  # said before generating
    page.locator(key("listen_new")).get_by_role("button").click()
    settle(page, timeout=90)
    audio = page.locator('[data-testid="stAudio"]')
    audio.nth(1).wait_for(timeout=90_000)
    assert audio.count() == 2
    assert page.get_by_text("demo", exact=False).locator("visible=true").count() >= 1  # named in the picker only
    page.locator(key("listen_vote_1")).get_by_role("button").click()
    page.get_by_text("Vote stored. Here is the next pair.").wait_for(timeout=90_000)
    settle(page, timeout=90)
    table = votes.list_votes()
    assert len(table) == 1
    row = table.iloc[0]
    assert row["chosen"] == row["first"] and {row["first"], row["second"]} == {"demo", "real:tiny"}
    assert row["steps"] == 32 and row["dataset"] == "tiny" and row["primer"].endswith(":8 steps")
    wins = int(row["chosen"] == "demo")
    assert page.get_by_text(f"in {wins} of 1 votes").count() == 1
    assert page.get_by_text("95% Wilson score interval").count() >= 1
    shot(page, "listen-after-a-vote")


def test_a_shared_link_opens_its_runs_on_a_freshly_started_server(fresh_server, page, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGEN_HOME", str(tmp_path / "home"))
    from musicgen.runs import store

    a, b, c = (store.create_run(n, {"train": {}}, "d", status="finished") for n in ("run-a", "run-b", "run-c"))
    for run in (a, b, c):
        store.update_run(run, epochs_done=1)
    page.goto(f"{fresh_server}/compare?runs={a},{c}")  # the server's very first visit: the router's rerun keeps the query
    page.get_by_role("heading", name="Compare", exact=True).first.wait_for()
    settle(page)
    page.wait_for_timeout(1000)
    settle(page)
    chosen = page.locator(key("cmp_runs")).inner_text()
    assert "run-a" in chosen and "run-c" in chosen and "run-b" not in chosen, chosen
    assert page.url.endswith(f"/compare?runs={a}%2C{c}") or page.url.endswith(f"/compare?runs={a},{c}"), page.url
