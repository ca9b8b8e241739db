"""Ensembles: several trained ConvGRUs whose predicted probabilities are averaged.

The average of independent models' probabilities has a lower NLL than its members (the log is
concave), which is the cheapest lever on the JSB benchmark. An ensemble looks like one model to
the rest of musicgen: `forward(x, targets)` returns the logits of the averaged probability, and
`step_notes` a step's note distribution. Members of the independent head average each note's
probability (the per-note mean); as soon as one member has the nade head, the members' joint
probabilities of the whole step are averaged (the step mixture; musicgen.nn.ensemble says how).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from musicgen.data.datasets import load_dataset
from musicgen.errors import CheckpointError
from musicgen.nn.ensemble import Ensemble
from musicgen.runs import store
from musicgen.training.batches import Split
from musicgen.training.checkpoint import load_checkpoint, member_configs, model_from_checkpoint, resolve_checkpoint
from musicgen.training.evaluate import EVAL_BATCH, check_pitch_range, evaluate_model
from musicgen.training.metrics import nll_per_step


@torch.no_grad()
def _real_step_logits(model: nn.Module, split) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the logits and targets (S, N) of `model` at the S real (unpadded) steps of `split`."""
    logits, targets = [], []
    for start in range(0, len(split), EVAL_BATCH):
        x, y, mask = split.batch(torch.arange(start, min(start + EVAL_BATCH, len(split)), device=split.rolls.device))
        logits.append(model(x, y).float()[mask])
        targets.append(y[mask])
    return torch.cat(logits), torch.cat(targets)


def greedy_select(
    member_logits: list[torch.Tensor], targets: torch.Tensor, k: int, rule: str = "per-note mean"
) -> list[tuple[int, float]]:
    """Forward selection of an ensemble (Caruana et al. 2004), without replacement.

    member_logits: each candidate's logits (S, N) at the real steps of a validation split (the
    conditionals of the targets for a nade member); targets (S, N). Adds, one at a time, the candidate
    whose inclusion gives the lowest NLL per step of the averaged probability (`rule`: "per-note mean"
    or "step mixture", musicgen.nn.ensemble), until `k` are chosen or no candidate lowers it.
    Returns [(index, NLL after adding it)].
    """
    if rule == "step mixture":
        # Each member's log-probability of the observed step (S,); the mixture's is their log-mean-exp.
        terms = [
            (-F.binary_cross_entropy_with_logits(lg.float(), targets.float(), reduction="none").sum(-1),) for lg in member_logits
        ]

        def score(acc: tuple, m: int) -> float:
            return float(-(acc[0] - math.log(m)).mean())
    else:
        every_step = torch.ones(1, targets.shape[0], dtype=torch.bool, device=targets.device)
        terms = [(F.logsigmoid(lg), F.logsigmoid(-lg)) for lg in member_logits]  # log p and log (1 - p) per note

        def score(acc: tuple, m: int) -> float:
            # The mean's logit is log(sum p) - log(sum (1 - p)): the count cancels.
            return nll_per_step((acc[0] - acc[1]).unsqueeze(0), targets.unsqueeze(0), every_step)

    chosen: list[tuple[int, float]] = []
    acc = None  # the log of the chosen members' summed terms
    while len(chosen) < min(k, len(terms)):
        taken = {i for i, _ in chosen}
        best = None
        for i in (i for i in range(len(terms)) if i not in taken):
            cand = terms[i] if acc is None else tuple(torch.logaddexp(a, b) for a, b in zip(acc, terms[i], strict=True))
            value = score(cand, len(chosen) + 1)
            if best is None or value < best[1]:
                best = (i, value, cand)
        if chosen and best[1] >= chosen[-1][1]:
            break
        chosen.append(best[:2])
        acc = best[2]
    return chosen


