"""Autoregressive generation of piano-rolls with the model's step-by-step state.

Each new step costs one step of the trunk whatever the length of the piece so far.

The independent head gives a probability per note (independent given the past); a strategy
(musicgen.music.strategies) turns them into the notes of the step: `sample` draws each note (Bernoulli,
sharpened or flattened by a temperature), `threshold` keeps the notes above a probability (the checkpoint's
validation-best threshold by default), `topk` keeps the k most likely notes that are above a floor.
`max_polyphony` and `min_notes` then cap or fill every step with the most likely notes, for any strategy.
Primers (the opening steps a piece continues) are read by musicgen.music.primers.

The nade head (and an ensemble with a nade member, whose step is the members' mixture) decides the
notes of a step low to high, each given the ones below it (musicgen.nn.notes.decide): `sample` is
ancestral sampling, each conditional at the temperature; `threshold` is greedy decoding (a note is
on when its conditional exceeds the threshold); `max_polyphony` stops switching notes on after that
many. `topk` and `min_notes` need every note's probability at once, which such a head does not
have: they are refused with a one-line message (`floor` and `top_k` belong to `topk` only).

An onset model (musicgen.nn.onsets) decides, note by note, whether each note sounds and, where it
sounded before, whether it is struck again; its rolls are three-state (0 off, 1 held, 2 struck), so
a re-struck note is written as two MIDI notes. It generates like the nade head (sample, threshold;
max_polyphony caps the sounding notes) and reads the position in the beat and bar (4/4 from the
primer's first step, or `bar_steps`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from musicgen.config import DataConfig
from musicgen.data.midi import onset_roll
from musicgen.errors import ConfigError
from musicgen.music.strategies import check_options, choose_notes
from musicgen.nn.convgru import ConvGRU
from musicgen.nn.notes import decide
from musicgen.nn.onsets import input_from_steps, output_width, step_from_units
from musicgen.training.device import one_thread


def default_threshold(ckpt: dict) -> float:
    """Return the checkpoint's validation-best F1 threshold, or 0.5 when it has none."""
    t = ckpt.get("threshold")
    return float(t) if t is not None and 0 < float(t) < 1 else 0.5


# The sampling temperature of checkpoints trained before each stored its own: tuned on the demo chorale model.
LEGACY_TEMPERATURE = 0.8


def default_temperature(ckpt: dict) -> float:
    """Return the checkpoint's sampling temperature chosen on validation (musicgen.music.temperature), or 0.8 without one."""
    t = (ckpt.get("sampling") or {}).get("temperature")
    return float(t) if t is not None and math.isfinite(float(t)) and float(t) > 0 else LEGACY_TEMPERATURE


def step_seconds(cfg: DataConfig, tempo_bpm: float = 120.0) -> float:
    """Return the duration of one step in seconds on a data config's time grid."""
    if cfg.fs is not None:
        return 1.0 / cfg.fs
    return 60.0 / (tempo_bpm * cfg.steps_per_beat)


def steps_from_seconds(seconds: float, cfg: DataConfig, tempo_bpm: float = 120.0) -> int:
    """Return the number of steps (at least 1) that lasts about `seconds` on the config's grid."""
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"--seconds must be a positive number, got {seconds}; e.g. --seconds 30")
    if not tempo_bpm > 0:
        raise ConfigError(f"tempo must be > 0 bpm, got {tempo_bpm}; e.g. --tempo 120")
    return max(1, round(seconds / step_seconds(cfg, tempo_bpm)))


def note_by_note(model) -> bool:
    """Return True when the model decides a step's notes one by one (nade head, onset model): no topk, no min_notes."""
    return not model.independent_notes or bool(getattr(model.cfg, "onsets", False))


