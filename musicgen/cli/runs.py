"""Commands `runs` (the store's runs, one line or JSON record each) and `evaluate` (a run's metrics on a split);
`metrics_line`, the one-line form of a metrics dict, also serves `train`'s summary."""

from __future__ import annotations

import json
import sys

from musicgen.errors import ConfigError
from musicgen.runs.divergence import RULE, run_diverged


def register(sub) -> None:
    """Add `runs` and `evaluate`."""
    p = sub.add_parser("runs", help="list runs with status, config, epochs and best validation metrics")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("evaluate", help="recompute a run's or checkpoint's metrics on a dataset split")
    p.add_argument("ref", metavar="RUN_ID|CHECKPOINT", help="run id, .pt file, 'demo' or 'jsb'")
    p.add_argument("--data", help="dataset (default: the run's own dataset)")
    p.add_argument("--split", default="test", help="train|valid|test (default test)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|mps")
    p.add_argument("--threshold", type=float, help="decision threshold (default: the checkpoint's validation-best one)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_evaluate)


# Figures at 0.5; those at the validation-chosen threshold end in `_best`: printed apart, so that nobody mixes them up.
AT_HALF = ("f1", "precision", "recall", "frame_acc", "pred_pos_rate")
# Onset-aware data: onset F1 (at the onset threshold chosen on validation) and the NLL's parts lead, since frame F1
# near copy-previous's only says that held notes go on.
ONSET_KEYS = ("onset_f1", "onset_precision", "onset_recall")


def metrics_line(
    m: dict, keys=("nll", "f1", "f1_best", "precision_best", "recall_best", "frame_acc_best", "pred_pos_rate", "density")
) -> str:
    """Return `keys` of a metrics dict as one line: onset F1 where there is one, the NLL, the figures at 0.5, those at
    the chosen threshold, the rest."""

    def part(ks):
        return " ".join(f"{k} {m[k]:.4f}" for k in ks if isinstance(m.get(k), (int, float)))

    thr = m.get("threshold")
    at = f"at threshold {thr:.3f}" if isinstance(thr, (int, float)) else "at the validation threshold"
    nll = ("nll", "nll_sound", "nll_onset") if "nll" in keys else ()
    groups = [
        ("", part(ONSET_KEYS)),
        ("", part(nll)),
        ("at 0.5: ", part(k for k in keys if k in AT_HALF)),
        (f"{at}: ", part(k for k in keys if k.endswith("_best"))),
        ("", part(k for k in keys if k not in AT_HALF and k != "nll" and not k.endswith("_best"))),
    ]
    return "  |  ".join(label + text for label, text in groups if text)


BASELINE_KEYS = ("nll", "f1", "frame_acc", "pred_pos_rate", "f1_best")


def _run_record(row: dict) -> dict:
    s = row.get("summary") or {}
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "created": row["created"],
        "config": row["config"],
        "dataset_id": row["dataset_id"],
        "sweep_id": row["sweep_id"],
        "epochs_done": int(row["epochs_done"] or 0),
        "best_epoch": s.get("best_epoch"),
        "best": s.get("best", {}),
        "test": s.get("test", {}),
        "threshold": s.get("threshold"),
        "baselines": s.get("baselines", {}),
        "error": row["error"],
        "diverged": run_diverged(row),
    }


def cmd_runs(args) -> int:
    from musicgen.runs import jobs, store
    from musicgen.runs.labels import backend_label, precision_of

    for o in jobs.stop_orphaned_workers():
        print(
            f"stopping process {o['pid']} of run {o['run_id']}: its sweep's driver (process {o['driver_pid']}) is gone; "
            "run the sweep command again to go on",
            file=sys.stderr,
        )
    runs = store.list_runs()
    for line in runs.attrs["damaged"]:  # named, then left out: the other runs are listed
        print(f"warning: {line}", file=sys.stderr)
    records = [_run_record(r) for r in runs.to_dict("records")]
    if args.json:
        print(json.dumps(records, default=str))
        return 0
    if not records:
        print("no runs yet; start one with: python -m musicgen train --data builtin:bach")
        return 0
    print(
        f"{'id':24} {'name':22} {'status':9} {'opt':8} {'loss':13} {'prec':5} {'where':9} {'ep':>4} {'val nll':>8} "
        f"{'val F1':>7} {'copy F1':>7}"
    )
    for r in records:
        t = r["config"].get("train", {})
        best, copy = r["best"], r["baselines"].get("copy_previous", {}).get("valid", {})

        def num(m, k, w):
            return f"{m[k]:{w}.3f}" if isinstance(m.get(k), (int, float)) else " " * (w - 1) + "-"

        print(
            f"{r['id']:24} {r['name'][:22]:22} {r['status']:9} {t.get('optimizer', '-'):8} {t.get('loss', '-'):13} "
            f"{precision_of(r['config']):5} {backend_label(r['config']):9} "
            f"{r['epochs_done']:>4} {num(best, 'nll', 8)} {num(best, 'f1_best', 7)} {num(copy, 'f1', 7)}"
            + ("  DIVERGED" if r["diverged"] else "")
        )
    if any(r["diverged"] for r in records):
        print(f"DIVERGED: {RULE}")
    return 0


def cmd_evaluate(args) -> int:
    from musicgen.training.evaluate import evaluate_checkpoint

    data = args.data
    if data is None:
        from musicgen.errors import RunNotFoundError
        from musicgen.runs import store

        try:  # a store that cannot be opened says so itself (read-only home, damaged file)
            cfg = store.get_run(args.ref)["config"]
        except RunNotFoundError:
            raise ConfigError(f"{args.ref!r} is not a run id of this store; give the dataset with --data DATASET") from None
        data = cfg.get("data_path") or cfg.get("data")
        if not data:
            raise ConfigError(f"run {args.ref} has no dataset in the store; give the dataset with --data DATASET")
    result = evaluate_checkpoint(args.ref, data, split=args.split, device=args.device, threshold=args.threshold)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['checkpoint']} on {result['dataset']} ({result['split']}, scored on {result['scoring']}, "
        f"threshold {result['threshold']:.3f})"
    )
    print(f"model: {metrics_line(result['metrics'])}")
    if result["diverged"]:
        print(f"DIVERGED on this split: {RULE}")
    for kind, m in result["baselines"].items():
        print(f"baseline {kind}: {metrics_line(m, BASELINE_KEYS)}")
    print(f"the model reads {result['inputs']} at each step")
    return 0
