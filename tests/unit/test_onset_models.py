"""Onset models (musicgen.nn.onsets): the units, the forced a units, the exact likelihood against loops over states."""

import itertools
import math

import pytest
import torch

from musicgen.config import ModelConfig
from musicgen.nn.convgru import ConvGRU
from musicgen.nn.notes import decide, decide_grid
from musicgen.nn.onsets import (
    BAR_BEATS,
    canonical_steps,
    input_from_steps,
    input_width,
    log_prob_steps,
    position_features,
    step_from_units,
    units_from_steps,
)
from musicgen.training.checkpoint import member_configs


def onset_model(head="nade", n=4, position=False, seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(
        n_notes=n,
        conv_channels=6,
        hidden=8,
        gru_layers=1,
        dropout=0.0,
        head=head,
        nade_hidden=5,
        onsets=True,
        position=position,
        steps_per_beat=4 if position else 0,
    )
    model = ConvGRU(cfg).eval()
    with torch.no_grad():  # weights large enough that every unit's conditional depends on what came before
        for p in model.parameters():
            p.normal_(0, 0.8)
    return model


def random_steps(batch, steps, n, seed=0):
    """Three-state rolls (B, T, N) that obey the rules: held only after a sounding step."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 3, (batch, steps, n), generator=g)
    x[:, 0][x[:, 0] == 1] = 2
    return canonical_steps(torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1), x).float()


def test_units_free_units_and_back():
    prev = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    step = torch.tensor([0, 2, 0, 0, 1, 2, 1])
    units, free = units_from_steps(prev, step)
    assert units.tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 0]
    # a_i is free only where the note sounds at both steps (the last three notes sound before; two of them after).
    assert free[1::2].tolist() == [False, False, False, False, True, True, True] and free[0::2].all()
    assert step_from_units(units).tolist() == step.tolist()
    assert canonical_steps(torch.tensor([0, 1]), torch.tensor([1, 1])).tolist() == [2, 1]  # held after silence: struck


def test_input_planes_and_position_one_hots():
    cfg = ModelConfig(n_notes=3, onsets=True, position=True, steps_per_beat=4)
    x = input_from_steps(torch.tensor([[0, 1, 2]]), cfg, torch.tensor([13]), torch.tensor([16]))
    assert x.shape == (1, input_width(cfg)) == (1, 6 + 4 + BAR_BEATS)
    assert x[0, :6].tolist() == [0, 1, 1, 0, 0, 1]  # sounding plane, then onset plane
    assert x[0, 6:10].tolist() == [0, 1, 0, 0] and x[0, 10:].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]  # 13 = beat 3, step 1
    unknown_bar = position_features(torch.tensor([5]), torch.tensor([0]), 4)
    assert unknown_bar[0, 4:].sum() == 0 and unknown_bar[0, 1] == 1
    hold = ModelConfig(n_notes=3)
    assert input_from_steps(torch.tensor([[0, 1, 2]]), hold).tolist() == [[0, 1, 1]]  # a hold-only model: sounding plane


def loop_log_prob(model, x_in, prev, step):
    """The definition: per note, low to high, its distribution over off / held / struck given the notes below.

    The nade head's hidden input grows by W_j for each unit on, one unit at a time (musicgen.nn.nade).
    """
    feats, bias, _ = model.step_features(x_in, model.init_state(1))
    head = model.head
    a = head.to_c(feats)[0]
    b = (head.to_b(feats) + bias)[0]
    total = 0.0
    for i in range(model.cfg.n_notes):
        p_s = torch.sigmoid(b[2 * i] + torch.sigmoid(a) @ head.V[2 * i])
        s = int(step[i] > 0)
        a_on = a + s * head.W[2 * i]
        p_a = torch.sigmoid(b[2 * i + 1] + torch.sigmoid(a_on) @ head.V[2 * i + 1])
        sounding = bool(prev[i] > 0)
        probs = {0: 1 - p_s, 1: p_s * (1 - p_a) if sounding else 0.0, 2: p_s * (p_a if sounding else 1.0)}
        p = float(probs[int(step[i])])
        if p == 0.0:
            return -math.inf
        total += math.log(p)
        struck = int(step[i] == 2)
        a = a_on + struck * head.W[2 * i + 1]
    return total


@torch.no_grad()
def test_nade_likelihood_equals_the_loop_over_notes_and_states_and_sums_to_one():
    model = onset_model("nade", n=4)
    prev = torch.tensor([0.0, 1.0, 2.0, 0.0])
    x_in = input_from_steps(prev, model.cfg).unsqueeze(0)
    every = torch.tensor(list(itertools.product([0, 1, 2], repeat=4)), dtype=torch.float32)  # (81, 4): all steps
    units, _ = units_from_steps(prev.expand(81, 4), every)
    logits = model(x_in.expand(81, -1).unsqueeze(1), units.unsqueeze(1))[:, 0]  # teacher-forced conditionals (81, 8)
    fast = log_prob_steps(logits, prev.expand(81, 4), every)
    for k in range(81):
        assert fast[k].item() == pytest.approx(loop_log_prob(model, x_in, prev, every[k]), abs=1e-5)
    assert torch.logsumexp(fast, 0).abs() < 1e-5  # a distribution over the possible steps
    impossible = (every == 1) & (prev == 0)  # held after silence (notes 0 and 3)
    assert torch.isneginf(fast[impossible.any(1)]).all() and torch.isfinite(fast[~impossible.any(1)]).all()


@torch.no_grad()
def test_independent_head_gives_each_note_its_own_three_states():
    model = onset_model("independent", n=3)
    prev = torch.tensor([0.0, 1.0, 2.0])
    x_in = input_from_steps(prev, model.cfg).unsqueeze(0)
    every = torch.tensor(list(itertools.product([0, 1, 2], repeat=3)), dtype=torch.float32)
    logits = model(x_in.unsqueeze(1))[0, 0].expand(27, -1)
    fast = log_prob_steps(logits, prev.expand(27, 3), every)
    assert torch.logsumexp(fast, 0).abs() < 1e-5
    p_s, p_a = torch.sigmoid(logits[0, 0::2]), torch.sigmoid(logits[0, 1::2])
    # Note 0 is silent before: it is off or struck; notes 1 and 2 sound: off, held or struck.
    step = torch.tensor([2.0, 1.0, 0.0])
    expected = math.log(p_s[0]) + math.log(p_s[1] * (1 - p_a[1])) + math.log(1 - p_s[2])
    assert log_prob_steps(logits[:1], prev.unsqueeze(0), step.unsqueeze(0)).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("head", ["independent", "nade"])
@torch.no_grad()
def test_decoded_steps_are_possible_and_their_log_probability_is_the_models(head):
    model = onset_model(head, n=6, seed=1)
    prev = random_steps(64, 1, 6, seed=2)[:, 0]
    x_in = input_from_steps(prev, model.cfg)
    dist, _ = model.step_notes(x_in, model.init_state(64))
    for kwargs in ({"generator": torch.Generator().manual_seed(0)}, {"threshold": 0.4}, {"temperature": 2.0}):
        units, logp = decide(dist.select(torch.arange(64)), **kwargs)
        step = step_from_units(units)
        assert not ((step == 1) & (prev == 0)).any()  # never held after silence
        assert ((step == 2) | ((step == 1) & (prev > 0)) | (step == 0)).all()
        logits = model(x_in.unsqueeze(1), units.unsqueeze(1))[:, 0]
        assert torch.allclose(logp, log_prob_steps(logits, prev, step.float()), atol=1e-4)
    capped, _ = decide(dist.select(torch.arange(64)), threshold=0.01, max_on=2)
    assert ((step_from_units(capped) > 0).sum(1) <= 2).all()  # max_on caps sounding notes, not the a units


@torch.no_grad()
def test_greedy_decoding_of_all_thresholds_at_once_equals_one_at_a_time():
    model = onset_model("nade", n=5, seed=3)
    prev = random_steps(20, 1, 5, seed=4)[:, 0]
    dist, _ = model.step_notes(input_from_steps(prev, model.cfg), model.init_state(20))
    thresholds = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9])
    row, lo, hi, notes = decide_grid(dist.select(torch.arange(20)), thresholds)
    for r, a, b, v in zip(row.tolist(), lo.tolist(), hi.tolist(), notes, strict=True):
        for k in range(a, b):
            one, _ = decide(dist.select(torch.tensor([r])), threshold=float(thresholds[k]))
            assert torch.equal(one[0], v)


@pytest.mark.parametrize("head", ["independent", "nade"])
@torch.no_grad()
def test_onset_model_is_causal_and_stepping_equals_the_full_forward(head):
    model = onset_model(head, n=4, position=True, seed=5)
    x = random_steps(2, 9, 4, seed=6)
    pos = torch.arange(9).expand(2, 9) + torch.tensor([[0], [3]])
    inp = input_from_steps(x, model.cfg, pos, torch.tensor([[16], [12]]))
    units, _ = units_from_steps(x[:, :-1], x[:, 1:])
    base = model(inp[:, :-1], units)
    changed = inp.clone()
    changed[:, 5] = 1 - changed[:, 5]  # step 5 (notes and its position) changes
    after = model(changed[:, :-1], units)
    assert torch.equal(base[:, :5], after[:, :5]) and not torch.equal(base[:, 5:], after[:, 5:])
    if head == "nade":  # within a step, unit j sees only units below it
        flipped = units.clone()
        flipped[..., 3] = 1 - flipped[..., 3]
        moved = (model(inp[:, :-1], flipped) - base).abs().amax(dim=(0, 1)) > 1e-6
        assert not moved[:4].any() and moved[4:].any()
    state = model.init_state(2)
    for t in range(8):
        dist, state = model.step_notes(inp[:, t], state)
        decided, logp = decide(dist, threshold=0.5)
        targets = units.clone()
        targets[:, t] = decided
        logits = model(inp[:, :-1], targets)[:, t]  # the full forward's conditionals of the decided units
        assert torch.allclose(logp, log_prob_steps(logits, x[:, t], step_from_units(decided).float()), atol=1e-4)


def test_old_configs_load_as_hold_only_models():
    old = {"n_notes": 84, "hidden": 16, "head": "nade"}  # a checkpoint's model_config from before onsets
    (cfg,) = member_configs({"model_config": old})
    model = ConvGRU(ModelConfig(**cfg))
    assert not model.cfg.onsets and model.convs[0].in_channels == 84 and model.head.n_notes == 84
