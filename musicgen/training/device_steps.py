"""Training steps on a GPU without the host in the loop: totals kept on the device, and each batch shape one CUDA graph.

Why (issue 25, measured on an H200): at the recipes' sizes, a 2-layer GRU of 256 units over batches of
4-32 chorales, a step's kernels take less time than Python takes to launch them and to wait for the
numbers it reads back (the loss and the gradient norm, twice a step). So on CUDA, in one process:

- the loss, the gradient norm and the non-finite flags are summed on the device; the trainer reads them
  every CHECK_EVERY steps and at the end of an epoch, and a non-finite step fails the run there, named
  by its batch (the steps after it trained on NaN weights, which are thrown away with the run);
- with `TrainConfig.cuda_graphs`, a batch is padded to a fixed shape (the full batch size, and its steps
  rounded up to a multiple of T_STEP; the padding is masked out and, the model being causal, changes
  nothing it predicts), and each shape's step (forward, loss, backward, clipping, optimizer) is captured
  once into a CUDA graph after WARMUP eager steps, then replayed: one launch a step instead of hundreds.

A capture that fails (an op that cannot be captured on this torch and GPU) turns graphs off for the run
with one line on stderr, and the run goes on with eager steps; `graphs_used` says which ran.
"""

from __future__ import annotations

import sys

import torch
from torch.nn import functional as F

from musicgen.training.device import autocast
from musicgen.training.onset_metrics import model_terms

CHECK_EVERY = 50  # steps between two reads of the device totals (each read waits for the GPU)
T_STEP = 16  # a graphed batch's steps are rounded up to a multiple of this: few shapes, little padding
WARMUP = 1  # eager steps of a shape before it is captured (lazy state, cuDNN and cuBLAS workspaces)


def max_units_on(rolls, onsets: bool) -> int:
    """Return the most units a step of `rolls` (n, T, N) switches on: notes on, or for onset rolls sounding + struck, bounded.

    The nade head's graphed forward is sized for that many runs of notes plus one (NadeHead.max_runs).
    Onset rolls count twice the sounding notes: a step's struck units are a subset of its sounding ones,
    whatever canonical_steps makes of them.
    """
    if hasattr(rolls, "chunks"):  # a sharded split read per batch: a chunk at a time
        return max((max_units_on(x, onsets) for _, x in rolls.chunks()), default=0)
    if rolls.numel() == 0:
        return 0
    sounding = int((rolls != 0).sum(-1).max())
    return 2 * sounding if onsets else sounding


def padded_steps(steps: int) -> int:
    """Return `steps` rounded up to a multiple of T_STEP (a graphed batch's length)."""
    return -(-steps // T_STEP) * T_STEP


def pad_batch(inputs, targets, mask, where, batch_size: int, steps: int):
    """Return the batch padded with masked rows to `batch_size` and with masked steps to `steps`."""
    b, t = inputs.shape[:2]
    rows, cols = batch_size - b, steps - t
    inputs, targets = (F.pad(x, (0, 0, 0, cols, 0, rows)) for x in (inputs, targets))
    mask = F.pad(mask.to(torch.uint8), (0, cols, 0, rows)).bool()
    if where is not None:
        pos, bar = where
        pos = F.pad(pos, (0, cols, 0, rows))  # the padded positions are never scored
        where = (pos, F.pad(bar, (0, 0, 0, rows)))
    return inputs, targets, mask, where


def cuda_capture(fn, pool):
    """Return a CUDA graph of what `fn` launches (it runs nothing now: `replay` does), its memory from `pool`."""
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=pool):
        fn()
    return graph


