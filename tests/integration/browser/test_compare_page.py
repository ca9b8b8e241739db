"""Compare in a real browser: two datasets stay two groups with their baselines drawn, and a running sweep stops from the page."""

import time

import pytest
from browser_helpers import key, open_page, settle, shot
from synthetic import TINY_ARGS, make_dataset

from musicgen.processes import is_alive

pytestmark = pytest.mark.browser


def _seed(store, name: str, dataset: str, lr: float, seed: int) -> str:
    """Put a finished 3-epoch adamw+bce run on `dataset` with its baselines into the store (no checkpoint: Compare reads none)."""
    config = {
        "data": f"builtin:{dataset}",
        "dataset": dataset,
        "model": {"hidden": 16},
        "train": {"optimizer": "adamw", "loss": "bce", "lr": lr, "seed": seed},
    }
    run_id = store.create_run(name, config, dataset_id="h-" + dataset, status="running")
    for epoch in (1, 2, 3):
        store.log_metrics(run_id, epoch, "train", {"loss": 1 / epoch, "epoch_s": 1.0})
        store.log_metrics(run_id, epoch, "valid", {"nll": 9 / epoch, "f1": 0.1 * epoch, "f1_best": 0.2 * epoch, "threshold": 0.3})
    baselines = {"copy_previous": {"valid": {"f1": 0.7, "f1_best": 0.7}}, "markov": {"valid": {"nll": 4.0, "f1_best": 0.5}}}
    store.update_run(
        run_id, status="finished", epochs_done=3, summary={"best_epoch": 3, "threshold": 0.3, "baselines": baselines}
    )
    return run_id


def test_compare_groups_like_with_like_and_stops_a_sweep(fresh_server, page, tmp_path, monkeypatch):
    url, home = fresh_server, tmp_path / "home"
    monkeypatch.setenv("MUSICGEN_HOME", str(home))  # the server's store, read and written from here
    from musicgen.runs import jobs, store

    for dataset, lr in (("bach", 3e-3), ("piano", 5e-4)):
        for seed in (0, 1):
            _seed(store, f"{dataset}-s{seed}", dataset, lr, seed)
    open_page(page, url, "compare", "Compare")
    chart = page.locator(f"{key('cmp_curve_valid_f1')} .js-plotly-plot").first
    chart.wait_for(timeout=60_000)
    settle(page)
    legend = chart.locator(".legendtext").all_text_contents()
    assert sorted(legend) == ["adamw+bce · bach · lr 3e-3", "adamw+bce · piano · lr 5e-4"], legend
    notes = chart.locator(".annotation-text").all_text_contents()
    assert any(n.startswith("copy previous step (bach)") for n in notes) and any("(piano)" in n for n in notes), notes
    nll = page.locator(f"{key('cmp_curve_valid_nll')} .js-plotly-plot").first
    assert any("per-note Markov chain" in n for n in nll.locator(".annotation-text").all_text_contents())
    shot(page, "compare-two-datasets")

    # A real sweep of two tiny runs with far more epochs than the test waits for.
    data = make_dataset(tmp_path / "ds")
    args = ["--data", str(data), "--optimizers", "adam", "--losses", "bce", "--seeds", "2", "--epochs", "10000"]
    driver = jobs.start_sweep([*args, "--workers", "2", "--threads", "1", "--batch-size", "8", *TINY_ARGS])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        runs = store.list_runs()
        mine = runs[runs["sweep_id"].notna()]
        if len(mine) == 2 and (mine["status"] == "running").all():
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the sweep's runs never both ran: {jobs.log_tail(driver)}")
    workers = [int(p) for p in mine["pid"]]
    page.reload()
    page.get_by_text("a sweep (optimizer × loss grid)").click()
    page.locator(key("cmp_sweep_stop")).get_by_role("button").click(timeout=60_000)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        statuses = set(store.list_runs().set_index("id").loc[list(mine["id"]), "status"])
        alive = [p for p in [driver, *workers] if is_alive(p)]
        if not alive and statuses == {"stopped"}:
            break
        time.sleep(0.5)
    runs = store.list_runs().set_index("id").loc[list(mine["id"])]
    assert set(runs["status"]) == {"stopped"}, runs[["status", "error"]]
    assert not [p for p in [driver, *workers] if is_alive(p)]
    page.get_by_text("2 of 2 runs done").wait_for(timeout=30_000)
    shot(page, "compare-sweep-stopped")


def test_a_focal_run_shows_its_f1_at_the_validation_threshold(fresh_server, page, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGEN_HOME", str(tmp_path / "home"))
    from musicgen.runs import store

    run_id = _seed(store, "focal", "bach", 3e-3, 0)
    store.update_run(run_id, config={**store.get_run(run_id)["config"], "train": {"optimizer": "adamw", "loss": "focal"}})
    for epoch in (1, 2, 3):  # focal loss: nothing reaches 0.5, while F1 at the validation threshold is 0.35
        store.log_metrics(run_id, epoch, "valid", {"f1": 0.0, "f1_best": 0.35, "threshold": 0.18})
    open_page(page, fresh_server, "compare", "Compare")
    chart = page.locator(f"{key('cmp_curve_valid_f1')} .js-plotly-plot").first
    chart.wait_for(timeout=60_000)
    settle(page)
    drawn = chart.evaluate(
        # plotly.py sends arrays base64-encoded; plotly.js keeps the decoded values in _inputArray
        "el => ({ys: el.data.filter(t => t.name && !t.name.startsWith('±')).flatMap(t => Array.from(t.y._inputArray || t.y)),"
        " range: el.layout.yaxis.range, title: el.layout.title.text})"
    )
    assert max(drawn["ys"]) == pytest.approx(0.35), drawn
    assert drawn["range"] == [0, 1] and "validation threshold" in drawn["title"], drawn


def test_a_sweep_link_shows_its_verdict_first(fresh_server, page, tmp_path, monkeypatch):
    """/compare?sweep=ID on a server no browser has visited: the sweep is picked and its verdict is the first card."""
    monkeypatch.setenv("MUSICGEN_HOME", str(tmp_path / "home"))
    from musicgen.runs import store

    sid = store.create_sweep("grid", {"data": "builtin:bach", "optimizers": ["adamw"], "losses": ["bce"]})
    for lr in (3e-3, 1e-2):
        for seed in (0, 1, 2):
            run_id = _seed(store, f"lr{lr:g}-s{seed}", "bach", lr, seed)
            worse = 0.0 if lr == 3e-3 else 1.0  # the smaller rate: 1 nat better on test
            store.log_metrics(run_id, 3, "test", {"nll": 3.0 + worse + 0.01 * seed, "f1_best": 0.6, "f1": 0.55})
            store.update_run(run_id, sweep_id=sid)
    open_page(page, fresh_server, f"compare?sweep={sid}", "Compare")
    card = page.locator(key("cmp_verdict"))
    card.get_by_text("Likelihood: use adamw+bce · lr 3e-3").wait_for(timeout=60_000)
    text = card.inner_text()
    assert f"Verdict on sweep {sid}" in text and "it beats adamw+bce · lr 0.01 4.01" in text, text
    assert "better than the best baseline, the per-note Markov chain" not in text  # no test baseline was stored
    # First on the page: above the pick of runs or sweep, the findings and the charts.
    mode = page.locator(key("cmp_mode"))
    assert card.bounding_box()["y"] < mode.bounding_box()["y"]
    assert page.get_by_role("heading", name="Findings").bounding_box()["y"] > card.bounding_box()["y"]
    shot(page, "compare-sweep-verdict")
