"""Compare page: curves as mean ± std bands, the report's tables, CSV export, the course-work grid launch."""

import pytest
from app_helpers import frame, no_failure, open_page, seed_run, texts

from musicgen.runs import jobs, store


def test_empty_store_asks_for_runs(home):
    at = open_page("compare")
    no_failure(at)
    assert any("Pick at least one run" in i for i in texts(at.info))


def test_two_configurations_two_seeds(seeded_home):
    _, ids = seeded_home
    at = open_page("compare")
    no_failure(at)
    assert sorted(at.multiselect(key="cmp_runs").value) == sorted(ids)
    charts = {c.key for c in at.get("plotly_chart")}
    assert {"cmp_curve_train_loss", "cmp_curve_valid_f1", "cmp_bar_f1"} <= charts
    grouped = frame(at, "config", "n", "best_valid_f1_mean")
    assert sorted(grouped["config"]) == ["adam+bce", "adamw+bce"] and set(grouped["n"]) == {2}
    runs = frame(at, "id", "epochs_to_95")
    assert len(runs) == 4 and {"epochs_to_95", "seconds_to_95", "loss_spread", "loss_spikes", "pred_pos_rate", "density"} <= set(
        runs
    )
    assert {b.key for b in at.get("download_button")} == {"cmp_csv_runs", "cmp_csv_grouped"}
    at.radio(key="cmp_x").set_value("seconds").run()
    no_failure(at)


def test_sweep_mode_picks_the_sweep_runs(home):
    sid = store.create_sweep("grid", {"optimizers": ["adam"], "losses": ["bce"]})
    inside = seed_run("in", "adam", "bce", 0)
    store.update_run(inside, sweep_id=sid)
    seed_run("out", "adam", "bce", 1)
    at = open_page("compare")
    at.radio(key="cmp_mode").set_value(at.radio(key="cmp_mode").options[1]).run()
    no_failure(at)
    assert list(frame(at, "id", "epochs_to_95")["id"]) == [inside]


@pytest.mark.parametrize("seeds", [2])
def test_grid_button_launches_the_course_work_sweep(home, monkeypatch, seeds):
    launched = []
    monkeypatch.setattr(jobs, "start_sweep", lambda args: launched.append(args) or 99)
    at = open_page("compare")
    at.number_input(key="cmp_grid_seeds").set_value(seeds)
    at.number_input(key="cmp_grid_epochs").set_value(3)
    at.button(key="cmp_grid_launch").click().run()
    assert not at.exception
    assert launched == [
        [
            "--data",
            "builtin:bach",
            "--optimizers",
            "adam,adamw,rmsprop",
            "--losses",
            "bce,focal",
            "--seeds",
            str(seeds),
            "--epochs",
            "3",
        ]
    ]
    assert any("process 99" in s and f"{6 * seeds} runs" in s for s in texts(at.success))
    # What the page says the button runs is what it ran: the same optimizers, losses and counts, the local pool.
    expander = at.get("expander")[0].label
    caption = next(c.value for c in at.caption if "Optimizers" in c.value)
    assert "3 optimizers × 2 losses × seeds" in expander
    assert "Optimizers adam, adamw, rmsprop × losses bce, focal" in caption and "6 runs per seed" in caption
    assert "musicgen sweep" in caption and "local process pool" in caption and "Ray" not in caption
    assert at.code[0].value == "python -m musicgen sweep " + " ".join(launched[0])
    from musicgen.cli import build_parser

    parsed = build_parser().parse_args(["sweep", *launched[0]])
    assert (parsed.optimizers, parsed.losses, parsed.seeds, parsed.epochs) == ("adam,adamw,rmsprop", "bce,focal", seeds, 3)


def test_heads_are_told_apart(home):
    ids = [seed_run(f"{h}-s{s}", "adam", "bce", s, head=h) for h in ("independent", "nade") for s in (0, 1)]
    at = open_page("compare")
    at.multiselect(key="cmp_runs").set_value(ids).run()
    no_failure(at)
    grouped = frame(at, "config", "n", "head")
    assert sorted(zip(grouped["config"], grouped["head"], strict=True)) == [
        ("adam+bce", "independent"),
        ("adam+bce+nade", "nade"),
    ]
    assert list(frame(at, "id", "epochs_to_95").set_index("id").loc[ids, "head"]) == ["independent"] * 2 + ["nade"] * 2
