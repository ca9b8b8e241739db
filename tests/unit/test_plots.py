"""Figure builders: the traces carry the numbers they are given."""

import numpy as np
import pandas as pd
import pytest

from musicgen.music import plots


def test_curves_figure_draws_a_band_and_a_mean_per_combination():
    bands = pd.DataFrame(
        {
            "config": ["a+b"] * 2 + ["c+d"] * 2,
            "x": [1, 2, 1, 2],
            "mean": [5.0, 4.0, 6.0, 3.0],
            "std": [1.0, 0.5, 0.0, 0.0],
            "n": [3, 3, 2, 2],
        }
    )
    fig = plots.curves_figure(bands, "valid nll")
    assert len(fig.data) == 4 and fig.layout.title.text == "valid nll"
    band, line = fig.data[0], fig.data[1]
    assert line.name == "a+b" and list(line.y) == [5.0, 4.0]
    assert list(band.y) == [6.0, 4.5, 3.5, 4.0]  # upper edge, then lower edge backwards
    assert band.fillcolor.startswith("rgba(") and fig.data[3].name == "c+d"


def test_bars_figure_has_std_error_bars():
    g = pd.DataFrame({"config": ["b", "a"], "f1_mean": [0.2, 0.4], "f1_std": [0.05, np.nan]})
    fig = plots.bars_figure(g, "f1", "F1")
    assert list(fig.data[0].x) == ["a", "b"] and list(fig.data[0].error_y.array) == [0.0, 0.05]


def test_roll_figure_puts_pitch_on_y():
    roll = np.zeros((8, 84), np.uint8)
    roll[3, 36] = 1  # MIDI 60
    fig = plots.roll_figure(roll)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (84, 8) and z[36, 3] == 1 and fig.data[0].y[36] == 60


def test_histogram_figure_has_one_trace_per_sample():
    fig = plots.histogram_figure({"generated": [1, 2, 2], "real": [2, 3]}, "polyphony")
    assert [t.name for t in fig.data] == ["generated", "real"]


@pytest.mark.parametrize("labels", [["b", "a"], ["a", "b", "a"]])
def test_colour_of_is_stable(labels):
    assert plots.colour_of(labels)["a"] == plots.PALETTE[0]


def test_roll_figure_shades_the_primer_in_steps_and_in_beats():
    roll = np.zeros((16, 84), np.uint8)
    assert not plots.roll_figure(roll).layout.shapes
    shape = plots.roll_figure(roll, primer_steps=8).layout.shapes[0]
    assert (shape.x0, shape.x1) == (-0.5, 7.5)
    shape = plots.roll_figure(roll, primer_steps=8, steps_per_beat=4).layout.shapes[0]
    assert (shape.x0, shape.x1) == (-0.125, 1.875)


def test_pitch_figure_puts_each_count_on_its_midi_pitch():
    fig = plots.pitch_figure([0, 5, 2], low=60)
    assert list(fig.data[0].x) == [60, 61, 62] and list(fig.data[0].y) == [0, 5, 2]
    assert len(plots.pitch_figure(None).data[0].x) == 0  # a report without the histogram: an empty chart, no error


def test_window_figures_read_the_metrics_and_the_real_steps():
    class Split:  # the part of a Dataset that window_figure reads
        config = type("C", (), {"low": 24})()

        def split(self, name):
            return np.ones((2, 8, 84), np.uint8), np.array([8, 5])

    assert np.asarray(plots.window_figure(Split(), "valid", 1).data[0].z).shape == (84, 5)
    poly, dens = plots.window_histograms([{"mean_polyphony": 3.0, "note_density": 0.1}] * 2, "train")
    assert list(poly.data[0].x) == [3.0, 3.0] and list(dens.data[0].x) == [0.1, 0.1] and poly.data[0].name == "train"


def test_ema_is_tensorboards_debiased_average():
    # weight 0.5: s = 0.5·1 = 0.5 -> /0.5 = 1; s = 0.25 + 1.5 = 1.75 -> /0.75; s = 0.875 + 0.5·NaN skipped; then 0.875 + 2.5
    got = plots.ema([1.0, 3.0, float("nan"), 5.0], 0.5)
    assert got[0] == 1.0 and got[1] == pytest.approx(1.75 / 0.75) and np.isnan(got[2])
    assert got[3] == pytest.approx((0.5 * 1.75 + 2.5) / (1 - 0.5**3))
    assert list(plots.ema([2.0, 4.0], 0.0)) == [2.0, 4.0]
    with pytest.raises(ValueError, match="smoothing weight must be in"):
        plots.ema([1.0], 1.0)


