import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from synthetic import make_dataset

from musicgen.cli import main
from musicgen.config import ModelConfig, TrainConfig
from musicgen.errors import CheckpointError
from musicgen.nn.convgru import ConvGRU
from musicgen.nn.ensemble import Ensemble, _mean_prob_logits
from musicgen.training.checkpoint import load_model
from musicgen.training.train import run_training

TINY = ModelConfig(n_notes=12, conv_channels=8, hidden=16, gru_layers=1, dropout=0.0)


def members(k=3):
    out = []
    for seed in range(k):
        torch.manual_seed(seed)
        m = ConvGRU(TINY)
        with torch.no_grad():
            m.head.bias.normal_(-2.0, 2.0)
        out.append(m.eval())
    return out


def test_logits_are_those_of_the_mean_probability():
    logits = [torch.tensor([[-30.0, 0.0, 5.0]]), torch.tensor([[-2.0, 1.0, 40.0]])]
    mean = (torch.sigmoid(logits[0]) + torch.sigmoid(logits[1])) / 2
    got = torch.sigmoid(_mean_prob_logits(logits))
    torch.testing.assert_close(got, mean)
    # Log space: an extreme member does not saturate the average to exactly 0 or 1.
    assert torch.isfinite(_mean_prob_logits([torch.tensor([-200.0]), torch.tensor([-150.0])])).all()


def test_step_by_step_equals_forward():
    ens = Ensemble(members())
    x = (torch.rand(2, 15, 12, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    with torch.no_grad():
        full = ens(x)
        state, steps = ens.init_state(2), []
        for t in range(15):
            logits, state = ens.step(x[:, t], state)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), full, rtol=1e-5, atol=1e-5)


