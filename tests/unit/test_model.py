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
