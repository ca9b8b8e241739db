import numpy as np
import pytest
import torch

from musicgen.config import DataConfig, ModelConfig
from musicgen.errors import ConfigError, MidiError
from musicgen.music.generate import (
    _state_feeder,
    default_threshold,
    generate,
    steps_from_seconds,
)
from musicgen.music.primers import load_primer, primer_from_midi
from musicgen.music.strategies import MAX_STEPS, choose_notes
from musicgen.nn.convgru import ConvGRU


def tiny_model(seed=0, **kw) -> ConvGRU:
    """Build a small random ConvGRU (eval mode) whose outputs are not all ~0.5."""
    torch.manual_seed(seed)
    cfg = {"n_notes": 84, "conv_channels": 8, "conv_kernel": 3, "conv_layers": 1, "hidden": 16, "gru_layers": 2, "dropout": 0.2}
    cfg.update(kw)
    model = ConvGRU(ModelConfig(**cfg))
    with torch.no_grad():
        model.head.bias.normal_(-2.0, 1.5)  # sparse-ish, spread probabilities like a trained model
        model.head.weight.mul_(4)
        if model.skip is not None:
            model.skip.weight.normal_(0.0, 0.5)  # a trained skip path is not zero: cover it
    return model.eval()


def counts(rolls):
    return rolls.sum(axis=2)  # (samples, steps)


def test_same_seed_same_roll_and_different_seed_different_roll():
    m = tiny_model()
    a = generate(m, 48, strategy="sample", samples=3, seed=7)
    b = generate(m, 48, strategy="sample", samples=3, seed=7)
    c = generate(m, 48, strategy="sample", samples=3, seed=8)
    assert a.shape == (3, 48, 84) and a.dtype == np.uint8
    assert set(np.unique(a)) <= {0, 1}
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1])  # samples of one batch differ too


@pytest.mark.parametrize(
    "kw", [{}, {"conv_layers": 2, "conv_kernel": 4}, {"conv_layers": 0}, {"conv_kernel": 1, "gru_layers": 1}, {"skip": False}]
)
def test_step_by_step_logits_equal_full_forward(kw):
    m = tiny_model(**kw)
    x = (torch.rand(3, 20, 84, generator=torch.Generator().manual_seed(0)) < 0.1).float()
    with torch.inference_mode():
        full = m(x)  # (B, T, N)
        feed = _state_feeder(m, 3, "cpu")
        fast = torch.stack([feed(x[:, t]) for t in range(20)], dim=1)
        state = m.init_state(3)
        slow = []
        for t in range(20):
            logits, state = m.step(x[:, t], state)
            slow.append(logits)
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.stack(slow, dim=1), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("strategy", ["sample", "threshold", "topk"])
def test_recompute_gives_the_same_rolls(strategy):
    m = tiny_model()
    primer = (np.random.default_rng(0).random((5, 84)) < 0.05).astype(np.uint8)
    a = generate(m, 30, strategy=strategy, threshold=0.3, samples=2, seed=3, primer=primer)
    b = generate(m, 30, strategy=strategy, threshold=0.3, samples=2, seed=3, primer=primer, recompute=True)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("strategy", ["sample", "threshold", "topk"])
def test_each_strategy_honours_polyphony_limits(strategy):
    m = tiny_model()
    opts = {"strategy": strategy, "threshold": 0.1, "top_k": 8, "floor": 0.0, "temperature": 1.5, "samples": 4, "seed": 0}
    free = counts(generate(m, 40, **opts))
    assert free.max() > 3  # without limits the model gives more than 3 notes somewhere
    limited = counts(generate(m, 40, max_polyphony=3, min_notes=2, **opts))
    assert limited.min() >= 2 and limited.max() <= 3
    sparse = counts(generate(m, 40, **{**opts, "threshold": 0.99, "floor": 0.99, "temperature": 0.2}, min_notes=1))
    assert sparse.min() >= 1


