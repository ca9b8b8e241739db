"""Generate page: one or several models from the same primer and seed; roll, audio, downloads, metrics."""

import json
import re

from app_helpers import frame, no_failure, open_page, seed_run, texts, write_midis


def test_empty_home_offers_the_shipped_checkpoints(home, monkeypatch, tmp_path):
    from musicgen.training import checkpoint

    shipped = tmp_path / "shipped" / "best.pt"
    shipped.parent.mkdir()
    run = seed_run("r", "adam", "bce", 0)
    (checkpoint.checkpoints_dir() / run / "best.pt").rename(shipped)  # a run's checkpoint stands in for demo
    monkeypatch.setattr(checkpoint, "SHIPPED", {"demo": shipped, "jsb": tmp_path / "missing.pt"})
    at = open_page("generate")
    no_failure(at)
    assert at.multiselect(key="gen_models").options == ["demo (shipped)"]
    assert at.multiselect(key="gen_models").value == ["demo"]
    assert any("press Generate" in i for i in texts(at.info))
    shipped.unlink()
    at.run()
    assert not at.exception
    assert any("No checkpoint to generate with" in w for w in texts(at.warning))


def test_two_models_side_by_side_with_a_dataset_primer(home, tmp_path):
    from musicgen.config import DataConfig
    from musicgen.data.datasets import build_dataset
    from musicgen.paths import data_dir

    build_dataset(
        [str(p) for p in write_midis(tmp_path / "in", n=5, steps=64)], data_dir() / "tiny", DataConfig(seq_len=32, hop=16)
    )
    a, b = seed_run("a", "adam", "bce", 0), seed_run("b", "adamw", "focal", 1)
    at = open_page("generate")
    at.multiselect(key="gen_models").set_value([a, b])
    at.number_input(key="gen_steps").set_value(24)
    at.radio(key="gen_primer_kind").set_value("a dataset excerpt").run()
    assert at.text_input(key="gen_primer_excerpt").value == "tiny:piece0.mid:0"  # the first built dataset's first file
    at.number_input(key="gen_primer_steps").set_value(8)
    reference = at.selectbox(key="gen_reference")
    assert reference.options == ["(each model's own)", "(none)", "tiny"]  # only built datasets: choosing one never builds
    reference.set_value("tiny")
    at.button(key="gen_go").click().run(timeout=120)
    no_failure(at)
    results = at.session_state["gen_results"]
    assert [r["ref"] for r in results] == [a, b]
    assert all(r["audio"][:4] == b"OggS" and r["audio_mime"] == "audio/ogg" for r in results)  # the page plays OGG
    assert {d.key for d in at.get("download_button")} == {"gen_dl_mid_0", "gen_dl_wav_0", "gen_dl_mid_1", "gen_dl_wav_1"}
    assert all(r["wav"][:4] == b"RIFF" and r["midi"][:4] == b"MThd" for r in results)
    assert [r["slug"] for r in results] == ["a-sample-seed0", "b-sample-seed0"]  # downloads named after the runs' names
    metrics = frame(at, "metric", "generated", "dataset")
    assert "note density" in set(metrics["metric"])  # in words, not the code's name
    # The same primer opens both pieces: its 8 steps are the dataset's first 8 steps of piece0.mid.
    import numpy as np

    from musicgen.data.datasets import dataset_excerpt, load_dataset

    primer = dataset_excerpt(load_dataset("tiny"), "piece0.mid", 0, 8)
    # Hold-only models (these were trained before onsets) read and write only which notes sound.
    assert all(np.array_equal(np.asarray(r["roll"][:8], np.uint8), (primer > 0).astype(np.uint8)) for r in results)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    figures = [f for f in charts if f["data"][0]["type"] == "heatmap"]
    durations = [f for f in charts if f["data"][0]["type"] == "bar"]
    # Per card: note lengths and time between onsets, generated against the data.
    assert [f["layout"]["title"]["text"] for f in durations] == ["note lengths", "time between onsets"] * 2
    assert all([t["name"] for t in f["data"]] == ["generated", "data"] for f in durations)
    assert len(figures) == 2 and all(f["layout"]["shapes"][0]["type"] == "rect" for f in figures)  # the primer is shaded
    # One pitch axis for every card, time in beats:
    assert figures[0]["layout"]["yaxis"]["range"] == figures[1]["layout"]["yaxis"]["range"]
    assert all(f["layout"]["xaxis"]["title"]["text"].startswith("beat (1 beat = ") for f in figures)
    assert all(r["reference"] == "tiny" for r in results)


