"""The blind listening test: pairs of samples from one primer, unlabelled, in random order; votes and their interval.

A contender is a checkpoint ref (run id, shipped name) or `real:DATASET`, the dataset's own music.
`make_pair` draws, from a pair seed, one window of the dataset (test split, else valid, else
train) at least `steps` long: its first `primer_steps` steps are the primer of both samples, a
model continues them (both models with the same generation seed), real music is the window itself.
Both samples have the same length, are played on the dataset's time grid at the same tempo and
are rendered by the same synthesizer (music.audio). The order of the two is drawn from the same
seed, so a vote's stored pair seed rebuilds exactly what was heard.

The preference rate of contender a over b is the share of the pair's votes that chose a, with a
95% Wilson score interval (Wilson 1927; it stays inside [0, 1] and keeps close to its nominal
coverage for few votes, where the normal-approximation interval does not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from musicgen.data.datasets import load_dataset
from musicgen.errors import ConfigError, DataError, RenderError
from musicgen.music import audio
from musicgen.music.generate import default_temperature, default_threshold, generate, step_seconds
from musicgen.music.piece import DEFAULT_OPTIONS, load
from musicgen.runs import votes
from musicgen.training.evaluate import check_pitch_range

REAL = "real:"  # a contender that is a dataset's own music: real:DATASET
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: a two-sided 95% interval
INTERVAL = "Wilson score"
LISTEN_FORMAT = "ogg"  # what a page sends to the browser (a few percent of the WAV)


def real(dataset: str) -> str:
    """Return the contender that stands for the real music of `dataset`."""
    return f"{REAL}{dataset}"


def is_real(contender: str) -> bool:
    """Return whether `contender` is a dataset's real music (not a model)."""
    return contender.startswith(REAL)


