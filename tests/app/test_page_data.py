"""Dataset page: upload MIDI, preprocess with the chosen parameters, see statistics and the per-file report."""

import io
import shutil
import zipfile

import numpy as np
from app_helpers import frame, no_failure, open_page, open_upload, texts, write_midis


def test_empty_home_shows_the_upload_limit_and_no_dataset(home):
    at = open_page("data")
    no_failure(at)
    assert any("No dataset yet" in i for i in texts(at.info))
    at.radio(key="data_source").set_value(at.radio(key="data_source").options[2]).run()
    assert "200 MB" in at.get("file_uploader")[0].label


def test_upload_builds_a_dataset_with_the_chosen_parameters(home, tmp_path):
    mids = write_midis(tmp_path / "in", n=5, steps=48)
    broken = ("truncated.mid", b"MThd\x00\x00", "audio/midi")
    at = open_upload([*mids, broken])
    at.text_input(key="data_name_2").set_value("tiny")
    at.number_input(key="data_seq_len").set_value(16)
    at.number_input(key="data_hop").set_value(8)
    at.button(key="data_build").click().run()
    no_failure(at)
    (ready,) = texts(at.success)
    assert (
        ready.startswith("Dataset **tiny** ready (built): 5 files kept, 1 skipped; ")
        and "train windows / valid / test pieces" in ready
        and "re-struck notes kept apart" in ready
    )
    assert [e.label for e in at.expander] == ["why 1 file was skipped"]  # the reasons one click away
    skipped_now = frame(at, "file", "reason")
    assert skipped_now.to_dict("records") == [
        {"file": "truncated.mid", "reason": "not a readable MIDI file (damaged, cut short or not MIDI)"}
    ]
    from musicgen.data.datasets import load_dataset

    ds = load_dataset("tiny")
    assert ds.config.seq_len == 16 and ds.config.hop == 8 and ds.train.shape[1:] == (16, 84)
    assert at.selectbox(key="data_view").value == "tiny"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["files used"] == "5" and metrics["files skipped"] == "1"
    assert [int(metrics[f"{s} {u}"]) for s, u in (("train", "windows"), ("valid", "pieces"), ("test", "pieces"))] == [
        len(ds.split(s)[0]) for s in ("train", "valid", "test")
    ]
    assert int(metrics["notes"].replace(",", "")) == ds.report["stats"]["notes"] > 0
    assert any("Onset-aware rolls (sustain pedal on, a held note decays within 3 s at middle C)" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 4  # pitch, polyphony, density, one window
    at.checkbox(key="data_only_skipped").check().run()
    skipped = frame(at, "file", "status", "why skipped")
    assert list(skipped["file"]) == ["truncated.mid"] and list(skipped["split"]) == ["–"]  # words, never None
    assert skipped["why skipped"].iloc[0] == "not a readable MIDI file (damaged, cut short or not MIDI)"  # not the parser's
    at.checkbox(key="data_only_skipped").uncheck().run()
    files = frame(at, "file", "status", "why skipped")
    assert sorted(set(files["status"])) == ["kept", "skipped"] and "dropped_notes" not in files.columns
    assert "None" not in files.to_string()


def test_upload_errors_name_the_file_not_the_server_or_the_parser(home):
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    at = open_upload()
    for upload, message in (
        (("bad.mid", b"MThd\x00\x00garbage", "audio/midi"), "bad.mid: not a readable MIDI file (damaged, cut short or not MIDI)"),
        (("songs.zip", empty.getvalue(), "application/zip"), "songs.zip: the archive holds no .mid/.midi/.kar file"),
    ):
        at.get("file_uploader")[0].set_value([upload])
        at.button(key="data_build").click().run()
        assert not at.exception
        (error,) = texts(at.error)
        assert message in error and str(home) not in error and "iostream" not in error, error


def test_bad_parameters_and_missing_upload_are_readable_errors(home):
    at = open_upload()
    at.button(key="data_build").click().run()
    assert not at.exception
    assert any("Upload at least one" in e for e in texts(at.error))
    at.slider(key="data_range").set_value((60, 60))
    at.button(key="data_build").click().run()
    assert not at.exception
    assert any("pitch range" in e and "60..60" in e for e in texts(at.error))


def _written_outside(root, home) -> list:
    return sorted(str(p) for p in root.rglob("*") if p.name in ("dataset.npz", "report.json") and home not in p.parents)


def test_a_dataset_name_that_is_a_path_is_an_error_and_writes_nothing(home, tmp_path):
    mids = write_midis(tmp_path / "in", n=3, steps=48)
    at = open_upload(mids)
    for name in ("../../../../x", "../x", str(tmp_path / "abs"), "a/b", ".hidden"):
        at.text_input(key="data_name_2").set_value(name)
        at.button(key="data_build").click().run()
        assert not at.exception
        errors = texts(at.error)
        assert len(errors) == 1 and "is not a name" in errors[0] and "e.g. 'my-chorales'" in errors[0], errors
        assert not at.success
    assert _written_outside(tmp_path, home) == [] and not (home / "data").exists() and not (home / "uploads").exists()


def test_the_benchmark_field_takes_files_in_home_or_the_allow_list(home, tmp_path, jsb_mat, monkeypatch):
    outside = tmp_path / "outside"
    write_midis(outside, n=3, steps=48)  # a folder of MIDI: it was built as if it were a benchmark file
    shutil.copy(jsb_mat, outside / "copy.mat")
    (home / "link.mat").symlink_to(outside / "copy.mat")
    at = open_page("data")
    at.radio(key="data_source").set_value(at.radio(key="data_source").options[1]).run()
    assert at.text_input(key="data_bench").value == str(jsb_mat.resolve())  # the team's JSB copy stays the default
    cases = {
        "/": "is not a .mat/.pickle/.pkl file",
        str(outside): "is not a .mat/.pickle/.pkl file",
        str(outside / "copy.mat"): "lies outside MUSICGEN_HOME",
        str(home / "link.mat"): "lies outside MUSICGEN_HOME",
        str(jsb_mat.parent / "README.mat"): "lies outside MUSICGEN_HOME",  # the JSB file is allowed, not its folder
    }
    for typed, message in cases.items():
        at.text_input(key="data_bench").set_value(typed)
        at.button(key="data_build").click().run()
        assert not at.exception
        assert any(message in e for e in texts(at.error)), (typed, texts(at.error))
        assert not at.success
    assert _written_outside(tmp_path, home) == [] and not (home / "data").exists()
    at.text_input(key="data_bench").set_value(str(jsb_mat.resolve()))
    at.text_input(key="data_name_1").set_value("jsb")
    at.button(key="data_build").click().run(timeout=120)
    no_failure(at)
    monkeypatch.setenv("MUSICGEN_ALLOWED_PATHS", str(outside))
    at.text_input(key="data_bench").set_value(str(outside / "copy.mat"))
    at.text_input(key="data_name_1").set_value("allowed")
    at.button(key="data_build").click().run(timeout=120)
    no_failure(at)
    assert sorted(p.name for p in (home / "data").iterdir()) == ["allowed", "jsb"]


def test_a_lopsided_split_is_a_warning_beside_ready(home, tmp_path):
    from app_helpers import chorale_like_roll

    from musicgen.data.midi import write_midi

    rng = np.random.default_rng(1)
    # One long file and four short ones: whole files go to one split, so the windows cannot follow 0.8/0.1/0.1.
    mids = [write_midi(chorale_like_roll(steps, rng), tmp_path / f"p{i}.mid") for i, steps in enumerate((400, 32, 32, 32, 32))]
    at = open_upload(mids)
    at.number_input(key="data_seq_len").set_value(16)
    at.number_input(key="data_hop").set_value(8)
    at.button(key="data_build").click().run()
    no_failure(at)
    assert "5 files kept, 0 skipped" in texts(at.success)[0] and not at.expander
    warnings = texts(at.warning)
    assert warnings and all("add files" in w for w in warnings), warnings
    assert any(w.startswith(("lopsided split", "train is not the largest", "valid has", "test has")) for w in warnings)


def test_the_pedal_switch_and_its_decay_reach_the_dataset(home, tmp_path):
    mids = write_midis(tmp_path / "in", n=4, steps=48)
    at = open_upload(mids)
    at.text_input(key="data_name_2").set_value("dry")
    at.toggle(key="data_pedal").set_value(False)
    at.button(key="data_build").click().run()
    no_failure(at)
    from musicgen.data.datasets import load_dataset

    assert load_dataset("dry").config.pedal is False
    assert any("sustain pedal off" in c.value for c in at.caption)
    at.text_input(key="data_name_2").set_value("wet")
    at.toggle(key="data_pedal").set_value(True)
    at.number_input(key="data_pedal_decay").set_value(0.0)  # 0: no decay limit
    at.button(key="data_build").click().run()
    no_failure(at)
    assert load_dataset("wet").config.pedal_decay_s is None and load_dataset("wet").report["config"]["pedal_decay_s"] is None
    assert any("sustain pedal on, notes held until it lifts" in c.value for c in at.caption)
    at.text_input(key="data_name_2").set_value("damp")
    at.number_input(key="data_pedal_decay").set_value(1.5)
    at.button(key="data_build").click().run()
    no_failure(at)
    assert load_dataset("damp").config.pedal_decay_s == 1.5


def test_a_failed_build_shows_no_older_datasets_statistics_and_names_the_field(home, tmp_path):
    mids = write_midis(tmp_path / "in", n=4, steps=48)
    at = open_upload(mids)
    at.text_input(key="data_name_2").set_value("first")
    at.button(key="data_build").click().run()
    no_failure(at)
    assert at.selectbox(key="data_view").value == "first" and at.metric  # its statistics
    at.number_input(key="data_train").set_value(0.5)  # shares summing to 0.7
    at.number_input(key="data_hop").set_value(4096)
    at.number_input(key="data_seq_len").set_value(2)
    at.button(key="data_build").click().run()
    assert not at.exception
    assert texts(at.error) == ["This field needs a fix: train / valid / test shares must be three non-negative shares summing "
                               "to 1, got (0.5, 0.1, 0.1)."]  # fmt: skip
    assert not at.metric and not at.get("plotly_chart") and not [s for s in at.selectbox if s.key == "data_view"]
    assert any("Nothing was built" in i for i in texts(at.info))


def test_settings_that_a_benchmark_file_fixes_are_disabled(home):
    at = open_page("data")
    at.radio(key="data_source").set_value(at.radio(key="data_source").options[1]).run()
    fixed = ("data_seq_len", "data_hop", "data_train", "data_valid", "data_test", "data_seed")
    assert all(at.number_input(key=k).disabled for k in fixed)  # whole sequences in the file's own split
    at.checkbox(key="data_whole").uncheck().run()
    assert not at.number_input(key="data_seq_len").disabled and at.number_input(key="data_train").disabled
    at.radio(key="data_source").set_value(at.radio(key="data_source").options[0]).run()
    assert not any(at.number_input(key=k).disabled for k in fixed)


def test_a_sharded_build_shows_its_statistics_rows_and_windows(home, tmp_path):
    from musicgen.data.datasets import build_dataset, load_dataset

    mids = write_midis(tmp_path / "in", n=6, steps=80)
    at = open_upload(mids)
    at.text_input(key="data_name_2").set_value("sharded")
    at.number_input(key="data_seq_len").set_value(16)
    at.number_input(key="data_hop").set_value(8)
    at.radio(key="data_format").set_value("shards")
    at.button(key="data_build").click().run()
    no_failure(at)
    (ready,) = texts(at.success)
    assert ready.startswith("Dataset **sharded** ready (built): 6 files kept, 0 skipped; ")
    folder = home / "data" / "sharded"
    assert (folder / "index.npz").is_file() and not (folder / "dataset.npz").exists()
    ds = load_dataset("sharded")
    stats = ds.report["stats"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["files used"] == "6" and metrics["density"] == f"{stats['density']:.2%}"
    assert [int(metrics[f"{s} {u}"]) for s, u in (("train", "windows"), ("valid", "pieces"), ("test", "pieces"))] == [
        stats["windows"][s] for s in ("train", "valid", "test")
    ]
    assert int(metrics["notes"].replace(",", "")) == stats["notes"] == int(ds.index["counts"][:, 0].sum())
    assert len(at.get("plotly_chart")) == 4  # pitch (from the stored histogram), polyphony, density, one window
    files = frame(at, "file", "status", "split")
    assert sorted(files["file"]) == sorted(p.name for p in mids) and set(files["status"]) == {"kept"}
    npz = build_dataset([str(tmp_path / "in")], home / "npz", ds.config, workers=0)
    assert npz["stats"] == stats  # the statistics stored at build time are the npz build's