def _check_primer(primer, steps: int, n_notes: int, onsets: bool = False, samples: int = 1) -> np.ndarray:
    """Return the primer (steps, N) or one per sample (samples, steps, N) as float: three-state for an onset model."""
    primer = np.asarray(primer)
    batch = primer.ndim == 3 and primer.shape[0] == samples
    if not (primer.ndim == 2 or batch) or primer.shape[-1] != n_notes:
        raise ConfigError(
            f"primer must be a roll (steps, {n_notes}), got shape {primer.shape}; convert it with the model's pitch range"
        )
    if primer.shape[-2] >= steps:
        raise ConfigError(
            f"the primer has {primer.shape[-2]} steps but only {steps} were asked for; ask for more steps or use a shorter primer"
        )
    if onsets:  # three states; a hold-only primer's notes are struck where they start
        return np.stack([onset_roll(p) for p in primer]) if batch else onset_roll(primer).astype(np.float32)
    return (primer > 0).astype(np.float32)


@torch.inference_mode()
def generate(
    model,
    steps: int,
    strategy: str = "sample",
    temperature: float = 1.0,
    threshold: float = 0.5,
    top_k: int = 4,
    floor: float = 0.05,
    max_polyphony: int | None = None,
    min_notes: int = 0,
    primer=None,
    samples: int = 1,
    seed: int = 0,
    device="cpu",
    recompute: bool = False,
    bar_steps: int | None = None,
) -> np.ndarray:
    """Generate `samples` rolls of `steps` steps; return uint8 (samples, steps, N), primer included at the start.

    An onset model's rolls are three-state (0 off, 1 held, 2 struck); `bar_steps` is its bar in steps
    (default 4 beats).

    `primer` is a roll (P, N), or one per sample (samples, P, N). Without a primer the model starts from one silent
    step (not part of the output). The same
    seed and options give the same rolls. `recompute=True` runs the whole prefix through
    `model.forward` at every step instead of carrying the state: same output, quadratic cost
    (kept for the benchmark and as a check of the step-by-step path).
    """
    n = model.cfg.n_notes
    onsets = bool(getattr(model.cfg, "onsets", False))
    independent = not note_by_note(model)
    check_options(steps, strategy, temperature, threshold, top_k, floor, max_polyphony, min_notes, samples, n, independent)
    prime = _check_primer(primer, steps, n, onsets, samples) if primer is not None else np.zeros((0, n), np.float32)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    units = output_width(model.cfg) if onsets else n
    bar = torch.tensor(4 * (model.cfg.steps_per_beat or 4) if bar_steps is None else int(bar_steps), device=device)

    def model_input(x: torch.Tensor, t: int) -> torch.Tensor:
        """The model's input of step t (S, N) (t = -1: the silent step before a piece without primer)."""
        if not onsets:
            return x
        return input_from_steps(x, model.cfg, torch.full((samples,), t, device=device), bar)

    was_training = model.training
    model.eval()
    # One step of a small batch is too small to split across threads; on a shared CPU the extra
    # threads mostly spin-wait, so generation runs on one.
    try:
        with one_thread():
            out = torch.zeros(samples, steps, n, device=device)  # (S, T, N)
            p = prime.shape[-2]
            out[:, :p] = torch.from_numpy(prime.astype(np.float32)).to(device)  # one primer for all, or one per sample
            if recompute:
                feed = _recompute_feeder(model, samples, n, device, independent)
            else:
                feed = _state_feeder(model, samples, device) if independent else _notes_feeder(model, samples, device)
            start = model_input(out[:, 0], 0) if p else model_input(torch.zeros(samples, n, device=device), -1)
            nxt = feed(start)  # logits, or a note distribution
            for t in range(1, p):
                nxt = feed(model_input(out[:, t], t))
            for t in range(p, steps):
                uniform = torch.rand((samples, units), generator=gen).to(device) if strategy == "sample" else None
                if independent:
                    probs = torch.sigmoid(nxt / temperature)  # (S, N)
                    x = choose_notes(probs, strategy, uniform, threshold, top_k, floor, max_polyphony, min_notes)
                else:
                    thr = threshold if strategy == "threshold" else None
                    x, _ = decide(nxt, threshold=thr, temperature=temperature, uniform=uniform, max_on=max_polyphony)
                    if onsets:
                        x = step_from_units(x).float()  # (S, 2N) units -> (S, N) three-state
                out[:, t] = x
                if t + 1 < steps:
                    nxt = feed(model_input(x, t))
    finally:
        model.train(was_training)
    return out.to(torch.uint8).cpu().numpy()


