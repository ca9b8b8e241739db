"""Compare page: curves as mean ± std bands, the report's tables, CSV export, the course-work grid launch."""

import base64
import json

import numpy as np
import pytest
from app_helpers import frame, no_failure, open_page, seed_run, texts

from musicgen.runs import jobs, store


def test_empty_store_asks_for_runs(home):
    at = open_page("compare")
    no_failure(at)
    assert any("Pick at least one run" in i for i in texts(at.info))


def test_two_configurations_two_seeds(seeded_home):
    _, ids = seeded_home
    at = open_page("compare")
    no_failure(at)
    assert sorted(at.multiselect(key="cmp_runs").value) == sorted(ids)
    charts = {c.key for c in at.get("plotly_chart")}
    assert {"cmp_curve_train_loss", "cmp_curve_valid_f1", "cmp_bar_f1"} <= charts
    grouped = frame(at, "group", "n", "best_valid_f1_mean")
    grouped = grouped[grouped["n"].notna()]  # the rest are baseline rows
    # adam and adamw differ in their default weight decay too: the label says so.
    assert sorted(grouped["group"]) == ["adam+bce · weight decay 0", "adamw+bce · weight decay 0.01"]
    assert set(grouped["n"]) == {2}
    runs = frame(at, "id", "epochs_to_95")
    assert len(runs) == 4 and {"epochs_to_95", "seconds_to_95", "loss_spread", "loss_spikes", "pred_pos_rate", "density"} <= set(
        runs
    )
    assert {b.key for b in at.get("download_button")} == {"cmp_csv_runs", "cmp_csv_grouped"}
    # The tables label their columns in words; the data (and the CSVs) keep the metric names.
    table = next(d for d in at.dataframe if "best_valid_f1_mean" in d.value.columns)  # AppTest keeps no dataframe keys
    labels = {k: v.get("label") for k, v in json.loads(table.proto.columns).items()}
    assert labels["best_valid_f1_mean"] == "best valid F1 mean"
    assert labels["seconds_to_95_mean"] == "seconds to 95% of best F1 mean"
    assert all("_" not in label for label in labels.values() if label)
    assert table.proto.placeholder == "–"  # a baseline's empty cells read as a dash, not None
    at.radio(key="cmp_x").set_value("seconds").run()
    no_failure(at)


def test_sweep_mode_picks_the_sweep_runs(home):
    sid = store.create_sweep("grid", {"optimizers": ["adam"], "losses": ["bce"]})
    inside = seed_run("in", "adam", "bce", 0)
    store.update_run(inside, sweep_id=sid)
    seed_run("out", "adam", "bce", 1)
    at = open_page("compare")
    at.radio(key="cmp_mode").set_value(at.radio(key="cmp_mode").options[1]).run()
    no_failure(at)
    assert list(frame(at, "id", "epochs_to_95")["id"]) == [inside]


@pytest.mark.parametrize("seeds", [2])
def test_the_launch_button_starts_the_course_work_study(home, monkeypatch, seeds):
    launched = []
    monkeypatch.setattr(jobs, "start_study", lambda args: launched.append(args) or 99)
    at = open_page("compare")
    at.number_input(key="cmp_grid_seeds").set_value(seeds)
    at.number_input(key="cmp_grid_epochs").set_value(3)
    at.text_input(key="cmp_grid_lrs").set_value("3e-3, 1e-3")
    at.button(key="cmp_grid_launch").click().run()
    no_failure(at)
    assert launched == [
        [
            "--data",
            "builtin:bach",
            "--optimizers",
            "adam,adamw,rmsprop",
            "--losses",
            "bce,focal",
            "--lr-grid",
            "0.001,0.003",
            "--seeds",
            str(seeds),
            "--max-epochs",
            "3",
            "--patience",
            "6",
        ]
    ]
    assert any("process 99" in s and f"{6 * (2 + seeds)} runs" in s for s in texts(at.success))
    # What the page says the button runs is what it ran: the same optimizers and losses, the study, the local pool.
    expander = at.get("expander")[0].label
    caption = next(c.value for c in at.caption if "Optimizers" in c.value)
    assert "3 optimizers × 2 losses, learning rate tuned for each" in expander
    assert "Optimizers adam, adamw, rmsprop × losses bce, focal" in caption and "musicgen study" in caption
    assert "local process pool" in caption and "Ray" not in caption


