"""Train and Compare pages on onset-aware runs: onset F1 and NLL lead, with the sentence on frame F1; the rhythm inputs."""

from app_helpers import frame, no_failure, open_page, seed_run, texts

from dashboard.ui import ONSET_NOTE
from musicgen import processes
from musicgen.config import read_run_config
from musicgen.runs import jobs, store


def onset_run(name: str, seed: int) -> str:
    """Seed a run, then make it an onset-aware one: onset F1 per epoch, and baselines with onset F1 in its summary."""
    run_id = seed_run(name, "adamw", "bce", seed)
    for epoch in range(1, 5):
        store.log_metrics(run_id, epoch, "valid", {"onset_f1": 0.1 * epoch, "onset_threshold": 0.2})
    store.log_metrics(run_id, 4, "test", {"onset_f1": 0.35, "nll": 2.5, "f1_best": 0.3})
    baselines = {
        "copy_previous": {"valid": {"f1": 0.9, "f1_best": 0.9, "onset_f1": 0.0}},
        "markov": {"valid": {"nll": 6.7, "f1": 0.9, "f1_best": 0.9, "onset_f1": 0.08}},
        "beat_prior": {"valid": {"onset_f1": 0.05}},
    }
    summary = {"best_epoch": 4, "best": {"nll": 2.5, "f1_best": 0.3, "onset_f1": 0.4}, "threshold": 0.3}
    store.update_run(run_id, summary=summary | {"onsets": True, "baselines": baselines})
    return run_id


def test_train_page_leads_with_onset_f1_for_an_onset_run(home):
    run_id = onset_run("piano", 0)
    at = open_page("train")
    at.selectbox(key="train_run").set_value(run_id).run()
    no_failure(at)
    assert ONSET_NOTE in texts(at.info)
    charts = [c.key for c in at.get("plotly_chart")]
    assert charts[:2] == ["train_curve_onset_f1", "train_curve_nll"]
    assert any("onset F1 0.400" in c.value for c in at.caption)  # the end note names it first


def test_train_page_sends_the_rhythm_inputs_and_the_onset_monitor(home, monkeypatch):
    launched = []
    monkeypatch.setattr(jobs, "start_training", lambda args: launched.append(list(args)) or 424242)
    monkeypatch.setattr(processes, "is_alive", lambda pid, start=None: pid == 424242)  # the fake process "runs"
    at = open_page("train")
    at.checkbox(key="model_position").check()
    at.selectbox(key="train_monitor").set_value("onset_f1")
    at.button(key="train_launch").click().run()
    no_failure(at)
    _, _, model, train = read_run_config(launched[-1][1])
    assert model.position and train.monitor == "onset_f1"


def test_compare_page_charts_onset_f1_first_and_leads_the_table_with_it(home):
    onset_run("piano-a", 0)
    onset_run("piano-b", 1)
    at = open_page("compare")
    no_failure(at)
    assert ONSET_NOTE in texts(at.info)
    assert [c.key for c in at.get("plotly_chart")][0] == "cmp_curve_valid_onset_f1"
    grouped = frame(at, "group", "best_valid_onset_f1_mean")
    assert list(grouped.columns).index("best_valid_onset_f1_mean") < list(grouped.columns).index("best_valid_f1_mean")
    # The runs' best validation onset F1 (0.4), then the baselines' rows: copy-previous, Markov chain, beat prior.
    assert grouped["best_valid_onset_f1_mean"].round(3).tolist() == [0.4, 0.0, 0.08, 0.05]


def test_hold_only_runs_show_no_onset_columns_or_note(home):
    seed_run("chorales", "adamw", "bce", 0)
    at = open_page("compare")
    no_failure(at)
    assert ONSET_NOTE not in texts(at.info)
    assert "cmp_curve_valid_onset_f1" not in {c.key for c in at.get("plotly_chart")}
    assert "best_valid_onset_f1_mean" not in frame(at, "group", "best_valid_f1_mean").columns
