"""No import cycle among monitor's modules, counting imports inside functions too.

A cycle works only as long as every module in it happens to be imported in one order; the
next import added at the top of one of them breaks start-up. Imports under
``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "monitor"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.relative_to(PACKAGE).parts
    }


def _type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The monitor modules ``path`` imports, wherever in the file (not under TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def resolve(target: str) -> None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    resolve(alias.name)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*up, base] if base else up)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    resolve(full if full in known else base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def graph_of(mods: dict[str, Path]) -> dict[str, set[str]]:
    known = set(mods)
    return {name: imported(path, name, known) for name, path in mods.items()}


def test_no_module_of_monitor_imports_itself_back() -> None:
    graph = graph_of(modules())
    assert len(graph) > 90  # every module was read
    assert graph["monitor.service.jobs"] >= {"monitor.rules.run", "monitor.sources.poll"}
    assert cycles(graph) == []


def test_the_check_finds_a_cycle_through_an_import_inside_a_function(tmp_path: Path) -> None:
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("from monitor import b\n")
    b.write_text("def f():\n    from monitor.a import x\n")
    known = {"monitor.a", "monitor.b"}
    graph = {
        "monitor.a": imported(a, "monitor.a", known),
        "monitor.b": imported(b, "monitor.b", known),
    }
    assert cycles(graph) == [["monitor.a", "monitor.b"]]
    b.write_text("import typing\nif typing.TYPE_CHECKING:\n    from monitor.a import x\n")
    graph["monitor.b"] = imported(b, "monitor.b", known)
    assert cycles(graph) == []
