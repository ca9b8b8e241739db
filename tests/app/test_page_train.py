"""Train page: the form becomes a `python -m musicgen train` command; the live panel reads the store; Stop/Resume signal."""

import pytest
from app_helpers import no_failure, open_page, seed_run, texts

from musicgen.config import read_run_config
from musicgen.runs import jobs, store


@pytest.fixture
def launched(monkeypatch):
    calls = []

    def fake_start(args):
        calls.append(list(args))
        return 424242

    monkeypatch.setattr(jobs, "start_training", fake_start)
    return calls


def test_empty_store_and_launch_builds_the_command(home, launched):
    at = open_page("train")
    no_failure(at)
    assert any("No runs yet" in i for i in texts(at.info))
    assert at.selectbox(key="train_device").options[0].startswith("auto")
    at.selectbox(key="train_optimizer").set_value("rmsprop")
    at.selectbox(key="train_loss").set_value("focal")
    at.button(key="train_launch").click().run()  # a form: changes apply on submit; the knobs follow the chosen pair
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
    assert any("process 424242" in s for s in texts(at.success))
    assert at.session_state["train_follow_pid"] == 424242


def test_bad_setting_is_an_error_not_a_launch(home, launched):
    at = open_page("train")
    at.number_input(key="train_lr").set_value(0.0)
    at.button(key="train_launch").click().run()
    assert not at.exception
    assert any("lr must be a positive" in e for e in texts(at.error))
    assert launched == []


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
    from musicgen.training.optim import train_knobs

    names = {f.name for f in fields(TrainConfig)}
    for optimizer in OPTIMIZER_NAMES:
        for loss in LOSS_NAMES:
            knobs = train_knobs(optimizer, loss)
            assert set(knobs) <= names and knobs[-2:] == ("clip", "patience"), (optimizer, loss, knobs)
    assert train_knobs("rmsprop", "focal") == ("alpha", "eps", "rms_momentum", "focal_gamma", "focal_alpha", "clip", "patience")


def test_the_head_is_a_choice_and_nade_takes_the_likelihood_only(home, launched):
    at = open_page("train")
    assert at.radio(key="model_head").options == ["independent", "nade"] and at.radio(key="model_head").value == "independent"
    at.radio(key="model_head").set_value("nade")
    at.number_input(key="model_nade_hidden").set_value(32)
    at.button(key="train_launch").click().run()
    no_failure(at)
    model = read_run_config(launched[-1][1])[2]
    assert (model.head, model.nade_hidden) == ("nade", 32)
    at.selectbox(key="train_loss").set_value("focal")
    at.button(key="train_launch").click().run()
    assert not at.exception and len(launched) == 1
    assert any("--head nade trains on the exact likelihood: use --loss bce" in e for e in texts(at.error))


def test_live_panel_draws_the_baselines_beside_the_curves(home):
    import json

    run = seed_run("mine", "adamw", "bce", 1)
    baselines = {"copy_previous": {"valid": {"f1": 0.77, "nll": None}}, "markov": {"valid": {"f1": 0.71, "nll": 6.1}}}
    store.update_run(run, summary={**store.get_run(run)["summary"], "baselines": baselines})
    at = open_page("train")
    at.selectbox(key="train_run").set_value(run).run()
    no_failure(at)
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    labels = {k: [a["text"] for a in v["layout"].get("annotations", [])] for k, v in charts.items()}
    assert labels["train_curve_nll"] == ["per-note Markov chain 6.1"]
    assert labels["train_curve_f1"] == ["copy previous step 0.77", "per-note Markov chain 0.71"]
