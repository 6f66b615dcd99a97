"""The package's import graph, read from the source (AST, function-level imports included): no circles, and
the training library never reaches up into the build-time `dvc.yaml` generator or into reporting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
LIBRARY = ("mmdiag.experiments", "mmdiag.engine", "mmdiag.models")  # what trains and builds models
ABOVE_LIBRARY = ("mmdiag.dvc_yaml", "mmdiag.reporting")  # build time, and what reads finished runs


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "mmdiag").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _known(name: str) -> str | None:
    """The module `name` is, or the module a name imported from it lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> set[str]:
    """`mmdiag` modules `module` imports. `from pkg import x` depends on `pkg` (its `__init__` runs first) and
    on `pkg.x` when that is a module; `import a.b` depends on `a.b`."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {_known(a.name) for a in node.names if a.name.split(".")[0] == "mmdiag"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] == "mmdiag":
                found.add(_known(source))
                found |= {_known(f"{source}.{a.name}") for a in node.names}
    return {m for m in found if m is not None and m != module}


GRAPH = {m: imports(m) for m in MODULES}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_scan_sees_the_package() -> None:
    assert {"mmdiag.engine.trainer", "mmdiag.run_folder", "mmdiag.data.format"} <= set(MODULES)
    assert "mmdiag.run_folder" in GRAPH["mmdiag.experiments.runs"]
    assert "mmdiag.engine.distributed" in GRAPH["mmdiag.engine.trainer"]


def test_the_cycle_finder_finds_circles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    assert cycles(GRAPH) == [], "modules that import each other (directly or round a circle)"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _under(m, LIBRARY)))
def test_the_library_does_not_import_build_time_or_reporting_code(module: str) -> None:
    upward = sorted(m for m in GRAPH[module] if _under(m, ABOVE_LIBRARY))
    assert not upward, f"{module} imports {upward}"
