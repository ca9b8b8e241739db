"""The router: public Streamlit API only, pages/ holds exactly the routed page scripts, and each page checks it was routed."""

import ast

import pytest
from app_helpers import ROOT, no_failure, open_page

from dashboard.router import PAGES

STREAMLIT_CODE = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "dashboard").glob("*.py"))]
PUBLIC_SUBMODULES = ("streamlit.components.v1",)  # the only documented `import streamlit.<x>` an app uses


def imports(path) -> list[str]:
    """Return the modules a file imports (top level or in a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
    return out


@pytest.mark.parametrize("path", STREAMLIT_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_streamlit_module_is_imported(path):
    private = [m for m in imports(path) if m.startswith("streamlit.") and m not in PUBLIC_SUBMODULES]
    assert not private, f"{path.name} imports {private}: use streamlit's public API (st.*) only"


def test_pages_folder_holds_exactly_the_routed_pages():
    assert sorted(p.name for p in (ROOT / "pages").iterdir() if p.name != "__pycache__") == sorted(s for s, *_ in PAGES)


def test_every_url_path_is_its_files_name():
    # ensure_routed relies on it: Streamlit's folder mode names a page by its file, the router by its url_path.
    assert all(script == f"{url_path}.py" for script, _, _, url_path in PAGES)


@pytest.mark.parametrize("script", [s for s, *_ in PAGES])
def test_every_page_checks_the_router_before_drawing(script):
    body = ast.parse((ROOT / "pages" / script).read_text(encoding="utf-8")).body
    calls = [n.value.func for n in body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
    first = calls[0] if calls else None
    assert isinstance(first, ast.Name) and first.id == "ensure_routed", f"pages/{script} must call ensure_routed() before drawing"


@pytest.mark.parametrize("script, title", [(s, t) for s, t, *_ in PAGES])
def test_app_routes_to_every_page(home, script, title):
    at = open_page(script.removesuffix(".py"))
    no_failure(at)
    assert at.title[0].value == ("musicgen" if script == "home.py" else title)
