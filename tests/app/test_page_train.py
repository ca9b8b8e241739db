"""Train page: the form becomes a `python -m musicgen train` command; the live panel reads the store; Stop/Resume signal."""

import json
from dataclasses import replace

import pytest
from app_helpers import frame, no_failure, open_page, seed_run, texts

from musicgen import processes
from musicgen.config import TrainConfig, read_run_config
from musicgen.runs import jobs, store


@pytest.fixture
def launched(monkeypatch):
    calls = []

    def fake_start(args):
        calls.append(list(args))
        return 424242

    monkeypatch.setattr(jobs, "start_training", fake_start)
    monkeypatch.setattr(processes, "is_alive", lambda pid, start=None: pid == 424242)  # the fake process "runs"
    return calls


def test_empty_store_and_launch_builds_the_command(home, launched):
    at = open_page("train")
    no_failure(at)
    assert any("No runs yet" in i for i in texts(at.info))
    assert at.selectbox(key="train_device").options[0].startswith("auto")
    at.selectbox(key="train_optimizer").set_value("rmsprop").run()
    at.selectbox(key="train_loss").set_value("focal").run()  # outside the form: the knobs follow at once
    at.number_input(key="train_epochs").set_value(2)
    at.number_input(key="train_focal_gamma").set_value(1.5)
    at.number_input(key="model_hidden").set_value(16)
    at.text_input(key="train_name").set_value("tiny")
    at.button(key="train_launch").click().run()
    no_failure(at)
    args = launched[-1]
    assert args[0] == "--config" and len(args) == 2  # the whole config travels as the JSON stored with the run
    data, name, model, train = read_run_config(args[1])
    assert (data, name, model.hidden) == ("builtin:bach", "tiny", 16)
    assert (train.optimizer, train.loss, train.epochs, train.focal_gamma) == ("rmsprop", "focal", 2, 1.5)
    assert any("starting process 424242" in s for s in texts(at.success))
    assert not any("No runs yet" in i for i in texts(at.info))  # the store is still empty: the panel says it is starting
    assert at.session_state["train_follow_pid"] == 424242


def test_the_launched_process_is_followed_once_it_registers_and_the_note_goes(home, launched):
    at = open_page("train")
    at.button(key="train_launch").click().run()
    assert any("starting process 424242" in s for s in texts(at.success))
    mine = seed_run("mine", "adamw", "bce", 0, status="running")
    store.update_run(mine, pid=424242)
    at.run()
    no_failure(at)
    assert at.selectbox(key="train_run").value == mine
    assert not any("424242" in s for s in texts(at.success)) and "train_follow_pid" not in at.session_state


def test_a_process_that_dies_before_registering_is_reported(home, monkeypatch):
    monkeypatch.setattr(jobs, "start_training", lambda args: 515151)
    at = open_page("train")
    at.button(key="train_launch").click().run()
    assert not at.exception
    assert any("Process 515151 ended before it registered a run" in e for e in texts(at.error))
    assert "train_follow_pid" not in at.session_state


def test_the_form_follows_the_optimizer_and_loss_before_any_submit(home, launched):
    at = open_page("train")
    assert at.number_input(key="train_wd_adamw").value == 0.01
    at.selectbox(key="train_optimizer").set_value("adam").run()
    assert at.number_input(key="train_wd_adam").value == 0.0
    keys = {w.key for w in at.number_input} | {w.key for w in at.text_input} | {w.key for w in at.checkbox}
    assert {"train_beta1", "train_beta2", "train_eps"} <= keys and "train_momentum" not in keys
    at.selectbox(key="train_optimizer").set_value("sgd").run()
    at.selectbox(key="train_loss").set_value("weighted-bce").run()
    keys = {w.key for w in at.number_input} | {w.key for w in at.text_input} | {w.key for w in at.checkbox}
    assert {"train_momentum", "train_nesterov", "train_pos_weight"} <= keys
    assert not keys & {"train_beta1", "train_focal_gamma"}
    assert any("defaults for sgd + weighted-bce" in e.label for e in at.expander)
    at.selectbox(key="train_optimizer").set_value("adamw").run()
    assert at.number_input(key="train_wd_adamw").value == 0.01
    assert launched == []  # none of this launched anything


