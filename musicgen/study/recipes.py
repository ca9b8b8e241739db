"""Recipes: JSON files of model and training configs, optionally an ensemble of members."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from musicgen.config import ModelConfig, TrainConfig, from_dict, read_json
from musicgen.errors import ConfigError
from musicgen.paths import REPO_ROOT

RECIPES_DIR = REPO_ROOT / "configs"  # the shipped recipes, each the settings of a checkpoint in checkpoints/


def shipped_recipes() -> list[Path]:
    """Return the recipe files shipped in configs/, sorted by name."""
    return sorted(RECIPES_DIR.glob("*.json"))


def _expect(value, kind: type, where: str, shape: str) -> None:
    if not isinstance(value, kind):
        raise ConfigError(f"{where} must be {shape}, got {json.dumps(value)[:60]}")


def load_recipe(path: str | Path) -> dict:
    """Read a recipe: JSON with 'model' and 'train' config dicts, and optional 'members' for an ensemble.

    Each member entry is {"seeds": [...], "model": {...}, "train": {...}, "name": optional run name}, its dicts overriding the
    recipe's own; `train --recipe` uses the recipe's own configs, `benchmark --recipe` trains every
    member and averages them (float16 weights when "half" is true; at most "select" of them, picked
    on validation by `study.ensembles.greedy_select`, when "select" is given).
    """

    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"recipe {p} does not exist; see configs/ for the shipped ones (e.g. configs/jsb.json)")
    recipe = read_json(p, "recipe")
    _expect(recipe, dict, f"recipe {p}", 'an object {"model": {...}, "train": {...}}')
    for key, kind in (("model", dict), ("train", dict), ("members", list)):
        _expect(recipe.get(key, kind()), kind, f"recipe {p}: {key!r}", "an object" if kind is dict else "a list")
    try:
        model = from_dict(ModelConfig, recipe.get("model", {}))
        train = from_dict(TrainConfig, recipe.get("train", {}))
        members = []
        for k, m in enumerate(recipe.get("members", [])):
            where = f"recipe {p}: member {k}"
            _expect(m, dict, where, 'an object {"seeds": [...], "model": {...}, "train": {...}}')
            _expect(m.get("seeds"), list, f"{where}: 'seeds'", "a list of seeds, e.g. [0, 1, 2]")
            for key in ("model", "train"):
                _expect(m.get(key, {}), dict, f"{where}: {key!r}", "an object")
            members += [
                (replace(model, **m.get("model", {})), replace(train, **m.get("train", {}), seed=seed), m.get("name"))
                for seed in m["seeds"]
            ]
        select = recipe.get("select")
        if select is not None and (not isinstance(select, int) or select < 1):
            raise TypeError(f"'select' must be an integer >= 1, got {select!r}")
    except TypeError as e:  # an unknown key of a member (dataclasses.replace), a bad 'select'
        raise ConfigError(f"recipe {p} has a bad or missing value ({e})") from None
    return {
        "model": model,
        "train": train,
        "members": members,
        "half": bool(recipe.get("half")),
        "select": select,
        "path": str(p),
    }
