"""The model against the literature: NLL per step on a polyphonic benchmark's official test split.

The benchmark files (`.mat` / `.pickle`, Boulanger-Lewandowski's format) are imported once into a
dataset of whole sequences under `data_dir()`; a checkpoint (or a recipe trained on the spot) is
evaluated on its test split with `training.evaluate`, the same code as every run's metrics.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from musicgen.data.benchmark_files import build_from_benchmark
from musicgen.data.datasets import load_dataset
from musicgen.errors import ConfigError, DataError
from musicgen.paths import checkpoints_dir, data_dir
from musicgen.study.ensembles import build_ensemble
from musicgen.study.recipes import load_recipe
from musicgen.training.checkpoint import load_checkpoint, member_configs, resolve_checkpoint, save_checkpoint
from musicgen.training.evaluate import check_pitch_range, evaluate_checkpoint
from musicgen.training.train import run_training

# Test NLL per step in nats, as printed in the papers (not re-measured here).
PUBLISHED = {
    "jsb": [
        ("RNN", 8.71, "Boulanger-Lewandowski et al. 2012"),
        ("RNN-RBM", 6.27, "Boulanger-Lewandowski et al. 2012"),
        ("RNN-NADE", 5.56, "Boulanger-Lewandowski et al. 2012"),
        ("generic RNN", 8.91, "Bai et al. 2018"),
        ("LSTM", 8.45, "Bai et al. 2018"),
        ("GRU", 8.43, "Bai et al. 2018"),
        ("TCN", 8.10, "Bai et al. 2018"),
    ],
}


def import_benchmark(mat: str | Path) -> Path:
    """Import a benchmark file as whole sequences into data_dir() (cached by content); return the dataset folder."""
    mat = Path(mat).expanduser()
    if not mat.is_file():
        raise DataError(f"{mat} does not exist; give the benchmark's .mat or .pickle file (e.g. JSB_Chorales.mat)")
    digest = hashlib.sha256(mat.read_bytes()).hexdigest()[:8]
    out = data_dir() / f"bench-{mat.stem.lower()}-{digest}"
    build_from_benchmark(mat, out)
    return out


def train_recipe(recipe_path: str, folder: str, kind: str, device: str, progress: bool) -> str:
    """Train a recipe on a benchmark dataset; return the checkpoint to evaluate (one run's, or the members' ensemble)."""

    r = load_recipe(recipe_path)
    ids = []
    for i, (model_cfg, train_cfg, name) in enumerate(r["members"] or [(r["model"], r["train"], None)]):
        name = f"{kind}-recipe-{i + 1}" + (f"-{name}" if name else "")
        summary = run_training(folder, model_cfg, replace(train_cfg, device=device), name=name, progress=progress)
        if summary.get("status") != "finished":
            raise DataError(f"training the recipe ended as {summary.get('status')}; see `python -m musicgen runs`")
        ids.append(summary["id"])
    if len(ids) == 1:
        return ids[0]
    _, payload = build_ensemble(ids, folder, half=r["half"], select=r["select"])
    out = checkpoints_dir() / f"ensemble-{ids[0]}" / "best.pt"
    save_checkpoint(out, payload)
    return str(out)


def check_benchmark_fit(ckpt: dict, dataset) -> None:
    """Raise when the checkpoint's pitch range or time grid does not fit the benchmark dataset."""
    check_pitch_range(ckpt["data_config"], dataset)
    spb, fs = ckpt["data_config"].get("steps_per_beat"), ckpt["data_config"].get("fs")
    if fs is not None or spb != dataset.config.steps_per_beat:
        grid = f"{fs} Hz" if fs is not None else f"{spb} steps per beat"
        raise DataError(
            f"the checkpoint was trained on a grid of {grid}, the benchmark has {dataset.config.steps_per_beat} step per "
            f"quarter note; train on the benchmark itself (python -m musicgen benchmark jsb --mat FILE --recipe configs/jsb.json)"
        )


