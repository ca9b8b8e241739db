"""The Home page's checklist: the four steps of the work (dataset, train, compare, generate and listen) and their state."""

from __future__ import annotations

from dataclasses import dataclass, field

from musicgen.data import datasets
from musicgen.paths import home_dir
from musicgen.runs import store, votes


@dataclass(frozen=True)
class Step:
    """One step of the checklist: whether it is done, where things stand, and the link that takes it."""

    title: str
    done: bool
    state: str  # one line on where this step stands, or what to do first
    page: str  # the page file under pages/
    button: str
    query: dict = field(default_factory=dict)  # the link's query parameters (dashboard.links)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def checklist(runs=None) -> list[Step]:
    """Return the four steps with their state read from MUSICGEN_HOME (datasets, runs, sweeps, samples and votes).

    `runs` is `store.list_runs()` when the page read it already (to show the rows it left out).
    """
    sets = datasets.list_datasets()
    runs = store.list_runs() if runs is None else runs  # it marks runs whose process died as failed first
    sweeps = store.list_sweeps()
    samples = sum(1 for p in (home_dir() / "generated").glob("*") if p.is_dir())
    n_votes = len(votes.list_votes())
    finished = runs[runs["status"] == "finished"] if len(runs) else runs
    running = int((runs["status"] == "running").sum()) if len(runs) else 0
    steps = [
        Step(
            "1. Build a dataset",
            bool(sets),
            f"built: {', '.join(d['name'] for d in sets)}"
            if sets
            else "none yet: build the Bach chorales in one click, or upload your own MIDI files",
            "data.py",
            "Open Dataset",
        ),
        Step(
            "2. Train a model",
            len(finished) > 0,
            f"{_plural(len(finished), 'finished run')}, {running} running"
            if len(runs)
            else "no run yet: pick an optimizer and a loss and launch one",
            "train.py",
            "Open Train",
        ),
    ]
    if len(sweeps):
        latest = sweeps.iloc[0]
        compare = (f"{_plural(len(sweeps), 'study sweep')}; the latest: {latest['name']}", {"sweep": latest["id"]})
    elif len(finished) >= 2:
        compare = (
            "no study yet; compare your runs, or launch the optimizer × loss study",
            {"runs": ",".join(finished["id"][:4])},
        )
    else:
        compare = ("no study yet: launch the optimizer × loss study (or train two runs to compare them)", {})
    steps.append(Step("3. Compare optimizers and losses", len(sweeps) > 0, compare[0], "compare.py", "Open Compare", compare[1]))
    model = {"model": finished["id"].iloc[0]} if len(finished) else {}
    steps.append(
        Step(
            "4. Generate and listen",
            samples > 0 or n_votes > 0,
            f"{_plural(samples, 'generated piece')}, {_plural(n_votes, 'listening vote')}"
            if samples or n_votes
            else "nothing generated yet: the shipped demo model plays before you train",
            "generate.py",
            "Open Generate",
            model,
        )
    )
    return steps
