import math

import numpy as np
import pytest
import torch

from musicgen.training.batches import Split
from musicgen.training.evaluate import baseline_metrics
from musicgen.training.metrics import Tally, baseline_probs, counts, frame_accuracy, nll_per_step, prf, step_mask


def test_step_mask_counts_only_predicted_real_steps():
    m = step_mask(torch.tensor([3, 1, 5]), 4)
    assert m.tolist() == [[True, True, False, False], [False] * 4, [True] * 4]


def test_nll_per_step_sums_notes_and_averages_steps():
    logits = torch.tensor([[[0.0, 0.0], [0.0, 0.0], [9.0, 9.0]]])  # last step is padding
    targets = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]])
    mask = torch.tensor([[True, True, False]])
    assert nll_per_step(logits, targets, mask) == pytest.approx(2 * math.log(2))


def test_counts_prf_frame_accuracy():
    pred = torch.tensor([[[1, 1, 0, 0], [1, 1, 1, 1]]], dtype=torch.bool)
    y = torch.tensor([[[1, 0, 1, 0], [0, 0, 0, 0]]])
    tp, fp, fn = counts(pred, y, torch.tensor([[True, False]]))
    assert (tp, fp, fn) == (1, 1, 1)
    assert prf(tp, fp, fn) == pytest.approx((0.5, 0.5, 0.5))
    assert frame_accuracy(tp, fp, fn) == pytest.approx(1 / 3)
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0) and frame_accuracy(0, 0, 0) == 0.0


def brute_best_f1(p, y):
    best = 0.0
    for k in range(1, 1000):
        pred = p >= k / 1000
        tp, fp, fn = int((pred & y).sum()), int((pred & ~y).sum()), int((~pred & y).sum())
        best = max(best, 2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return best


def test_tally_matches_direct_computation_and_finds_best_threshold():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 5, generator=g)
    targets = (torch.rand(3, 7, 5, generator=g) < 0.3).float()
    mask = step_mask(torch.tensor([8, 5, 2]), 7)
    t = Tally()
    t.add(targets[:2], mask[:2], logits=logits[:2])  # two batches add up like one
    t.add(targets[2:], mask[2:], logits=logits[2:])
    r = t.result()
    assert r["nll"] == pytest.approx(nll_per_step(logits, targets, mask), rel=1e-6)
    tp, fp, fn = counts(torch.sigmoid(logits) >= 0.5, targets, mask)
    assert r["f1"] == pytest.approx(prf(tp, fp, fn)[2])
    assert r["frame_acc"] == pytest.approx(frame_accuracy(tp, fp, fn))
    m = mask.unsqueeze(-1).expand_as(targets)
    p, y = torch.sigmoid(logits)[m], targets[m].bool()
    assert r["f1_best"] == pytest.approx(brute_best_f1(p, y))
    assert r["f1_best"] >= r["f1"]
    assert r["density"] == pytest.approx(float(y.float().mean()))
    assert r["pred_pos_rate"] == pytest.approx((tp + fp) / len(p))
    # A given threshold is reused, not re-optimized (test split).
    fixed = t.result(threshold=0.9)
    assert fixed["threshold"] == 0.9
    tp9, fp9, fn9 = counts(torch.sigmoid(logits) >= 0.9, targets, mask)
    assert fixed["f1_best"] == pytest.approx(prf(tp9, fp9, fn9)[2])


def test_padding_never_counts_in_tally():
    targets = torch.zeros(1, 4, 3)
    targets[0, :2, 0] = 1
    mask = torch.tensor([[True, True, False, False]])
    a, b = Tally(), Tally()
    logits = torch.full((1, 4, 3), -3.0)
    a.add(targets, mask, logits=logits)
    other = logits.clone()
    other[0, 2:] = 8.0
    b.add(targets, mask, logits=other)
    assert a.result() == b.result()


def test_baselines_on_a_held_note():
    rolls = torch.zeros(2, 5, 4, dtype=torch.uint8)
    rolls[:, :, 1] = 1  # note 1 held for the whole sequence: copying the previous step is perfect
    rolls[1, 3:] = 0  # sequence 1 is 3 steps long; its padding is silent
    split = Split(rolls, torch.tensor([5, 3]))
    out = baseline_metrics(split)
    assert out["copy_previous"]["f1"] == 1.0 and out["copy_previous"]["frame_acc"] == 1.0
    assert out["silent"]["f1"] == 0.0 and out["silent"]["pred_pos_rate"] == 0.0
    assert out["silent"]["density"] == pytest.approx(0.25)
    assert "nll" not in out["silent"]
    assert baseline_probs("copy_previous", rolls[:, :-1]).dtype == torch.float32
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_probs("random", rolls)