def test_ensemble_command_writes_a_loadable_checkpoint_no_worse_than_its_members(home, tmp_path, capsys):
    data = make_dataset(tmp_path / "ds")

    def cfg(seed):
        return TrainConfig(epochs=2, batch_size=8, lr=0.01, device="cpu", threads=1, seed=seed)

    runs = [run_training(str(data), ModelConfig(conv_channels=8, hidden=16, gru_layers=1, dropout=0.0), cfg(s)) for s in (1, 2)]
    out = tmp_path / "ens" / "best.pt"
    assert main(["ensemble", runs[0]["id"], runs[1]["id"], "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    model, ckpt = load_model(str(out))
    assert isinstance(model, Ensemble) and len(model.members) == 2 and ckpt["ensemble"] == 2
    # Averaging probabilities never raises the NLL above the members' mean (Jensen).
    assert result["valid_nll"] <= np.mean([r["best"]["nll"] for r in runs]) + 1e-6
    assert main(["evaluate", str(out), "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["nll"] > 0
    # An ensemble checkpoint given as a ref adds its members: the result is flat, three ConvGRUs.
    third = run_training(str(data), ModelConfig(conv_channels=8, hidden=16, gru_layers=1, dropout=0.0), cfg(3))
    assert main(["ensemble", str(out), third["id"], "--out", str(tmp_path / "three.pt")]) == 0
    model3, ckpt3 = load_model(str(tmp_path / "three.pt"))
    assert len(model3.members) == 3 and all(isinstance(m, ConvGRU) for m in model3.members)
    assert ckpt3["members"] == [runs[0]["id"], runs[1]["id"], third["id"]]


def test_ensemble_mixes_model_configs_and_stores_half_weights(home, tmp_path, capsys):
    data = make_dataset(tmp_path / "ds")
    a = run_training(
        str(data), ModelConfig(conv_channels=8, hidden=16, gru_layers=1), TrainConfig(epochs=1, device="cpu", threads=1)
    )
    b = run_training(
        str(data), ModelConfig(conv_layers=0, hidden=12, gru_layers=1), TrainConfig(epochs=1, device="cpu", threads=1)
    )
    full, half = tmp_path / "full.pt", tmp_path / "half.pt"
    assert main(["ensemble", a["id"], b["id"], "--out", str(full), "--json"]) == 0
    nll_full = json.loads(capsys.readouterr().out)["valid_nll"]
    assert main(["ensemble", a["id"], b["id"], "--out", str(half), "--half", "--json"]) == 0
    nll_half = json.loads(capsys.readouterr().out)["valid_nll"]
    model, ckpt = load_model(str(half))
    assert [m.cfg.conv_layers for m in model.members] == [1, 0] and [m.cfg.hidden for m in model.members] == [16, 12]
    assert all(v.dtype == torch.float16 for v in ckpt["model_state"].values() if v.is_floating_point())
    assert next(model.parameters()).dtype == torch.float32
    assert half.stat().st_size < 0.7 * full.stat().st_size
    assert abs(nll_half - nll_full) < 0.01
    assert main(["evaluate", str(half), "--data", str(data), "--split", "valid", "--json"]) == 0
    assert (
        abs(json.loads(capsys.readouterr().out)["metrics"]["nll"] - nll_half) < 1e-6
    )  # the stored weights are what was measured


def test_ensemble_refuses_one_member_and_other_datasets(home, tmp_path, capsys):
    data = make_dataset(tmp_path / "ds")
    other = make_dataset(tmp_path / "other", low=48, high=60)
    a = run_training(
        str(data), ModelConfig(conv_channels=8, hidden=16, gru_layers=1), TrainConfig(epochs=1, device="cpu", threads=1)
    )
    b = run_training(
        str(other), ModelConfig(conv_channels=8, hidden=16, gru_layers=1), TrainConfig(epochs=1, device="cpu", threads=1)
    )
    assert main(["ensemble", a["id"], "--out", str(tmp_path / "x.pt")]) == 2
    assert "at least 2" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="another pitch range or time grid"):
        from musicgen.study.ensembles import build_ensemble

        build_ensemble([a["id"], b["id"]])
    assert not (tmp_path / "x.pt").exists()


def _bce_nll(logits, targets):
    return float(torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1).mean())


def test_greedy_select_picks_complementary_members_and_stops():
    from musicgen.study.ensembles import greedy_select

    g = torch.Generator().manual_seed(0)
    targets = (torch.rand(400, 6, generator=g) < 0.3).float()
    truth = targets * 4 - 2  # logits +-2 towards the right answer
    good_a = truth + torch.randn(400, 6, generator=g) * 1.5
    good_b = truth + torch.randn(400, 6, generator=g) * 1.5  # as good as a, with independent errors
    bad = -truth  # confidently wrong: adding it always hurts
    picked = greedy_select([bad, good_a, good_a.clone(), good_b], targets, k=4)
    assert [i for i, _ in picked][:2] in ([1, 3], [3, 1]) and all(i != 0 for i, _ in picked)
    values = [v for _, v in picked]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)  # each pick lowered the NLL
    # The reported NLL is the NLL of the chosen members' mean probability.
    chosen = [[bad, good_a, good_a.clone(), good_b][i] for i, _ in picked]
    assert values[-1] == pytest.approx(_bce_nll(_mean_prob_logits(chosen), targets), rel=1e-5)
    assert values[0] == pytest.approx(_bce_nll(chosen[0], targets), rel=1e-5)
    assert len(greedy_select([bad, good_a, good_b], targets, k=1)) == 1


def test_ensemble_select_keeps_the_validation_best_members(home, tmp_path, capsys):
    data = make_dataset(tmp_path / "ds")
    small = ModelConfig(conv_channels=8, hidden=16, gru_layers=1, dropout=0.0)
    good = [
        run_training(str(data), small, TrainConfig(epochs=3, batch_size=8, lr=0.01, device="cpu", threads=1, seed=s))
        for s in (1, 2)
    ]
    weak = run_training(str(data), small, TrainConfig(epochs=1, batch_size=8, lr=1e-4, device="cpu", threads=1, seed=3))
    assert weak["best"]["nll"] > max(r["best"]["nll"] for r in good) + 0.5
    out = tmp_path / "sel.pt"
    assert main(["ensemble", weak["id"], good[0]["id"], good[1]["id"], "--out", str(out), "--select", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert weak["id"] not in result["members"] and set(result["members"]) <= {good[0]["id"], good[1]["id"]}
    assert [p["member"] for p in result["selection"]] == result["members"]
    assert result["valid_nll"] == pytest.approx(result["selection"][-1]["valid_nll"], abs=1e-4)
    model, ckpt = load_model(str(out))
    assert len(model.members) == len(result["members"]) == ckpt["ensemble"]
    assert main(["ensemble", good[0]["id"], good[1]["id"], "--out", str(out), "--select", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def nade_member(seed=0):
    torch.manual_seed(seed)
    m = ConvGRU(dataclasses.replace(TINY, head="nade", nade_hidden=8))
    with torch.no_grad():
        m.head.to_b.bias.normal_(-2.0, 2.0)
        m.head.W.normal_(0, 1.0)
        m.head.V.normal_(0, 1.0)
    return m.eval()


def test_a_mixed_head_ensembles_nll_is_the_log_mean_exp_of_its_members_joint_probabilities():
    ens = Ensemble([members(1)[0], nade_member(1), nade_member(2)])
    assert ens.rule == "step mixture" and Ensemble(members(2)).rule == "per-note mean"
    roll = (torch.rand(2, 7, 12, generator=torch.Generator().manual_seed(0)) < 0.25).float()
    x, y = roll[:, :-1], roll[:, 1:]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    with torch.no_grad():
        nll = bce(ens(x, y), y, reduction="none").sum(-1)  # (B, T): what evaluation sums
        log_p = torch.stack([-bce(m(x, y), y, reduction="none").sum(-1) for m in ens.members])  # (K, B, T)
    torch.testing.assert_close(nll, -(torch.logsumexp(log_p, 0) - math.log(3)), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="step_notes"):
        ens.step(x[:, 0], ens.init_state(2))


def test_greedy_select_of_a_step_mixture_reports_its_nll():
    from musicgen.study.ensembles import greedy_select

    g = torch.Generator().manual_seed(1)
    targets = (torch.rand(300, 6, generator=g) < 0.3).float()
    truth = targets * 4 - 2
    candidates = [truth + torch.randn(300, 6, generator=g) * 1.5 for _ in range(2)] + [-truth]
    picked = greedy_select(candidates, targets, k=3, rule="step mixture")
    assert 2 not in [i for i, _ in picked]
    log_p = torch.stack([-_bce_nll_per_step(candidates[i], targets) for i, _ in picked])
    want = float(-(torch.logsumexp(log_p, 0) - math.log(len(picked))).mean())
    assert picked[-1][1] == pytest.approx(want, rel=1e-5)


def _bce_nll_per_step(logits, targets):
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)


def test_a_mixed_head_ensemble_is_built_evaluated_and_generates(home, tmp_path, capsys):
    data = make_dataset(tmp_path / "ds")
    small = {"conv_channels": 8, "hidden": 16, "gru_layers": 1, "dropout": 0.0}
    train = TrainConfig(epochs=2, batch_size=8, lr=0.01, device="cpu", threads=1)
    a = run_training(str(data), ModelConfig(**small), train)
    b = run_training(str(data), ModelConfig(**small, head="nade", nade_hidden=16), train)
    out = tmp_path / "mixed.pt"
    assert main(["ensemble", a["id"], b["id"], "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rule"] == "step mixture" and result["threshold"] in [round(0.05 * k, 2) for k in range(1, 20)]
    model, ckpt = load_model(str(out))
    assert [m.cfg.head for m in model.members] == ["independent", "nade"] and not model.independent_notes
    # The mixture's NLL is below the mean of its members' (the log of a mean is at least the mean of the logs).
    assert result["valid_nll"] <= (a["best"]["nll"] + b["best"]["nll"]) / 2 + 1e-6
    assert main(["evaluate", str(out), "--data", str(data), "--split", "valid", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["nll"] == pytest.approx(result["valid_nll"], abs=1e-5)
    from musicgen.music.generate import generate

    rolls = generate(model, 16, samples=2, seed=4)
    np.testing.assert_array_equal(rolls, generate(model, 16, samples=2, seed=4))
    assert rolls.shape == (2, 16, 12)