def test_curves_figure_marks_only_real_points_and_bands_only_seed_groups():
    bands = pd.DataFrame(
        {
            "config": ["pair"] * 3 + ["lone"] * 2,
            "x": [0.0, 1.5, 3.0, 1.0, 2.0],
            "mean": [0.5, 0.6, 0.7, 0.2, 0.3],
            "std": [0.7, 0.1, 0.1, 0.0, 0.0],
            "n": [2, 2, 2, 1, 1],
            "lo": [0.0, 0.5, 0.6, 0.2, 0.3],
            "hi": [1.0, 0.7, 0.8, 0.2, 0.3],
            "real": [False, False, False, True, True],
        }
    )
    points = pd.DataFrame({"config": ["pair", "pair"], "x": [1.0, 3.0], "value": [0.55, 0.7]})
    fig = plots.curves_figure(bands, "f1", points=points, y_range=(0, 1))
    lone, band, pair, runs = fig.data  # groups in sorted order: lone (no band), pair (band, line), then the runs' points
    assert lone.name == "lone" and list(lone.marker.size) == [6, 6]
    assert band.fill == "toself" and band.mode == "lines" and list(band.y) == [1.0, 0.7, 0.8, 0.6, 0.5, 0.0]  # clipped lo/hi
    assert list(pair.marker.size) == [0, 0, 0]  # interpolated: no markers
    assert runs.mode == "markers" and list(runs.x) == [1.0, 3.0] and runs.marker.color == pair.line.color
    assert list(fig.layout.yaxis.range) == [0, 1]
    assert plots.curves_figure(bands, "nll", log_y=True).layout.yaxis.type == "log"


def test_curves_figure_smooths_the_mean_over_a_faint_raw_line():
    bands = pd.DataFrame({"config": ["a"] * 3, "x": [1, 2, 3], "mean": [1.0, 3.0, 5.0], "std": [0.0] * 3, "n": [1] * 3})
    raw, line = plots.curves_figure(bands, "loss", smoothing=0.5).data
    assert list(raw.y) == [1.0, 3.0, 5.0] and raw.opacity == 0.3
    assert list(line.y) == pytest.approx(list(plots.ema([1.0, 3.0, 5.0], 0.5)))


def _bands(xs, means):
    return pd.DataFrame({"config": ["a"] * len(xs), "x": xs, "mean": means, "std": [0.0] * len(xs), "n": [1] * len(xs)})


def test_epochs_get_whole_number_ticks_and_a_one_epoch_run_a_visible_marker():
    fig = plots.curves_figure(_bands([1, 2, 3], [3.0, 2.0, 1.5]), "valid nll")
    assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis.tickformat == "d"  # never 1.5 epochs
    assert plots.curves_figure(_bands(list(range(1, 41)), [1.0] * 40), "x").layout.xaxis.dtick == 4  # about ten ticks
    one = plots.curves_figure(_bands([1], [2.0]), "valid nll")
    assert list(one.data[0].marker.size) == [10] and list(one.layout.xaxis.range) == [0, 2]
    seconds = plots.curves_figure(_bands([0.5, 7.25], [2.0, 1.0]), "x", x_label="seconds of training")
    assert seconds.layout.xaxis.dtick is None  # seconds stay continuous


def test_long_titles_wrap_to_fit_a_narrow_chart():
    title = plots.title_of("f1 at threshold 0.30 (chosen on validation) over many many epochs")
    assert title["text"].count("<br>") == 1 and all(len(line) <= 48 for line in title["text"].split("<br>"))
    assert plots.title_of("valid nll") == {"text": "valid nll", "font": {"size": 14}}


def test_labels_of_close_baselines_go_on_opposite_sides():
    assert plots.label_positions([0.1, 0.9], span=1.0) == ["top left", "top left"]  # far apart: both above
    assert plots.label_positions([0.586, 0.575, 0.9], span=1.0) == ["top left", "bottom left", "top left"]
    assert plots.label_positions([0.50, 0.51, 0.52], span=1.0) == ["bottom left", "top right", "top left"]
    fig = plots.curves_figure(_bands([1, 2], [0.2, 0.6]), "f1", y_range=(0, 1))
    plots.add_reference_lines(fig, {"copy previous step": 0.586, "per-note Markov chain": 0.575})
    placed = {a.text: (a.y, a.yanchor) for a in fig.layout.annotations}
    assert placed == {"copy previous step 0.586": (0.586, "bottom"), "per-note Markov chain 0.575": (0.575, "top")}