def test_choose_notes_by_hand():
    probs = torch.tensor([[0.9, 0.8, 0.1, 0.6, 0.05, 0.3]])
    uniform = torch.tensor([[0.5, 0.9, 0.05, 0.5, 0.5, 0.5]])
    assert choose_notes(probs, "threshold", threshold=0.5).tolist() == [[1, 1, 0, 1, 0, 0]]
    assert choose_notes(probs, "sample", uniform).tolist() == [[1, 0, 1, 1, 0, 0]]
    assert choose_notes(probs, "topk", top_k=2, floor=0.0).tolist() == [[1, 1, 0, 0, 0, 0]]
    assert choose_notes(probs, "topk", top_k=4, floor=0.5).tolist() == [[1, 1, 0, 1, 0, 0]]
    # Caps keep the most likely chosen notes; fills add the most likely missing ones.
    assert choose_notes(probs, "threshold", threshold=0.5, max_polyphony=2).tolist() == [[1, 1, 0, 0, 0, 0]]
    assert choose_notes(probs, "threshold", threshold=0.85, min_notes=3).tolist() == [[1, 1, 0, 1, 0, 0]]


def test_cap_keeps_sampled_notes_before_unsampled():
    probs = torch.tensor([[0.9, 0.8, 0.1, 0.6]])
    uniform = torch.tensor([[0.5, 0.95, 0.05, 0.5]])  # draws notes 0, 2, 3 (not 1 despite 0.8)
    out = choose_notes(probs, "sample", uniform, max_polyphony=2).tolist()
    assert out == [[1, 0, 0, 1]]  # the two most likely of the drawn notes


def test_threshold_strategy_is_deterministic_and_default_threshold():
    m = tiny_model()
    a = generate(m, 24, strategy="threshold", threshold=0.2, seed=1)
    b = generate(m, 24, strategy="threshold", threshold=0.2, seed=2)
    np.testing.assert_array_equal(a, b)
    assert default_threshold({"threshold": 0.31}) == 0.31
    assert default_threshold({}) == 0.5


def test_primer_is_kept_and_continued():
    m = tiny_model()
    primer = np.zeros((6, 84), np.uint8)
    primer[:, [36, 40, 43]] = 1
    out = generate(m, 20, strategy="topk", top_k=3, floor=0.0, primer=primer, samples=2)
    np.testing.assert_array_equal(out[0, :6], primer)
    np.testing.assert_array_equal(out[1, :6], primer)
    assert counts(out)[:, 6:].min() == 3


def test_generation_restores_training_mode():
    m = tiny_model().train()
    generate(m, 5)
    assert m.training


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"steps": 0}, "steps must be between 1 and"),
        ({"steps": MAX_STEPS + 1}, "steps must be between 1 and"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"strategy": "topk", "top_k": 0}, "top-k must be between 1 and 84"),
        ({"strategy": "topk", "top_k": 85}, "top-k must be between 1 and 84"),
        ({"strategy": "greedy"}, "unknown strategy 'greedy'"),
        ({"threshold": 1.0}, "threshold must be between 0 and 1"),
        ({"max_polyphony": 0}, "max polyphony must be between 1 and 84"),
        ({"max_polyphony": 2, "min_notes": 3}, "min notes \\(3\\) exceeds max polyphony \\(2\\)"),
        ({"samples": 0}, "samples must be between 1 and"),
        ({"primer": np.zeros((10, 84))}, "the primer has 10 steps but only 10"),
        ({"primer": np.zeros((4, 88))}, "primer must be a roll \\(steps, 84\\)"),
    ],
)
def test_bad_options(kw, match):
    args = {"steps": 10, **kw}
    with pytest.raises(ConfigError, match=match):
        generate(tiny_model(), **args)


def test_length_in_seconds():
    assert steps_from_seconds(10, DataConfig(steps_per_beat=4)) == 80  # 120 bpm: 8 steps per second
    assert steps_from_seconds(10, DataConfig(steps_per_beat=4), tempo_bpm=60) == 40
    assert steps_from_seconds(3, DataConfig(fs=4)) == 12
    with pytest.raises(ConfigError, match="positive number"):
        steps_from_seconds(0, DataConfig())