def test_the_app_defaults_equal_the_cli_defaults_for_every_optimizer_and_loss(home, launched):
    import argparse

    from musicgen.cli.train import add_train_options, configs_from_args
    from musicgen.config import LOSS_NAMES, OPTIMIZER_NAMES

    parser = argparse.ArgumentParser()
    add_train_options(parser)
    at = open_page("train")
    for optimizer in OPTIMIZER_NAMES:
        at.selectbox(key="train_optimizer").set_value(optimizer).run()
        for loss in LOSS_NAMES:
            at.selectbox(key="train_loss").set_value(loss).run()
            at.button(key="train_launch").click().run()
            no_failure(at)
            _, _, model, train = read_run_config(launched[-1][1])
            cli_model, cli_train = configs_from_args(parser.parse_args(["--optimizer", optimizer, "--loss", loss]))
            assert (model, train) == (cli_model, cli_train), (optimizer, loss)
    assert len(launched) == len(OPTIMIZER_NAMES) * len(LOSS_NAMES)


def test_text_in_a_text_field_is_a_message_beside_it_not_a_crash(home, launched):
    at = open_page("train")
    at.selectbox(key="train_loss").set_value("weighted-bce").run()
    at.text_input(key="train_pos_weight").set_value("abc")
    at.button(key="train_launch").click().run()
    assert not at.exception
    assert any("pos weight: 'abc' is not a number" in e for e in texts(at.error))
    assert launched == []
    at.text_input(key="train_pos_weight").set_value("nan")
    at.button(key="train_launch").click().run()
    assert not at.exception and any("pos weight must be > 0" in e for e in texts(at.error)) and launched == []
    at.text_input(key="train_pos_weight").set_value(" 3.5 ")
    at.button(key="train_launch").click().run()
    no_failure(at)
    assert read_run_config(launched[-1][1])[3].pos_weight == 3.5


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("train_batch", 0, "batch size must be a whole number from 1 to 65,536, got 0"),
        ("train_epochs", 0, "epochs must be a whole number from 1 to 100,000, got 0"),
        ("train_lr", -1.0, "learning rate must be > 0 and finite"),
        ("train_wd_adamw", -0.5, "weight decay must be >= 0"),
        ("train_beta1", 1.0, "beta1 must be in [0, 1)"),
        ("train_clip", -1.0, "clip must be >= 0"),
        ("model_dropout", 1.5, "dropout must be in [0, 1)"),
        ("model_hidden", 0, "hidden"),
        ("train_seed", -1, "seed must be a whole number from 0 to 4,294,967,295, got -1"),
        ("train_seed", 2**32, "seed must be a whole number from 0 to 4,294,967,295, got 4294967296"),
        ("train_epochs", 100_001, "epochs must be a whole number from 1 to 100,000, got 100001"),
    ],
)
def test_out_of_range_numbers_are_a_message_not_a_launch(home, launched, key, value, message):
    at = open_page("train")
    at.number_input(key=key).set_value(value)
    at.button(key="train_launch").click().run()
    assert not at.exception
    assert any(message in e for e in texts(at.error)), texts(at.error)
    assert launched == []


def test_bad_setting_is_an_error_not_a_launch(home, launched):
    at = open_page("train")
    at.number_input(key="train_lr").set_value(0.0)
    at.button(key="train_launch").click().run()
    assert not at.exception
    assert any("learning rate must be > 0" in e for e in texts(at.error))
    assert launched == []


def test_every_bad_field_is_named_in_one_line_at_once(home, launched):
    at = open_page("train")
    at.number_input(key="train_lr").set_value(-1.0)
    at.number_input(key="train_batch").set_value(0)
    at.number_input(key="model_dropout").set_value(1.5)
    at.button(key="train_launch").click().run()
    assert not at.exception and launched == []
    assert texts(at.error) == [
        "These 3 fields need a fix: learning rate must be > 0 and finite, got -1.0; batch size must be a "
        "whole number from 1 to 65,536, got 0; dropout must be in [0, 1), got 1.5."
    ]


