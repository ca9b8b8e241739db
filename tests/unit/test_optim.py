import pytest
import torch

from musicgen.config import TrainConfig
from musicgen.errors import ConfigError
from musicgen.training.optim import current_lr, make_optimizer, make_scheduler, step_scheduler


def params():
    return [torch.nn.Parameter(torch.ones(3))]


@pytest.mark.parametrize(
    "name, cls",
    [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("rmsprop", torch.optim.RMSprop), ("sgd", torch.optim.SGD)],
)
def test_each_optimizer_gets_its_knobs(name, cls):
    cfg = TrainConfig(optimizer=name, lr=0.05, weight_decay=0.1, beta1=0.8, alpha=0.9, momentum=0.7, rms_momentum=0.3)
    opt = make_optimizer(params(), cfg)
    assert type(opt) is cls
    g = opt.param_groups[0]
    assert g["lr"] == 0.05 and g["weight_decay"] == 0.1
    if name in ("adam", "adamw"):
        assert g["betas"] == (0.8, 0.999)
    if name == "rmsprop":
        assert g["alpha"] == 0.9 and g["momentum"] == 0.3
    if name == "sgd":
        assert g["momentum"] == 0.7


def test_weight_decay_defaults_per_optimizer():
    assert TrainConfig(optimizer="adamw").weight_decay == 0.01
    assert TrainConfig(optimizer="adam").weight_decay == 0.0


def test_unknown_optimizer_lists_choices():
    with pytest.raises(ConfigError, match="unknown optimizer 'lion'; choose one of adam, adamw, rmsprop, sgd"):
        TrainConfig(optimizer="lion")


def test_lr_accepts_any_positive_finite_value():
    assert TrainConfig(lr=1e38).lr == 1e38
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="lr must be > 0 and finite"):
            TrainConfig(lr=bad)


def test_cosine_schedule_anneals_to_floor():
    cfg = TrainConfig(schedule="cosine", lr=1.0, epochs=4, min_lr_ratio=0.1)
    opt = make_optimizer(params(), cfg)
    sched = make_scheduler(opt, cfg)
    lrs = []
    for _ in range(4):
        opt.step()
        step_scheduler(sched, 0.0)
        lrs.append(current_lr(opt))
    assert lrs == sorted(lrs, reverse=True)
    assert lrs[-1] == pytest.approx(0.1)


def test_plateau_schedule_halves_on_stalled_monitor():
    cfg = TrainConfig(schedule="plateau", lr=1.0, monitor="nll")
    opt = make_optimizer(params(), cfg)
    sched = make_scheduler(opt, cfg)
    for value in (5.0, 5.0, 5.0, 5.0):
        step_scheduler(sched, value)
    assert current_lr(opt) == 0.5


def test_plateau_patience_sets_the_stalled_epochs_tolerated():
    for patience, halved_after in ((0, 1), (3, 4)):
        cfg = TrainConfig(schedule="plateau", lr=1.0, monitor="nll", plateau_patience=patience)
        opt = make_optimizer(params(), cfg)
        sched = make_scheduler(opt, cfg)
        step_scheduler(sched, 5.0)  # the first value sets the reference
        lrs = []
        for _ in range(halved_after):
            step_scheduler(sched, 5.0)
            lrs.append(current_lr(opt))
        assert lrs == [1.0] * (halved_after - 1) + [0.5]
    with pytest.raises(ConfigError, match="plateau_patience must be a whole number from 0 to"):
        TrainConfig(plateau_patience=-1)


def test_no_schedule():
    cfg = TrainConfig()
    assert make_scheduler(make_optimizer(params(), cfg), cfg) is None


def test_unknown_schedule():
    with pytest.raises(ConfigError, match="unknown schedule 'step'; choose one of none, cosine, plateau"):
        TrainConfig(schedule="step")


def test_the_cli_sets_weight_averaging_and_the_plateau_patience():
    import argparse

    from musicgen.cli.train import add_train_options, configs_from_args

    parser = argparse.ArgumentParser()
    add_train_options(parser)
    _, train = configs_from_args(parser.parse_args(["--schedule", "plateau", "--plateau-patience", "5", "--ema", "0.995"]))
    assert (train.schedule, train.plateau_patience, train.ema) == ("plateau", 5, 0.995)
    _, default = configs_from_args(parser.parse_args([]))
    assert (default.plateau_patience, default.ema) == (2, 0.0)
    with pytest.raises(ConfigError, match=r"ema must be in \[0, 1\)"):
        configs_from_args(parser.parse_args(["--ema", "1"]))
