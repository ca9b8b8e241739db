"""Training in this process: the course-work grid, exact resume, errors, augmentation (as a process: tests/integration)."""

import json
import threading

import numpy as np
import pytest
import torch
from synthetic import TINY_ARGS, make_dataset

from musicgen.cli import main
from musicgen.config import DataConfig, ModelConfig, TrainConfig, to_dict
from musicgen.errors import ConfigError, DataError, StoreError
from musicgen.paths import checkpoints_dir
from musicgen.runs import store
from musicgen.runs.divergence import diverged, run_diverged
from musicgen.training.batches import pitch_bounds, random_shifts, transpose_rolls
from musicgen.training.checkpoint import load_checkpoint, save_checkpoint
from musicgen.training.train import NonFiniteError, run_training

TINY = ModelConfig(conv_channels=8, hidden=16, gru_layers=1, dropout=0.1)


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "ds")


def cfg(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 8, "lr": 0.01, "device": "cpu", "threads": 1, **kw})


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "rmsprop"])
@pytest.mark.parametrize("loss", ["bce", "focal"])
def test_course_work_combinations_train_end_to_end(home, data, optimizer, loss):
    s = run_training(str(data), TINY, cfg(optimizer=optimizer, loss=loss))
    assert s["status"] == "finished" and s["epochs_done"] == 2
    run = store.get_run(s["id"])
    assert run["status"] == "finished" and run["epochs_done"] == 2 and run["dataset_id"] == "synthetic-0-60"
    assert run["config"]["train"]["optimizer"] == optimizer and run["config"]["model"]["n_notes"] == 12
    m = store.metrics_frame([s["id"]])
    for split, names in {
        "train": ["loss", "grad_norm", "lr", "epoch_s", "seqs_per_s"],
        "valid": ["loss", "nll", "precision", "recall", "f1", "f1_best", "threshold", "frame_acc", "pred_pos_rate", "density"],
    }.items():
        got = m[m.split == split]
        assert set(names) <= set(got.name) and sorted(set(got.epoch)) == [1, 2]
    assert set(m[m.split == "test"].name) >= {"nll", "f1_best"}
    assert s["test"]["threshold"] == s["threshold"] == s["best"]["threshold"]  # test reuses the validation threshold
    assert set(s["baselines"]) == {"silent", "copy_previous", "markov"} and "test" in s["baselines"]["silent"]
    markov = s["baselines"]["markov"]
    assert markov["valid"]["nll"] > 0 and markov["test"]["threshold"] == markov["valid"]["threshold"]  # chosen on valid
    assert (checkpoints_dir() / s["id"] / "best.pt").is_file() and (checkpoints_dir() / s["id"] / "last.pt").is_file()
    assert load_checkpoint(checkpoints_dir() / s["id"] / "last.pt")["epoch"] == 2


def test_training_learns_and_beats_baselines(home, data):
    s = run_training(str(data), TINY, cfg(epochs=30, lr=0.02))
    # Rising two-voice patterns: copying the previous step is always wrong, the model learns the step.
    assert s["test"]["f1_best"] > 0.8 > s["baselines"]["copy_previous"]["test"]["f1"]
    assert s["test"]["nll"] < s["baselines"]["markov"]["test"]["nll"]  # the NLL yardstick
    first = store.metrics_frame([s["id"]]).query("split == 'valid' and name == 'nll' and epoch == 1")["value"].item()
    assert s["best"]["nll"] < first


class StopAt:
    """A reporter wrapper that sets `stop` once validation of epoch `epoch` is logged."""

    def __init__(self, stop, epoch):
        from musicgen.runs.reporters import StoreReporter

        self.inner, self.stop, self.epoch = StoreReporter(), stop, epoch

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def log_metrics(self, run_id, epoch, split, values, **kw):
        self.inner.log_metrics(run_id, epoch, split, values, **kw)
        if split == "valid" and epoch == self.epoch:
            self.stop.set()


