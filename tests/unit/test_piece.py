"""The one generate → files → metrics path: its measuring rules, and the study document going through it."""

import numpy as np
import pytest
from synthetic import crafted_roll
from test_generate import save_tiny_checkpoint

from musicgen.config import DataConfig
from musicgen.errors import ConfigError, DataError
from musicgen.music import piece as pieces
from musicgen.music.quality import compare, music_metrics


def build(name, cfg, n=6, steps=96, low=24, notes=84):
    """Build dataset `name` under the temporary home from `n` crafted MIDI files; return its folder."""
    from musicgen.data.datasets import build_dataset
    from musicgen.data.midi import write_midi
    from musicgen.paths import data_dir, home_dir

    src = home_dir() / f"{name}_in"
    for i in range(n):
        write_midi(crafted_roll(steps + 8 * i, n_notes=notes, seed=i), src / f"s{i}.mid", low=low)
    return build_dataset([str(src)], data_dir() / name, cfg, workers=0)


def test_metrics_leave_the_primer_out_and_compare_pieces_as_long_as_the_reference(tmp_path, tiny_dataset):
    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    p = pieces.make_piece(ckpt, 300, primer="tiny:song0.mid:0", primer_steps=20, samples=2, seed=4, data="tiny")
    assert p.rolls.shape == (2, 300, 84) and p.primer_steps == 20 and p.steps == 300
    assert p.metrics == [music_metrics(r[20:], 24) for r in p.rolls]
    real = pieces.reference_windows("tiny", 280, 24, 84)
    window = max(r.shape[0] for r in real)  # the tiny dataset's windows: 128 steps
    assert window == 128 and p.comparison["window_steps"] == 128
    # Two pieces of 128 steps per sample, the last 4 steps dropped:
    expected = compare([c for r in p.rolls for c in (r[20:148], r[148:276])], real, 24)
    assert p.comparison == {"window_steps": 128, **expected}
    assert p.options["threshold"] == 0.3  # the checkpoint's own


def test_reference_falls_back_to_valid_then_train_when_test_is_empty(home):
    build("notest", DataConfig(seq_len=32, hop=32, split=(0.5, 0.5, 0.0)))
    build("trainonly", DataConfig(seq_len=32, hop=32, split=(1.0, 0.0, 0.0)))
    from musicgen.data.datasets import load_dataset

    for name, split in (("notest", "valid"), ("trainonly", "train")):
        rolls, lengths = load_dataset(name).split(split)
        windows = pieces.reference_windows(name, 20, 24, 84)
        if split == "train":
            assert [w.shape[0] for w in windows] == [min(int(n), 20) for n in lengths if n > 0]  # real steps only, at most 20
        else:  # whole pieces, cut into consecutive windows of 20 steps (real steps only)
            assert len(windows) == sum(max(1, int(n) // 20) for n in lengths if n > 0) and windows[1].shape[0] == 20
            np.testing.assert_array_equal(windows[1], rolls[0][20:40])
        np.testing.assert_array_equal(windows[0], rolls[0][:20])


def test_reference_on_another_pitch_range_is_refused(home, tmp_path):
    build("high", DataConfig(seq_len=32, hop=32, low=36, high=96), notes=60, low=36)
    with pytest.raises(
        DataError,
        match=r"dataset high covers MIDI 36\.\.95 but the checkpoint was trained on MIDI 24\.\.107; "
        r"rebuild the dataset with --low 24 --high 108",
    ):
        pieces.make_piece(save_tiny_checkpoint(tmp_path / "m.pt"), 16, data="high")


def test_unknown_option_and_bad_primer_length_fail_before_generating(tmp_path):
    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    with pytest.raises(ConfigError, match=r"unknown generation options \['temp'\]"):
        pieces.make_piece(ckpt, 16, temp=0.5)
    with pytest.raises(ConfigError, match="--primer-steps must be >= 1"):
        pieces.make_piece(ckpt, 16, primer="x.mid", primer_steps=0)


def test_write_piece_numbers_files_and_keeps_each_samples_metrics(tmp_path):
    p = pieces.make_piece(save_tiny_checkpoint(tmp_path / "m.pt"), 12, samples=2, seed=1)
    written = pieces.write_piece(p, tmp_path / "out" / "x.mid")
    assert [f["midi"] for f in written.files] == [str(tmp_path / "out" / "x_1.mid"), str(tmp_path / "out" / "x_2.mid")]
    assert [f["metrics"] for f in written.files] == p.metrics and written.files[0]["wav"] is None
    rows = pieces.metrics_rows(p)
    assert {r["metric"] for r in rows} == set(p.metrics[0]) and all(set(r) == {"metric", "generated"} for r in rows)


def test_study_document_measures_generation_through_the_piece_path(tmp_path, tiny_dataset):
    from musicgen.config import to_dict
    from musicgen.paths import checkpoints_dir
    from musicgen.runs import store
    from musicgen.study.generation import generation_overlap

    run_id = store.create_run(
        "r",
        {"data": "tiny", "data_path": str(tiny_dataset), "data_config": to_dict(DataConfig())},
        dataset_id="x",
        status="finished",
    )
    save_tiny_checkpoint(checkpoints_dir() / run_id / "best.pt")
    value = generation_overlap(run_id, samples=3, steps=40, seed=2)
    p = pieces.make_piece(run_id, 40, samples=3, seed=2, data=str(tiny_dataset), strategy="sample", temperature=1.0)
    assert value == pytest.approx(np.nanmean([m["overlap"] for m in p.comparison["metrics"].values()]))
    assert p.comparison["window_steps"] == 40  # the reference cut to the generated length, as for the CLI


def test_training_dataset_is_matched_by_id_then_by_the_named_dataset():
    built = [{"name": "bach", "id": "b1"}, {"name": "mine", "id": "m1"}]
    assert pieces.training_dataset({"dataset_id": "m1"}, built) == "mine"
    assert pieces.training_dataset({"dataset_id": "gone"}, built) is None  # rebuilt or elsewhere: not guessed by name
    assert pieces.training_dataset({"data_path": "builtin:bach"}, built) == "bach"
    assert pieces.training_dataset({"data_path": "/x/data/other"}, built) is None
    assert pieces.training_dataset({}, built) is None


@pytest.mark.parametrize("fmt,magic", [("ogg", b"OggS"), ("flac", b"fLaC"), ("wav", b"RIFF")])
def test_generate_writes_the_chosen_audio_format(home, tmp_path, fmt, magic):
    from musicgen.cli import main

    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    out = tmp_path / "g.mid"
    args = ["generate", str(ckpt), "--steps", "16", "--out", str(out), "--wav", str(tmp_path / f"g.{fmt}")]
    assert main(args + ["--audio-format", fmt]) == 0
    assert (tmp_path / f"g.{fmt}").read_bytes()[:4] == magic


def test_generate_refuses_an_audio_file_that_does_not_match_its_format(home, tmp_path, capsys):
    from musicgen.cli import main

    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    args = ["generate", str(ckpt), "--out", str(tmp_path / "g.mid"), "--wav", str(tmp_path / "g.wav"), "--audio-format", "ogg"]
    assert main(args) == 2
    assert "--wav" in (err := capsys.readouterr().err) and "must end in .ogg" in err and not (tmp_path / "g.mid").exists()
