"""`benchmark`: the model against the published figures of a polyphonic benchmark; `ensemble`: average trained runs."""

import json


def register(sub) -> None:
    """Add the `benchmark` sub-command to `sub`."""
    p = sub.add_parser("benchmark", help="evaluate a checkpoint (or train a recipe) on a benchmark's official test split")
    p.add_argument(
        "kind", choices=["jsb", "mat"], help="jsb: JSB Chorales with its published table; mat: any file in that format"
    )
    p.add_argument("--mat", required=True, help="the benchmark's .mat or .pickle file (Boulanger-Lewandowski's format)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", help="run id, .pt file, or a shipped name (jsb, demo)")
    what.add_argument("--recipe", help="a recipe JSON (e.g. configs/jsb.json): train it on the benchmark, then evaluate")
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu or cuda")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_benchmark)

    p = sub.add_parser("ensemble", help="average the probabilities of several trained runs into one checkpoint")
    p.add_argument("refs", nargs="+", metavar="RUN_ID|CHECKPOINT", help="runs or .pt files of one recipe (2 or more)")
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. checkpoints/jsb/best.pt)")
    p.add_argument("--data", help="dataset whose validation split picks the threshold (default: the first run's)")
    p.add_argument(
        "--half", action="store_true", help="store the weights as float16 (half the file; the printed NLL is of those)"
    )
    p.add_argument(
        "--select",
        type=int,
        metavar="K",
        help="keep at most K of the runs, picked one by one for the lowest validation NLL (default: keep all)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_ensemble)

    p = sub.add_parser("export", help="write a run's checkpoint for use only (no optimizer state), float16 with --half")
    p.add_argument("ref", metavar="RUN_ID|CHECKPOINT", help="run id or .pt file")
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. checkpoints/jsb-nade/best.pt)")
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the file)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_export)


def _benchmark(args) -> int:
    from musicgen.study.literature import format_benchmark, run_benchmark

    result = run_benchmark(
        args.mat, checkpoint=args.checkpoint, recipe=args.recipe, kind=args.kind, device=args.device, progress=not args.json
    )
    print(json.dumps(result, indent=2) if args.json else format_benchmark(result))
    return 0


def _ensemble(args) -> int:
    from musicgen.cli import check_writable
    from musicgen.study.ensembles import build_ensemble
    from musicgen.training.checkpoint import save_checkpoint

    # Checked before the members are loaded and averaged (minutes): a bad --out fails at once.
    out = check_writable(args.out, (), "--out")
    _, payload = build_ensemble(args.refs, args.data, half=args.half, select=args.select)
    save_checkpoint(out, payload)  # atomic; a failure (disk full) is one CheckpointError line with path and cause
    v = payload["valid"]
    out = {
        "out": args.out,
        "members": payload["members"],
        "rule": payload["rule"],
        "valid_nll": v["nll"],
        "valid_f1_best": v["f1_best"],
        "threshold": payload["threshold"],
        "selection": payload["selection"],
    }
    if payload["selection"] and not args.json:
        for i, pick in enumerate(payload["selection"], 1):
            print(f"pick {i}: {pick['member']}  valid NLL {pick['valid_nll']:.4f}")
    print(
        json.dumps(out)
        if args.json
        else f"wrote {args.out}: {len(payload['members'])} members ({payload['rule']}), valid NLL {v['nll']:.3f}, "
        f"F1 {v['f1_best']:.3f} at threshold {payload['threshold']:.2f}"
    )
    return 0


def _export(args) -> int:
    from musicgen.cli import check_writable
    from musicgen.training.checkpoint import export_payload, load_checkpoint, resolve_checkpoint, save_checkpoint

    out = check_writable(args.out, (".pt",), "--out")
    src = resolve_checkpoint(args.ref)
    save_checkpoint(out, export_payload(load_checkpoint(src), half=args.half))
    result = {"from": str(src), "out": str(out), "bytes": out.stat().st_size, "half": args.half}
    print(json.dumps(result) if args.json else f"wrote {out} ({result['bytes'] / 1e6:.1f} MB) from {src}")
    return 0
