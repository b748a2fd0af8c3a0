"""Routers are defined at module level (issue 17): no function builds an ``APIRouter`` whose
handlers close over the collector's parts. A handler reaches the collector through the app's
Runtime (``collector.runtime.RuntimeDep``) and can be tested alone on a bare app.

Read from the source with :mod:`ast`: every function under ``collector/`` that calls
``APIRouter(...)`` is a factory, and only the ones listed in ALLOWED may remain."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "collector"

#: Factories still allowed, by "module path:function" (none: every router is module-level).
ALLOWED: set[str] = set()


def router_factories(package: Path = PACKAGE, root: Path = ROOT) -> set[str]:
    """``path:function`` of every function that calls ``APIRouter(...)`` (at any depth)."""
    found: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Call):
                    func = inner.func
                    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                    if name == "APIRouter":
                        found.add(f"{path.relative_to(root).as_posix()}:{node.name}")
                        break
    return found


def router_named_functions() -> set[str]:
    """``path:function`` of every function named ``*_router``."""
    found: set[str] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.endswith(
                "_router"
            ):
                found.add(f"{path.relative_to(ROOT).as_posix()}:{node.name}")
    return found


def test_no_function_builds_a_router_except_the_two_being_converted() -> None:
    assert router_factories() - ALLOWED == set()


def test_the_allowed_list_names_only_factories_that_still_exist() -> None:
    # A factory converted on its branch must leave ALLOWED too (the guard tightens itself).
    assert ALLOWED - router_factories() == set()


def test_functions_named_like_a_factory_build_no_router() -> None:
    # The web UI's lookup of the management pages' router (collector.web.management_router)
    # and the older alias collector.web.routes.web_router return a module-level router.
    assert router_named_functions() - ALLOWED == {
        "collector/web/__init__.py:management_router",
        "collector/web/routes.py:web_router",
    }


def test_the_guard_sees_a_closure_factory(tmp_path: Path) -> None:
    package = tmp_path / "collector"
    package.mkdir()
    (package / "things.py").write_text(
        "import fastapi\n"
        "router = fastapi.APIRouter()  # module level: fine\n"
        "def things_router(store):\n"
        "    inner = fastapi.APIRouter()\n"
        "    @inner.get('/x')\n"
        "    def x():\n"
        "        return store\n"
        "    return inner\n"
        "def helper():\n"
        "    return router\n"
    )
    assert router_factories(package, tmp_path) == {"collector/things.py:things_router"}
