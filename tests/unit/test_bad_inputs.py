"""Each bad input of the reliability probe (issue 23) at a small size: one line on stderr, exit 2, no traceback.

Numbered as the issue lists them; the memory cases (18, 19) measure a child process in
tests/integration/test_limits_processes.py, and 16 is in test_sweep.py.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import warnings
import zipfile

import numpy as np
import pytest
from scipy.io import savemat
from synthetic import TINY_ARGS, make_dataset
from test_limits import valid_small

from musicgen.cli import main
from musicgen.config import DataConfig, ModelConfig, TrainConfig
from musicgen.ranges import numeric_fields
from musicgen.runs import store


def one_line(capsys, argv: list[str], match: str) -> str:
    """Run `python -m musicgen argv` in this process; assert exit 2 and one line on stderr holding `match`."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err
    return err


@pytest.mark.parametrize("pitch,shown", [(10**30, "1000000000000000000000000000000"), (-1, "-1"), (60.5, "60.5"), ("C4", "C4")])
def test_1_a_pickle_pitch_that_is_no_midi_pitch(home, capsys, pitch, shown):
    d = {"train": [[[60], [62]], [[60], [pitch]]], "valid": [[[60], [62.0]]], "test": [[[60], [62]]]}
    (home / "big.pickle").write_bytes(pickle.dumps(d))
    match = f"big.pickle: split train, sequence 1, step 1 holds {shown}, not a MIDI pitch 0..127"
    one_line(capsys, ["preprocess", home / "big.pickle", "--out", home / "o"], match)


def test_2_a_negative_split_seed(home, capsys):
    (home / "a.mid").write_bytes(valid_small())
    one_line(capsys, ["preprocess", home / "a.mid", "--out", home / "o", "--seed", "-1"], "seed must be a whole number from 0")


@pytest.mark.parametrize("seed", ["18446744073709551617", "-1", "4294967296"])
def test_3_a_seed_torch_or_numpy_would_refuse(home, capsys, seed):
    one_line(capsys, ["train", "--data", "x", "--seed", seed], f"seed must be a whole number from 0 to 4,294,967,295, got {seed}")
    TrainConfig(seed=2**32 - 1)  # the largest is accepted


@pytest.mark.parametrize(
    "text,match",
    [
        ("[]", "must be an object"),
        ('{"members": {}}', "'members' must be a list"),
        ('{"members": [[]]}', "member 0 must be an object"),
        ('{"members": [{"seeds": 3}]}', "member 0: 'seeds' must be a list"),
        ('{"members": [{"seeds": ["x"]}]}', "seed has the wrong type"),
        ('{"model": []}', "'model' must be an object"),
    ],
)
def test_4_a_recipe_of_the_wrong_shape(home, capsys, text, match):
    (home / "r.json").write_text(text)
    one_line(capsys, ["train", "--data", "x", "--recipe", home / "r.json"], match)


def test_5_a_config_nested_100000_deep(home, capsys):
    (home / "deep.json").write_text("[" * 100_000)
    one_line(capsys, ["train", "--config", home / "deep.json"], "nests lists or objects too deep")
    one_line(capsys, ["train", "--data", "x", "--recipe", home / "deep.json"], "nests lists or objects too deep")


@pytest.mark.parametrize("seed", ["-1", "18446744073709551617"])
def test_3_generate_with_a_seed_out_of_range(home, capsys, seed):
    one_line(capsys, ["generate", "demo", "--seed", seed, "--out", home / "g.mid"], "seed must be a whole number from 0")
    assert not (home / "g.mid").exists()


def test_6_generate_on_an_unknown_device(home, capsys):
    one_line(capsys, ["generate", "demo", "--device", "bogus", "--out", home / "g.mid"], "unknown device 'bogus'")
    assert not (home / "g.mid").exists()


def test_7_more_threads_than_cores(home, capsys):
    from musicgen.parallel import usable_cores

    one_line(capsys, ["train", "--data", "x", "--threads", "1000"], "threads must be a whole number from 0 to 256")
    data = make_dataset(home / "d")
    more = usable_cores() + 1
    argv = ["train", "--data", data, "--device", "cpu", "--threads", more]
    one_line(capsys, argv, f"threads {more} is more than the {usable_cores()} CPU cores this process may use")
    assert len(store.list_runs()) == 0


def _two_runs(home) -> tuple[str, str]:
    data = make_dataset(home / "d")
    base = ["train", "--data", data, "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--threads", "1", *TINY_ARGS]
    assert main([str(a) for a in base]) == 0
    good = store.list_runs()["id"][0]
    bad = store.create_run("bad", {}, "x", status="failed")
    return good, bad


@pytest.mark.parametrize(
    "column,value,match",
    [
        ("config", "{not json", "its config is not JSON"),  # 8
        ("summary", "[1, 2]", "its summary is list, not a JSON object"),  # 8
        ("epochs_done", "many", "its epochs_done is 'many', not a whole number"),  # 9
    ],
)
def test_8_9_a_damaged_run_row_is_named_and_the_rest_listed(home, capsys, column, value, match):
    good, bad = _two_runs(home)
    with sqlite3.connect(home / "runs.sqlite") as con:
        con.execute(f"UPDATE runs SET {column} = ? WHERE id = ?", (value, bad))
    capsys.readouterr()
    for argv in (["runs"], ["runs", "--json"]):
        assert main(argv) == 0
        out, err = capsys.readouterr()
        assert good in out and bad not in out
        assert err.count("\n") == 1 and f"run {bad} is damaged in the run store ({match}" in err and "Traceback" not in err
    assert main(["evaluate", good, "--device", "cpu", "--json"]) == 0
    one_line(capsys, ["evaluate", bad], f"run {bad} is damaged in the run store")


