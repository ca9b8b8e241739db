"""Generation with onset models: re-struck notes written apart; the temperature chosen on validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from musicgen.config import ModelConfig
from musicgen.data.midi import midi_from_roll
from musicgen.music.generate import default_temperature, generate
from musicgen.nn.convgru import ConvGRU


def _striking_model(head: str) -> ConvGRU:
    """An onset model that sounds notes 10 and 20 at every step and strikes them again each time (all else silent)."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        hidden=8, conv_channels=4, gru_layers=1, head=head, nade_hidden=8, onsets=True, position=True, steps_per_beat=4
    )
    model = ConvGRU(cfg)
    with torch.no_grad():
        bias = model.head.to_b.bias if head == "nade" else model.head.bias
        out = model.head.V if head == "nade" else model.head.weight
        out.zero_()
        bias.fill_(-30.0)
        for note in (10, 20):
            bias[2 * note] = 30.0  # s: sounds
            bias[2 * note + 1] = 30.0  # a: struck (where it is free)
    return model.eval()


@pytest.mark.parametrize("head", ["independent", "nade"])
def test_an_onset_model_re_strikes_notes_and_midi_keeps_them_apart(head):
    model = _striking_model(head)
    rolls = generate(model, 12, "sample", temperature=1.0, samples=2, seed=3)
    assert rolls.shape == (2, 12, 84) and rolls.dtype == np.uint8
    assert (rolls[:, :, [10, 20]] == 2).all() and not np.delete(rolls, [10, 20], axis=2).any()
    notes = midi_from_roll(rolls[0]).instruments[0].notes
    assert len(notes) == 24  # 12 strikes of each key, not two held notes
    again = generate(model, 12, "threshold", threshold=0.5, samples=1, primer=rolls[0][:4])
    assert (again[0, 4:, [10, 20]] == 2).all()


def test_a_held_primer_note_is_struck_where_it_starts_and_samples_take_one_primer_each():
    model = _striking_model("independent")
    hold = np.zeros((3, 2, 84), np.uint8)
    hold[0, :, 5] = 1  # a hold-only primer: its note starts at step 0, so it is struck there
    rolls = generate(model, 4, "sample", samples=3, primer=hold)
    assert rolls[0, :2, 5].tolist() == [2, 1] and not rolls[1:, :2].any()


def test_the_default_temperature_is_the_checkpoint_s_or_the_old_one():
    assert default_temperature({"sampling": {"temperature": 1.1}}) == 1.1
    assert default_temperature({}) == 0.8 and default_temperature({"sampling": {"temperature": float("nan")}}) == 0.8


def test_choose_temperature_picks_the_grid_point_closest_to_validation(monkeypatch):
    from types import SimpleNamespace

    from musicgen.config import DataConfig
    from musicgen.music import temperature as temp

    rng = np.random.default_rng(0)
    valid = (rng.random((3, 300, 84)) < 0.05).astype(np.uint8)
    ds = SimpleNamespace(name="t", config=DataConfig(), split=lambda s: (valid, np.array([300, 300, 150])))

    def fake_generate(model, steps, strategy, temperature, primer, samples, seed):
        # Density grows with the temperature; 1.0 matches the validation data's 5%.
        return (np.random.default_rng(1).random((samples, steps, 84)) < 0.05 * temperature).astype(np.uint8)

    monkeypatch.setattr(temp, "generate", fake_generate)
    chosen = temp.choose_temperature(None, ds, grid=(0.5, 1.0, 2.0), primer_steps=16, steps=128)
    assert chosen["temperature"] == 1.0 and chosen["segments"] == 5  # 2 + 2 + 1 consecutive segments of 144 steps
    distances = {r["temperature"]: r["distance"] for r in chosen["grid"]}
    assert distances[1.0] < distances[0.5] and distances[1.0] < distances[2.0]
