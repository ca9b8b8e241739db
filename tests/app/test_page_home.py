"""Home page: the four steps with their state, each with a link to its page that follows what the store holds."""

from app_helpers import no_failure, open_page, seed_run, write_midis


def steps_of(at) -> list[str]:
    """Return the text of each step of the checklist, in order."""
    return [m.value for m in at.markdown if m.value.startswith((":material/check_circle:", ":material/radio_button_unchecked:"))]


def links_of(at) -> dict[str, str]:
    """Return {link label: the page and query it opens} of the page's links."""
    out = {}
    for e in at.get("page_link"):
        proto = e.proto
        out[proto.label] = proto.page + (f"?{proto.query_string}" if proto.query_string else "")
    return out


def test_empty_home_shows_four_steps_to_do(home):
    at = open_page("home")
    no_failure(at)
    assert at.title[0].value == "musicgen"
    steps = steps_of(at)
    assert len(steps) == 4 and all(s.startswith(":material/radio_button_unchecked:") for s in steps)
    assert "none yet: build the Bach chorales" in steps[0] and "no run yet" in steps[1]
    assert "no study yet" in steps[2] and "the shipped demo model plays" in steps[3]
    assert set(links_of(at)) == {"Open Dataset", "Open Train", "Open Compare", "Open Generate", "Open Listen"}
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    assert any((gpu or "No GPU found") in c.value for c in at.caption)


def test_the_checklist_follows_datasets_runs_sweeps_and_votes(home, tmp_path):
    from musicgen.data.datasets import build_dataset
    from musicgen.paths import data_dir
    from musicgen.runs import store, votes

    build_dataset([str(p) for p in write_midis(tmp_path / "in", n=4)], data_dir() / "tiny", None)
    a, b = seed_run("a", "adam", "bce", 0), seed_run("b", "adam", "bce", 1)
    seed_run("c", "adam", "bce", 2, status="stopped")
    at = open_page("home")
    no_failure(at)
    steps = steps_of(at)
    assert steps[0].startswith(":material/check_circle:") and "built: tiny" in steps[0]
    assert steps[1].startswith(":material/check_circle:") and "2 finished runs, 0 running" in steps[1]
    assert steps[2].startswith(":material/radio_button_unchecked:") and steps[3].startswith(":material/radio_button_unchecked:")
    links = links_of(at)
    page, _, runs = links["Open Compare"].partition("?runs=")
    assert page.endswith("compare") and set(runs.split("%2C")) == {a, b}  # the finished runs, comma-separated
    newest = store.list_runs().query("status == 'finished'")["id"].iloc[0]
    assert links["Open Generate"].endswith(f"generate?model={newest}")  # the newest finished run

    sweep = store.create_sweep("course grid", {"data": "tiny"})
    votes.add_vote(
        a, "real:tiny", a, pair_seed=1, seed_first=1, seed_second=None, primer="p", steps=8, synth="sine", dataset="tiny"
    )
    at.run()
    steps = steps_of(at)
    assert steps[2].startswith(":material/check_circle:") and "the latest: course grid" in steps[2]
    assert steps[3].startswith(":material/check_circle:") and "0 generated pieces, 1 listening vote" in steps[3]
    assert links_of(at)["Open Compare"].endswith(f"compare?sweep={sweep}")


def test_a_damaged_run_row_is_named_and_the_other_runs_shown(home):
    import sqlite3

    seed_run("a", "adam", "bce", 0)
    bad = seed_run("b", "adam", "bce", 1)
    with sqlite3.connect(home / "runs.sqlite") as con:
        con.execute("UPDATE runs SET config = '{not json' WHERE id = ?", (bad,))
    at = open_page("home")
    assert not at.exception and not at.error
    line = f"Reading the run store: run {bad} is damaged in the run store (its config is not JSON"
    assert any(line in w for w in [w.value for w in at.warning]), [w.value for w in at.warning]
    assert "1 finished run" in steps_of(at)[1]  # run a still counts