def test_a_learning_rate_that_is_not_a_number_is_a_message_not_a_launch(home, monkeypatch):
    launched = []
    monkeypatch.setattr(jobs, "start_study", lambda args: launched.append(args) or 99)
    at = open_page("compare")
    at.text_input(key="cmp_grid_lrs").set_value("1e-3, fast")
    at.button(key="cmp_grid_launch").click().run()
    assert not at.exception and not launched
    assert any("'fast', not a number" in e for e in texts(at.error))


def test_heads_are_told_apart(home):
    ids = [seed_run(f"{h}-s{s}", "adam", "bce", s, head=h) for h in ("independent", "nade") for s in (0, 1)]
    at = open_page("compare")
    at.multiselect(key="cmp_runs").set_value(ids).run()
    no_failure(at)
    grouped = frame(at, "group", "n", "head")
    assert sorted(zip(grouped["group"], grouped["head"], strict=True)) == [
        ("adam+bce", "independent"),
        ("adam+bce+nade", "nade"),
    ]
    assert list(frame(at, "id", "epochs_to_95").set_index("id").loc[ids, "head"]) == ["independent"] * 2 + ["nade"] * 2


def _values(array) -> list[float]:
    """Return a plotly JSON array as a list (plotly writes numpy arrays as {dtype, bdata})."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def _on_dataset(run_id: str, dataset: str, lr: float, loss: str | None = None, f1_best: float | None = None) -> str:
    """Move a seeded run onto `dataset` with learning rate `lr` (and loss), and give it baselines as the trainer stores them."""
    run = store.get_run(run_id)
    config = {**run["config"], "data": f"builtin:{dataset}", "dataset": dataset}
    config["train"] = {**config["train"], "lr": lr, **({"loss": loss} if loss else {})}
    if loss:
        config["loss"] = loss
    copy = 0.7 if dataset == "bach" else 0.6
    baselines = {
        "silent": {"valid": {"f1": 0.0, "f1_best": 0.0}},
        "copy_previous": {"valid": {"f1": copy, "f1_best": copy}},
        "markov": {"valid": {"nll": 4.5, "f1": 0.5, "f1_best": 0.55, "threshold": 0.4}},
    }
    store.update_run(run_id, config=config, summary={**run["summary"], "baselines": baselines})
    if f1_best is not None:  # focal loss: nothing reaches 0.5, but F1 at the validation threshold is real
        for epoch in range(1, run["epochs_done"] + 1):
            store.log_metrics(run_id, epoch, "valid", {"f1": 0.0, "f1_best": f1_best, "threshold": 0.18})
        store.update_run(run_id, summary={**store.get_run(run_id)["summary"], "threshold": 0.18})
    return run_id


def test_two_datasets_are_two_groups_with_their_baselines(home):
    ids = [
        _on_dataset(seed_run(f"{d}-s{s}", "adamw", "bce", s), d, lr)
        for d, lr in (("bach", 3e-3), ("piano", 5e-4))
        for s in (0, 1)
    ]
    at = open_page("compare")
    at.multiselect(key="cmp_runs").set_value(ids).run()
    no_failure(at)
    grouped = frame(at, "group", "n", "best_valid_f1_mean")
    trained = grouped[grouped["n"].notna()]
    assert sorted(trained["group"]) == ["adamw+bce · bach · lr 3e-3", "adamw+bce · piano · lr 5e-4"]
    assert set(trained["n"]) == {2}
    baselines = grouped[grouped["n"].isna()].set_index("group")
    assert baselines.loc["baseline: copy previous step · bach", "best_valid_f1_mean"] == 0.7
    assert baselines.loc["baseline: per-note Markov chain · piano", "best_valid_nll_mean"] == 4.5
    runs = frame(at, "id", "dataset", "lr", "weight_decay", "epochs", "best_epoch", "status").set_index("id")
    assert (
        list(runs.loc[ids, "dataset"]) == ["bach", "bach", "piano", "piano"]
        and list(runs.loc[ids, "lr"]) == [3e-3] * 2 + [5e-4] * 2
    )
    # The charts carry one dashed line per dataset × baseline, labelled with the dataset.
    f1 = next(c for c in at.get("plotly_chart") if c.key == "cmp_curve_valid_f1")
    notes = [a["text"] for a in json.loads(f1.proto.spec)["layout"]["annotations"]]
    assert any(n.startswith("copy previous step (bach) 0.7") for n in notes) and any("(piano)" in n for n in notes)
    nll = next(c for c in at.get("plotly_chart") if c.key == "cmp_curve_valid_nll")
    assert [a["text"] for a in json.loads(nll.proto.spec)["layout"]["annotations"]] == [
        "per-note Markov chain (bach) 4.5",
        "per-note Markov chain (piano) 4.5",
    ]
    # Grouping by optimizer + loss only is the user's choice, and then it merges the datasets.
    at.selectbox(key="cmp_grouping").set_value("by chosen keys").run()
    assert list(frame(at, "group", "n", "best_valid_f1_mean").dropna(subset=["n"])["n"]) == [4]
    at.selectbox(key="cmp_grouping").set_value("no groups: each run").run()
    assert len(frame(at, "group", "n", "best_valid_f1_mean").dropna(subset=["n"])) == 4


def test_focal_run_shows_f1_at_its_threshold(home):
    rid = _on_dataset(seed_run("focal", "adam", "focal", 0), "bach", 1e-3, f1_best=0.35)
    at = open_page("compare")
    at.multiselect(key="cmp_runs").set_value([rid]).run()
    no_failure(at)
    row = frame(at, "id", "best_valid_f1", "threshold", "best_valid_f1_05").iloc[0]
    assert (row["best_valid_f1"], row["threshold"], row["best_valid_f1_05"]) == (0.35, 0.18, 0.0)
    f1 = json.loads(next(c for c in at.get("plotly_chart") if c.key == "cmp_curve_valid_f1").proto.spec)
    line = next(t for t in f1["data"] if t.get("name", "").startswith("adam+focal") and t["mode"] == "lines+markers")
    assert set(_values(line["y"])) == {0.35} and f1["layout"]["yaxis"]["range"] == [0, 1]
    at.radio(key="cmp_f1").set_value("at 0.5").run()
    f1 = json.loads(next(c for c in at.get("plotly_chart") if c.key == "cmp_curve_valid_f1").proto.spec)
    assert set(_values(next(t for t in f1["data"] if t["mode"] == "lines+markers")["y"])) == {0.0}


def test_sweep_shows_progress_and_stops(home, monkeypatch):
    sid = store.create_sweep("grid", {"optimizers": ["adam"], "losses": ["bce"]})
    done = seed_run("done", "adam", "bce", 0)
    store.update_run(done, sweep_id=sid)
    store.create_run(
        "waiting", {"data": "builtin:bach", "train": {"optimizer": "adam", "loss": "bce", "seed": 1}}, "x", sweep_id=sid
    )
    stopped = []
    monkeypatch.setattr(jobs, "stop_sweep", lambda s: stopped.append(s) or {"driver": 1, "runs": []})
    at = open_page("compare")
    at.radio(key="cmp_mode").set_value(at.radio(key="cmp_mode").options[1]).run()
    no_failure(at)
    assert "1 of 2 runs done: 1 queued, 1 finished" in at.get("progress")[0].proto.text
    runs = frame(at, "id", "status", "best_valid_f1").set_index("id")
    assert runs["status"].value_counts().to_dict() == {"finished": 1, "queued": 1}
    assert runs.drop(done)["best_valid_f1"].isna().all()  # a blank, not a made-up number
    at.button(key="cmp_sweep_stop").click().run()
    assert stopped == [sid]


def test_a_finished_study_shows_its_findings_lr_stage_and_reliability(home):
    """A study's seed stage on Compare opens with what `report` opens with: findings, the lr stage, calibration."""
    choices = {
        "adam+bce": {
            "optimizer": "adam",
            "loss": "bce",
            "head": "independent",
            "lr": 1e-3,
            "reason": "lowest best validation NLL",
            "candidates": [{"lr": 1e-3, "status": "finished", "best_valid_nll": 2.5}, {"lr": 1e-2, "status": "failed"}],
        }
    }
    study = {"stage": "seeds", "lr_grid": [1e-3, 1e-2], "budget": {"max_epochs": 4, "patience": 2}, "choices": choices}
    sid = store.create_sweep("study", {"study": study})
    bins = [{"lo": i / 10, "hi": (i + 1) / 10, "count": 10, "predicted": i / 10 + 0.05, "observed": i / 10} for i in range(10)]
    for seed in (0, 1):
        rid = seed_run(f"adam+bce s{seed}", "adam", "bce", seed)
        summary = store.get_run(rid)["summary"] or {}
        test = {**summary.get("test", {}), "ece": 0.05, "calibration": {"bins": bins, "ece": 0.05}}
        store.update_run(rid, sweep_id=sid, summary={**summary, "test": test})
    at = open_page("compare")
    at.radio(key="cmp_mode").set_value(at.radio(key="cmp_mode").options[1]).run()
    no_failure(at)
    assert "Findings" in texts(at.subheader)
    lr_stage = frame(at, "config", "lr", "chosen")
    assert list(lr_stage["lr"]) == [1e-3, 1e-2] and list(lr_stage["chosen"]) == ["yes", ""]
    reliability = next(c for c in at.get("plotly_chart") if c.key == "cmp_reliability")
    traces = json.loads(reliability.proto.spec)["data"]
    assert [t["name"] for t in traces] == ["perfectly calibrated", "adam+bce"]
    assert traces[1]["y"] == pytest.approx([b["observed"] for b in bins])