def wilson_interval(wins: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Return the Wilson score interval (low, high) of a binomial proportion `wins` of `n`; (nan, nan) for no votes."""
    if not (0 <= wins <= n):
        raise ConfigError(f"wins must be between 0 and the number of votes {n}, got {wins}")
    if n == 0:
        return math.nan, math.nan
    p = wins / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def preference(a: str, b: str, table=None) -> dict:
    """Return how often `a` was preferred over `b`: {a, b, votes, wins, rate, low, high, interval}.

    `table` is `votes.list_votes(a, b)` (read from the store when None); rate and bounds are NaN without votes.
    """
    table = votes.list_votes(a, b) if table is None else table
    pair = table[((table["first"] == a) & (table["second"] == b)) | ((table["first"] == b) & (table["second"] == a))]
    n, wins = len(pair), int((pair["chosen"] == a).sum())
    low, high = wilson_interval(wins, n)
    rate = wins / n if n else math.nan
    return {"a": a, "b": b, "votes": n, "wins": wins, "rate": rate, "low": low, "high": high, "interval": f"95% {INTERVAL}"}


def results_for(contenders) -> list[dict]:
    """Return `preference` for every pair of the store's votes that involves one of `contenders` (all pairs when None)."""
    table = votes.list_votes()
    wanted = None if contenders is None else set(contenders)
    pairs = []
    for first, second in zip(table["first"], table["second"], strict=True):
        a, b = sorted((first, second), key=lambda c: (is_real(c), c))  # a model before real music: "how often the model won"
        if (a, b) not in pairs and (wanted is None or {a, b} & wanted):
            pairs.append((a, b))
    return [preference(a, b, table) for a, b in pairs]


def sentence(result: dict, label=str) -> str:
    """Return one line on a `preference` result, e.g. 'demo preferred to real:bach in 7 of 10 votes: 70% (95% ...: 40–89%)'."""
    a, b = label(result["a"]), label(result["b"])
    if not result["votes"]:
        return f"{a} against {b}: no votes yet"
    return (
        f"{a} preferred to {b} in {result['wins']} of {result['votes']} votes: {result['rate']:.0%} "
        f"({result['interval']} interval {result['low']:.0%}–{result['high']:.0%})"
    )


@dataclass(frozen=True)
class Pair:
    """Two samples to compare, in the order they are played; everything a vote stores to rebuild them."""

    first: str  # contenders, in play order
    second: str
    rolls: tuple[np.ndarray, np.ndarray]  # uint8 (steps, notes) each, the primer at the start
    sounds: tuple[bytes, bytes]  # LISTEN_FORMAT files
    mime: str
    seeds: tuple[int | None, int | None]  # generation seed of each sample; None for real music
    pair_seed: int
    primer: str  # where the primer (and the real music) comes from: DATASET:SPLIT:window I:N steps
    steps: int
    synth: str  # the synthesizer both went through (music.audio backend)
    dataset: str
    duration_s: float  # of each sample, without the release tail


def primer_window(ds, steps: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Return (a window of `steps` steps drawn by `rng` from the test split, else valid, else train; its 'SPLIT:window I')."""
    longest = 0
    for split in ("test", "valid", "train"):
        rolls, lengths = ds.split(split)
        ok = np.flatnonzero(np.asarray(lengths) >= steps)
        longest = max([longest, *map(int, lengths)])
        if len(ok):
            i = int(ok[rng.integers(len(ok))])
            return np.asarray(rolls[i][:steps], np.uint8), f"{split}:window {i}"
    raise DataError(f"dataset {ds.name} has no window of {steps} steps (its longest has {longest}); choose a length <= {longest}")


def duration_s(ds, steps: int, tempo_bpm: float) -> float:
    """Return how long `steps` steps of dataset `ds` last at `tempo_bpm` (seconds, without the release tail)."""
    return steps * step_seconds(ds.config, tempo_bpm)


def make_pair(
    a: str,
    b: str,
    dataset: str,
    *,
    steps: int = 64,
    primer_steps: int = 16,
    pair_seed: int = 0,
    tempo_bpm: float = 100.0,
    loader=load,
) -> Pair:
    """Return the pair of samples of contenders `a` and `b` for `pair_seed` (module docstring), in random order.

    `dataset` gives the primer and the time grid (and the music of a `real:` contender, which must be this
    dataset); `loader(ref)` returns (model, checkpoint) (a page passes its cached loader).
    """
    if a == b:
        raise ConfigError(f"choose two different contenders, got {a!r} twice")
    if not 1 <= primer_steps < steps:
        raise ConfigError(f"the primer must be at least 1 step and shorter than the sample ({steps} steps), got {primer_steps}")
    for c in (a, b):
        if is_real(c) and c != real(dataset):
            raise ConfigError(f"{c} is the music of another dataset than {dataset}; compare with {real(dataset)}")
    ds = load_dataset(dataset)
    rng = np.random.default_rng(pair_seed)
    window, where = primer_window(ds, steps, rng)
    gen_seed = int(rng.integers(2**31))
    flip = bool(rng.random() < 0.5)
    rolls, seeds = {}, {}
    for c in (a, b):
        if is_real(c):
            rolls[c], seeds[c] = window, None
            continue
        net, ckpt = loader(c)
        check_pitch_range(ckpt.get("data_config") or {}, ds)
        opts = {**DEFAULT_OPTIONS, "threshold": default_threshold(ckpt), "temperature": default_temperature(ckpt)}
        rolls[c] = generate(net, steps, primer=window[:primer_steps], seed=gen_seed, **opts)[0]
        seeds[c] = gen_seed
    order = (b, a) if flip else (a, b)
    cfg = ds.config
    grid = {"low": cfg.low, "steps_per_beat": cfg.steps_per_beat or 4, "fs": cfg.fs, "tempo_bpm": tempo_bpm}
    rendered = [audio.render_audio(rolls[c], **grid) for c in order]
    synths = {info["backend"] for _, info in rendered}
    if len(synths) != 1:  # a blind test must not be told apart by its synthesizer
        raise RenderError(f"the two samples were rendered by different synthesizers ({sorted(synths)}); try again")
    rate = rendered[0][1]["sample_rate"]
    return Pair(
        first=order[0],
        second=order[1],
        rolls=(rolls[order[0]], rolls[order[1]]),
        sounds=tuple(audio.encode_audio(x, rate, LISTEN_FORMAT) for x, _ in rendered),
        mime=audio.MIME[LISTEN_FORMAT],
        seeds=(seeds[order[0]], seeds[order[1]]),
        pair_seed=int(pair_seed),
        primer=f"{dataset}:{where}:{primer_steps} steps",
        steps=steps,
        synth=synths.pop(),
        dataset=dataset,
        duration_s=duration_s(ds, steps, tempo_bpm),
    )


def record_vote(pair: Pair, chosen: int) -> int:
    """Store the listener's choice (0: the first sample played, 1: the second) with the pair's seeds; return the vote id."""
    if chosen not in (0, 1):
        raise ConfigError(f"a vote is for sample 0 or 1 of the pair, got {chosen!r}")
    return votes.add_vote(
        pair.first,
        pair.second,
        (pair.first, pair.second)[chosen],
        pair_seed=pair.pair_seed,
        seed_first=pair.seeds[0],
        seed_second=pair.seeds[1],
        primer=pair.primer,
        steps=pair.steps,
        synth=pair.synth,
        dataset=pair.dataset,
    )
