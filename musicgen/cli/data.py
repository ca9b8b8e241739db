"""`preprocess` and `datasets`: build piano-roll datasets and list them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from musicgen.cli import check_writable_folder
from musicgen.errors import ConfigError, OutputError, write_failure


def register(sub) -> None:
    """Add this area's sub-commands to `sub`."""
    p = sub.add_parser(
        "preprocess", help="turn MIDI files, folders, zips, builtin:bach or a .mat/.pickle benchmark into a dataset"
    )
    p.add_argument("sources", nargs="+", metavar="SRC", help="MIDI file, folder, .zip, builtin:bach, or one .mat/.pickle file")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="dataset folder to write (dataset.npz, report.json), anywhere")
    where.add_argument("--name", help="dataset name: writes MUSICGEN_HOME/data/NAME (letters, digits, '-', '_', '.')")
    p.add_argument("--seq-len", type=int, default=None, help="steps per window (default 128; benchmark files: whole sequences)")
    p.add_argument("--hop", type=int, default=None, help="steps between window starts (default 64)")
    p.add_argument("--windows", choices=["all", "first"], default=None, help="all: every hop; first: one window per file")
    grid = p.add_mutually_exclusive_group()
    grid.add_argument(
        "--steps-per-beat", type=int, default=None, help="steps per quarter note, following the tempo map (default 4)"
    )
    grid.add_argument("--fs", type=float, default=None, help="fixed grid in steps per second instead")
    p.add_argument("--low", type=int, default=None, help="lowest MIDI pitch kept (default 24)")
    p.add_argument("--high", type=int, default=None, help="one past the highest pitch kept (default 108)")
    p.add_argument("--split", default=None, help="train,valid,test shares of the files (default 0.8,0.1,0.1)")
    p.add_argument("--seed", type=int, default=None, help="seed of the file-level split (default 0)")
    p.add_argument("--max-file-mb", type=float, default=None, help="skip MIDI files larger than this (default 20)")
    p.add_argument(
        "--pedal",
        choices=["on", "off"],
        default=None,
        help="on: the sustain pedal (CC64) holds released notes until it is lifted, as a piano sounds (default); "
        "off: note-offs as written",
    )
    p.add_argument(
        "--pedal-decay",
        type=_seconds_or_none,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="longest a pedal-held note sounds after its onset, in seconds at middle C, halved per octave up and doubled "
        "per octave down, as a struck string decays (default 3); none: until the pedal lifts, however long",
    )
    p.add_argument("--parser", choices=["symusic", "pretty_midi"], default="symusic", help="MIDI parser (default symusic)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores; 0: none)")
    p.add_argument(
        "--format",
        choices=["npz", "shards"],
        default="npz",
        help="npz: dataset.npz of windows, loaded whole (default); shards: whole pieces, 2 bits a cell, memory-mapped, "
        "for corpora larger than memory (data/README.md)",
    )
    p.add_argument(
        "--backend",
        choices=["local", "ray"],
        default="local",
        help="local: worker processes (default); ray: Ray tasks (--format shards)",
    )
    p.add_argument("--ray-address", default=None, help="HOST:PORT of a Ray cluster's head (default: start a local Ray)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    p.set_defaults(func=cmd_preprocess)

    m = sub.add_parser("shard", help="migrate a dataset.npz dataset to the sharded format (the same rows, memory-mapped)")
    m.add_argument("dataset", help="dataset folder or name under MUSICGEN_HOME/data")
    where = m.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="folder to write the sharded dataset to")
    where.add_argument("--name", help="dataset name: writes MUSICGEN_HOME/data/NAME")
    m.set_defaults(func=cmd_shard)

    d = sub.add_parser("datasets", help="list the datasets under MUSICGEN_HOME/data")
    d.add_argument("--json", action="store_true", help="print a JSON list")
    d.set_defaults(func=cmd_datasets)