def test_switching_sweeps_shows_all_runs_of_the_new_one(home):
    first, second = store.create_sweep("one", {}), store.create_sweep("two", {})
    a = seed_run("a", "adam", "bce", 0)
    b = seed_run("b", "adam", "bce", 1)
    store.update_run(a, sweep_id=first)
    store.update_run(b, sweep_id=second)
    at = open_page("compare")
    at.radio(key="cmp_mode").set_value(at.radio(key="cmp_mode").options[1]).run()
    at.selectbox(key="cmp_sweep").set_value(first).run()
    assert list(frame(at, "id", "epochs_to_95")["id"]) == [a]
    at.selectbox(key="cmp_sweep").set_value(second).run()
    no_failure(at)
    assert list(frame(at, "id", "epochs_to_95")["id"]) == [b]  # not an empty pick left from the first sweep


def _sweep_of_two_combinations() -> str:
    """Return a sweep of adam+bce and rmsprop+bce, three seeds each, rmsprop clearly worse on validation NLL."""
    sid = store.create_sweep("grid", {"data": "builtin:bach", "optimizers": ["adam", "rmsprop"], "losses": ["bce"]})
    for opt, worse in (("adam", 0.0), ("rmsprop", 1.0)):
        for s in range(3):
            rid = _on_dataset(seed_run(f"{opt}-s{s}", opt, "bce", s), "bach", 1e-3)
            for epoch in range(1, 5):
                store.log_metrics(rid, epoch, "valid", {"nll": 10 / epoch + worse + 0.01 * s})
            store.update_run(rid, sweep_id=sid)
    return sid


