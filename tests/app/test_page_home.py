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


def test_a_damaged_run_row_is_named_and_the_other_runs_shown(home):
    import sqlite3

    seed_run("a", "adam", "bce", 0)
    bad = seed_run("b", "adam", "bce", 1)
    with sqlite3.connect(home / "runs.sqlite") as con:
        con.execute("UPDATE runs SET config = '{not json' WHERE id = ?", (bad,))
    at = open_page("home")
    assert not at.exception and not at.error
    line = f"Reading the run store: run {bad} is damaged in the run store (its config is not JSON"
    assert any(line in w for w in texts(at.warning)), texts(at.warning)
    assert len(at.dataframe[-1].value) == 1  # run a