def run_benchmark(
    mat: str | Path,
    checkpoint: str | None = None,
    recipe: str | None = None,
    kind: str = "jsb",
    device: str = "auto",
    progress: bool = False,
) -> dict:
    """Evaluate `checkpoint`, or train `recipe` then evaluate its best checkpoint, on the benchmark's test split.

    Returns {benchmark, dataset, checkpoint, run_id, heads, model (model_name), test: metrics, valid: metrics,
    baselines, published}.
    """
    if (checkpoint is None) == (recipe is None):
        raise ConfigError("give exactly one of --checkpoint (evaluate it) or --recipe (train it, then evaluate)")
    folder = import_benchmark(mat)
    ds = load_dataset(str(folder))
    if recipe is not None:
        checkpoint = train_recipe(recipe, str(folder), kind, device, progress)
    path = resolve_checkpoint(checkpoint)
    ckpt = load_checkpoint(path)
    check_benchmark_fit(ckpt, ds)
    test = evaluate_checkpoint(str(path), str(folder), split="test", device=device)
    valid = evaluate_checkpoint(str(path), str(folder), split="valid", device=device)
    return {
        "benchmark": kind,
        "dataset": str(folder),
        "checkpoint": str(path),
        "run_id": test["run_id"],
        "heads": sorted({c["head"] for c in member_configs(ckpt)}),
        "model": model_name(member_configs(ckpt)),
        "test": test["metrics"],
        "valid": valid["metrics"],
        "baselines": test["baselines"],
        "published": [{"model": m, "nll": v, "source": s} for m, v, s in PUBLISHED.get(kind, [])],
    }


def model_name(configs: list[dict]) -> str:
    """Return the architecture as its model configs have it: 'Conv1D+GRU', 'GRU+deep NADE' (no conv layer, a NADE of
    several layers); an ensemble counts its members of each kind, e.g. 'ensemble of 6: Conv1D+GRU ×4, GRU ×2'."""

    def one(c: dict) -> str:
        parts = (["Conv1D"] if c.get("conv_layers", 1) > 0 else []) + ["GRU"]
        if c.get("head") == "nade":
            parts.append("deep NADE" if c.get("nade_layers", 1) > 1 else "NADE")
        return "+".join(parts)

    names = [one(c) for c in configs]
    if len(names) == 1:
        return names[0]
    kinds = sorted(set(names), key=lambda n: (-names.count(n), n))
    return f"ensemble of {len(names)}: " + ", ".join(f"{n} ×{names.count(n)}" for n in kinds)


def format_benchmark(result: dict) -> str:
    """Return the result as a readable table beside the published figures."""
    t, v = result["test"], result["valid"]
    ours = f"musicgen {result['model']} ({Path(result['checkpoint']).parent.name})"
    rows = [(m["model"], m["nll"], m["source"]) for m in result["published"]] + [(ours, t["nll"], "this run")]
    rows.sort(key=lambda r: -r[1])
    width = max(len(r[0]) for r in rows)
    lines = [f"benchmark {result['benchmark']}: test NLL per step (nats, summed over notes; lower is better)"]
    lines += [f"  {name:<{width}}  {nll:6.3f}  {src}" for name, nll, src in rows]
    # On test, the *_best figures are taken at the threshold chosen on validation (never re-tuned on test).
    lines.append(
        f"ours on test: F1 {t['f1_best']:.3f} and frame accuracy {t['frame_acc_best']:.3f} at the validation threshold "
        f"{t['threshold']:.3f} (F1 {t['f1']:.3f} at 0.5); valid NLL {v['nll']:.3f}"
    )
    cp = result["baselines"].get("copy_previous", {})
    if cp:
        lines.append(f"copy-previous baseline on test: F1 {cp['f1']:.3f}, frame accuracy {cp['frame_acc']:.3f}")
    mk = result["baselines"].get("markov", {})
    if mk:
        lines.append(
            f"per-note Markov chain (fitted on train) on test: NLL {mk['nll']:.3f}, "
            f"F1 {mk['f1_best']:.3f} at its validation threshold {mk['threshold']:.3f} (F1 {mk['f1']:.3f} at 0.5)"
        )
    return "\n".join(lines)
