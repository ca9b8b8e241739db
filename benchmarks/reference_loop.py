"""The reference the trainer is measured against: a straightforward PyTorch loop.

torch Dataset + DataLoader (batch 32, shuffled), fp32, every sequence padded to the dataset's
length as stored, the same ConvGRU and masked BCE, Adam, gradient clipping; no length bucketing,
no autocast, no output-bias initialisation. Evaluation uses musicgen.evaluate, like the trainer.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from musicgen.config import ModelConfig
from musicgen.nn.convgru import ConvGRU
from musicgen.training.batches import Split
from musicgen.training.evaluate import evaluate_model
from musicgen.training.metrics import step_mask


class RollDataset(Dataset):
    def __init__(self, rolls: np.ndarray, lengths: np.ndarray):
        self.rolls, self.lengths = rolls, lengths

    def __len__(self):
        return len(self.rolls)

    def __getitem__(self, i):
        return torch.from_numpy(self.rolls[i].astype(np.float32)), int(self.lengths[i])


def reference_training(
    ds,
    model_cfg: ModelConfig,
    device: str,
    batch_size=32,
    lr=1e-3,
    seed=0,
    max_epochs=10,
    max_seconds=None,
    target_nll=None,
    evaluate=True,
):
    """Train with the reference loop; return per-epoch rows {epoch, train_s, seqs, wall_s, valid_nll}."""
    torch.manual_seed(seed)
    dev = torch.device(device)
    model = ConvGRU(model_cfg).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(RollDataset(*ds.split("train")), batch_size=batch_size, shuffle=True)
    valid = Split.from_numpy(*ds.split("valid"), dev)
    rows, t_start = [], time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        model.train()
        t0, seqs = time.perf_counter(), 0
        for x, lengths in loader:
            x, lengths = x.to(dev), lengths.to(dev)
            logits = model(x[:, :-1])
            mask = step_mask(lengths, x.shape[1] - 1).unsqueeze(-1)  # (B, T-1, 1)
            loss = (F.binary_cross_entropy_with_logits(logits, x[:, 1:], reduction="none") * mask).sum() / (
                mask.sum() * x.shape[-1]
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            seqs += x.shape[0]
        if dev.type == "cuda":
            torch.cuda.synchronize()
        train_s = time.perf_counter() - t0
        nll = evaluate_model(model, valid)["nll"] if evaluate else float("nan")
        rows.append({"epoch": epoch, "train_s": train_s, "seqs": seqs, "wall_s": time.perf_counter() - t_start, "valid_nll": nll})
        if target_nll is not None and nll <= target_nll:
            break
        if max_seconds is not None and rows[-1]["wall_s"] > max_seconds:
            break
    return rows