def test_a_sweep_link_opens_the_sweep_with_its_verdict_first(home):
    sid = _sweep_of_two_combinations()
    from app_helpers import APP
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60).run()
    at.query_params["sweep"] = sid  # /compare?sweep=ID
    at.switch_page("pages/compare.py").run()
    no_failure(at)
    assert at.radio(key="cmp_mode").value.startswith("a sweep") and at.selectbox(key="cmp_sweep").value == sid
    assert at.subheader[0].value == f"Verdict on sweep {sid}"  # the first section of the page
    card = next(m.value for m in at.markdown if "Likelihood" in m.value)
    assert "Likelihood: use adam+bce (validation NLL 2.51 nats per step, n 3); it beats rmsprop+bce 3.51" in card
    assert "Generation quality: no verdict" in card
    # The ranks of the sweep's groups: every group ranked by its mean, n shown.
    ranks = frame(at, "group", "rank", "n", "note")
    assert list(ranks["rank"]) == [1, 2] and list(ranks["n"]) == [3, 3]


def test_a_link_to_an_unknown_sweep_says_so(home):
    from app_helpers import APP
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60).run()
    at.query_params["sweep"] = "s-nope"
    at.switch_page("pages/compare.py").run()
    assert not at.exception and any("s-nope" in w for w in texts(at.warning))
    assert at.radio(key="cmp_mode").value == "runs"