class StopAfter(threading.Event):
    """An event that reads as set from its `n`-th check on (the trainer checks once per step and once per epoch)."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def is_set(self):
        self.n -= 1
        return self.n <= 0


@pytest.mark.parametrize("where", ["epoch-end", "mid-epoch"])
def test_stop_then_resume_is_exact(home, data, where):
    c = cfg(epochs=3, schedule="cosine")
    straight = run_training(str(data), TINY, c)
    if where == "epoch-end":
        stop = threading.Event()
        stopped = run_training(str(data), TINY, c, stop=stop, reporter=StopAt(stop, 1))
    else:
        # 3 batches per epoch: checks 1-3 are epoch 1's steps, 4 its end, 5 the first step of epoch 2.
        stopped = run_training(str(data), TINY, c, stop=StopAfter(5))
    assert stopped["status"] == "stopped" and store.get_run(stopped["id"])["status"] == "stopped"
    last = load_checkpoint(checkpoints_dir() / stopped["id"] / "last.pt")
    assert (last["epoch"], last["batch"]) == ((1, 0) if where == "epoch-end" else (1, 1))
    resumed = run_training(None, resume=stopped["id"])
    assert resumed["status"] == "finished" and resumed["id"] == stopped["id"]
    a = load_checkpoint(checkpoints_dir() / straight["id"] / "last.pt")
    b = load_checkpoint(checkpoints_dir() / resumed["id"] / "last.pt")
    for k, v in a["model_state"].items():
        assert torch.equal(v, b["model_state"][k]), k
    ma, mb = store.metrics_frame([straight["id"]]), store.metrics_frame([resumed["id"]])
    key = ["epoch", "split", "name"]
    ma = ma[~ma.name.isin(["epoch_s", "seqs_per_s"])].set_index(key)["value"].sort_index()
    mb = mb[~mb.name.isin(["epoch_s", "seqs_per_s"])].set_index(key)["value"].sort_index()
    assert ma.to_dict() == pytest.approx(mb.to_dict())


def test_resume_errors(home, data):
    with pytest.raises(StoreError, match="unknown run 'nope'"):
        run_training(None, resume="nope")
    s = run_training(str(data), TINY, cfg(epochs=1))
    with pytest.raises(StoreError, match="already finished"):
        run_training(None, resume=s["id"])
    extended = run_training(None, resume=s["id"], epochs=2)  # a finished run can be extended explicitly
    assert extended["epochs_done"] == 2


def test_nan_marks_run_failed_and_cli_exits_3(home, data, capsys):
    with pytest.raises(NonFiniteError, match="NaN or infinite.*lower --lr"):
        run_training(str(data), TINY, cfg(optimizer="sgd", lr=1e38, clip=0.0))
    run = store.list_runs().iloc[0]
    assert run["status"] == "failed" and "NaN or infinite" in run["error"]
    assert run_diverged(run.to_dict())  # the one rule: a run the trainer stopped as non-finite has diverged
    rc = main(["train", "--data", str(data), "--optimizer", "sgd", "--lr", "1e38", "--clip", "0", "--epochs", "2", *TINY_ARGS])
    err = capsys.readouterr().err
    assert (
        rc == 3
        and err.strip().splitlines()[-1].startswith("error: the ")
        and "became NaN or infinite" in err
        and "Traceback" not in err
    )


def test_cli_train_runs_evaluate_agree(home, data, capsys):
    rc = main(
        [
            "train",
            "--data",
            str(data),
            "--optimizer",
            "adamw",
            "--loss",
            "focal",
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            "--json",
            *TINY_ARGS,
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert rc == 0 and out[0].startswith("run: ")
    summary = json.loads(out[-1])
    rid = out[0].split()[1]
    assert summary["id"] == rid and summary["status"] == "finished"
    assert main(["runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert {"id", "name", "status", "config", "epochs_done", "best"} <= set(runs[0])
    assert runs[0]["id"] == rid and runs[0]["epochs_done"] == 2 and runs[0]["best"] == summary["best"]
    assert main(["evaluate", rid, "--data", str(data), "--device", "cpu", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["threshold"] == summary["threshold"]
    for k in ("nll", "f1", "f1_best", "frame_acc", "loss"):
        assert ev["metrics"][k] == pytest.approx(runs[0]["test"][k], rel=1e-6), k
    assert runs[0]["diverged"] is run_diverged(store.get_run(rid))
    assert ev["diverged"] is diverged(ev["metrics"]["nll"], ev["baselines"]["markov"]["nll"])
    assert main(["runs"]) == 0 and rid in capsys.readouterr().out
    # The text names F1 at 0.5 and at the threshold apart; the Markov chain's F1 at its validation threshold is the
    # figure the Train and Compare pages draw (the run's stored baselines on valid).
    assert main(["evaluate", rid, "--data", str(data), "--device", "cpu", "--split", "valid"]) == 0
    text = capsys.readouterr().out
    markov = store.get_run(rid)["summary"]["baselines"]["markov"]["valid"]
    line = next(x for x in text.splitlines() if x.startswith("baseline markov:"))
    assert f"at 0.5: f1 {markov['f1']:.4f}" in line
    assert f"at threshold {markov['threshold']:.3f}: f1_best {markov['f1_best']:.4f}" in line
    assert f"at threshold {summary['threshold']:.3f}: f1_best" in next(x for x in text.splitlines() if x.startswith("model:"))


def one_line_error(argv, capsys, match):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert match in err, err


def test_bad_inputs(home, data, tmp_path, capsys, monkeypatch):
    base = ["train", "--data", str(data), "--epochs", "1", *TINY_ARGS]
    one_line_error(base + ["--optimizer", "lion"], capsys, "unknown optimizer 'lion'; choose one of adam, adamw, rmsprop, sgd")
    one_line_error(base + ["--loss", "dice"], capsys, "unknown loss 'dice'; choose one of bce, focal, weighted-bce, asymmetric")
    one_line_error(base + ["--device", "tpu"], capsys, "unknown device 'tpu'")
    one_line_error(base + ["--focal-alpha", "lots"], capsys, "--focal-alpha must be a number")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    one_line_error(base + ["--device", "cuda"], capsys, "torch sees no CUDA GPU")
    one_line_error(["train", "--data", str(tmp_path / "missing"), *TINY_ARGS], capsys, "no dataset")
    one_line_error(["train"], capsys, "give --data DATASET")
    one_line_error(["train", "--resume", "nope"], capsys, "unknown run 'nope'")
    assert store.list_runs().empty  # none of these left a run behind
    s = run_training(str(data), TINY, cfg(epochs=1))
    one_line_error(["train", "--resume", s["id"]], capsys, "already finished")
    other = make_dataset(tmp_path / "other", low=48, high=60)
    one_line_error(["evaluate", s["id"], "--data", str(other)], capsys, "rebuild the dataset with --low 60 --high 72")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    one_line_error(["evaluate", str(bad), "--data", str(data)], capsys, "is not a musicgen checkpoint")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    monkeypatch.setenv("MUSICGEN_HOME", str(blocker / "home"))
    one_line_error(base, capsys, "set MUSICGEN_HOME to a writable folder")
    monkeypatch.setenv("MUSICGEN_HOME", str(home))
    (home / "runs.sqlite").write_text("a text file where the store should be " * 50)
    one_line_error(base, capsys, f"the run store {home / 'runs.sqlite'} is damaged")


def test_a_full_disk_inside_torch_save_fails_the_run_in_one_line(home, data, monkeypatch, capsys):
    from test_checkpoint import DiskFull  # a file whose writes fail with ENOSPC, as torch.save's writer meets it

    import musicgen.training.checkpoint as ckpt_mod

    s = run_training(str(data), TINY, cfg(epochs=1))
    last = checkpoints_dir() / s["id"] / "last.pt"
    with monkeypatch.context() as m:
        m.setattr(ckpt_mod, "open", DiskFull, raising=False)
        rc = main(["train", "--resume", s["id"], "--epochs", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith(f"error: cannot write checkpoint {last.parent}/") and "Traceback" not in err, err
    assert "(No space left on device); free some disk space" in err[-1]
    run = store.get_run(s["id"])
    assert run["status"] == "failed" and run["error"] == err[-1].removeprefix("error: ")
    assert load_checkpoint(last)["epoch"] == 1  # the checkpoint of epoch 1, whole
    # no temporary file left; progress.json is the batch progress the app reads
    assert sorted(f.name for f in last.parent.iterdir()) == ["best.pt", "last.pt", "progress.json"]


class Killed(BaseException):
    """A stand-in for kill -9: nothing after it runs in the trainer."""


def test_an_epoch_logged_again_after_a_kill_keeps_one_row_per_metric(home, data, monkeypatch):
    from musicgen.training.loop import Trainer as _Trainer

    save = _Trainer._save

    def killed_before_last_pt_of_epoch_2(self, which, p):
        if which == "last" and p.epoch == 2:
            raise Killed  # epoch 2's metrics are in the store, its last.pt is not
        return save(self, which, p)

    with monkeypatch.context() as m, pytest.raises(Killed):
        m.setattr(_Trainer, "_save", killed_before_last_pt_of_epoch_2)
        run_training(str(data), TINY, cfg(epochs=3))
    rid = store.list_runs().iloc[0]["id"]
    assert load_checkpoint(checkpoints_dir() / rid / "last.pt")["epoch"] == 1
    assert run_training(None, resume=rid)["status"] == "finished"  # epoch 2 runs and is logged again
    m = store.metrics_frame(rid)
    assert not m.duplicated(["epoch", "split", "name"]).any()
    rows = m.groupby(["epoch", "split"]).size()
    assert sorted(set(m.epoch)) == [1, 2, 3] and rows.loc[(2, "valid")] == rows.loc[(1, "valid")] == rows.loc[(3, "valid")]


def test_resume_without_last_pt_is_an_error_that_offers_restart(home, data, capsys):
    s = run_training(str(data), TINY, cfg(epochs=2))
    before = store.metrics_frame(s["id"])
    (checkpoints_dir() / s["id"] / "last.pt").unlink()
    one_line_error(["train", "--resume", s["id"], "--epochs", "3"], capsys, f"--resume {s['id']} --restart")
    assert store.get_run(s["id"])["status"] == "finished" and len(store.metrics_frame(s["id"])) == len(before)
    one_line_error(["train", "--restart", "--data", str(data)], capsys, "--restart starts a stored run over")
    assert main(["train", "--resume", s["id"], "--restart", "--epochs", "1"]) == 0
    capsys.readouterr()
    run, m = store.get_run(s["id"]), store.metrics_frame(s["id"])
    assert (run["status"], run["epochs_done"]) == ("finished", 1) and set(m.epoch) == {1}  # epoch 2 of the first try is gone
    assert load_checkpoint(checkpoints_dir() / s["id"] / "best.pt")["best_epoch"] == 1


def test_evaluate_errors_are_one_line(home, data, tmp_path, capsys, monkeypatch):
    s = run_training(str(data), TINY, cfg(epochs=1))
    for bad in ("nan", "inf", "0", "1.5"):
        one_line_error(["evaluate", s["id"], "--threshold", bad], capsys, "--threshold must be a note probability between 0")
    text = tmp_path / "notes.pt"
    text.write_text("just text\n")
    one_line_error(["evaluate", str(text), "--data", str(data)], capsys, "torch.save did not write it")
    ck = load_checkpoint(checkpoints_dir() / s["id"] / "best.pt")
    save_checkpoint(tmp_path / "foreign.pt", {**ck, "data_config": {"low": 60, "high": 72, "sample_rate": 16000}})
    one_line_error(["evaluate", str(tmp_path / "foreign.pt"), "--data", str(data)], capsys, "has a data_config that this")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where MUSICGEN_HOME's folder should be")
    monkeypatch.setenv("MUSICGEN_HOME", str(blocker / "home"))
    one_line_error(["evaluate", s["id"]], capsys, "cannot open the run store")  # not "not a run id"


def test_config_validation_and_checkpoint_weights_only(home, data):
    with pytest.raises(ConfigError, match="epochs must be a whole number from 1 to"):
        cfg(epochs=0)
    s = run_training(str(data), TINY, cfg(epochs=1, schedule="plateau", optimizer="rmsprop"))
    ck = torch.load(checkpoints_dir() / s["id"] / "last.pt", weights_only=True)
    assert ck["threshold"] == s["threshold"] and ck["run_id"] == s["id"] and isinstance(ck["rng"]["torch"], torch.Tensor)
    assert ck["data_config"]["low"] == 60 and ck["scheduler_state"] is not None
    save_checkpoint(checkpoints_dir() / "copy" / "best.pt", ck)  # a loaded checkpoint saves again as is
    with pytest.raises(DataError):
        run_training(str(data / "nothing"), TINY, cfg())


def test_transpose_helpers_keep_notes_in_range():
    x = torch.zeros(3, 4, 10)
    x[0, :, 2] = 1
    x[1, 1, 8] = x[1, 2, 5] = 1  # sequence 2 stays empty
    lo, hi = pitch_bounds(x)
    assert lo.tolist() == [2, 5, 0] and hi.tolist() == [2, 8, 9]
    g = torch.Generator().manual_seed(0)
    seen = torch.stack([random_shifts(lo, hi, 3, 10, g) for _ in range(400)])  # (draws, 3)
    assert [sorted(set(seen[:, i].tolist())) for i in range(3)] == [[-2, -1, 0, 1, 2, 3], [-3, -2, -1, 0, 1], [0]]
    y = transpose_rolls(x, torch.tensor([2, -3, 0]))
    assert y[0, :, 4].all() and y[0].sum() == x[0].sum()
    assert y[1].nonzero().tolist() == [[1, 5], [2, 2]] and torch.equal(y[2], x[2])
    assert transpose_rolls(x, torch.tensor([9, 0, 0]))[0].sum() == 0  # moved out of range: dropped, never wrapped


def test_transpose_augmentation_trains_and_resumes_exactly(home, tmp_path):
    src = make_dataset(tmp_path / "narrow")  # 12 notes, widened by 6 empty columns on each side so that shifts fit
    arrays = dict(np.load(src / "dataset.npz"))
    for split in ("train", "valid", "test"):
        arrays[split] = np.pad(arrays[split], ((0, 0), (0, 0), (6, 6)))
    wide = tmp_path / "wide"
    wide.mkdir()
    np.savez(wide / "dataset.npz", **arrays)
    cfg_d = to_dict(DataConfig(seq_len=16, low=54, high=78))
    (wide / "report.json").write_text(json.dumps({"id": "synthetic-wide", "config": cfg_d, "params": cfg_d}))
    plain = run_training(str(wide), TINY, cfg(epochs=2))
    c = cfg(epochs=2, transpose=4)
    straight = run_training(str(wide), TINY, c)
    a = load_checkpoint(checkpoints_dir() / straight["id"] / "last.pt")["model_state"]
    b = load_checkpoint(checkpoints_dir() / plain["id"] / "last.pt")["model_state"]
    assert any(not torch.equal(a[k], b[k]) for k in a), "transposition changed nothing"
    assert store.get_run(straight["id"])["config"]["train"]["transpose"] == 4
    stopped = run_training(str(wide), TINY, c, stop=StopAfter(5))  # stops after the first batch of epoch 2
    resumed = run_training(None, resume=stopped["id"])
    r = load_checkpoint(checkpoints_dir() / resumed["id"] / "last.pt")["model_state"]
    for k, v in a.items():
        assert torch.equal(v, r[k]), k


def test_weight_averaging_is_what_validation_best_pt_and_the_test_use_and_resumes_exactly(home, data):
    from musicgen.data.datasets import load_dataset
    from musicgen.nn.convgru import ConvGRU
    from musicgen.training.batches import Split
    from musicgen.training.evaluate import evaluate_model
    from musicgen.training.losses import make_loss

    c = cfg(epochs=3, ema=0.9)
    straight = run_training(str(data), TINY, c)
    last = load_checkpoint(checkpoints_dir() / straight["id"] / "last.pt")
    best = load_checkpoint(checkpoints_dir() / straight["id"] / "best.pt")
    assert set(last["ema_state"]) == set(last["model_state"]) and "ema_state" not in best
    assert any(not torch.equal(last["ema_state"][k], last["model_state"][k]) for k in last["model_state"])
    ds = load_dataset(str(data))
    valid_split = Split.from_numpy(*ds.split("valid"), "cpu")

    def valid_nll(weights):
        model = ConvGRU(ModelConfig(**best["model_config"]))
        model.load_state_dict(weights)
        return evaluate_model(model, valid_split, make_loss(c, best["train_density"]))["nll"]

    # The logged validation NLL is the averaged weights': of the last epoch (last.pt's average, not its trained
    # weights) and of the best epoch (best.pt's weights), each evaluated again here.
    logged = store.metrics_frame(straight["id"])
    last_logged = logged[(logged.split == "valid") & (logged.name == "nll") & (logged.epoch == 3)]["value"].item()
    assert valid_nll(last["ema_state"]) == pytest.approx(last_logged, rel=1e-5)
    assert valid_nll(last["model_state"]) != pytest.approx(last_logged, rel=1e-5)
    assert valid_nll(best["model_state"]) == pytest.approx(straight["best"]["nll"], rel=1e-5)
    stopped = run_training(str(data), TINY, c, stop=StopAfter(5))  # stops after the first batch of epoch 2
    resumed = run_training(None, resume=stopped["id"])
    r = load_checkpoint(checkpoints_dir() / resumed["id"] / "last.pt")
    for k, v in last["ema_state"].items():
        assert torch.equal(v, r["ema_state"][k]), k
    assert resumed["test"]["nll"] == pytest.approx(straight["test"]["nll"])


def test_a_closed_output_pipe_ends_quietly(home, data, monkeypatch, capsys):
    run_training(str(data), TINY, cfg(epochs=1))

    class ClosedPipe:  # what `python -m musicgen runs | head -1` writes to once head has exited
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert main(["runs"]) == 141
    assert capsys.readouterr().err == ""


def test_the_nade_head_trains_evaluates_and_generates_through_the_cli(home, data, tmp_path, capsys):
    args = ["train", "--data", str(data), "--head", "nade", "--nade-hidden", "16", "--epochs", "3", "--batch-size", "8"]
    assert main([*args, "--lr", "0.01", "--device", "cpu", "--threads", "1", "--json", *TINY_ARGS]) == 0
    out = capsys.readouterr().out.splitlines()
    summary, rid = json.loads(out[-1]), out[0].split()[1]
    assert summary["status"] == "finished" and store.get_run(rid)["config"]["model"]["head"] == "nade"
    # The exact joint NLL falls; F1 is that of the greedy decoding at a threshold of the validation grid.
    nll = store.metrics_frame([rid]).query("split == 'valid' and name == 'nll'").sort_values("epoch")["value"].tolist()
    assert nll[-1] < nll[0] and summary["threshold"] in [round(0.05 * k, 2) for k in range(1, 20)]
    assert summary["test"]["threshold"] == summary["threshold"] and 0 < summary["test"]["f1_best"] <= 1
    assert main(["evaluate", rid, "--data", str(data), "--device", "cpu", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)["metrics"]
    for k in ("nll", "f1", "f1_best", "frame_acc", "loss"):
        assert ev[k] == pytest.approx(summary["test"][k], rel=1e-6), k
    assert main(["evaluate", rid, "--data", str(data), "--threshold", "0.33", "--json"]) == 0  # off the grid: decoded there
    assert json.loads(capsys.readouterr().out)["metrics"]["threshold"] == 0.33
    midi = tmp_path / "g.mid"
    for strategy in ("sample", "threshold"):
        argv = ["generate", rid, "--steps", "24", "--samples", "2", "--strategy", strategy, "--max-polyphony", "3"]
        assert main([*argv, "--out", str(midi), "--data", str(data), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert len(report["samples"]) == 2 and report["comparison"]["n_generated"] >= 2
    one_line_error(["generate", rid, "--strategy", "topk", "--out", str(midi)], capsys, "use --strategy sample or threshold")


@pytest.mark.parametrize("loss", ["focal", "weighted-bce", "asymmetric"])
def test_a_loss_other_than_the_likelihood_with_the_nade_head_is_a_one_line_error(home, data, capsys, loss):
    argv = ["train", "--data", str(data), "--head", "nade", "--loss", loss, "--epochs", "1", *TINY_ARGS]
    one_line_error(argv, capsys, f"--head nade trains on the exact likelihood: use --loss bce (got --loss {loss})")
    assert store.list_runs().empty
    with pytest.raises(ConfigError, match="use --loss bce"):
        run_training(str(data), ModelConfig(head="nade"), cfg(loss=loss))


def test_training_leaves_the_last_batch_progress_beside_the_checkpoints(home, data):
    from musicgen.runs.progress import read_progress

    s = run_training(str(data), TINY, cfg(epochs=2))
    p = read_progress(s["id"])
    assert (p["epoch"], p["epochs"]) == (2, 2) and p["batch"] == p["batches"] > 0 and p["eta_s"] == 0.0