def test_10_epochs_past_any_run(home, capsys):
    one_line(
        capsys, ["train", "--data", "x", "--epochs", "99999999999999999999"], "epochs must be a whole number from 1 to 100,000"
    )


@pytest.mark.parametrize(
    "train,match",
    [
        ({"epochs": True}, "epochs has the wrong type: it must be a whole number from 1 to 100,000, got True (bool)"),
        ({"lr": "0.1"}, "lr has the wrong type"),
        ({"bucket": 1}, "bucket must be true or false, got 1"),
        ({"seed": 1.5}, "seed has the wrong type"),
    ],
)
def test_11_a_bool_or_text_is_not_a_number(home, capsys, train, match):
    (home / "c.json").write_text(json.dumps({"data": "x", "train": train}))
    one_line(capsys, ["train", "--config", home / "c.json"], match)


def _mat(path, cell):
    seqs = np.empty((1, 2), dtype=object)
    seqs[0, 0] = np.zeros((4, 88))
    seqs[0, 1] = np.zeros((4, 88))
    seqs[0, 1][2, 40] = cell
    savemat(path, {"traindata": seqs, "validdata": seqs, "testdata": seqs}, do_compression=True)


@pytest.mark.parametrize("cell", [np.nan, -np.inf, 5.0, 0.5])
def test_12_13_a_mat_cell_that_is_not_0_or_1(home, capsys, cell, recwarn):
    _mat(home / "b.mat", cell)
    one_line(capsys, ["preprocess", home / "b.mat", "--out", home / "o"], f"split train, sequence 1 holds the cell value {cell}")
    assert not (home / "o" / "dataset.npz").exists() and not [w for w in recwarn if "RuntimeWarning" in str(w.category)]


def test_14_a_transposition_wider_than_the_keys(home, capsys):
    data = make_dataset(home / "d")  # 12 keys
    one_line(capsys, ["train", "--data", "x", "--transpose", "1000"], "transpose must be a whole number from 0 to 127")
    base = ["train", "--data", data, "--epochs", "1", "--device", "cpu", "--threads", "1"]
    one_line(capsys, [*base, "--transpose", "12"], "transpose 12 is as wide as the 12 keys of dataset d; use at most 11")
    assert len(store.list_runs()) == 0


def test_15_a_grid_so_coarse_that_every_note_lands_on_step_0(home, capsys):
    (home / "a.mid").write_bytes(valid_small())
    one_line(capsys, ["preprocess", home / "a.mid", "--out", home / "o", "--fs", "1e-300"], "fs must be a number of steps")


def _zip(path, entries: list[tuple[str, bytes]]):
    with zipfile.ZipFile(path, "w") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name, and writes it
        for name, data in entries:
            z.writestr(name, data)


def test_17_a_zip_with_two_entries_of_one_name_reads_both(home, capsys):
    _zip(home / "a.zip", [("a.mid", valid_small()), ("a.mid", b"garbage, not MIDI")])
    assert main(["preprocess", str(home / "a.zip"), "--out", str(home / "o"), "--json", "--split", "1,0,0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["files_ok"] == 1
    assert [row["file"] for row in summary["files_skipped"]] == ["a.zip/a.mid (entry 2 of that name)"]


def test_20_a_store_without_its_metrics_table_stops_train_before_the_first_step(home, capsys):
    data = make_dataset(home / "d")
    store.list_runs()  # creates the store
    with sqlite3.connect(home / "runs.sqlite") as con:
        con.execute("DROP TABLE metrics")
    argv = ["train", "--data", data, "--epochs", "1", "--device", "cpu", "--threads", "1", *TINY_ARGS]
    one_line(capsys, argv, "is damaged (it has no table metrics); move it aside")
    assert not (home / "checkpoints").exists()  # no step ran: no checkpoint was written


def test_21_a_zip_entry_named_a_colon_b_is_read(home, capsys):
    _zip(home / "c.zip", [("a:b.mid", valid_small()), ("C:/evil.mid", valid_small()), ("D:\\evil.mid", valid_small())])
    assert main(["preprocess", str(home / "c.zip"), "--out", str(home / "o"), "--json", "--split", "1,0,0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["files_ok"] == 1
    assert sorted(r["file"] for r in summary["files_skipped"]) == ["c.zip/C:/evil.mid", "c.zip/D:\\evil.mid"]


@pytest.mark.parametrize("cls", [DataConfig, ModelConfig, TrainConfig])
def test_every_number_of_a_config_has_a_range(cls):
    from musicgen import config

    table = {DataConfig: config.DATA_RANGES, ModelConfig: config.MODEL_RANGES, TrainConfig: config.TRAIN_RANGES}[cls]
    missing = [name for name in numeric_fields(cls) if name not in table]
    assert not missing, f"{cls.__name__} fields without a range: add them to its table in musicgen/config.py: {missing}"
    assert "split" in numeric_fields(DataConfig) and "nesterov" not in numeric_fields(TrainConfig)
