"""The NADE head: its fast forward and decoding are the textbook loops, and decoding agrees with the likelihood."""

import math

import pytest
import torch
from torch.nn import functional as F

from musicgen.nn.ensemble import mixture_logits
from musicgen.nn.nade import NadeHead
from musicgen.nn.notes import IndependentNotes, MixtureNotes, decide, decide_grid


def loop_logits(head: NadeHead, feats, notes, bias=None):
    """The definition, note by note: p(v_i | v_<i) with the hidden input grown one note at a time."""
    a = head.to_c(feats)
    b = head.to_b(feats) if bias is None else head.to_b(feats) + bias
    out = []
    for i in range(head.n_notes):
        out.append(b[..., i] + (hidden(head, a) * head.V[i]).sum(-1))
        a = a + notes[..., i : i + 1] * head.W[i]
    return torch.stack(out, dim=-1)


def hidden(head: NadeHead, a):
    """The hidden layer(s) on hidden input a: a sigmoid, then the deep NADE's ReLU layers."""
    h = torch.sigmoid(a)
    for layer in head.deep:
        h = torch.relu(h @ layer.weight.t() + layer.bias)
    return h


def head_and_data(seed=0, batch=3, steps=5, features=7, notes=11, hidden=6, layers=1):
    torch.manual_seed(seed)
    head = NadeHead(features, notes, hidden, layers)
    with torch.no_grad():  # weights large enough that the conditionals really depend on earlier notes
        head.W.normal_(0, 1.0)
        head.V.normal_(0, 1.0)
    feats = torch.randn(batch, steps, features)
    v = (torch.rand(batch, steps, notes) < 0.3).float()
    bias = torch.randn(batch, steps, notes)
    return head, feats, v, bias


