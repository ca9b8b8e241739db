"""The package's shape, read from its source with `ast`: no import circles, no upward imports, no Streamlit.

Every module of `musicgen/` is a node (a package's `__init__.py` is a node of its own, named after the
package). Every import is an edge, at the top of a module or inside a function alike:
`import a.b` and `from a import b` where `b` is a submodule point at `a.b`; `from a.b import name`
points at `a.b`. The packages Python runs on the way (`a` for `import a.b`) are not edges: a
package's `__init__` that imports its own modules would otherwise always make a circle.
Layers, lowest first: the shared ground (top-level modules), data, nn, runs, training, music,
study, cli (`__main__` is the entry point and belongs to cli). A module imports its own layer and
the layers below it only.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "musicgen"
LAYERS = ("ground", "data", "nn", "runs", "training", "music", "study", "cli")
ENTRY_POINTS = {"__main__": "cli"}  # top-level modules that are not ground
FORBIDDEN = ("streamlit",)  # the package never imports these: pages call musicgen, not the other way


@dataclass(frozen=True)
class Edge:
    """One import: `source` imports `target`, written at `path:line`."""

    source: str
    target: str
    path: str
    line: int

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def module_names(root: Path) -> dict[str, Path]:
    """Return {dotted module name: file} for every .py file of the package at `root` (`__init__` named after its package)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve_from(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_edges(root: Path) -> list[Edge]:
    """Return every import of any module (inside the package or not) made by the package at `root`, top-level or in a function."""
    modules = module_names(root)
    edges = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = str(path.relative_to(root.parent))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges += [Edge(name, alias.name, rel, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve_from(node, name, path.name == "__init__.py")
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    edges.append(Edge(name, sub if sub in modules else target, rel, node.lineno))
    return edges


def layer_of(module: str) -> str:
    """Return the layer of a package module: its subpackage, or 'ground' for a top-level module."""
    parts = module.split(".")
    if len(parts) == 1:
        return "ground"
    if parts[1] in LAYERS:
        return parts[1]
    return ENTRY_POINTS.get(parts[1], "ground")


def upward_imports(root: Path) -> list[str]:
    """Return one line per import from a lower layer into a higher one (`file:line: a imports b (layer x < y)`)."""
    modules = module_names(root)
    out = []
    for e in import_edges(root):
        if e.target not in modules:
            continue
        src, dst = layer_of(e.source), layer_of(e.target)
        if LAYERS.index(dst) > LAYERS.index(src):
            out.append(f"{e.where()}: {e.source} ({src}) imports {e.target} ({dst}), a higher layer")
    return out


def import_cycles(root: Path) -> list[str]:
    """Return one line per import circle among the package's modules, each edge with its file:line."""
    modules = module_names(root)
    graph: dict[str, dict[str, Edge]] = {m: {} for m in modules}
    for e in import_edges(root):
        if e.target in modules and e.target != e.source:
            graph[e.source].setdefault(e.target, e)
    # Tarjan's strongly connected components: every component of more than one module holds a circle.
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_describe_cycle(graph, comp) for comp in components]


def _describe_cycle(graph: dict[str, dict[str, Edge]], comp: set[str]) -> str:
    """Return one circle of a strongly connected component, as `a (file:line) -> b (file:line) -> a`."""
    start = min(comp)
    # Breadth-first from start back to start within the component: the shortest circle through it.
    paths = {start: []}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w, edge in sorted(graph[v].items()):
            if w not in comp:
                continue
            if w == start:
                steps = [*paths[v], edge]
                return " -> ".join(f"{s.source} ({s.where()})" for s in steps) + f" -> {start}"
            if w not in paths:
                paths[w] = [*paths[v], edge]
                queue.append(w)
    raise AssertionError(f"no circle found in component {sorted(comp)}")


def forbidden_imports(root: Path) -> list[str]:
    """Return one line per import of a FORBIDDEN package."""
    return [f"{e.where()}: {e.source} imports {e.target}" for e in import_edges(root) if e.target.split(".")[0] in FORBIDDEN]


# The real package.


def test_package_has_no_import_cycles():
    cycles = import_cycles(PACKAGE_DIR)
    assert not cycles, "import circles in musicgen (move what both sides share into a third module):\n" + "\n".join(cycles)


def test_package_imports_downwards_only():
    bad = upward_imports(PACKAGE_DIR)
    assert not bad, f"upward imports (layers, lowest first: {' < '.join(LAYERS)}):\n" + "\n".join(bad)


def test_package_never_imports_streamlit():
    bad = forbidden_imports(PACKAGE_DIR)
    assert not bad, "musicgen imports Streamlit; keep Streamlit in app.py, pages/ and dashboard/:\n" + "\n".join(bad)


def test_every_subpackage_is_a_known_layer():
    subpackages = {p.parent.name for p in PACKAGE_DIR.glob("*/__init__.py")}
    assert subpackages <= set(LAYERS), f"subpackages without a layer: {sorted(subpackages - set(LAYERS))}; add them to LAYERS"


def test_checker_sees_the_real_package():
    modules = module_names(PACKAGE_DIR)
    assert {"musicgen", "musicgen.runs.store", "musicgen.training.train", "musicgen.cli"} <= set(modules)
    targets = {(e.source, e.target) for e in import_edges(PACKAGE_DIR)}
    assert ("musicgen.study.document", "musicgen.study.curves") in targets  # `from musicgen.study import curves, ranking`


# The checker itself, on a tiny package written for it.


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def synthetic(tmp_path) -> Path:
    """A package `musicgen` with a circle data.a -> data.b -> data.a (one side in a function, relative), an upward import
    (in a function) that closes a second circle, and a Streamlit import."""
    return _write(
        tmp_path / "musicgen",
        {
            "__init__.py": "",
            "paths.py": "import os\n",
            "data/__init__.py": "",
            "data/a.py": "from musicgen.data import b\n",
            "data/b.py": "import json\n\n\ndef f():\n    from .a import something\n    return something\n",
            "nn/__init__.py": "",
            "nn/net.py": "from musicgen.paths import home\n",
            "runs/__init__.py": "",
            "runs/store.py": "def g():\n    import musicgen.study.plan\n",
            "study/__init__.py": "",
            "study/plan.py": "from musicgen.runs.store import g\nimport streamlit as st\n",
        },
    )


def test_checker_reports_a_cycle_with_file_and_line(synthetic):
    assert sorted(import_cycles(synthetic)) == [
        "musicgen.data.a (musicgen/data/a.py:1) -> musicgen.data.b (musicgen/data/b.py:5) -> musicgen.data.a",
        # the upward import closes a second circle, across layers
        "musicgen.runs.store (musicgen/runs/store.py:2) -> musicgen.study.plan (musicgen/study/plan.py:1) -> musicgen.runs.store",
    ]


def test_checker_reports_an_upward_import_with_file_and_line(synthetic):
    assert upward_imports(synthetic) == [
        "musicgen/runs/store.py:2: musicgen.runs.store (runs) imports musicgen.study.plan (study), a higher layer"
    ]


def test_checker_reports_streamlit(synthetic):
    assert forbidden_imports(synthetic) == ["musicgen/study/plan.py:2: musicgen.study.plan imports streamlit"]


def test_checker_counts_a_package_init_as_its_own_node(tmp_path):
    root = _write(
        tmp_path / "musicgen",
        {
            "__init__.py": "",
            "runs/__init__.py": "from musicgen.runs.store import x\n",
            "runs/store.py": "from musicgen.runs import helper\n",  # `helper` is no module: the package's __init__
        },
    )
    assert import_cycles(root) == [
        "musicgen.runs (musicgen/runs/__init__.py:1) -> musicgen.runs.store (musicgen/runs/store.py:1) -> musicgen.runs"
    ]


def test_checker_passes_a_clean_package(tmp_path):
    root = _write(
        tmp_path / "musicgen",
        {
            "__init__.py": "",
            "errors.py": "",
            "__main__.py": "from musicgen.cli import main\n",
            "data/__init__.py": "",
            "data/midi.py": "from musicgen.errors import MidiError\n",
            "cli/__init__.py": "def main():\n    from musicgen.data import midi\n",
        },
    )
    assert import_cycles(root) == [] and upward_imports(root) == [] and forbidden_imports(root) == []
