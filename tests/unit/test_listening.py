"""The blind listening test: the Wilson interval, pairs from one primer, votes stored with their seeds, migration."""

import math
import sqlite3

import numpy as np
import pytest
import torch
from synthetic import make_dataset

from musicgen.config import DataConfig, ModelConfig, to_dict
from musicgen.errors import ConfigError, DataError, StoreError
from musicgen.music import listening
from musicgen.nn.convgru import ConvGRU
from musicgen.paths import data_dir, db_path
from musicgen.runs import db, store, votes
from musicgen.training.checkpoint import save_checkpoint

# ---- the interval ----


def test_wilson_interval_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605.
    assert listening.wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert listening.wilson_interval(15, 148) == pytest.approx((0.0624, 0.1605), abs=1e-4)
    # All or none of few votes: the interval stays in [0, 1] and is not a point (a normal interval would be [1, 1]).
    low, high = listening.wilson_interval(5, 5)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.5655, abs=1e-4)
    assert listening.wilson_interval(0, 5) == pytest.approx((0.0, 1 - 0.5655), abs=1e-4)


def test_wilson_interval_of_no_votes_is_unknown_and_bad_counts_are_refused():
    assert all(math.isnan(x) for x in listening.wilson_interval(0, 0))
    with pytest.raises(ConfigError, match="between 0 and the number of votes 3"):
        listening.wilson_interval(4, 3)


# ---- votes in the store ----


def _vote(first="m1", second="real:syn", chosen="m1", pair_seed=7):
    return votes.add_vote(
        first, second, chosen, pair_seed=pair_seed, seed_first=11, seed_second=None, primer="syn:test:window 0:4 steps",
        steps=16, synth="sine", dataset="syn",
    )  # fmt: skip


def test_votes_round_trip_with_their_seeds_and_count_in_either_order(home):
    _vote()
    _vote(first="real:syn", second="m1", chosen="real:syn", pair_seed=8)
    _vote(first="m1", second="real:syn", chosen="m1", pair_seed=9)
    _vote(first="m2", second="m1", chosen="m2")  # another pair: not counted for m1 vs real:syn
    table = votes.list_votes("m1", "real:syn")
    assert list(table.columns) == votes.VOTE_COLUMNS and len(table) == 3
    assert table["pair_seed"].tolist() == [7, 8, 9] and table["seed_first"].tolist() == [11, 11, 11]
    assert table["seed_second"].isna().all() and set(table["synth"]) == {"sine"}
    r = listening.preference("m1", "real:syn")
    assert (r["votes"], r["wins"], r["rate"]) == (3, 2, pytest.approx(2 / 3))
    assert (r["low"], r["high"]) == pytest.approx(listening.wilson_interval(2, 3))
    assert listening.preference("real:syn", "m1")["wins"] == 1
    results = {(x["a"], x["b"]): x["votes"] for x in listening.results_for(["m1"])}
    assert results == {("m1", "real:syn"): 3, ("m1", "m2"): 1}  # a model is named first, before real music
    assert [x["votes"] for x in listening.results_for(["m2"])] == [1]
    assert listening.results_for(["nobody"]) == []


def test_a_vote_must_choose_one_of_its_pair(home):
    with pytest.raises(StoreError, match="chooses one of the pair"):
        _vote(chosen="m3")


def test_an_old_store_survives_the_votes_migration(home):
    path = db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)  # a version-3 store, as musicgen before the listening test wrote it
    con.executescript("".join(db.MIGRATIONS[:3]) + "PRAGMA user_version = 3;")
    con.execute("INSERT INTO runs (id, name, created, status, config) VALUES ('r', 'x', '2024', 'finished', '{}')")
    con.commit()
    con.close()
    assert store.get_run("r")["status"] == "finished"
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    _vote(first="r", second="real:syn", chosen="r")
    assert listening.preference("r", "real:syn")["wins"] == 1


# ---- pairs ----


@pytest.fixture
def syn(home):
    """A synthetic dataset 'syn' (MIDI 60..71, windows of up to 16 steps) and a tiny model trained on that range."""
    make_dataset(data_dir() / "syn", n=(8, 4, 4), steps=16)
    torch.manual_seed(0)
    cfg = ModelConfig(n_notes=12, conv_channels=4, conv_kernel=2, conv_layers=1, hidden=8, gru_layers=1, dropout=0.0)
    path = home / "m.pt"
    save_checkpoint(
        path,
        {
            "model_config": to_dict(cfg),
            "data_config": to_dict(DataConfig(seq_len=16, low=60, high=72)),
            "model_state": ConvGRU(cfg).state_dict(),
            "threshold": 0.3,
        },
    )
    return str(path)