@pytest.mark.parametrize("layers", [1, 3])
def test_forward_equals_the_loop_with_gradients(layers):
    head, feats, v, bias = head_and_data(layers=layers)
    fast = head(feats, v, bias)
    slow = loop_logits(head, feats, v, bias)
    assert torch.allclose(fast, slow, atol=1e-5)
    g_fast = torch.autograd.grad(F.binary_cross_entropy_with_logits(fast, v), list(head.parameters()))
    g_slow = torch.autograd.grad(F.binary_cross_entropy_with_logits(slow, v), list(head.parameters()))
    for a, b in zip(g_fast, g_slow, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("layers", [1, 3])
def test_each_conditional_sees_only_earlier_notes(layers):
    head, feats, v, _ = head_and_data(seed=1, layers=layers)
    base = head(feats, v)
    flipped = v.clone()
    flipped[..., 5] = 1 - flipped[..., 5]
    changed = (head(feats, flipped) - base).abs().amax(dim=(0, 1)) > 1e-6
    assert not changed[:6].any() and changed[6:].all()


@pytest.mark.parametrize("layers", [1, 3])
def test_probabilities_of_all_steps_sum_to_one(layers):
    head, feats, _, _ = head_and_data(seed=2, batch=1, steps=1, notes=6, layers=layers)
    every = torch.tensor([[(k >> i) & 1 for i in range(6)] for k in range(64)], dtype=torch.float32)  # (64, 6)
    f = feats[0, 0].expand(64, -1)
    log_p = -F.binary_cross_entropy_with_logits(head(f, every), every, reduction="none").sum(-1)
    assert torch.logsumexp(log_p, 0).abs() < 1e-5


@pytest.mark.parametrize("layers", [1, 3])
def test_a_decoded_steps_log_probability_is_minus_its_nll(layers):
    head, feats, _, bias = head_and_data(seed=3, batch=4, steps=1, layers=layers)
    f, b = feats[:, 0], bias[:, 0]
    for kwargs in ({"generator": torch.Generator().manual_seed(0)}, {"threshold": 0.5}):
        notes, logp = head.decide(f, b, **kwargs)
        nll = F.binary_cross_entropy_with_logits(head(f, notes, b), notes, reduction="none").sum(-1)
        assert torch.allclose(logp, -nll, atol=1e-5)


def test_sampling_is_reproducible_and_greedy_follows_the_threshold():
    head, feats, _, bias = head_and_data(seed=4, batch=8, steps=1)
    f, b = feats[:, 0], bias[:, 0]
    one = head.decide(f, b, generator=torch.Generator().manual_seed(7))[0]
    two = head.decide(f, b, generator=torch.Generator().manual_seed(7))[0]
    assert torch.equal(one, two)
    greedy = head.decide(f, b, threshold=0.5)[0]
    # Each greedy decision is the thresholded conditional given the decisions before it.
    assert torch.equal(greedy, (torch.sigmoid(head(f, greedy, b)) > 0.5).float())
    capped = head.decide(f, b, threshold=0.0, max_on=2)[0]
    assert capped.sum(-1).max() <= 2


def loop_decide(head: NadeHead, feats, bias, uniform=None, threshold=None, temperature=1.0, max_on=None):
    """The definition of decoding, one note at a time in torch: the reference for the event-driven `decide`."""
    a = head.to_c(feats)
    b = head.to_b(feats) + bias
    batch = feats.shape[0]
    notes, logp, on = torch.zeros(batch, head.n_notes), torch.zeros(batch), torch.zeros(batch)
    for i in range(head.n_notes):
        logit = b[:, i] + hidden(head, a) @ head.V[i]
        if threshold is not None:
            v = (torch.sigmoid(logit) > threshold).float()
        else:
            v = (uniform[:, i] < torch.sigmoid(logit / temperature)).float()
        if max_on is not None:
            v = v * (on < max_on).float()
        logp += -F.binary_cross_entropy_with_logits(logit, v, reduction="none")
        notes[:, i], on = v, on + v
        a = a + v.unsqueeze(-1) * head.W[i]
    return notes, logp


@pytest.mark.parametrize("layers", [1, 3])
def test_event_driven_decoding_equals_the_note_by_note_loop(layers):
    head, feats, _, bias = head_and_data(seed=5, batch=64, steps=1, notes=11, layers=layers)
    f, b = feats[:, 0], bias[:, 0]
    uniform = torch.rand(64, 11, generator=torch.Generator().manual_seed(3))
    cases = [
        {"uniform": uniform},
        {"uniform": uniform, "temperature": 0.5},
        {"uniform": uniform, "max_on": 2},
        {"threshold": 0.3},
        {"threshold": 0.7, "max_on": 1},
    ]
    with torch.no_grad():
        for kwargs in cases:
            want_notes, want_logp = loop_decide(head, f, b, **kwargs)
            notes, logp = decide(head.notes(f, b), **kwargs)
            assert torch.equal(notes, want_notes), kwargs
            assert torch.allclose(logp, want_logp, atol=1e-5), kwargs
        # One threshold per row decodes each row as that threshold alone does.
        thresholds = torch.tensor([0.2, 0.8]).repeat(32)
        notes = decide(head.notes(f, b), threshold=thresholds)[0]
        assert torch.equal(notes[0::2], loop_decide(head, f[0::2], b[0::2], threshold=0.2)[0])
        assert torch.equal(notes[1::2], loop_decide(head, f[1::2], b[1::2], threshold=0.8)[0])


def test_forward_accepts_any_number_of_notes_on():
    head, feats, _, bias = head_and_data(seed=6, batch=2, steps=3, notes=7)
    for v in (torch.zeros(2, 3, 7), torch.ones(2, 3, 7)):
        assert torch.allclose(head(feats, v, bias), loop_logits(head, feats, v, bias), atol=1e-5)


def test_a_mixtures_sample_has_the_mixtures_probability():
    """The step mixture of a NADE and independent notes: decoding note by note samples (1/K) sum_k p_k(step)."""
    head, feats, _, bias = head_and_data(seed=7, batch=16, steps=1, notes=9)
    f, b = feats[:, 0], bias[:, 0]
    independent = torch.randn(16, 9) * 2
    with torch.no_grad():
        dist = MixtureNotes([head.notes(f, b), IndependentNotes(independent)])
        notes, logp = decide(dist, generator=torch.Generator().manual_seed(0))
        per_member = torch.stack(
            [
                -F.binary_cross_entropy_with_logits(head(f, notes, b), notes, reduction="none").sum(-1),
                -F.binary_cross_entropy_with_logits(independent, notes, reduction="none").sum(-1),
            ]
        )
        assert torch.allclose(logp, torch.logsumexp(per_member, 0) - math.log(2), atol=1e-5)
        # Greedy decoding of the mixture: each note is on when the mixture's conditional, given the notes below, is above 0.5.
        greedy = decide(MixtureNotes([head.notes(f, b), IndependentNotes(independent)]), threshold=0.5)[0]
        conditionals = mixture_logits([head(f, greedy, b), independent], greedy)
        assert torch.equal(greedy, (torch.sigmoid(conditionals) > 0.5).float())


def test_decoding_at_a_grid_of_thresholds_equals_decoding_at_each():
    head, feats, _, bias = head_and_data(seed=8, batch=40, steps=1, notes=10)
    f, b = feats[:, 0], bias[:, 0]
    thresholds = torch.tensor([0.1, 0.25, 0.5, 0.75, 0.9])
    independent = torch.randn(40, 10) * 2
    with torch.no_grad():
        for make in (lambda: head.notes(f, b), lambda: MixtureNotes([head.notes(f, b), IndependentNotes(independent)])):
            row, lo, hi, notes = decide_grid(make(), thresholds)
            covered = torch.zeros(40, 5, dtype=torch.long)
            for r, a, z, v in zip(row.tolist(), lo.tolist(), hi.tolist(), notes, strict=True):
                covered[r, a:z] += 1
                for k in range(a, z):
                    assert torch.equal(v, decide(make().select(torch.tensor([r])), threshold=float(thresholds[k]))[0][0])
            assert (covered == 1).all()  # every row at every threshold, once
            assert len(row) < 40 * 5  # thresholds that agree were decoded once