def test_decoded_frames_are_measured_at_their_thresholds():
    """A note-by-note head: F1 and the rest from counts of decoded frames per threshold; NLL from its logits as always."""
    from musicgen.training.metrics import THRESHOLD_GRID

    assert THRESHOLD_GRID[0] == 0.05 and THRESHOLD_GRID[-1] == 0.95 and len(THRESHOLD_GRID) == 19 and 0.5 in THRESHOLD_GRID
    targets = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])
    mask = torch.tensor([[True, True]])
    tally = Tally(thresholds=(0.3, 0.4, 0.5))
    # (tp, fp, fn) at 0.3, 0.4, 0.5: 0.3 and 0.4 tie on F1 (the lower one is chosen), 0.5 misses more.
    tally.add(targets, mask, logits=torch.zeros(1, 2, 2), decoded=torch.tensor([[3, 1, 0], [3, 1, 0], [1, 0, 2]]))
    valid = tally.result()
    assert valid["threshold"] == 0.3 and valid["f1_best"] == pytest.approx(6 / 7)
    assert valid["f1"] == pytest.approx(2 / 4) and valid["pred_pos_rate"] == pytest.approx(1 / 4)  # at 0.5
    assert valid["nll"] == pytest.approx(2 * math.log(2)) and valid["density"] == pytest.approx(3 / 4)
    assert tally.result(threshold=0.4)["threshold"] == 0.4
    with pytest.raises(ValueError, match="not at 0.35"):
        tally.result(threshold=0.35)


def test_markov_baseline_against_hand_computed_values():
    from musicgen.training.batches import Split
    from musicgen.training.evaluate import baseline_metrics
    from musicgen.training.metrics import markov_logits, markov_table

    # One sequence, 2 notes, 5 real steps of 6 (the last is padding and must not count).
    roll = torch.tensor([[[1, 0], [1, 0], [0, 1], [1, 1], [1, 0], [1, 1]]], dtype=torch.uint8)
    table = markov_table(roll, torch.tensor([5]))
    # Note 0 over transitions 0->1, 1->2, 2->3, 3->4: states 1,1,0,1 then 1,0,1,1.
    # after on (3 times): on twice -> (2+1)/(3+2); after off (once): on once -> (1+1)/(1+2).
    # Note 1: states 0,0,1,1 then 0,1,1,0: after off (2): on once -> 2/4; after on (2): on once -> 2/4.
    expected = torch.tensor([[2 / 3, 2 / 4], [3 / 5, 2 / 4]], dtype=torch.float64)
    assert torch.allclose(table, expected)
    split = Split.from_numpy(roll.numpy(), np.array([5]), "cpu")
    result = baseline_metrics(split, markov=table)["markov"]
    x, y = roll[:, :4].float(), roll[:, 1:5].float()
    p = torch.where(x > 0, expected[1], expected[0])
    nll = -(y * p.log() + (1 - y) * (1 - p).log()).sum() / 4  # 4 predicted steps, summed over notes
    assert result["nll"] == pytest.approx(float(nll), rel=1e-5) and result["steps"] == 4
    assert torch.allclose(torch.sigmoid(markov_logits(table, x)).double(), p, atol=1e-6)


def test_reliability_bins_and_ece_against_hand_computed_values():
    from musicgen.training.metrics import expected_calibration_error, reliability_bins

    probs = torch.tensor([[[0.05, 0.15], [0.12, 0.95], [0.99, 0.5]]])  # (1, 3, 2)
    targets = torch.tensor([[[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]]])
    mask = torch.tensor([[True, True, False]])  # the last step is padding: 0.99 and 0.5 never count
    bins = reliability_bins(probs, targets, mask, bins=10)
    assert [b["count"] for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    assert bins[1]["predicted"] == pytest.approx(0.135) and bins[1]["observed"] == pytest.approx(0.5)
    assert bins[0]["observed"] == 0.0 and bins[2]["predicted"] is None
    assert bins[9]["lo"] == 0.9 and bins[9]["hi"] == 1.0
    # (1·|0 − 0.05| + 2·|0.5 − 0.135| + 1·|1 − 0.95|) / 4
    assert expected_calibration_error(bins) == pytest.approx((0.05 + 2 * 0.365 + 0.05) / 4)
    assert reliability_bins(torch.ones(1, 1, 1), torch.ones(1, 1, 1), torch.tensor([[True]]), bins=4)[3]["count"] == 1
    assert math.isnan(expected_calibration_error(reliability_bins(probs, targets, torch.zeros(1, 3, dtype=torch.bool))))


def test_tally_reports_the_ece_of_its_cells():
    from musicgen.training.metrics import expected_calibration_error, reliability_bins

    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 4, generator=g)
    targets = (torch.rand(2, 5, 4, generator=g) < 0.3).float()
    mask = step_mask(torch.tensor([6, 3]), 5)
    t = Tally()
    t.add(targets, mask, logits=logits)
    direct = expected_calibration_error(reliability_bins(torch.sigmoid(logits), targets, mask))
    assert t.result()["ece"] == pytest.approx(direct)
    assert sum(b["count"] for b in t.reliability()) == int(mask.sum()) * 4  # every real cell, no padding
