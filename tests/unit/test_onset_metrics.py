"""Metrics of onset-aware steps on hand-made frames, the onset baselines, and evaluation of onset models."""

import math

import numpy as np
import pytest
import torch

from musicgen.config import ModelConfig
from musicgen.nn.convgru import ConvGRU
from musicgen.nn.onsets import input_from_steps
from musicgen.nn.onsets import units_from_steps as units_of
from musicgen.training.batches import Split
from musicgen.training.evaluate import evaluate_model, split_baselines
from musicgen.training.onset_metrics import (
    OnsetTally,
    beat_prior_table,
    chain_logits,
    markov3_logits,
    markov3_table,
)


def split_of(rows, lengths=None, starts=None):
    x = np.array(rows, dtype=np.uint8)
    lengths = np.full(len(x), x.shape[1]) if lengths is None else np.array(lengths)
    return Split.from_numpy(x, lengths, "cpu", starts=starts)


def test_onset_precision_recall_on_hand_made_frames():
    # One note, steps 0..4: struck, held, struck again (a re-strike), off, struck.
    x = torch.tensor([[[2], [1], [2], [0], [2]]]).float()
    inputs, targets, mask = x[:, :-1], x[:, 1:], torch.ones(1, 4, dtype=torch.bool)
    y, free = units_of(inputs, targets)
    # Predicted onsets at steps 1 (wrong: it is held) and 2 (right); none at 4 (missed).
    p_onset = torch.tensor([[[0.9], [0.8], [0.1], [0.2]]])
    tally = OnsetTally()
    tally.add(y, free & mask.unsqueeze(-1), mask, probs=(torch.ones(1, 4, 1), p_onset))
    m = tally.result(threshold=0.5, onset_threshold=0.5)
    assert (m["onset_precision"], m["onset_recall"], m["onset_f1"]) == (0.5, 0.5, 0.5)
    assert m["onset_density"] == 0.5 and m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1))  # sounding: 3 of 4 predicted steps
    best = OnsetTally()
    best.add(y, free, mask, probs=(torch.ones(1, 4, 1), p_onset))
    chosen = best.result()  # onset F1 is best (0.8) above 0.1 and up to 0.2: both onsets and one false alarm
    assert 0.1 < chosen["onset_threshold"] <= 0.2 and chosen["onset_f1"] == pytest.approx(0.8)


def test_markov_chain_of_three_states_against_hand_counts():
    x = torch.tensor([[[0], [2], [1], [1], [0], [2], [2]]])  # transitions: 0-2, 2-1, 1-1, 1-0, 0-2, 2-2
    table = markov3_table(x, torch.tensor([7]))
    assert table[0].tolist() == [[pytest.approx(1 / 4)], [0.0], [pytest.approx(3 / 4)]]  # off: 0 off, 2 struck (+1 each)
    assert table[2, :, 0].tolist() == pytest.approx([1 / 5, 2 / 5, 2 / 5])  # struck: 1 held, 1 struck again
    assert table[1, :, 0].tolist() == pytest.approx([2 / 5, 2 / 5, 1 / 5])
    logits = markov3_logits(table, x[:, :-1].float())  # (1, 6, 2)
    inputs, targets = x[:, :-1].float(), x[:, 1:].float()
    y, free = units_of(inputs, targets)
    tally = OnsetTally()
    tally.add(y, free, torch.ones(1, 6, dtype=torch.bool), logits=logits, sounding=inputs > 0)
    m = tally.result(0.5, 0.5)
    direct = -sum(math.log(table[a, b, 0]) for a, b in zip(x[0, :-1].tolist(), x[0, 1:].tolist(), strict=True)) / 6
    assert m["nll"] == pytest.approx(direct) and m["nll"] == pytest.approx(m["nll_sound"] + m["nll_onset"])


def test_beat_prior_counts_onsets_at_each_position_in_the_beat():
    # Struck on every 2nd step from step 0; with starts 0 and 2 steps per beat, the targets' positions alternate 1, 0.
    x = torch.tensor([[[2], [1], [2], [1], [2]]])
    table = beat_prior_table(x, torch.tensor([5]), torch.tensor([0]), 2)
    assert table[:, 0].tolist() == pytest.approx([(2 + 1) / (2 + 2), (0 + 1) / (2 + 2)])


def test_onset_baselines_and_copy_previous_has_no_onsets():
    train = split_of([[[0, 2], [2, 1], [1, 0], [0, 2], [2, 1], [1, 0]]] * 3)
    valid = split_of([[[0, 2], [2, 1], [1, 0], [0, 2], [2, 1], [1, 0], [0, 0]]], lengths=[6])
    on_valid, on_test = split_baselines(train, valid, valid, onsets=True, steps_per_beat=3)
    assert set(on_valid) == {"silent", "copy_previous", "markov", "beat_prior"}
    assert on_valid["copy_previous"]["onset_f1"] == 0 and on_valid["silent"]["onset_f1"] == 0
    assert on_valid["markov"]["onset_f1"] > 0 and "nll" in on_valid["markov"] and "nll_onset" in on_test["markov"]
    assert on_valid["beat_prior"]["onset_f1"] == 1.0 and "nll" not in on_valid["beat_prior"]  # a period-3 pattern
    assert on_test["markov"]["onset_threshold"] == on_valid["markov"]["onset_threshold"]  # chosen on validation, reused


@pytest.mark.parametrize("head", ["independent", "nade"])
def test_evaluate_onset_model_nll_and_onsets(head):
    torch.manual_seed(0)
    cfg = ModelConfig(n_notes=2, conv_channels=4, hidden=6, gru_layers=1, head=head, nade_hidden=4, onsets=True)
    model = ConvGRU(cfg).eval()
    split = split_of([[[0, 2], [2, 1], [1, 0], [0, 2], [2, 1], [1, 0], [0, 0]]] * 2, lengths=[7, 5])
    valid = evaluate_model(model, split)
    test = evaluate_model(model, split, threshold=valid["threshold"], onset_threshold=valid["onset_threshold"])
    for key in ("onset_f1", "onset_precision", "onset_recall", "onset_threshold", "nll_sound", "nll_onset", "f1_best"):
        assert key in valid and key in test
    assert valid["nll"] == pytest.approx(valid["nll_sound"] + valid["nll_onset"]) and valid["steps"] == 6 + 4
    assert test["onset_f1"] == pytest.approx(valid["onset_f1"])  # the same split at the chosen thresholds


@pytest.mark.parametrize("head", ["independent", "nade"])
def test_an_onset_model_starts_as_the_markov_chain(head):
    x = torch.tensor([[[0, 2], [2, 1], [1, 0], [0, 2], [2, 2], [1, 0]]])
    table = markov3_table(x, torch.tensor([6]))
    cfg = ModelConfig(n_notes=2, conv_channels=4, hidden=6, gru_layers=1, head=head, nade_hidden=4, onsets=True)
    model = ConvGRU(cfg).eval()
    model.init_from_chain(chain_logits(table))
    with torch.no_grad():  # the trunk's term at zero: what is left is the bias and the skip path
        (model.head.to_c if head == "nade" else model.head).weight.zero_()
        if head == "nade":
            model.head.to_b.weight.zero_()
            model.head.V.zero_()
    inputs, targets = x[:, :-1].float(), x[:, 1:].float()
    y, free = units_of(inputs, targets)
    got = model(input_from_steps(inputs, cfg), y)
    want = markov3_logits(table, inputs)
    assert torch.allclose(got[free], want[free], atol=1e-5)
