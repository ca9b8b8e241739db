"""`benchmark`: the model against the published figures of a polyphonic benchmark."""

import json


def register(sub) -> None:
    """Add the `benchmark` sub-command to `sub`."""
    p = sub.add_parser("benchmark", help="evaluate a checkpoint (or train a recipe) on a benchmark's official test split")
    p.add_argument("kind", choices=["jsb", "mat"], help="jsb: JSB Chorales with its published table; mat: any file in that format")
    p.add_argument("--mat", required=True, help="the benchmark's .mat or .pickle file (Boulanger-Lewandowski's format)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", help="run id, .pt file, or a shipped name (jsb, demo)")
    what.add_argument("--recipe", help="a recipe JSON (e.g. configs/jsb.json): train it on the benchmark, then evaluate")
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu or cuda")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_benchmark)


def _benchmark(args) -> int:
    from musicgen.benchmark import format_benchmark, run_benchmark

    result = run_benchmark(args.mat, checkpoint=args.checkpoint, recipe=args.recipe, kind=args.kind, device=args.device,
                           progress=not args.json)
    print(json.dumps(result, indent=2) if args.json else format_benchmark(result))
    return 0