def build_ensemble(
    refs: list[str], data_ref: str | None = None, device: str = "cpu", half: bool = False, select: int | None = None
) -> tuple[Ensemble, dict]:
    """Load the best checkpoints of `refs` into an Ensemble; return it and a checkpoint payload.

    Members may differ in model config (a conv front end or not, the head, say) but share the data config.
    A ref that is itself an ensemble checkpoint adds all its members. The payload's threshold is
    chosen again on the validation split of `data_ref` (default: the first member's dataset), as
    the trainer does for one model. `half` stores the weights as float16 (half the file). `select`
    keeps at most that many members, chosen greedily on the validation split (greedy_select); the
    payload's "selection" lists them in the order picked, with the validation NLL after each.
    """
    if len(refs) < 2:
        raise CheckpointError(f"an ensemble needs at least 2 runs or checkpoints, got {len(refs)}")
    ckpts = [load_checkpoint(resolve_checkpoint(r)) for r in refs]
    first = ckpts[0]
    for r, c in zip(refs[1:], ckpts[1:], strict=True):
        if c["data_config"] != first["data_config"]:
            raise CheckpointError(
                f"{r} was trained on another pitch range or time grid than {refs[0]}; ensemble runs of one dataset"
            )
    if select is not None and select < 1:
        raise CheckpointError(f"select must keep at least 1 member, got {select}")
    members, configs, names = [], [], []
    for r, c in zip(
        refs, ckpts, strict=True
    ):  # an ensemble checkpoint among the refs contributes its members: the result stays flat
        m = model_from_checkpoint(c, device)
        members.extend(m.members if isinstance(m, Ensemble) else [m])
        configs.extend(member_configs(c))
        names.extend(c.get("members") or [c.get("run_id") or r])
    if len({cfg["n_notes"] for cfg in configs}) > 1:
        raise CheckpointError("the members predict different numbers of notes; ensemble runs of one dataset")
    onset_members = [n for n, cfg in zip(names, configs, strict=True) if cfg.get("onsets")]
    if onset_members:  # their units' forced structure has no mixture rule yet (issue 21)
        raise CheckpointError(
            f"{onset_members[0]} predicts onsets, and ensembles of onset models are not supported; ensemble hold-only runs"
        )
    data_ref = data_ref or _dataset_of(first, refs[0])
    ds = load_dataset(data_ref)
    check_pitch_range(first["data_config"], ds)
    valid_split = Split.from_numpy(*ds.split("valid"), torch.device(device))
    valid_split.rolls = valid_split.rolls.clamp(max=1)  # members are hold-only models: they read the sounding plane
    if half:  # choose and evaluate what will be stored: weights rounded to float16
        for m in members:
            m.half().float()
    selection = None
    if select is not None:
        outs = [_real_step_logits(m.eval(), valid_split) for m in members]
        picked = greedy_select([lg for lg, _ in outs], outs[0][1], select, Ensemble(members).rule)
        selection = [{"member": names[i], "valid_nll": v} for i, v in picked]
        members, configs, names = ([seq[i] for i, _ in picked] for seq in (members, configs, names))
    model = Ensemble(members).eval()
    valid = evaluate_model(model, valid_split)
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    payload = {
        "model_config": configs[0],
        "model_configs": configs,
        "data_config": first["data_config"],
        "train_config": first.get("train_config"),
        "model_state": state,
        "ensemble": len(members),
        "rule": model.rule,
        "members": names,
        "selection": selection,
        "threshold": valid["threshold"],
        "dataset_id": ds.id,
        "train_density": first.get("train_density"),
        "valid": valid,
        "run_id": None,
        "data_path": str(ds.path),
    }
    return model, payload


def _dataset_of(ckpt: dict, ref: str) -> str:
    if ckpt.get("data_path"):  # ensembles record theirs
        return ckpt["data_path"]
    run_id = ckpt.get("run_id")
    if not run_id:
        raise CheckpointError(f"{ref} names no run, so its dataset is unknown; give --data DATASET")
    return store.get_run(run_id)["config"]["data_path"]