def test_live_panel_follows_the_launched_run_and_draws_its_curves(home):
    other = seed_run("older", "adam", "bce", 0)
    mine = seed_run("mine", "adamw", "bce", 1, status="running")
    store.update_run(mine, pid=31337)
    at = open_page("train")
    at.session_state["train_follow_pid"] = 31337
    at.run()
    no_failure(at)
    assert at.selectbox(key="train_run").value == mine
    assert {c.key for c in at.get("plotly_chart")} >= {"train_curve_loss", "train_curve_nll", "train_curve_f1"}
    at.selectbox(key="train_run").set_value(other).run()
    assert at.selectbox(key="train_run").value == other
    keys = {b.key for b in at.button}
    assert f"train_stop_{other}" not in keys and f"train_resume_{other}" not in keys  # finished: nothing to stop or resume


def test_stop_and_resume_call_jobs(home, monkeypatch):
    running = seed_run("running", "adam", "bce", 0, status="running")
    failed = seed_run("failed", "adam", "bce", 1, status="failed")
    store.update_run(failed, error="loss became NaN at epoch 3; lower --lr")
    stopped, resumed = [], []
    monkeypatch.setattr(jobs, "stop_run", lambda rid: stopped.append(rid) or True)
    monkeypatch.setattr(jobs, "start_training", lambda args: resumed.append(args) or 777)
    at = open_page("train")
    at.selectbox(key="train_run").set_value(running).run()
    at.button(key=f"train_stop_{running}").click().run()
    assert stopped == [running]
    at.selectbox(key="train_run").set_value(failed).run()
    assert any("loss became NaN" in e for e in texts(at.error))
    at.button(key=f"train_resume_{failed}").click().run()
    assert resumed == [["--resume", failed]]


def test_the_knobs_shown_are_the_fields_each_optimizer_and_loss_read():
    from dataclasses import fields

    from musicgen.config import LOSS_NAMES, OPTIMIZER_NAMES, TrainConfig
    from musicgen.training.knobs import train_knobs

    names = {f.name for f in fields(TrainConfig)}
    for optimizer in OPTIMIZER_NAMES:
        for loss in LOSS_NAMES:
            knobs = train_knobs(optimizer, loss)
            assert set(knobs) <= names and knobs[-2:] == ("clip", "patience"), (optimizer, loss, knobs)
    assert train_knobs("rmsprop", "focal") == ("alpha", "eps", "rms_momentum", "focal_gamma", "focal_alpha", "clip", "patience")


def test_the_head_is_a_choice_and_nade_takes_the_likelihood_only(home, launched):
    at = open_page("train")
    assert at.radio(key="model_head").options == ["independent", "nade"] and at.radio(key="model_head").value == "independent"
    assert "model_nade_hidden" not in {w.key for w in at.number_input}  # the nade head's knob shows with that head only
    at.radio(key="model_head").set_value("nade").run()
    at.number_input(key="model_nade_hidden").set_value(32)
    at.button(key="train_launch").click().run()
    no_failure(at)
    model = read_run_config(launched[-1][1])[2]
    assert (model.head, model.nade_hidden) == ("nade", 32)
    at.selectbox(key="train_loss").set_value("focal").run()  # said at once, before any launch
    assert any("--head nade trains on the exact likelihood: use --loss bce" in e for e in texts(at.error))
    at.button(key="train_launch").click().run()
    assert not at.exception and len(launched) == 1
    assert any("--head nade trains on the exact likelihood: use --loss bce" in e for e in texts(at.error))


def test_the_schedule_averaging_and_augmentation_reach_the_run(home, launched):
    at = open_page("train")
    defaults = TrainConfig()
    assert at.selectbox(key="train_monitor").value == defaults.monitor
    assert (at.number_input(key="train_ema").value, at.number_input(key="train_transpose").value) == (defaults.ema, 0)
    at.selectbox(key="train_schedule").set_value("plateau")
    at.selectbox(key="train_monitor").set_value("f1_best")
    at.number_input(key="train_plateau_patience").set_value(5)
    at.number_input(key="train_min_lr_ratio").set_value(0.1)
    at.number_input(key="train_ema").set_value(0.995)
    at.number_input(key="train_transpose").set_value(2)
    at.button(key="train_launch").click().run()
    no_failure(at)
    train = read_run_config(launched[-1][1])[3]
    got = (train.schedule, train.monitor, train.plateau_patience, train.min_lr_ratio, train.ema, train.transpose)
    assert got == ("plateau", "f1_best", 5, 0.1, 0.995, 2)
    at.number_input(key="train_ema").set_value(1.5)
    at.button(key="train_launch").click().run()
    assert not at.exception and len(launched) == 1
    assert any("ema" in e for e in texts(at.error))


