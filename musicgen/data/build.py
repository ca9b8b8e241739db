"""Build a dataset from MIDI inputs: list, hash (cache hit?), parse in workers, split by file, window, write.

Every size is checked before it is allocated: a file's steps (musicgen.data.midi), its windows and the
dataset's cells (musicgen.data.rolls); each worker runs under a memory ceiling (musicgen.parallel). A
file over a limit, or one that crashes or exhausts its worker, is skipped with the reason; the rest is built.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from musicgen.config import DataConfig, to_dict
from musicgen.data.corpora import BUILTINS, bach_midi_dir
from musicgen.data.midi import PARSERS
from musicgen.data.rolls import (
    ONSETS,
    SPLITS,
    assign_splits,
    base_report,
    cached_report,
    check_dataset_cells,
    cut_windows,
    piece_picks,
    roll_statistics,
    too_many_windows,
    window_picks,
    write_dataset,
)
from musicgen.data.sources import collect_items, fingerprint, iter_items, load_item, read_zip_members
from musicgen.errors import ConfigError, DataError
from musicgen.parallel import check_workers, map_isolated

MIN_SPLIT_WINDOWS = 8  # fewer windows than this measure a split too noisily to compare runs on it
MIN_SPLIT_SHARE = 0.05  # a split asked for with less than 5% of the windows is tiny
MAX_SHARE_DRIFT = 0.15  # the split is by file: a split off its asked share by more than 15 points is lopsided


def split_warnings(windows: dict[str, int], asked: tuple[float, float, float]) -> list[str]:
    """Return one line per problem of a built split, [] when it is sound.

    `windows` is {"train": n, "valid": n, "test": n}; `asked` the DataConfig.split shares. A split that
    was asked for (share > 0) is tiny when it has fewer than MIN_SPLIT_WINDOWS windows or under
    MIN_SPLIT_SHARE of them; the whole split is lopsided when train is not the largest, or a split's
    share is more than MAX_SHARE_DRIFT away from the asked one (whole files go to one split, so a few
    long files tip it: 5 files gave 92/51/12 windows for 0.8/0.1/0.1).
    """
    total = sum(windows.values())
    if total == 0:
        return []
    names = ("train", "valid", "test")
    out = []
    for name, share in zip(names, asked, strict=True):
        n = windows.get(name, 0)
        if share > 0 and (n < MIN_SPLIT_WINDOWS or n / total < MIN_SPLIT_SHARE):
            out.append(
                f"{name} has {n} windows ({n / total:.0%} of {total}): too few to measure on; add files or raise its share"
            )
    counts = " / ".join(str(windows.get(n, 0)) for n in names)
    wanted = " / ".join(f"{a:.0%}" for a in asked)
    if windows.get("train", 0) < max(windows.get("valid", 0), windows.get("test", 0)):
        out.append(f"train is not the largest split ({counts} windows); add files or try another split seed")
    elif any(abs(windows.get(n, 0) / total - a) > MAX_SHARE_DRIFT for n, a in zip(names, asked, strict=True)):
        shares = " / ".join(f"{windows.get(n, 0) / total:.0%}" for n in names)
        out.append(
            f"lopsided split: {counts} windows ({shares}, asked {wanted}); files go whole to one split, "
            "so add files or try another split seed"
        )
    return out


def _expand_builtins(sources: list[str], workers) -> list[str]:
    out = []
    for s in sources:
        if s.startswith("builtin:"):
            if s not in BUILTINS:
                raise DataError(f"unknown built-in corpus {s!r}; use one of {list(BUILTINS)}")
            out.append(str(bach_midi_dir(workers=workers)))
        else:
            out.append(s)
    return out


def _check_build(parser: str, workers) -> None:
    if parser not in PARSERS:
        raise ConfigError(f"unknown MIDI parser {parser!r}; use one of {list(PARSERS)}")
    check_workers(workers)


def list_inputs(sources: list[str], cfg: DataConfig, workers, parser: str, **params) -> tuple[list, list[dict], str]:
    """Return (MIDI items to read, rows of inputs skipped at listing, the build's content key) of `sources`.

    `params` (e.g. the layout of a sharded build) enter the key beside the config and the parser.
    """
    _check_build(parser, workers)
    items, skipped = collect_items(_expand_builtins(sources, workers), cfg)
    return items, skipped, build_key(fingerprint(sorted(items, key=lambda i: i.name), skipped), cfg, parser, **params)


def build_key(inputs: str, cfg: DataConfig, parser: str, **params) -> str:
    """Return the content key of a build: the inputs' fingerprint, the config, the parser and `params`."""
    params = json.dumps({"config": to_dict(cfg), "parser": parser, "builder": 2, **params}, sort_keys=True)
    return hashlib.sha256((inputs + params).encode()).hexdigest()[:16]


class Inputs:
    """The MIDI inputs of a build, walked lazily: `len` is their number, iterating walks the sources again.

    Listing them once here counts them, collects the rows of the inputs left out and hashes every file (the
    build's content `key`), holding no listing: a 50,000-file corpus costs the parent what a 1,000-file one does.
    """

    def __init__(self, sources: list[str], cfg: DataConfig, workers, parser: str, **params):
        _check_build(parser, workers)
        self.sources, self.cfg = _expand_builtins(sources, workers), cfg
        self.skipped: list[dict] = []
        self.n = 0
        self.key = build_key(fingerprint(self._counted(), self.skipped), cfg, parser, **params)  # in walk order

    def _counted(self):
        for found in iter_items(self.sources, self.cfg):
            if isinstance(found, dict):
                self.skipped.append(found)
            else:
                self.n += 1
                yield found

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return (found for found in iter_items(self.sources, self.cfg) if not isinstance(found, dict))


def crashed_row(args, message: str) -> dict:
    reason = f"{message}; cut the file or lower --steps-per-beat/--fs"
    return {"file": args[0].name, "status": "skipped", "reason": reason, "roll": None, "info": {}}


def skip_long(result: dict, cfg) -> dict:
    """Return the worker's result, or a skipped one when its roll would give more than MAX_WINDOWS_PER_FILE windows."""
    reason = too_many_windows(result["info"]["steps"], cfg) if result["status"] == "ok" else None
    return result if reason is None else result | {"status": "skipped", "reason": reason, "roll": None, "info": {}}


def build_from_midi(sources: list[str], out: Path, cfg: DataConfig, workers=None, progress=None, parser="symusic") -> dict:
    """Build (or reuse) the dataset of MIDI inputs in `out`; return its report."""
    t0 = time.perf_counter()
    given = list(sources)
    items, skipped, key = list_inputs(given, cfg, workers, parser)
    hit = cached_report(out, key)
    if hit is not None:
        return hit | {"cached": True, "seconds": time.perf_counter() - t0}

    items, unreadable = read_zip_members(items, int(cfg.max_file_mb * 2**20))
    skipped = skipped + unreadable
    results = map_isolated(load_item, [(i, cfg, parser) for i in items], workers=workers, on_crash=crashed_row, progress=progress)
    results = [skip_long(r, cfg) for r in results]
    ok = [r for r in results if r["status"] == "ok"]
    if not ok:
        reasons = [f"{r['file']}: {r['reason']}" for r in (skipped + results)[:3]]
        raise DataError(
            f"no usable MIDI file among {len(items) + len(skipped)} inputs ({'; '.join(reasons) or 'none found'}); "
            f"give .mid/.midi files, folders or zips with pitched notes"
        )
    labels = assign_splits(len(ok), cfg.split, cfg.seed)
    rows = []
    by_split = {s: [] for s in SPLITS}
    for r, lab in zip(ok, labels, strict=True):
        by_split[SPLITS[lab]].append(r)
        rows.append({"file": r["file"], "status": "ok", "reason": ""} | _counts(r["info"]) | {"split": SPLITS[lab]})
    rows += [
        {k: r[k] for k in ("file", "status", "reason")} | _counts({}) | {"split": None} for r in results if r["status"] != "ok"
    ]
    rows = sorted(rows + skipped, key=lambda r: r["file"])
    # Valid and test hold whole pieces, so that each of their steps is scored once and with its whole past;
    # train keeps the overlapping windows it learns from. `--windows first` keeps one window per file everywhere.
    whole = cfg.windows == "all"
    picks = {
        s: piece_picks([r["roll"] for r in rs]) if whole and s != "train" else window_picks([r["roll"] for r in rs], cfg)
        for s, rs in by_split.items()
    }
    seq_lens = {s: max([p[2] for p in picks[s]], default=1) if whole and s != "train" else cfg.seq_len for s in SPLITS}
    cells = sum(len(picks[s]) * seq_lens[s] * cfg.n_notes for s in SPLITS)
    check_dataset_cells(sum(len(p) for p in picks.values()), cfg.seq_len, cfg.n_notes, cells)  # all splits, before any is cut
    windows = {
        s: cut_windows(
            [r["roll"] for r in rs], [r["file"] for r in rs], cfg, seq_lens[s], picks[s], [r["info"]["bar_steps"] for r in rs]
        )
        for s, rs in by_split.items()
    }
    stats = roll_statistics([r["roll"] for r in ok])
    stats = {
        "files_ok": len(ok),
        "files_skipped": len(rows) - len(ok),
        **{k: int(sum(r["info"][k] for r in ok)) for k in COUNTS},
        "drum_notes": int(sum(r["info"]["drum_notes"] for r in ok)),
        "onsets": int(sum(int((r["roll"] == 2).sum()) for r in ok)),
        "files": {s: len(rs) for s, rs in by_split.items()},
        "windows": {s: len(w["x"]) for s, w in windows.items()},
        "steps_per_split": {s: int(sum(r["info"]["steps"] for r in rs)) for s, rs in by_split.items()},
        **stats,
    }
    report = base_report(
        key, out, given, cfg, parser=parser, form=ONSETS, scoring="whole pieces" if whole else "windows", stats=stats, files=rows
    )
    write_dataset(out, windows, report)
    return report | {"cached": False, "seconds": time.perf_counter() - t0}


# What each file's row counts (musicgen.data.midi.roll_from_notes), summed in the report's stats.
COUNTS = ("notes", "steps", "dropped_notes", "restrikes", "merged_notes", "pedal_extended")


def _counts(info: dict) -> dict:
    return {k: int(info.get(k, 0)) for k in COUNTS}