def test_primer_from_midi_uses_the_checkpoint_grid(tmp_path):
    from musicgen.data.midi import onset_roll, write_midi

    roll = np.zeros((16, 84), np.uint8)
    roll[0:8, 36] = 1  # C4 for two beats
    roll[8:16, 43] = 1
    path = write_midi(roll, tmp_path / "primer.mid", low=24, steps_per_beat=4)
    got = primer_from_midi(path, DataConfig(steps_per_beat=4))
    np.testing.assert_array_equal(got[:16], onset_roll(roll))  # read back onset-aware: each note struck where it starts
    coarse = load_primer(str(path), DataConfig(steps_per_beat=2), steps=4)
    assert coarse.shape == (4, 84) and coarse[:4, 36].all()  # two steps per beat halves the steps


def test_primer_midi_without_notes_in_range(tmp_path):
    from musicgen.data.midi import write_midi

    roll = np.zeros((8, 128), np.uint8)
    roll[:, 120] = 1  # MIDI 120, above the model's 24..107
    path = write_midi(roll, tmp_path / "high.mid", low=0)
    with pytest.raises(MidiError, match="no notes between MIDI 24 and 107"):
        primer_from_midi(path, DataConfig())
    quiet_start = np.zeros((8, 84), np.uint8)
    quiet_start[6:, 40] = 1
    path = write_midi(quiet_start, tmp_path / "late.mid")
    with pytest.raises(MidiError, match="no notes between MIDI 24 and 107.* in its first 4 steps"):
        primer_from_midi(path, DataConfig(), steps=4)


def test_primer_spec_must_be_dataset_file_offset():
    with pytest.raises(ConfigError, match="DATASET:FILE:OFFSET"):
        load_primer("builtin:bach", DataConfig())
    with pytest.raises(ConfigError, match="offset must be >= 0"):
        load_primer("builtin:bach:x.mid:-3", DataConfig())


# ---- the `generate` command ----


def save_tiny_checkpoint(path, threshold=0.3):
    from musicgen.config import to_dict
    from musicgen.training.checkpoint import save_checkpoint

    m = tiny_model()
    save_checkpoint(
        path,
        {
            "model_config": to_dict(m.cfg),
            "data_config": to_dict(DataConfig()),
            "model_state": m.state_dict(),
            "threshold": threshold,
        },
    )
    return path


def run_cli(*argv):
    from musicgen.cli import main

    return main(["generate", *map(str, argv)])