def test_a_shipped_recipe_sets_the_form_and_launches_its_settings(home, launched):
    from musicgen.study.recipes import RECIPES_DIR, load_recipe

    at = open_page("train")
    path = str(RECIPES_DIR / "jsb-nade.json")
    at.selectbox(key="train_recipe").set_value(path).run()
    no_failure(at)
    assert at.radio(key="model_head").value == "nade" and at.number_input(key="train_ema").value == 0.995
    at.button(key="train_launch").click().run()
    no_failure(at)
    _, _, model, train = read_run_config(launched[-1][1])
    recipe = load_recipe(path)
    assert model == recipe["model"]
    assert replace(train, device=recipe["train"].device) == recipe["train"]
    at.selectbox(key="train_recipe").set_value(str(RECIPES_DIR / "jsb.json")).run()
    no_failure(at)
    assert at.radio(key="model_head").value == "independent" and at.number_input(key="model_conv_kernel").value == 1
    assert any("ensemble of 6 members" in i for i in texts(at.info))


def test_live_panel_draws_the_baselines_beside_the_curves(home):
    import json

    run = seed_run("mine", "adamw", "bce", 1)
    # The Markov chain's F1 is 0.71 at 0.5 and 0.74 at its validation threshold; the 0/1 guesses are the same at both.
    baselines = {
        "copy_previous": {"valid": {"f1": 0.77, "f1_best": 0.77, "threshold": 0.5, "nll": None}},
        "markov": {"valid": {"f1": 0.71, "f1_best": 0.74, "threshold": 0.3, "nll": 6.1}},
    }
    store.update_run(run, summary={**store.get_run(run)["summary"], "baselines": baselines})
    at = open_page("train")
    at.selectbox(key="train_run").set_value(run).run()
    no_failure(at)

    def labels():
        charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
        return {k: [a["text"] for a in v["layout"].get("annotations", [])] for k, v in charts.items()}

    assert labels()["train_curve_nll"] == ["per-note Markov chain 6.1"]
    # Beside F1 at the validation threshold, the baselines at theirs (what Compare draws); beside F1 at 0.5, at 0.5.
    assert labels()["train_curve_f1"] == ["copy previous step 0.77", "per-note Markov chain 0.74"]
    at.radio(key="train_f1_at").set_value("0.5").run()
    assert labels()["train_curve_f1"] == ["copy previous step 0.77", "per-note Markov chain 0.71"]


def test_the_watched_run_stays_when_it_ends_while_another_runs(home):
    watched = seed_run("watched", "adam", "bce", 0, status="running")
    seed_run("other", "adamw", "bce", 1, status="running")  # newer: what the page would jump to
    at = open_page("train")
    at.selectbox(key="train_run").set_value(watched).run()
    store.update_run(
        watched, status="finished", summary={"best_epoch": 3, "best": {"nll": 2.5, "f1_best": 0.35}, "threshold": 0.18}
    )
    for _ in range(2):  # two refreshes, as the live fragment does every 2 s
        at.run()
    no_failure(at)
    box = at.selectbox(key="train_run")
    assert box.value == watched
    assert box.format_func(watched).endswith("· finished")  # the label is built from the same fresh row as the panel
    assert any("watched** — finished" in m.value for m in at.markdown)
    assert any(
        "Finished at epoch 4; best epoch 3, valid NLL 2.500 nats/step, F1 0.350 at threshold 0.18." in c.value for c in at.caption
    )


def test_the_batch_progress_file_draws_a_bar_with_time_left(home):
    from musicgen.runs.progress import ProgressWriter

    run = seed_run("mine", "adamw", "bce", 0, epochs=6, status="running")
    store.update_run(run, epochs_done=2)
    clock = iter([0.0, 30.0]).__next__
    writer = ProgressWriter(run, clock=clock)
    writer.begin(epoch=3, epochs=6, batch=0, batches=40)
    writer.update(10)  # 10 batches in 30 s: 30 left take 90 s
    at = open_page("train")
    at.selectbox(key="train_run").set_value(run).run()
    no_failure(at)
    bars = [p.proto.text for p in at.get("progress")]
    assert "epoch 3: batch 10 of 40, about 1 min 30 s left in this epoch" in bars
    store.update_run(run, epochs_done=3)  # the epoch is stored: the note of its batches is stale, no bar
    at.run()
    assert not any("batch 10 of 40" in t for t in [p.proto.text for p in at.get("progress")])