def _seconds_or_none(text: str) -> float | None:
    """Parse --pedal-decay: a number of seconds, or 'none' for no limit (the range is DataConfig's to check)."""
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds; give e.g. 3, or none for no limit") from None


def _config(args):
    """Return a DataConfig of the options given, or None when none was (defaults of the source kind)."""
    from musicgen.config import DataConfig

    names = ("seq_len", "hop", "windows", "steps_per_beat", "fs", "low", "high", "seed", "max_file_mb")
    given = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if args.pedal is not None:
        given["pedal"] = args.pedal == "on"
    if hasattr(args, "pedal_decay"):  # given, possibly as none (no limit)
        given["pedal_decay_s"] = args.pedal_decay
    if args.split is not None:
        try:
            given["split"] = tuple(float(s) for s in args.split.split(","))
        except ValueError:
            raise ConfigError(f"--split {args.split!r} must be three numbers like 0.8,0.1,0.1") from None
    bench = any(str(s).lower().endswith((".mat", ".pickle", ".pkl")) for s in args.sources)
    if not given:
        return None if bench else DataConfig()
    if bench:
        given.setdefault("steps_per_beat", 1)
    return DataConfig(**given)


def _progress_bar():
    if not sys.stderr.isatty():
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="file", file=sys.stderr, leave=False)

    def update(done, total):
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar


def _print_json(summary: dict, key: str, rows) -> None:
    """Print `summary` with `key`: the list of `rows`, as one line of JSON, written a row at a time (rows may be many)."""
    head = json.dumps(summary)[:-1]
    sys.stdout.write(f"{head}{', ' if summary else ''}{json.dumps(key)}: [")
    for i, row in enumerate(rows):
        sys.stdout.write((", " if i else "") + json.dumps(row))
    sys.stdout.write("]}\n")
    sys.stdout.flush()


def cmd_preprocess(args) -> int:
    """Build a dataset and print its summary."""
    from musicgen.data.datasets import build_dataset
    from musicgen.data.onsets import pedal_words
    from musicgen.data.shards import piece_rows
    from musicgen.paths import dataset_dir

    out = Path(args.out) if args.out is not None else dataset_dir(args.name)  # a shell user's --out may be any folder
    cfg = _config(args)
    check_writable_folder(out, "--out")  # before the build, which can take minutes
    update, bar = _progress_bar()
    try:
        report = build_dataset(
            args.sources,
            out,
            cfg,
            workers=args.workers,
            progress=update,
            parser=args.parser,
            layout=args.format,
            backend=args.backend,
            ray_address=args.ray_address,
        )
    except OSError as e:  # the disk filled or the folder changed during the build
        raise OutputError(f"cannot write the dataset to {write_failure(out / 'dataset.npz', e)}") from None
    finally:
        if bar is not None:
            bar.close()
    st = report["stats"]
    skipped = [{"file": f["file"], "reason": f["reason"]} for f in report["files"] if f["status"] != "ok"]
    summary = {
        "out": str(out.resolve()),
        "id": report["id"],
        "cached": report.get("cached", False),
        "files_ok": st["files_ok"],
        "files_skipped": skipped,
        "windows": st["windows"],
        "form": report.get("form", "hold"),
        "scoring": report.get("scoring", "windows"),
        "notes": st["notes"],
        "dropped_notes": st["dropped_notes"],
        "steps": st["steps"],
        "density": st["density"],
        "mean_polyphony": st["mean_polyphony"],
        "seconds": round(report.get("seconds", 0.0), 3),
    }
    summary["format"] = report.get("layout", "npz")
    if summary["form"] == "onsets":
        summary |= {k: st[k] for k in ("restrikes", "pedal_extended", "merged_notes", "onsets")}
        summary |= {k: report["config"].get(k) for k in ("pedal", "pedal_decay_s")}
    if "key_map" in report:
        summary["key_map"] = report["key_map"]
    if args.json:
        if summary["form"] != "onsets":
            print(json.dumps(summary))
            return 0
        # A sharded dataset keeps its pieces' rows in index.npz: streamed from it as they are printed.
        rows = piece_rows(out, report) if summary["format"] == "shards" else report["files"]
        keys = ("file", "notes", "restrikes", "pedal_extended", "merged_notes", "split")
        _print_json(summary, "files", ({k: f.get(k) for k in keys} for f in rows if f["status"] == "ok"))
        return 0
    w = st["windows"]
    how = "cached" if summary["cached"] else "built" + (f" on {report['backend']}" if report.get("backend") else "")
    print(f"dataset {summary['out']} ({how}, id {report['id']}, format {summary['format']})")
    print(
        f"  files: {st['files_ok']} ok, {len(skipped)} skipped; "
        f"notes {st['notes']:,} (dropped out of range: {st['dropped_notes']:,})"
    )
    if summary["form"] == "onsets":
        print(
            f"  onset-aware rolls ({pedal_words(report['config'])}): "
            f"{st['restrikes']:,} re-struck notes kept apart, {st['pedal_extended']:,} notes held by the pedal, "
            f"{st['merged_notes']:,} notes struck on an occupied step (finer than the grid)"
        )
    else:
        print("  hold-only rolls (this format has no onsets)")
    if summary["scoring"] == "whole pieces":
        print(
            f"  train: {w['train']} windows of {report['config']['seq_len']} steps; valid {w['valid']}, test {w['test']} "
            f"whole pieces (each step scored once, with its whole past)"
        )
    else:
        print(f"  windows: train {w['train']}, valid {w['valid']}, test {w['test']} of {report['config']['seq_len']} steps")
    print(f"  density {st['density']:.2%}, mean polyphony {st['mean_polyphony']:.2f}, empty steps {st['empty_step_share']:.1%}")
    for row in skipped:
        print(f"  skipped {row['file']}: {row['reason']}")
    return 0


