"""Dataset page: upload MIDI, preprocess with the chosen parameters, see statistics and the per-file report."""

from app_helpers import frame, no_failure, open_page, texts, write_midis


def test_empty_home_shows_the_upload_limit_and_no_dataset(home):
    at = open_page("data")
    no_failure(at)
    assert any("No dataset yet" in i for i in texts(at.info))
    at.radio(key="data_source").set_value(at.radio(key="data_source").options[2]).run()
    assert "200 MB" in at.get("file_uploader")[0].label


def test_upload_builds_a_dataset_with_the_chosen_parameters(home, tmp_path):
    mids = write_midis(tmp_path / "in", n=5, steps=48)
    broken = ("truncated.mid", b"MThd\x00\x00", "audio/midi")
    at = open_page("data")
    at.radio(key="data_source").set_value(at.radio(key="data_source").options[2]).run()
    at.get("file_uploader")[0].set_value([(p.name, p.read_bytes(), "audio/midi") for p in mids] + [broken])
    at.text_input(key="data_name_2").set_value("tiny")
    at.number_input(key="data_seq_len").set_value(16)
    at.number_input(key="data_hop").set_value(8)
    at.button(key="data_build").click().run()
    no_failure(at)
    assert any("tiny" in s for s in texts(at.success))
    from musicgen.data.datasets import load_dataset

    ds = load_dataset("tiny")
    assert ds.config.seq_len == 16 and ds.config.hop == 8 and ds.train.shape[1:] == (16, 84)
    assert at.selectbox(key="data_view").value == "tiny"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["files used"] == "5" and metrics["files skipped"] == "1"
    assert len(at.get("plotly_chart")) == 4  # pitch, polyphony, density, one window
    at.checkbox(key="data_only_skipped").check().run()
    skipped = frame(at, "file", "status", "reason")
    assert list(skipped["file"]) == ["truncated.mid"] and skipped["reason"].iloc[0]


def test_bad_parameters_and_missing_upload_are_readable_errors(home):
    at = open_page("data")
    at.radio(key="data_source").set_value(at.radio(key="data_source").options[2]).run()
    at.button(key="data_build").click().run()
    assert not at.exception
    assert any("Upload at least one" in e for e in texts(at.error))
    at.slider(key="data_range").set_value((60, 60))
    at.button(key="data_build").click().run()
    assert not at.exception
    assert any("pitch range" in e and "60..60" in e for e in texts(at.error))
