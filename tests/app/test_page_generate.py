"""Generate page: one or several models from the same primer and seed; roll, audio, downloads, metrics."""

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

    build_dataset([str(p) for p in write_midis(tmp_path / "in", n=5, steps=64)], data_dir() / "tiny", DataConfig(seq_len=32, hop=16))
    a, b = seed_run("a", "adam", "bce", 0), seed_run("b", "adamw", "focal", 1)
    at = open_page("generate")
    at.multiselect(key="gen_models").set_value([a, b])
    at.number_input(key="gen_steps").set_value(24)
    at.radio(key="gen_primer_kind").set_value("a dataset excerpt")
    assert at.text_input(key="gen_primer_excerpt").value == "tiny:piece0.mid:0"  # the first built dataset's first file
    at.number_input(key="gen_primer_steps").set_value(8)
    assert at.selectbox(key="gen_reference").value == "tiny"  # only built datasets: choosing one never starts a build
    at.button(key="gen_go").click().run(timeout=120)
    no_failure(at)
    results = at.session_state["gen_results"]
    assert [r["ref"] for r in results] == [a, b]
    assert len(at.get("audio")) == 2
    assert {d.key for d in at.get("download_button")} == {"gen_dl_mid_0", "gen_dl_wav_0", "gen_dl_mid_1", "gen_dl_wav_1"}
    assert all(r["wav"][:4] == b"RIFF" and r["midi"][:4] == b"MThd" for r in results)
    metrics = frame(at, "metric", "generated", "dataset")
    assert "note_density" in set(metrics["metric"])
    # The same primer opens both pieces: its 8 steps are the dataset's first 8 steps of piece0.mid.
    import numpy as np

    from musicgen.data.datasets import dataset_excerpt, load_dataset

    primer = dataset_excerpt(load_dataset("tiny"), "piece0.mid", 0, 8)
    rolls = [r["figure"].data[0].z.T[:8] for r in results]  # heatmap z is (notes, steps)
    assert all(np.array_equal(np.asarray(roll, np.uint8), primer) for roll in rolls)
    assert {s["type"] for s in results[0]["figure"].layout.shapes} == {"rect"}  # the primer is shaded


def test_bad_primer_is_a_readable_error(home):
    run = seed_run("a", "adam", "bce", 0)
    at = open_page("generate")
    at.multiselect(key="gen_models").set_value([run])
    at.radio(key="gen_primer_kind").set_value("a MIDI file")
    at.button(key="gen_go").click().run(timeout=60)
    assert not at.exception
    assert any("no primer MIDI uploaded" in e for e in texts(at.error))
    assert not at.get("audio")
