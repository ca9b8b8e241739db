"""The generation options: the strategies that turn a step's note probabilities into notes, and their limits.

`choose_notes` applies a strategy to the independent head's probabilities: `sample` draws each note
(Bernoulli), `threshold` keeps the notes above a probability, `topk` keeps the k most likely notes that are
above a floor; `max_polyphony` and `min_notes` then cap or fill every step with the most likely notes.
`check_options` refuses a bad option (or one that a note-by-note model cannot honour) with a one-line error,
before anything is generated.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from musicgen.errors import ConfigError

STRATEGIES = ("sample", "threshold", "topk")
NOTE_BY_NOTE_STRATEGIES = ("sample", "threshold")  # what a nade head (or an ensemble with one) generates with
MAX_STEPS = 16384  # 34 minutes at 120 bpm and 4 steps per beat: longer asks are typos, not music
MAX_SAMPLES = 256


def check_options(
    steps: int,
    strategy: str = "sample",
    temperature: float = 1.0,
    threshold: float = 0.5,
    top_k: int = 4,
    floor: float = 0.05,
    max_polyphony: int | None = None,
    min_notes: int = 0,
    samples: int = 1,
    n_notes: int = 84,
    independent: bool = True,
) -> None:
    """Raise ConfigError naming the first bad generation option, its allowed values and the fix.

    independent: False for a model that decides a step's notes one by one (the nade head).
    """

    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise ConfigError(msg)

    need(strategy in STRATEGIES, f"unknown strategy {strategy!r}; use one of {list(STRATEGIES)}")
    need(
        independent or strategy in NOTE_BY_NOTE_STRATEGIES,
        f"strategy {strategy} needs every note's probability at once, and this model decides notes one by one (nade head); "
        "use --strategy sample or threshold, with --max-polyphony to cap the notes",
    )
    need(
        independent or min_notes == 0,
        f"min notes ({min_notes}) cannot be filled in by a model that decides notes one by one (nade head); "
        "leave --min-notes at 0 or lower --threshold",
    )
    need(
        isinstance(steps, int | np.integer) and 0 < steps <= MAX_STEPS,
        f"steps must be between 1 and {MAX_STEPS}, got {steps}; e.g. --steps 256",
    )
    need(math.isfinite(temperature) and temperature > 0, f"temperature must be > 0, got {temperature}; e.g. --temperature 1.0")
    need(0 < threshold < 1, f"threshold must be between 0 and 1 (exclusive), got {threshold}; e.g. --threshold 0.3")
    need(
        isinstance(top_k, int | np.integer) and 0 < top_k <= n_notes,
        f"top-k must be between 1 and {n_notes}, got {top_k}; e.g. --top-k 4",
    )
    need(0 <= floor < 1, f"floor must be in [0, 1), got {floor}; e.g. --floor 0.05")
    need(
        max_polyphony is None or 0 < max_polyphony <= n_notes,
        f"max polyphony must be between 1 and {n_notes}, got {max_polyphony}; e.g. --max-polyphony 4",
    )
    need(0 <= min_notes <= n_notes, f"min notes must be between 0 and {n_notes}, got {min_notes}; e.g. --min-notes 1")
    need(
        max_polyphony is None or min_notes <= max_polyphony,
        f"min notes ({min_notes}) exceeds max polyphony ({max_polyphony}); lower --min-notes or raise --max-polyphony",
    )
    need(
        isinstance(samples, int | np.integer) and 0 < samples <= MAX_SAMPLES,
        f"samples must be between 1 and {MAX_SAMPLES}, got {samples}; e.g. --samples 4",
    )


def choose_notes(
    probs: torch.Tensor,
    strategy: str,
    uniform: torch.Tensor | None = None,
    threshold: float = 0.5,
    top_k: int = 4,
    floor: float = 0.05,
    max_polyphony: int | None = None,
    min_notes: int = 0,
) -> torch.Tensor:
    """Return the notes (S, N) float 0/1 of one step from note probabilities (S, N).

    `uniform` (S, N) in [0, 1) drives `sample`. After the strategy, steps with more than
    `max_polyphony` notes keep their most likely ones, and steps with fewer than `min_notes`
    gain the most likely missing ones.
    """
    if strategy == "sample":
        chosen = uniform < probs
    elif strategy == "threshold":
        chosen = probs >= threshold
    else:
        top = torch.zeros_like(probs, dtype=torch.bool).scatter_(1, probs.topk(top_k, dim=1).indices, True)
        chosen = top & (probs >= floor)
    if max_polyphony is None and min_notes == 0:
        return chosen.to(probs.dtype)
    count = chosen.sum(dim=1, keepdim=True).clamp(min=min_notes, max=max_polyphony)  # (S, 1)
    # Chosen notes sort first (probs < 1 < 1 + probs), each group by probability: the first `count` stay.
    order = (chosen.to(probs.dtype) + probs).argsort(dim=1, descending=True)  # (S, N)
    keep = torch.arange(probs.shape[1], device=probs.device).unsqueeze(0) < count  # (S, N) in sorted order
    return torch.zeros_like(probs).scatter_(1, order, keep.to(probs.dtype))
