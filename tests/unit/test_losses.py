import math

import pytest
import torch

from musicgen.config import TrainConfig
from musicgen.errors import ConfigError
from musicgen.training.losses import asymmetric, bce, focal, get_loss, make_loss, pos_weight_from_density, weighted_bce

# One batch, two steps, two notes; the second step is padding whose wild values must never count.
LOGITS = torch.tensor([[[0.0, 2.0], [50.0, -50.0]]])
TARGETS = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
MASK = torch.tensor([[True, False]])


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_bce_hand_value():
    expected = (-math.log(sig(0.0)) - math.log(1 - sig(2.0))) / 2
    assert bce(LOGITS, TARGETS, MASK).item() == pytest.approx(expected, rel=1e-6)


def test_weighted_bce_hand_value():
    expected = (3 * -math.log(sig(0.0)) - math.log(1 - sig(2.0))) / 2
    assert weighted_bce(LOGITS, TARGETS, MASK, 3.0).item() == pytest.approx(expected, rel=1e-6)


def test_focal_hand_value():
    pos = 0.25 * (1 - 0.5) ** 2 * -math.log(0.5)
    p = sig(2.0)
    neg = 0.75 * p**2 * -math.log(1 - p)
    assert focal(LOGITS, TARGETS, MASK, gamma=2.0, alpha=0.25).item() == pytest.approx((pos + neg) / 2, rel=1e-6)


def test_focal_without_focusing_is_bce():
    assert focal(LOGITS, TARGETS, MASK, gamma=0.0, alpha=None).item() == pytest.approx(
        bce(LOGITS, TARGETS, MASK).item(), rel=1e-6
    )


def test_asymmetric_hand_value_and_easy_negatives_vanish():
    p = sig(2.0)
    pm = p - 0.05
    expected = (-math.log(0.5) + pm**4 * -math.log(1 - pm)) / 2
    assert asymmetric(LOGITS, TARGETS, MASK, 0.0, 4.0, 0.05).item() == pytest.approx(expected, rel=1e-5)
    easy = torch.tensor([[[-4.0]]])  # p = 0.018 < clip: no loss at all
    assert asymmetric(easy, torch.zeros(1, 1, 1), torch.ones(1, 1, dtype=torch.bool)).item() == 0.0


def test_asymmetric_without_clip_uses_logits_form():
    p = sig(2.0)
    expected = (-math.log(0.5) + p**4 * -math.log(1 - p)) / 2
    assert asymmetric(LOGITS, TARGETS, MASK, 0.0, 4.0, 0.0).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["bce", "focal", "weighted-bce", "asymmetric"])
def test_padding_never_counts(name):
    fn = make_loss(TrainConfig(loss=name), train_density=0.1)
    other = LOGITS.clone()
    other[0, 1] = torch.tensor([-7.0, 3.0])
    assert fn(LOGITS, TARGETS, MASK).item() == pytest.approx(fn(other, TARGETS, MASK).item())
    assert math.isfinite(fn(LOGITS, TARGETS, MASK).item())


def test_weighted_bce_default_weight_comes_from_density():
    fn = make_loss(TrainConfig(loss="weighted-bce"), train_density=0.2)
    assert fn(LOGITS, TARGETS, MASK).item() == pytest.approx(weighted_bce(LOGITS, TARGETS, MASK, 4.0).item())
    assert pos_weight_from_density(0.02) == pytest.approx(49.0)
    with pytest.raises(ConfigError, match="pos-weight"):
        pos_weight_from_density(0.0)


def test_unknown_loss_lists_choices():
    with pytest.raises(ConfigError, match="unknown loss 'dice'.*bce, focal, weighted-bce, asymmetric"):
        get_loss("dice")
    with pytest.raises(ConfigError, match="unknown loss 'dice'"):
        TrainConfig(loss="dice")


def test_losses_are_float32_under_bf16_logits():
    out = bce(LOGITS.bfloat16(), TARGETS, MASK)
    assert out.dtype == torch.float32
