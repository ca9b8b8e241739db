import dataclasses

import pytest
import torch

from musicgen.config import ModelConfig
from musicgen.nn.convgru import ConvGRU, count_parameters


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(n_notes=6, conv_channels=5, conv_kernel=3, conv_layers=2, hidden=7, gru_layers=2, dropout=0.0),
        ModelConfig(n_notes=6, conv_channels=5, conv_kernel=1, conv_layers=1, hidden=7, gru_layers=1, dropout=0.0),
        ModelConfig(n_notes=6, conv_layers=0, hidden=7, gru_layers=1, dropout=0.0),
    ],
)
def test_causal_and_step_equals_forward(cfg):
    torch.manual_seed(0)
    model = ConvGRU(cfg).eval()
    x = (torch.rand(2, 9, 6) < 0.4).float()
    full = model(x)
    assert full.shape == (2, 9, 6)
    for t in range(9):
        changed = x.clone()
        changed[:, t] = 1 - changed[:, t]
        out = model(changed)
        assert torch.equal(out[:, :t], full[:, :t]), f"changing step {t} changed earlier outputs"
        assert not torch.allclose(out[:, t], full[:, t])  # step t itself is seen
    state = model.init_state(2)
    steps = []
    for t in range(9):
        logits, state = model.step(x[:, t], state)
        steps.append(logits)
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)


def test_count_parameters():
    model = ConvGRU(ModelConfig(n_notes=4, conv_channels=2, conv_kernel=2, conv_layers=1, hidden=3, gru_layers=1))
    conv = 4 * 2 * 2 + 2
    gru = 3 * (3 * 2 + 3 * 3 + 3 + 3)
    head = 3 * 4 + 4
    skip = 4 * 4  # the current step straight to the logits, no bias
    assert count_parameters(model) == conv + gru + head + skip
    no_skip = ConvGRU(ModelConfig(n_notes=4, conv_channels=2, conv_kernel=2, conv_layers=1, hidden=3, gru_layers=1, skip=False))
    assert count_parameters(no_skip) == conv + gru + head


def test_output_bias_starts_at_note_rates():
    model = ConvGRU(ModelConfig(n_notes=3, conv_channels=2, hidden=4, gru_layers=1))
    model.init_output_bias(torch.tensor([0.5, 0.1, 0.0]))
    assert torch.allclose(model.head.bias, torch.tensor([0.0, -2.1972246, -9.2102404]), atol=1e-4)


NADE = ModelConfig(n_notes=6, conv_channels=5, conv_kernel=2, conv_layers=1, hidden=7, gru_layers=2, dropout=0.0, head="nade")


def nade_model(cfg=NADE):
    torch.manual_seed(0)
    model = ConvGRU(cfg).eval()
    with torch.no_grad():  # weights large enough that every part of the output depends on its inputs
        model.head.W.normal_(0, 1.0)
        model.head.V.normal_(0, 1.0)
        model.skip.weight.normal_(0, 1.0)
    return model


def test_nade_model_is_causal_over_time_and_within_a_step():
    model = nade_model()
    roll = (torch.rand(2, 10, 6, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    x, y = roll[:, :-1], roll[:, 1:]  # position t sees steps <= t and gives the conditionals of step t+1
    full = model(x, y)
    assert full.shape == (2, 9, 6)
    for s in range(1, 10):  # change step s of the roll: an input at position s, the target of position s-1
        changed = roll.clone()
        changed[:, s, 2] = 1 - changed[:, s, 2]
        out = model(changed[:, :-1], changed[:, 1:])
        assert torch.equal(out[:, : s - 1], full[:, : s - 1]), f"changing step {s} changed outputs before it"
        # Within the step it is the target of, only the notes above the changed one see it.
        assert torch.equal(out[:, s - 1, :3], full[:, s - 1, :3])
        assert not torch.allclose(out[:, s - 1, 3:], full[:, s - 1, 3:])


def test_nade_step_features_equal_the_full_forward():
    model = nade_model()
    x = (torch.rand(3, 8, 6, generator=torch.Generator().manual_seed(2)) < 0.4).float()
    y = (torch.rand(3, 8, 6, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    full = model(x, y)
    state, steps = model.init_state(3), []
    for t in range(8):
        feats, bias, state = model.step_features(x[:, t], state)
        steps.append(model.head(feats, y[:, t], bias))
    assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5)


def test_nade_forward_needs_targets_and_step_gives_no_logits():
    model = nade_model()
    x = torch.zeros(1, 3, 6)
    with pytest.raises(ValueError, match="model\\(x, targets\\)"):
        model(x)
    with pytest.raises(ValueError, match="step_notes"):
        model.step(x[:, 0], model.init_state(1))
    assert not model.independent_notes and ConvGRU(ModelConfig(n_notes=6)).independent_notes


def test_nade_output_bias_starts_at_note_rates():
    model = ConvGRU(ModelConfig(n_notes=3, conv_channels=2, hidden=4, gru_layers=1, head="nade", nade_hidden=5))
    model.init_output_bias(torch.tensor([0.5, 0.1, 0.0]))
    assert torch.allclose(model.head.to_b.bias, torch.tensor([0.0, -2.1972246, -9.2102404]), atol=1e-4)


def test_input_dropout_hides_history_from_the_trunk_only_while_training():
    torch.manual_seed(0)
    cfg = ModelConfig(n_notes=12, conv_channels=8, hidden=16, gru_layers=1, dropout=0.0, input_dropout=0.5)
    model = ConvGRU(cfg)
    plain = ConvGRU(dataclasses.replace(cfg, input_dropout=0.0))
    plain.load_state_dict(model.state_dict())
    x = (torch.rand(3, 10, 12) < 0.3).float()
    model.eval(), plain.eval()
    assert torch.equal(model(x), plain(x))  # a no-op at evaluation and generation
    model.train()
    torch.manual_seed(1)
    feats, bias = model.features(x)
    assert not torch.allclose(feats, plain.features(x)[0])  # the trunk saw another history
    assert torch.equal(bias, plain.skip(x))  # the skip path saw the whole one


def test_weight_drop_masks_the_recurrent_weights_only_while_training():
    torch.manual_seed(0)
    cfg = ModelConfig(n_notes=12, conv_layers=0, hidden=16, gru_layers=2, dropout=0.0, weight_drop=0.5, head="nade")
    model = ConvGRU(cfg)
    plain = ConvGRU(dataclasses.replace(cfg, weight_drop=0.0))
    plain.load_state_dict(model.state_dict())
    x = (torch.rand(3, 10, 12) < 0.3).float()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train(), plain.train()
    logits = model(x, x)
    assert not torch.allclose(logits, plain(x, x))  # another recurrence while training
    logits.sum().backward()
    for k in range(2):
        grad = getattr(model.gru, f"weight_hh_l{k}").grad
        assert 0.3 < (grad == 0).float().mean() < 0.7  # the dropped weights get no gradient
        assert getattr(model.gru, f"weight_ih_l{k}").grad.ne(0).float().mean() > 0.9
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the parameters were not touched
    model.eval(), plain.eval()
    assert torch.equal(model(x, x), plain(x, x))  # a no-op at evaluation
    feats, _, _ = model.step_features(x[:, 0], model.init_state(3))
    assert torch.allclose(feats, model.features(x)[0][:, 0], atol=1e-6)  # the step path uses the GRU's own weights