def test_a_diverged_run_is_marked_and_left_out_of_the_ranks(home):
    ids = [_on_dataset(seed_run(f"rms-s{s}", "rmsprop", "bce", s), "bach", 1e-3) for s in (0, 1)]
    bad = ids[1]
    summary = store.get_run(bad)["summary"]
    store.update_run(bad, summary={**summary, "best": {"nll": 482183.932, "f1_best": 0.0}})  # Markov's valid NLL: 4.5
    at = open_page("compare")
    at.multiselect(key="cmp_runs").set_value(ids).run()
    assert not at.exception
    warning = next(w for w in texts(at.warning) if "diverged" in w)
    assert f"rms-s1 ({bad})" in warning and "left out of the groups, bars and ranks" in warning
    grouped = frame(at, "group", "n", "best_valid_f1_mean")
    assert list(grouped.dropna(subset=["n"])["n"]) == [1]  # the group counts the run that trained
    assert list(frame(at, "group", "rank", "n", "note")["n"]) == [1]
    runs = frame(at, "id", "diverged").set_index("id")
    assert runs.loc[bad, "diverged"] and not runs.loc[ids[0], "diverged"]
    assert any("⚠ diverged" in o for o in at.multiselect(key="cmp_runs").options)


def test_losses_of_different_kinds_never_share_an_axis(home):
    ids = [seed_run(f"{loss}-s0", "adam", loss, 0) for loss in ("bce", "focal")]
    at = open_page("compare")
    at.multiselect(key="cmp_runs").set_value(ids).run()
    no_failure(at)
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    assert {"cmp_curve_train_loss_bce", "cmp_curve_train_loss_focal", "cmp_curve_valid_loss_focal"} <= set(charts)
    assert "cmp_curve_train_loss" not in charts
    for loss in ("bce", "focal"):
        names = {t.get("name") for t in charts[f"cmp_curve_train_loss_{loss}"]["data"]}
        assert any(n and loss in n for n in names) and not any(n and "+" in n and loss not in n for n in names)
    # NLL, which every loss has, stays one chart with both.
    assert len({t["name"] for t in charts["cmp_curve_valid_nll"]["data"] if t.get("mode") == "lines+markers"}) == 2


def test_a_baseline_reads_the_same_on_train_and_compare(home):
    rid = _on_dataset(seed_run("mine", "adam", "bce", 0), "bach", 1e-3)  # Markov: F1 0.5 at 0.5, 0.55 at its threshold

    def markov(at, key):
        spec = json.loads(next(c for c in at.get("plotly_chart") if c.key == key).proto.spec)
        return [a["text"] for a in spec["layout"]["annotations"] if a["text"].startswith("per-note Markov chain")]

    compare = open_page("compare")
    compare.multiselect(key="cmp_runs").set_value([rid]).run()
    train = open_page("train")
    train.selectbox(key="train_run").set_value(rid).run()
    assert markov(compare, "cmp_curve_valid_f1") == markov(train, "train_curve_f1") == ["per-note Markov chain 0.55"]
    row = frame(compare, "group", "n", "best_valid_f1_mean").set_index("group").loc["baseline: per-note Markov chain"]
    assert row["best_valid_f1_mean"] == 0.55
    compare.radio(key="cmp_f1").set_value("at 0.5").run()
    train.radio(key="train_f1_at").set_value("0.5").run()
    assert markov(compare, "cmp_curve_valid_f1") == markov(train, "train_curve_f1") == ["per-note Markov chain 0.5"]
