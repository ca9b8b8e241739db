"""The pages' shared helpers: messages fit for a page (no server paths), every bad field of a form in one line."""

from dashboard.fields import field_errors, form_errors, form_message
from dashboard.ui import readable
from musicgen.config import DataConfig, TrainConfig


def test_paths_under_musicgen_home_are_shown_relative_to_it(home):
    assert readable(f"cannot write {home}/generated/x.wav (disk full)") == "cannot write generated/x.wav (disk full)"
    assert (
        readable(f"set MUSICGEN_HOME ({home}) to a writable folder") == "set MUSICGEN_HOME (MUSICGEN_HOME) to a writable folder"
    )
    assert readable(f"{home}-other/x is elsewhere") == f"{home}-other/x is elsewhere"  # only the home itself
    assert readable(f"bad {home}/uploads/0123456789abcdef/song.mid") == "bad song.mid"  # an upload: its name only


def test_every_bad_field_is_named_once_by_its_label_without_cli_flags():
    errors = field_errors(TrainConfig, lr=-1.0, batch_size=0, epochs=3)
    assert set(errors) == {"lr", "batch_size"}
    assert form_message(errors, {"lr": "learning rate"}) == (
        "These 2 fields need a fix: learning rate must be > 0 and finite, got -1.0; "
        "batch size must be a whole number from 1 to 65,536, got 0."
    )
    seq = field_errors(DataConfig, seq_len=1)
    assert "--seq-len" in seq["seq_len"] and "--" not in form_message(seq, {})  # the CLI's example is not the form's fix
    assert field_errors(TrainConfig, lr=0.01) == {}


def test_fields_bad_only_together_and_text_that_is_not_a_number_are_named():
    together = field_errors(TrainConfig, optimizer="sgd", nesterov=True, momentum=0.0)  # each fine alone
    assert form_message(together, {}) == "This field needs a fix: nesterov needs momentum > 0."
    both = form_errors(["pos_weight"], (TrainConfig, {"pos_weight": "abc", "epochs": 0}))
    assert form_message(both, {}) == (
        "These 2 fields need a fix: pos weight is not a number; type one or leave it empty for automatic; "
        "epochs must be a whole number from 1 to 100,000, got 0."
    )


def test_the_server_preloads_every_pages_module_and_survives_one_that_fails(caplog):
    import importlib
    import logging

    from dashboard import serve

    for name in serve.PRELOAD:  # a module renamed away would silently leave the cold start slow again
        importlib.import_module(name)
    with caplog.at_level(logging.WARNING, logger="musicgen.app"):
        serve.preload(("json", "musicgen.no_such_module"))
    assert [r.getMessage() for r in caplog.records if r.name == "musicgen.app"] == [
        "preloading musicgen.no_such_module failed: No module named 'musicgen.no_such_module'"
    ]