def test_cli_writes_numbered_midi_and_wav_with_metrics_and_comparison(tmp_path, tiny_dataset, capsys):
    import json

    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    out = tmp_path / "out"
    code = run_cli(
        ckpt,
        "--steps",
        24,
        "--samples",
        2,
        "--out",
        out / "x.mid",
        "--wav",
        out / "x.wav",
        "--seed",
        1,
        "--sample-rate",
        8000,
        "--max-polyphony",
        4,
        "--min-notes",
        1,
        "--json",
        "--data",
        "tiny",
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["x_1.mid", "x_1.wav", "x_2.mid", "x_2.wav"]
    assert [s["index"] for s in report["samples"]] == [1, 2]
    assert report["samples"][0]["midi"] == str(out / "x_1.mid") and report["samples"][1]["wav"] == str(out / "x_2.wav")
    assert report["samples"][0]["backend"] == "fluidsynth"
    assert 1 <= report["samples"][0]["metrics"]["mean_polyphony"] <= 4
    assert report["threshold"] == 0.3  # the checkpoint's own
    cmp_ = report["comparison"]
    assert cmp_["n_generated"] == 2 and cmp_["n_real"] > 0 and cmp_["window_steps"] == 24  # real windows cut to 24 steps
    assert 0 <= cmp_["metrics"]["note_density"]["overlap"] <= 1 and cmp_["metrics"]["note_density"]["reading"]

    from musicgen.data.midi import roll_from_midi

    roll, _ = roll_from_midi(out / "x_1.mid", DataConfig())
    assert roll.shape[1] == 84 and roll.sum(axis=1)[:24].min() >= 1  # the min-notes rule reached the file


def test_cli_primer_from_a_dataset(tmp_path, tiny_dataset, capsys):
    import json

    from musicgen.data.datasets import dataset_excerpt, load_dataset

    ds = load_dataset("tiny")
    file = "song0.mid"  # the tiny dataset's first source file, 150 steps
    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    assert (
        run_cli(
            ckpt,
            "--steps",
            20,
            "--out",
            tmp_path / "p.mid",
            "--primer",
            f"tiny:{file}:4",
            "--primer-steps",
            8,
            "--strategy",
            "threshold",
            "--json",
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["primer_steps"] == 8
    primer = load_primer(f"tiny:{file}:4", DataConfig(), 8)
    np.testing.assert_array_equal(primer, dataset_excerpt(ds, file, 4, 8))


def test_cli_length_in_seconds(tmp_path, capsys):
    import json

    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    assert run_cli(ckpt, "--seconds", 3, "--tempo", 60, "--out", tmp_path / "s.mid", "--json") == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 12  # 4 steps per beat at 60 bpm


@pytest.mark.parametrize(
    "args, match",
    [
        (["--steps", 0], "steps must be between 1 and"),
        (["--steps", MAX_STEPS * 10], f"steps must be between 1 and {MAX_STEPS}"),
        (["--temperature", 0], "temperature must be > 0"),
        (["--strategy", "topk", "--top-k", 0], "top-k must be between 1 and 84"),
        (["--strategy", "topk", "--top-k", 85], "top-k must be between 1 and 84"),
        (["--strategy", "beam"], "unknown strategy 'beam'"),
        (["--steps", 8, "--primer", "PRIMER", "--primer-steps", 16], "the primer has 16 steps but only 8"),
        (["--wav", "OUT/x.wav", "--soundfont", "OUT/missing.sf2"], "soundfont .*missing.sf2 does not exist"),
        (["--wav", "OUT/x.wav", "--soundfont", "NOTSF2"], "is not a SoundFont 2 file"),
        (["--primer", "HIGH"], "no notes between MIDI 24 and 107"),
        (["--wav", "OUT/x.mp3"], "--wav .*x.mp3 must end in .wav"),
        (["--primer-steps", 0, "--primer", "PRIMER"], "--primer-steps must be >= 1"),
    ],
)
def test_cli_bad_input_is_one_line_and_leaves_no_file(tmp_path, capsys, args, match):
    import re

    from musicgen.data.midi import write_midi

    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    out = tmp_path / "out"
    primer = np.zeros((16, 84), np.uint8)
    primer[:, 40] = 1
    high = np.zeros((8, 128), np.uint8)
    high[:, 120] = 1
    subst = {
        "PRIMER": write_midi(primer, tmp_path / "primer.mid"),
        "HIGH": write_midi(high, tmp_path / "high.mid", low=0),
        "NOTSF2": tmp_path / "fake.sf2",
    }
    (tmp_path / "fake.sf2").write_text("not a soundfont")
    argv = [str(subst.get(a, a)).replace("OUT", str(out)) for a in args]
    code = run_cli(ckpt, "--out", out / "x.mid", *argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and re.search(match, err), err
    assert not out.exists() or not list(out.iterdir())


def test_cli_unknown_checkpoint(tmp_path, home, capsys):
    assert run_cli("no-such-run", "--out", tmp_path / "x.mid") == 2
    assert "no checkpoint found for 'no-such-run'" in capsys.readouterr().err
    assert not (tmp_path / "x.mid").exists()


@pytest.mark.parametrize(
    "out, wav, cause",
    [
        ("blocker/x.mid", None, "blocker is a file, not a folder"),
        ("blocker/deeper/x.mid", None, "blocker is a file, not a folder"),
        ("folder.mid", None, "it is a folder"),
        ("x.mid", "blocker/x.wav", "blocker is a file, not a folder"),
        ("x.mid", "folder.wav", "it is a folder"),
    ],
)
def test_cli_unwritable_output_is_one_line_naming_path_and_cause(tmp_path, capsys, out, wav, cause):
    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    (tmp_path / "blocker").write_text("a file, not a folder")
    (tmp_path / "folder.mid").mkdir()
    (tmp_path / "folder.wav").mkdir()
    args = ["--out", tmp_path / out] + (["--wav", tmp_path / wav] if wav else [])
    assert run_cli(ckpt, "--steps", 8, *args) == 2
    err = capsys.readouterr().err
    option, bad = ("--wav", wav) if wav else ("--out", out)
    assert err.startswith(f"error: cannot write {option} {tmp_path / bad} (") and cause in err and err.count("\n") == 1, err
    assert not (tmp_path / "x.mid").exists()


def test_a_write_that_fails_midway_is_one_line_and_leaves_no_file(tmp_path, monkeypatch, capsys):
    import errno

    import musicgen.music.piece

    real = musicgen.music.piece.write_midi

    def full_disk_on_second(roll, path, **kw):
        if path.name.endswith("_2.mid"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(roll, path, **kw)

    monkeypatch.setattr(musicgen.music.piece, "write_midi", full_disk_on_second)
    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    out = tmp_path / "out"
    assert run_cli(ckpt, "--steps", 8, "--samples", 2, "--out", out / "x.mid") == 2
    err = capsys.readouterr().err
    full = "(No space left on device); free some disk space or write elsewhere"
    assert err == f"error: cannot write MIDI file {out / 'x_2.mid'} {full}\n"
    assert list(out.iterdir()) == []


def test_cli_failure_halfway_removes_the_files_already_written(tmp_path, monkeypatch, capsys):
    import musicgen.music.audio
    from musicgen.errors import RenderError

    calls = []

    def failing_second(roll, path, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise RenderError("disk full")
        return real(roll, path, **kw)

    real = musicgen.music.audio.render_wav
    monkeypatch.setattr(musicgen.music.audio, "render_wav", failing_second)
    ckpt = save_tiny_checkpoint(tmp_path / "m.pt")
    out = tmp_path / "out"
    assert run_cli(ckpt, "--steps", 8, "--samples", 2, "--out", out / "x.mid", "--wav", out / "x.wav", "--sample-rate", 8000) == 2
    assert "disk full" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_long_generations_are_compared_in_pieces_as_long_as_the_real_windows():
    from musicgen.music.piece import chunks

    rolls = np.zeros((2, 300, 84), np.uint8)
    pieces = chunks(rolls, 128)
    assert len(pieces) == 4 and all(p.shape == (128, 84) for p in pieces)  # 2 x (300 // 128); the rest is dropped
    assert [p.shape[0] for p in chunks(np.zeros((1, 50, 84)), 128)] == [50]


def test_primer_from_a_benchmark_dataset_whose_file_names_hold_colons(home, jsb_mat):
    from musicgen.data.datasets import build_dataset, dataset_excerpt, load_dataset
    from musicgen.paths import data_dir

    build_dataset([str(jsb_mat)], data_dir() / "jsb")
    ds = load_dataset("jsb")
    file = "JSB_Chorales.mat:train/003"  # as the dataset's report names it
    assert file in {f["file"] for f in ds.report["files"]}
    primer = load_primer(f"jsb:{file}:2", DataConfig(steps_per_beat=1), 6)
    np.testing.assert_array_equal(primer, dataset_excerpt(ds, file, 2, 6))
    assert primer.any()


def test_excerpt_spec_names_the_first_usable_file(tiny_dataset):
    from musicgen.data.datasets import load_dataset
    from musicgen.music.primers import excerpt_spec

    ds = load_dataset("tiny")
    spec = excerpt_spec(ds)
    assert spec == f"tiny:{next(f['file'] for f in ds.report['files'] if f['status'] == 'ok')}:0"
    assert load_primer(spec, DataConfig(), 8).shape == (8, 84)
    assert excerpt_spec(type("Empty", (), {"name": "e", "report": {"files": [{"file": "x.mid", "status": "skipped"}]}})()) is None


def tiny_nade(seed=0, **kw) -> ConvGRU:
    """Build a small random ConvGRU with the nade head (eval mode) whose conditionals are sparse-ish and depend on each other."""
    torch.manual_seed(seed)
    cfg = {"n_notes": 84, "conv_channels": 8, "conv_kernel": 3, "conv_layers": 1, "hidden": 16, "gru_layers": 2, "dropout": 0.2}
    model = ConvGRU(ModelConfig(**{**cfg, "head": "nade", "nade_hidden": 12, **kw}))
    with torch.no_grad():
        model.head.to_b.bias.normal_(-2.5, 1.5)
        model.head.to_b.weight.mul_(4)
        model.head.W.normal_(0.0, 1.0)
        model.head.V.normal_(0.0, 1.0)
        if model.skip is not None:
            model.skip.weight.normal_(0.0, 0.5)
    return model.eval()


def test_nade_sampling_is_reproducible_batched_and_capped():
    m = tiny_nade()
    a = generate(m, 40, samples=3, seed=7)
    assert a.shape == (3, 40, 84) and set(np.unique(a)) <= {0, 1}
    np.testing.assert_array_equal(a, generate(m, 40, samples=3, seed=7))
    assert not np.array_equal(a, generate(m, 40, samples=3, seed=8))
    assert not np.array_equal(a[0], a[1])
    assert counts(generate(m, 40, samples=4, seed=0, temperature=1.5)).max() > 2
    assert counts(generate(m, 40, samples=4, seed=0, temperature=1.5, max_polyphony=2)).max() <= 2
    greedy = generate(m, 24, strategy="threshold", threshold=0.3, seed=1)
    np.testing.assert_array_equal(greedy, generate(m, 24, strategy="threshold", threshold=0.3, seed=2))


@pytest.mark.parametrize("strategy", ["sample", "threshold"])
def test_nade_fast_path_step_path_and_recompute_give_the_same_rolls(strategy, monkeypatch):
    import musicgen.music.generate as gen_mod

    m = tiny_nade()
    primer = (np.random.default_rng(0).random((5, 84)) < 0.05).astype(np.uint8)
    opts = {"strategy": strategy, "threshold": 0.3, "samples": 2, "seed": 3, "primer": primer}
    fast = generate(m, 30, **opts)
    np.testing.assert_array_equal(fast, generate(m, 30, recompute=True, **opts))
    monkeypatch.setattr(gen_mod, "_fast_ok", lambda model: False)  # model.step_notes
    np.testing.assert_array_equal(fast, generate(m, 30, **opts))


def test_an_ancestral_samples_log_probability_is_the_models_nll_of_it():
    from torch.nn import functional as F

    from musicgen.nn.notes import decide

    m = tiny_nade()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        state, x, rolls, logp = m.init_state(2), torch.zeros(2, 84), [], torch.zeros(2)
        for _ in range(12):
            dist, state = m.step_notes(x, state)
            x, lp = decide(dist, generator=gen)
            rolls.append(x)
            logp += lp
        roll = torch.stack([torch.zeros(2, 84), *rolls], dim=1)  # the silent start, then the sample
        nll = F.binary_cross_entropy_with_logits(m(roll[:, :-1], roll[:, 1:]), roll[:, 1:], reduction="none").sum((1, 2))
    assert roll.sum() > 0
    torch.testing.assert_close(logp, -nll, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "kw, match", [({"strategy": "topk"}, "strategy topk needs every note's probability"), ({"min_notes": 1}, "min notes \\(1\\)")]
)
def test_nade_refuses_what_needs_every_notes_probability_at_once(kw, match):
    with pytest.raises(ConfigError, match=match) as e:
        generate(tiny_nade(), 8, **kw)
    assert "\n" not in str(e.value)
