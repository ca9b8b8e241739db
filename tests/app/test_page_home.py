"""Home page: says what the app does and shows datasets, runs and the GPU."""

from app_helpers import no_failure, open_page, seed_run, texts


def test_empty_home_says_what_to_do(home):
    at = open_page("home")
    no_failure(at)
    assert at.title[0].value == "musicgen"
    assert any("No dataset yet" in w for w in texts(at.warning))
    assert any("No runs yet" in w for w in texts(at.warning))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Datasets"] == "0" and metrics["Runs running"] == "0"
    import torch

    assert metrics["GPU"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")


def test_home_counts_runs_by_status(home):
    seed_run("a", "adam", "bce", 0)
    seed_run("b", "adam", "bce", 1, status="stopped")
    at = open_page("home")
    no_failure(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs finished"] == "1"
    assert len(at.dataframe[-1].value) == 2  # the runs table