def test_the_runs_table_names_the_dataset_and_the_optimizer_loss_and_lr(home):
    run = seed_run("mine", "sgd", "focal", 0)
    config = store.get_run(run)["config"]
    store.update_run(run, config={**config, "data": "/somewhere/piano", "dataset": "piano"})
    at = open_page("train")
    no_failure(at)
    table = frame(at, "dataset", "optimizer", "loss", "learning rate")
    row = table[table["id"] == run].iloc[0]
    assert (row["dataset"], row["optimizer"], row["loss"], row["learning rate"]) == ("piano", "sgd", "focal", "0.003")
    assert "fixture" not in table.to_string()  # the dataset hash is not shown
    # Results in words and units, no code names nor None: the seeded run's best epoch has NLL 10/4 and F1 0.3.
    assert (row["run"], row["status"], row["epochs"], row["best valid NLL (nats/step)"], row["best valid F1"]) == (
        "mine",
        "finished",
        4,
        "2.500",
        "0.300",
    )
    assert not {"epochs_done", "pid", "error", "lr"} & set(table.columns) and "None" not in table.to_string()


def _values(y):
    """Return a trace's y (plotly writes arrays as {dtype, bdata}: base64 of the raw values)."""
    import base64

    import numpy as np

    return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]) if isinstance(y, dict) else np.asarray(y, float)


def top(spec: dict) -> float:
    """Return the highest y of a figure's traces."""
    return max(float(max(_values(t["y"]))) for t in spec["data"] if t.get("y") is not None)


def last(spec: dict, name: str = "valid") -> float:
    """Return the last y of the figure's line `name` (a smoothed figure also draws the raw line, faint and unnamed)."""
    return float(_values(next(t["y"] for t in spec["data"] if t.get("name") == name))[-1])


def test_f1_is_at_the_validation_threshold_by_default_on_a_0_to_1_axis(home):
    run = seed_run("focal-run", "adam", "focal", 0)
    for epoch in range(1, 5):  # seed_run stores F1 at the threshold only; a real run stores its precision and recall too
        store.log_metrics(run, epoch, "valid", {"recall_best": 0.5})
    at = open_page("train")
    at.selectbox(key="train_run").set_value(run).run()
    no_failure(at)
    spec = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    f1 = spec["train_curve_f1"]
    assert f1["layout"]["title"]["text"] == "f1 at threshold 0.30 (chosen on validation)"
    assert f1["layout"]["yaxis"]["range"] == [0, 1] and spec["train_curve_recall"]["layout"]["yaxis"]["range"] == [0, 1]
    assert top(f1) == pytest.approx(0.3)  # f1_best of the last epoch, not f1
    assert any("not calibrated, so NLL may rise while the loss falls" in c.value for c in at.caption)
    at.radio(key="train_f1_at").set_value("0.5").run()
    f1 = json.loads(next(c for c in at.get("plotly_chart") if c.key == "train_curve_f1").proto.spec)
    assert f1["layout"]["title"]["text"] == "f1 at 0.5"
    assert top(f1) == pytest.approx(0.25)


def test_losses_get_units_a_log_scale_and_smoothing(home):
    run = seed_run("bce-run", "adam", "bce", 0)
    at = open_page("train")
    at.selectbox(key="train_run").set_value(run).run()
    no_failure(at)
    nll = json.loads(next(c for c in at.get("plotly_chart") if c.key == "train_curve_nll").proto.spec)
    assert nll["layout"]["yaxis"]["title"]["text"] == "NLL (nats per step)" and nll["layout"]["yaxis"].get("type") != "log"
    raw = last(nll)
    at.toggle(key="train_logy").set_value(True).run()
    at.slider(key="train_smooth").set_value(0.9).run()
    no_failure(at)
    spec = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    assert spec["train_curve_nll"]["layout"]["yaxis"]["type"] == "log"
    assert spec["train_curve_f1"]["layout"]["yaxis"].get("type") != "log"  # a rate keeps its 0..1 axis
    assert last(spec["train_curve_nll"]) > raw  # the last point, smoothed, keeps part of the higher earlier NLL