def test_bad_primer_is_a_readable_error(home):
    run = seed_run("a", "adam", "bce", 0)
    at = open_page("generate")
    at.multiselect(key="gen_models").set_value([run])
    at.radio(key="gen_primer_kind").set_value("a MIDI file").run()
    at.button(key="gen_go").click().run(timeout=60)
    assert not at.exception
    assert any("no primer MIDI uploaded" in e for e in texts(at.error))
    assert not at.get("audio")


def test_page_and_cli_measure_the_same_piece_alike(home, tmp_path, capsys):
    """The Generate page and `python -m musicgen generate` share piece.py: same checkpoint, seed and settings, same piece."""
    import json

    from musicgen.cli import main
    from musicgen.cli.generate import _clean
    from musicgen.config import DataConfig
    from musicgen.data.datasets import build_dataset
    from musicgen.paths import data_dir

    midis = [str(p) for p in write_midis(tmp_path / "in", n=5, steps=64)]
    build_dataset(midis, data_dir() / "tiny", DataConfig(seq_len=32, hop=16))
    out = tmp_path / "cli" / "x.mid"
    assert (
        main(
            [
                "generate",
                "demo",
                "--steps",
                "48",
                "--seed",
                "3",
                "--temperature",
                "0.8",
                "--primer",
                "tiny:piece0.mid:0",
                "--primer-steps",
                "8",
                "--data",
                "tiny",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    cli = json.loads(capsys.readouterr().out)

    at = open_page("generate")
    at.multiselect(key="gen_models").set_value(["demo"])
    at.selectbox(key="gen_strategy").set_value("sample").run()
    at.radio(key="gen_primer_kind").set_value("a dataset excerpt").run()
    for key, value in (
        ("gen_steps", 48),
        ("gen_seed", 3),
        ("gen_tempo", 120.0),
        ("gen_temperature", 0.8),
        ("gen_threshold", 0.0),
        ("gen_topk", 4),
        ("gen_floor", 0.05),
        ("gen_maxpoly", 0),
        ("gen_minnotes", 0),
        ("gen_primer_steps", 8),
    ):
        if not at.number_input(key=key).disabled:  # the knobs of the other strategies do not apply to "sample"
            at.number_input(key=key).set_value(value)
    assert at.number_input(key="gen_threshold").disabled and at.number_input(key="gen_topk").disabled
    at.selectbox(key="gen_reference").set_value("tiny")
    at.text_input(key="gen_primer_excerpt").set_value("tiny:piece0.mid:0")
    at.button(key="gen_go").click().run(timeout=120)
    no_failure(at)
    res = at.session_state["gen_results"][0]

    assert res["midi"] == out.read_bytes()  # the same notes, written the same way
    assert cli["primer_steps"] == 8 and cli["comparison"]["window_steps"] == 32  # primer left out; pieces as long as the windows
    # Every number and reading, overlap and KL included:
    assert json.loads(json.dumps(_clean(res["comparison"]))) == cli["comparison"]
    shown = frame(at, "metric", "generated", "dataset")
    expected = cli["comparison"]["metrics"]
    assert list(shown["metric"]) == [name.replace("_", " ") for name in expected]
    for row in shown.to_dict("records"):
        want = expected[row["metric"].replace(" ", "_")]
        assert row["reading"] == want["reading"]
        for column, field in (("generated", "generated_mean"), ("dataset", "real_mean"), ("dataset std", "real_std")):
            assert (row[column] != row[column] and want[field] is None) or row[column] == want[field], (row, column)


def test_a_midi_primer_is_kept_in_the_one_upload_store(home, tmp_path):
    primer = write_midis(tmp_path / "in", n=1, steps=32)[0]
    at = open_page("generate")
    at.multiselect(key="gen_models").set_value(["demo"])
    at.number_input(key="gen_steps").set_value(24)
    at.radio(key="gen_primer_kind").set_value("a MIDI file").run()
    at.get("file_uploader")[0].set_value([(primer.name, primer.read_bytes(), "audio/midi")])
    at.number_input(key="gen_primer_steps").set_value(8)
    at.button(key="gen_go").click().run(timeout=120)
    no_failure(at)
    from musicgen.data.uploads import save_uploads

    # Kept where the Dataset page keeps its uploads:
    assert (save_uploads([(primer.name, primer.read_bytes())]) / primer.name).is_file()
    assert len(list((home / "uploads").iterdir())) == 1
    assert at.session_state["gen_results"][0]["primer_steps"] == 8
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["shapes"][0]["type"] == "rect"  # the primer is shaded


def test_primer_paths_typed_in_the_app_stay_in_home(home, tmp_path):
    from musicgen.config import DataConfig
    from musicgen.data.datasets import build_dataset

    mids = write_midis(tmp_path / "in", n=3, steps=48)
    build_dataset([str(p) for p in mids], tmp_path / "outside_ds", DataConfig(seq_len=16, hop=8), workers=0)
    at = open_page("generate")
    at.multiselect(key="gen_models").set_value(["demo"])
    at.number_input(key="gen_steps").set_value(24)
    at.radio(key="gen_primer_kind").set_value("a dataset excerpt").run()
    cases = {
        str(mids[0]): "primer MIDI file .*piece0.mid lies outside MUSICGEN_HOME",
        f"{tmp_path / 'outside_ds'}:piece0.mid:0": "is not the name of a folder under MUSICGEN_HOME/data",
        "../../outside_ds:piece0.mid:0": "is not the name of a folder under MUSICGEN_HOME/data",
        "nosuch:piece0.mid:0": "no dataset 'nosuch' under MUSICGEN_HOME/data",
    }
    for typed, message in cases.items():
        at.text_input(key="gen_primer_excerpt").set_value(typed)
        at.button(key="gen_go").click().run(timeout=60)
        assert not at.exception
        assert any(re.search(message, e) for e in texts(at.error)), (typed, texts(at.error))
        assert not at.session_state["gen_results"]
    (home / "mine.mid").write_bytes(mids[0].read_bytes())  # a MIDI file inside MUSICGEN_HOME is fine
    at.text_input(key="gen_primer_excerpt").set_value("mine.mid")
    at.number_input(key="gen_primer_steps").set_value(8)
    at.button(key="gen_go").click().run(timeout=120)
    no_failure(at)
    assert len(at.session_state["gen_results"]) == 1


def test_a_broken_primer_upload_names_the_file_not_the_server_or_the_parser(home):
    at = open_page("generate")
    at.multiselect(key="gen_models").set_value(["demo"])
    at.radio(key="gen_primer_kind").set_value("a MIDI file").run()
    at.get("file_uploader")[0].set_value([("bad.mid", b"MThd\x00\x00garbage", "audio/midi")])
    at.button(key="gen_go").click().run(timeout=60)
    assert not at.exception
    (error,) = texts(at.error)
    assert "bad.mid: not a readable MIDI file (damaged, cut short or not MIDI)" in error
    assert str(home) not in error and "uploads" not in error and "iostream" not in error, error


def test_a_nade_model_generates_and_refuses_topk(home):
    run = seed_run("nade", "adam", "bce", 0, head="nade")
    at = open_page("generate")
    at.multiselect(key="gen_models").set_value([run])
    at.number_input(key="gen_steps").set_value(24)
    at.selectbox(key="gen_reference").set_value("(none)")
    at.button(key="gen_go").click().run(timeout=120)
    no_failure(at)
    results = at.session_state["gen_results"]
    assert [r["ref"] for r in results] == [run] and results[0]["wav"][:4] == b"RIFF"
    at.selectbox(key="gen_strategy").set_value("topk").run()
    at.button(key="gen_go").click().run(timeout=60)
    assert not at.exception and not at.session_state["gen_results"]
    assert any("use --strategy sample or threshold" in e for e in texts(at.error))


def _trained_on(run_id: str, dataset: str) -> None:
    """Rewrite a seeded run's checkpoint as if it had been trained on built dataset `dataset`."""
    import torch

    from musicgen.data.datasets import load_dataset
    from musicgen.paths import checkpoints_dir
    from musicgen.training.checkpoint import save_checkpoint

    path = checkpoints_dir() / run_id / "best.pt"
    payload = torch.load(path, weights_only=False)
    payload["dataset_id"] = load_dataset(dataset).id
    save_checkpoint(path, {k: v for k, v in payload.items() if k not in ("format", "version")})


def test_each_model_is_measured_against_its_own_dataset_in_cards_that_line_up(home, tmp_path):
    from dashboard.generate import LABEL_CHARS
    from musicgen.config import DataConfig
    from musicgen.data.datasets import build_dataset
    from musicgen.paths import data_dir

    build_dataset(
        [str(p) for p in write_midis(tmp_path / "a", n=4, steps=64)], data_dir() / "alpha", DataConfig(seq_len=32, hop=16)
    )
    build_dataset(
        [str(p) for p in write_midis(tmp_path / "b", n=5, steps=48)], data_dir() / "beta", DataConfig(seq_len=16, hop=8)
    )
    a = seed_run("a model with a very long descriptive name indeed", "adam", "bce", 0)
    b = seed_run("b", "adamw", "focal", 1)
    _trained_on(a, "alpha")
    _trained_on(b, "beta")
    at = open_page("generate")
    assert at.selectbox(key="gen_reference").value == "(each model's own)"
    at.multiselect(key="gen_models").set_value([a, b, "demo"])
    at.number_input(key="gen_steps").set_value(40)
    at.button(key="gen_go").click().run(timeout=120)
    no_failure(at)
    results = at.session_state["gen_results"]
    assert [r["reference"] for r in results] == ["alpha", "beta", None]  # demo's dataset is not built here
    assert [r["comparison"]["window_steps"] for r in results[:2]] == [32, 16]  # each measured in its own windows
    notes = [c.value for c in at.caption]
    assert "Each piece lasts 6.0 s (40 steps at 100 bpm, primer included)." in notes  # said before generating
    assert "measured against alpha, its training dataset" in notes and "measured against beta, its training dataset" in notes
    assert any("training dataset unknown" in n and "not measured" in n for n in notes)
    # Card titles: short, the whole label and the reference on hover.
    titles = [m for m in at.markdown if m.value.startswith("**") and m.proto.help]
    assert len(titles) == 3
    assert all(len(t.value.strip("*")) <= LABEL_CHARS for t in titles)
    assert titles[0].value.strip("*").endswith("…")
    assert "a model with a very long descriptive name indeed" in titles[0].proto.help and "alpha" in titles[0].proto.help
    # Three cards: numbers only in the tables, each reading one click away.
    assert [list(d.proto.column_order) for d in at.dataframe] == [["metric", "generated", "dataset"]] * 3
    assert [e.label for e in at.expander].count("readings") == 2  # demo has no comparison, so no readings

    at.selectbox(key="gen_reference").set_value("beta")  # the override: every model against one dataset
    at.multiselect(key="gen_models").set_value([a, b])
    at.button(key="gen_go").click().run(timeout=120)
    no_failure(at)
    assert [r["reference"] for r in at.session_state["gen_results"]] == ["beta", "beta"]
    assert [c.value for c in at.caption if c.value.startswith("measured")][:2] == ["measured against beta (chosen)"] * 2