def _state_feeder(model, samples: int, device):
    """Return feed(x (S, N)) -> logits (S, N) of the next step, carrying the model's state."""
    if _fast_ok(model):
        return _fast_feeder(model, samples, device)
    state = model.init_state(samples, device)

    def feed(x):
        nonlocal state
        logits, state = model.step(x, state)
        return logits

    return feed


def _fast_ok(model) -> bool:
    # Only the layers that `_fast_feeder` mirrors; a model that grows new parts falls back to model.step.
    known = {"convs", "gru", "drop", "head", "skip"}
    gru = getattr(model, "gru", None)
    return (
        type(model) is ConvGRU
        and set(dict(model.named_children())) <= known
        and gru is not None
        and gru.bias
        and not gru.bidirectional
        and getattr(gru, "proj_size", 0) == 0
        and not model.training
    )


def _fast_trunk(model, samples: int, device):
    """Return trunk(x (S, N)) -> features (S, H) like `ConvGRU.step_features`, with fused ops.

    nn.GRU and nn.Conv1d cost more in call overhead than in arithmetic for one step of a small
    batch; a matmul per conv layer and one `gru_cell` per GRU layer do the same sums 2-3x faster
    (eval mode only: no dropout). `test_generate` checks that the outputs equal `forward`'s.
    """
    state = model.init_state(samples, device)
    bufs = list(state.conv)  # per conv layer (S, C_in, kernel-1)
    h = list(state.h.unbind(0))  # per GRU layer (S, H)
    convs = [(c.weight.reshape(c.weight.shape[0], -1).t().contiguous(), c.bias) for c in model.convs]  # (C_in*k, C_out)
    gru = model.gru
    cells = [
        tuple(getattr(gru, f"{w}_l{i}") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")) for i in range(gru.num_layers)
    ]

    def trunk(x):
        y = x
        for i, (w, b) in enumerate(convs):
            window = torch.cat([bufs[i], y.unsqueeze(-1)], dim=-1)  # (S, C_in, kernel)
            bufs[i] = window[:, :, 1:]
            y = torch.relu(torch.addmm(b, window.flatten(1), w))  # (S, C_out)
        for i, cell in enumerate(cells):
            y = h[i] = torch.gru_cell(y, h[i], *cell)  # (S, H)
        return y

    return trunk


def _fast_feeder(model, samples: int, device):
    """Return a feed like `_state_feeder`'s over `_fast_trunk` (the independent head, eval mode only)."""
    trunk = _fast_trunk(model, samples, device)
    head_w, head_b = model.head.weight.t().contiguous(), model.head.bias  # (H, N)
    skip_w = model.skip.weight.t().contiguous() if model.skip is not None else None  # (N, N)

    def feed(x):
        logits = torch.addmm(head_b, trunk(x), head_w)  # (S, N)
        return logits if skip_w is None else logits.addmm_(x, skip_w)

    return feed


def _notes_feeder(model, samples: int, device):
    """Return feed(x (S, N)) -> the note distribution (musicgen.nn.notes) of the next step, carrying the state."""
    if _fast_ok(model):
        trunk = _fast_trunk(model, samples, device)
        skip_w = model.skip.weight.t().contiguous() if model.skip is not None else None  # (N, N)
        return lambda x: model.head_notes(trunk(x), None if skip_w is None else x @ skip_w, x)
    state = model.init_state(samples, device)

    def feed(x):
        nonlocal state
        dist, state = model.step_notes(x, state)
        return dist

    return feed


def _recompute_feeder(model, samples: int, n: int, device, independent: bool = True):
    """Return feed(x (S, N)) -> logits (S, N), or the note distribution, running the trunk over every step fed so far."""
    fed: list[torch.Tensor] = []

    def feed(x):
        fed.append(x.clone())
        if not independent:  # the distribution after the last position of each sample: rows b * t + t - 1
            return model.notes(torch.stack(fed, dim=1)).select(torch.arange(1, samples + 1, device=x.device) * len(fed) - 1)
        return model(torch.stack(fed, dim=1))[:, -1]  # (S, t, N) -> (S, N)

    return feed