def test_recipe_settings_without_a_field_are_named():
    from dashboard.train import recipe_widgets
    from musicgen.config import ModelConfig

    train = TrainConfig(optimizer="adamw", weight_decay=0.05, threads=2, bucket=False, device="cpu")
    recipe = {"model": ModelConfig(skip=False, hidden=64), "train": train, "members": [], "path": "configs/x.json"}
    state, note = recipe_widgets(recipe, ("hidden",), ("ema",))
    assert state["model_hidden"] == 64 and state["train_optimizer"] == "adamw" and state["train_beta2"] == 0.999
    assert state["train_wd_adamw"] == 0.05  # shown in the optimizer's own weight-decay field, so not named below
    assert note == "settings the form has no field for keep their defaults here: threads=2, bucket=False, skip=False"
    recipe["members"] = [object()] * 3
    assert recipe_widgets(recipe, ("hidden",), ("ema",))[1].startswith("this recipe is an ensemble of 3 members")


def test_a_diverged_run_wears_a_badge(home):
    run = seed_run("rmsprop-lr1000", "rmsprop", "bce", 0)
    baselines = {"markov": {"valid": {"nll": 7.41, "f1": 0.575, "f1_best": 0.586, "threshold": 0.3}}}
    store.update_run(run, summary={**store.get_run(run)["summary"], "best": {"nll": 482183.932}, "baselines": baselines})
    at = open_page("train")
    at.selectbox(key="train_run").set_value(run).run()
    no_failure(at)
    assert any("diverged" in m.value and "badge" in m.value for m in at.markdown)
    assert any("left out of Compare's ranks and the study's verdict" in c.value for c in at.caption)
    assert "⚠ diverged" in at.selectbox(key="train_run").format_func(run)


def test_precision_and_ray_workers_reach_the_command_and_the_runs_table(home, launched):
    at = open_page("train")
    assert at.selectbox(key="train_precision").value == "auto"
    assert at.selectbox(key="train_backend").options == ["this machine, one process", "Ray Train, data-parallel workers"]
    at.selectbox(key="train_precision").set_value("bf16")
    at.selectbox(key="train_backend").set_value("ray")
    at.number_input(key="train_workers").set_value(2)
    at.button(key="train_launch").click().run()
    no_failure(at)
    args = launched[-1]
    assert args[2:] == ["--backend", "ray", "--workers", "2"]
    assert read_run_config(args[1])[3].precision == "bf16"
    at.number_input(key="train_workers").set_value(0)
    at.button(key="train_launch").click().run()
    assert not at.exception and len(launched) == 1
    assert any("--workers must be a whole number from 1" in e for e in texts(at.error))
    run = seed_run("wide", "adamw", "bce", 0)
    config = store.get_run(run)["config"]
    store.update_run(run, config={**config, "precision": "bf16", "backend": {"name": "ray", "workers": 2, "address": None}})
    at = open_page("train")
    table = frame(at, "precision", "where")
    row = table[table["id"] == run].iloc[0]
    assert (row["precision"], row["where"]) == ("bf16", "ray x 2")
    assert any("bf16, ray x 2" in m for m in texts(at.markdown))


def test_without_ray_the_page_offers_this_machine_only(home, launched, monkeypatch):
    import dashboard.train

    monkeypatch.setattr(dashboard.train, "ray_installed", lambda: False)
    at = open_page("train")
    no_failure(at)
    assert at.selectbox(key="train_backend").options == ["this machine, one process"]
    at.button(key="train_launch").click().run()
    assert launched[-1][2:] == []


def test_cuda_graphs_are_offered_with_a_gpu_only_and_reach_the_run(home, launched, monkeypatch):
    at = open_page("train")
    assert not [c for c in at.checkbox if c.key == "train_cuda_graphs"]  # no GPU here: nothing to offer
    at.button(key="train_launch").click().run()
    assert read_run_config(launched[-1][1])[3].cuda_graphs is False
    import dashboard.ui

    monkeypatch.setattr(dashboard.ui, "gpu_name", lambda: "NVIDIA H200")
    at = open_page("train")
    assert at.checkbox(key="train_cuda_graphs").value is False
    at.checkbox(key="train_cuda_graphs").check()
    at.button(key="train_launch").click().run()
    no_failure(at)
    assert read_run_config(launched[-1][1])[3].cuda_graphs is True