def cmd_datasets(args) -> int:
    """List the datasets under MUSICGEN_HOME/data."""
    from musicgen.data.datasets import list_datasets
    from musicgen.paths import data_dir

    rows = list_datasets()
    if args.json:
        for r in rows:
            r["stats"] = {k: v for k, v in r["stats"].items() if k != "pitch_histogram"}
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no datasets under {data_dir()}; build one with: python -m musicgen preprocess builtin:bach --name bach")
        return 0
    for r in rows:
        st, w = r["stats"], r["stats"].get("windows", {})
        print(
            f"{r['name']:<20} {st.get('files_ok', 0):>5} files  {st.get('notes', 0):>9,} notes  "
            f"windows {w.get('train', 0)}/{w.get('valid', 0)}/{w.get('test', 0)}  density {st.get('density', 0):.2%}  {r['path']}"
        )
    return 0


def cmd_shard(args) -> int:
    """Write a dataset.npz dataset as a sharded one."""
    from musicgen.data.datasets import load_dataset
    from musicgen.data.shard_migrate import shards_from_npz
    from musicgen.data.shards import LAYOUT
    from musicgen.paths import dataset_dir

    ds = load_dataset(args.dataset)
    if ds.report.get("layout") == LAYOUT:
        raise ConfigError(f"{args.dataset} is sharded already; give a dataset.npz dataset")
    out = Path(args.out) if args.out is not None else dataset_dir(args.name)
    check_writable_folder(out, "--out")
    if out.resolve() == ds.path.resolve():
        raise ConfigError(f"--out {out} is the dataset itself; write the sharded copy to another folder")
    try:
        report = shards_from_npz(ds.path, out)
    except OSError as e:
        raise OutputError(f"cannot write the dataset to {write_failure(out / 'index.npz', e)}") from None
    rows = " / ".join(str(len(ds.split(s)[0])) for s in ("train", "valid", "test"))
    print(f"sharded dataset {out.resolve()} (id {report['id']}): {rows} train / valid / test rows, as in {ds.path}")
    return 0
