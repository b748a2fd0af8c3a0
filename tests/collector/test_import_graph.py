"""No import cycles between the collector's modules, counting the imports made inside
functions (a lazy import only hides a cycle, it does not remove it) and leaving out those
under ``if TYPE_CHECKING:`` (never run).

The graph is read from the source with :mod:`ast`, so the check needs no imports and
names the modules of a cycle when it finds one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "collector"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    hidden.update(id(n) for n in ast.walk(child))
    return hidden


def import_graph() -> dict[str, set[str]]:
    """module → the collector modules it imports (anywhere in its code)."""
    files = {
        module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.relative_to(PACKAGE).parts
    }
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        hidden = _type_checking_nodes(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - (node.level - 1)]
                    base = ".".join([*parts, *([node.module] if node.module else [])])
                # ``from pkg import mod`` imports the module pkg.mod (and pkg itself).
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                    for alias in node.names
                ]
            for target in targets:
                if target in files and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_the_check_finds_a_cycle_hidden_in_a_function() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    graph = import_graph()
    # collector.cli imports the server only inside ``serve`` (uvicorn only when serving).
    assert "collector.server" in graph["collector.cli"]
    assert "collector.cli_support" in graph["collector.sla.cli"]


#: Cycles known and not yet broken, each with its reason. The list only shrinks: a new cycle
#: fails the test, and so does one listed here that is gone (remove it from the list then).
KNOWN_CYCLES: dict[tuple[str, ...], str] = {}


def test_collector_modules_import_no_cycle() -> None:
    found = [c for c in cycles(import_graph()) if tuple(c) not in KNOWN_CYCLES]
    gone = [c for c in KNOWN_CYCLES if list(c) not in cycles(import_graph())]
    assert not gone, f"no longer a cycle, remove from KNOWN_CYCLES: {gone}"
    if found:
        pytest.fail(
            "import cycles between collector modules (break them with a module both sides "
            "may import, e.g. collector.errors, collector.runtime, collector.cli_support):\n"
            + "\n".join(" ↔ ".join(c) for c in found)
        )


def test_api_web_and_cli_do_not_import_each_other_back() -> None:
    """The two cycles the structure work removed: api ↔ web (status_for) and the CLI's
    subcommands importing helpers from collector.cli."""
    graph = import_graph()
    web_modules = [m for m in graph if m == "collector.web" or m.startswith("collector.web.")]
    assert not any("collector.api" in graph[m] for m in web_modules)
    assert not any("collector.cli" in deps for m, deps in graph.items() if m != "collector")
