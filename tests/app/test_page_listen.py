"""Listen page: a blind pair from one primer, a vote stored with its seeds and counted, the preference with its interval."""

from app_helpers import no_failure, open_page, seed_run, texts, write_midis


def build_tiny(tmp_path) -> None:
    from musicgen.config import DataConfig
    from musicgen.data.datasets import build_dataset
    from musicgen.paths import data_dir

    midis = [str(p) for p in write_midis(tmp_path / "in", n=5, steps=64)]
    build_dataset(midis, data_dir() / "tiny", DataConfig(seq_len=32, hop=16))


def test_without_a_dataset_the_page_says_what_to_build(home):
    at = open_page("listen")
    no_failure(at)
    assert any("build one first" in w for w in texts(at.warning))


def test_a_vote_is_stored_counted_and_the_next_pair_follows(home, tmp_path):
    from musicgen.runs import votes

    build_tiny(tmp_path)
    run = seed_run("a", "adam", "bce", 0)
    at = open_page("listen")
    no_failure(at)
    at.selectbox(key="listen_a").set_value(run)
    assert at.selectbox(key="listen_b").value == "real:tiny"  # the dataset's real music is the first opponent
    at.number_input(key="listen_steps").set_value(24)
    at.number_input(key="listen_primer").set_value(8).run()
    assert any("Each sample lasts 3.6 s (24 steps at 100 bpm)" in c.value for c in at.caption)  # said before generating
    assert any("no votes yet" in m.value for m in at.markdown)
    at.button(key="listen_new").click().run()
    no_failure(at)
    assert len(at.get("audio")) == 2
    first_pair = at.session_state["listen_pair"][1]
    at.button(key="listen_vote_2").click().run()
    no_failure(at)
    table = votes.list_votes()
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["first"], row["second"], row["chosen"]) == (first_pair.first, first_pair.second, first_pair.second)
    assert row["pair_seed"] == first_pair.pair_seed and row["steps"] == 24 and row["dataset"] == "tiny"
    assert any("Vote stored" in s for s in texts(at.success))
    assert at.session_state["listen_pair"][1].pair_seed != first_pair.pair_seed  # a new pair is ready
    wins = int(first_pair.second == run)
    assert any(f"in {wins} of 1 votes" in m.value and "Wilson score interval" in m.value for m in at.markdown)
    assert [m.value for m in at.metric] == [f"{wins:.0%}"]