def test_a_pair_shares_primer_length_and_synthesizer_and_its_seed_rebuilds_it(syn):
    pair = listening.make_pair(syn, "real:syn", "syn", steps=8, primer_steps=4, pair_seed=3)
    assert {pair.first, pair.second} == {syn, "real:syn"}
    assert all(r.shape == (8, 12) for r in pair.rolls)
    np.testing.assert_array_equal(pair.rolls[0][:4], pair.rolls[1][:4])  # the same primer
    assert pair.synth in ("fluidsynth", "sine") and pair.mime == "audio/ogg"
    assert all(s.startswith(b"OggS") for s in pair.sounds)
    model_seed = pair.seeds[(pair.first, pair.second).index(syn)]
    assert isinstance(model_seed, int) and pair.seeds[(pair.first, pair.second).index("real:syn")] is None
    assert pair.primer.startswith("syn:test:window ") and pair.primer.endswith(":4 steps")
    assert pair.duration_s == pytest.approx(8 * 60 / (100 * 4))  # 8 steps at 100 bpm, 4 steps per beat
    again = listening.make_pair(syn, "real:syn", "syn", steps=8, primer_steps=4, pair_seed=3)
    assert (again.first, again.primer, again.seeds) == (pair.first, pair.primer, pair.seeds)
    np.testing.assert_array_equal(again.rolls[0], pair.rolls[0])
    # Over several seeds both orders occur: the listener cannot learn which side is which.
    firsts = {listening.make_pair(syn, "real:syn", "syn", steps=8, primer_steps=4, pair_seed=s).first for s in range(8)}
    assert firsts == {syn, "real:syn"}


def test_a_vote_on_a_pair_is_stored_with_what_rebuilds_it(syn):
    pair = listening.make_pair(syn, "real:syn", "syn", steps=8, primer_steps=4, pair_seed=5)
    listening.record_vote(pair, 1)
    row = votes.list_votes().iloc[0]
    assert (row["first"], row["second"], row["chosen"]) == (pair.first, pair.second, pair.second)
    assert (row["pair_seed"], row["primer"], row["steps"], row["synth"]) == (5, pair.primer, 8, pair.synth)
    with pytest.raises(ConfigError, match="sample 0 or 1"):
        listening.record_vote(pair, 2)


def test_bad_pairs_are_refused_with_the_fix(syn):
    with pytest.raises(ConfigError, match="two different contenders"):
        listening.make_pair(syn, syn, "syn")
    with pytest.raises(ConfigError, match="shorter than the sample"):
        listening.make_pair(syn, "real:syn", "syn", steps=8, primer_steps=8)
    with pytest.raises(ConfigError, match="compare with real:syn"):
        listening.make_pair(syn, "real:other", "syn", steps=8, primer_steps=4)
    with pytest.raises(DataError, match="no window of 64 steps .* choose a length <= 16"):
        listening.make_pair(syn, "real:syn", "syn", steps=64, primer_steps=4)


def test_sentence_states_rate_interval_and_votes():
    r = {"a": "m", "b": "real:bach", "votes": 10, "wins": 7, "rate": 0.7, "low": 0.397, "high": 0.892, "interval": "95% W"}
    assert listening.sentence(r) == "m preferred to real:bach in 7 of 10 votes: 70% (95% W interval 40%–89%)"
    assert listening.sentence({**r, "votes": 0}, label=str.upper) == "M against REAL:BACH: no votes yet"


# ---- the report ----


def test_report_states_the_listening_results_of_the_sweeps_runs(home):
    import json

    from musicgen.study.document import render, study_tables

    sweep = store.create_sweep("grid", {"data": "syn", "optimizers": ["adam"], "losses": ["bce"]})
    config = {"train": {"optimizer": "adam", "loss": "bce", "lr": 1e-3, "seed": 0}, "model": {}, "data": {}}
    run = store.create_run("adam-bce", config, "syn", sweep_id=sweep, status="finished")
    for epoch in (1, 2):
        store.log_metrics(run, epoch, "train", {"loss": 1.0 / epoch, "epoch_s": 1.0})
        store.log_metrics(run, epoch, "valid", {"nll": 9.0 / epoch, "f1": 0.1, "f1_best": 0.2})
    store.update_run(run, epochs_done=2)
    for chosen in (run, run, "real:syn"):
        _vote(first=run, second="real:syn", chosen=chosen)
    _vote(first="other", second="real:syn", chosen="other")  # not a run of this sweep: left out
    t = study_tables(sweep, generation=False)
    line = f"adam-bce ({run}) preferred to real:syn in 2 of 3 votes: 67% (95% Wilson score interval 21%–94%)"
    assert f"## Blind listening test\n\n- {line}\n" in render(t, "md")
    heard = json.loads(render(t, "json"))["listening"]
    assert [(x["a"], x["b"], x["wins"], x["votes"]) for x in heard] == [(run, "real:syn", 2, 3)]
    assert heard[0]["low"] == pytest.approx(listening.wilson_interval(2, 3)[0])
    assert f"<li>{line}</li>" in render(t, "html")