def cuda_warm(fn, device) -> None:
    """Run `fn` eagerly on a side stream, as torch.cuda.graphs asks of the steps before a capture."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        fn()
    torch.cuda.current_stream(device).wait_stream(side)


class DeviceSteps:
    """One optimizer step per batch, its totals on the device; CUDA graphs per batch shape with `graphs`."""

    capture = staticmethod(cuda_capture)  # (fn, pool) -> an object whose replay() runs fn's kernels again
    warm = staticmethod(cuda_warm)  # (fn, device): an eager step before a capture

    def __init__(self, model, optimizer, loss_fn, clip: float, precision: str, device, batch_size: int, graphs: bool, runs=None):
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.clip, self.precision, self.device, self.batch_size = clip, precision, device, batch_size
        self.graphs_used = graphs and torch.device(device).type == "cuda"
        self.runs = runs  # the nade head's runs of notes per step while graphed (max_units_on + 1), else None
        zeros = torch.zeros((), device=device)
        self.loss_sum, self.norm_sum = zeros.clone(), zeros.clone()
        # First batch whose loss / gradient norm was not finite (-1: none), and whether a step had more units on
        # than the graphed nade head was sized for.
        self.bad = torch.full((3,), -1, dtype=torch.long, device=device)
        self.batch_no = torch.zeros((), dtype=torch.long, device=device)
        self.seen: dict[tuple, int] = {}
        self.graph: dict[tuple, object] = {}
        self.static: dict[tuple, tuple] = {}
        self.pool = torch.cuda.graph_pool_handle() if self.graphs_used else None  # one memory pool for all shapes
        self.lr = [torch.tensor(float(g["lr"]), device=device) for g in optimizer.param_groups]

    def __call__(self, batch: int, inputs, targets, mask, where=None) -> None:
        """Train one batch: its number in the epoch, inputs and targets (B, T, N), mask (B, T), `where` for position inputs."""
        self.batch_no.fill_(batch)
        if not self.graphs_used:
            self._body(inputs, targets, mask, where)
            return
        shape = (self.batch_size, padded_steps(inputs.shape[1]))
        padded = pad_batch(inputs, targets, mask, where, *shape)
        if shape not in self.static:
            self.static[shape] = padded  # fresh tensors: this shape's inputs from now on
        else:
            static = self.static[shape]
            for dst, src in zip(static[:3] + (static[3] or ()), padded[:3] + (padded[3] or ()), strict=True):
                dst.copy_(src)
        static = self.static[shape]
        self._set_lr()
        if shape in self.graph:
            self.graph[shape].replay()
            return
        self.seen[shape] = self.seen.get(shape, 0) + 1
        if self.seen[shape] <= WARMUP:
            self.warm(lambda: self._body(*static), self.device)
            return
        self._capture(shape, static)

    def _capture(self, shape, static) -> None:
        groups = self.optimizer.param_groups
        floats = [g["lr"] for g in groups]
        try:
            for g, t in zip(groups, self.lr, strict=True):
                g["lr"] = t  # the graph reads the learning rate from this tensor, which _set_lr refreshes
            graph = self.capture(lambda: self._body(*static), self.pool)
        except Exception as e:  # noqa: BLE001 - any op that cannot be captured: the run goes on without graphs
            print(
                f"CUDA graphs off for this run ({type(e).__name__}: {str(e).splitlines()[0][:200]}); eager steps", file=sys.stderr
            )
            graph = None
        finally:
            for g, lr in zip(groups, floats, strict=True):
                g["lr"] = lr
        if graph is None:
            self.graphs_used, self.graph = False, {}
            if torch.device(self.device).type == "cuda":
                torch.cuda.synchronize(self.device)
            self._body(*static)
            return
        self.graph[shape] = graph
        graph.replay()  # the capture recorded this batch's step without running it

    def _set_lr(self) -> None:
        for g, t in zip(self.optimizer.param_groups, self.lr, strict=True):
            t.fill_(float(g["lr"]))  # a scheduler writes floats; the graphs read the tensor

    def _body(self, inputs, targets, mask, where) -> None:
        """Forward, loss, backward, clipping, optimizer step and the totals: device work only (what a graph captures)."""
        head = getattr(self.model, "head", None)
        runs_before = getattr(head, "max_runs", None)
        if self.runs is not None and self.graphs_used:
            head.max_runs = self.runs  # a static number of runs of notes: no shape read back from the device
        try:
            with autocast(self.device, self.precision):
                _, logits, y, m = model_terms(self.model, inputs, targets, mask, where)
        finally:
            if head is not None and self.runs is not None:
                head.max_runs = runs_before
        loss = self.loss_fn(logits, y, m)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip if self.clip > 0 else float("inf"))
        self.optimizer.step()
        loss = loss.detach()
        self.loss_sum.add_(torch.nan_to_num(loss, nan=0.0, posinf=0.0, neginf=0.0))
        self.norm_sum.add_(torch.nan_to_num(norm, nan=0.0, posinf=0.0, neginf=0.0))
        flags = [~torch.isfinite(loss), ~torch.isfinite(norm)]
        if self.runs is not None and self.graphs_used:
            flags.append(((y > 0.5).sum(-1) >= self.runs).any())
        else:
            flags.append(torch.zeros((), dtype=torch.bool, device=loss.device))
        first = (self.bad < 0) & torch.stack(flags)
        self.bad.copy_(torch.where(first, self.batch_no, self.bad))

    def read(self) -> tuple[float, float, list[int]]:
        """Return (the summed loss, the summed gradient norm, [first bad loss, norm, runs batch or -1]) and zero the sums.

        Waits for the GPU: the trainer calls it every CHECK_EVERY steps and at the end of an epoch.
        """
        loss, norm = float(self.loss_sum), float(self.norm_sum)
        bad = self.bad.tolist()
        self.loss_sum.zero_()
        self.norm_sum.zero_()
        return loss, norm, bad
