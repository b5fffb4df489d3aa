"""The shape of the source, checked with `ast`: no import circles among the project's
modules, and no production function longer than a screen.

Every import of a project module counts, wherever it is: at module level, inside a
function, and under `if TYPE_CHECKING:` (a circle that only type checking sees is still a
tangle to read). `from pkg import name` is an edge to `pkg.name` when that is a module,
else to `pkg`; importing a package is an edge to its `__init__`, and a package's
`__init__` importing its children counts like any other module."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "adapters", "worker")
MAX_FUNCTION_LINES = 80

# module -> imported module -> line numbers of the imports that make the edge
Graph = dict[str, dict[str, list[int]]]


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module under the packages, by dotted name (a package is its `__init__`)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _base(module: str, path: Path, level: int) -> str:
    """The package a relative import with `level` dots starts from."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """`name`, or the longest dotted prefix of it that is a project module."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> list[tuple[str, int]]:
    """The project modules one file imports, with the line of each import."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _base(module, path, node.level)
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            # `from pkg import name`: the submodule where there is one, else pkg itself
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            known = _known(target, modules)
            if known is not None:
                found.append((known, node.lineno))
    return found


def import_graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> Graph:
    modules = module_files(root, packages)
    graph: Graph = {module: {} for module in modules}
    for module, path in modules.items():
        for target, line in imports_of(module, path, modules):
            lines = graph[module].setdefault(target, [])
            if line not in lines:  # `from x import a, b` is one import
                lines.append(line)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The circles: strongly connected components of more than one module, and modules
    that import themselves (Tarjan's algorithm, iterative so depth is no limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(sorted(component))
    return sorted(found)


def describe(component: list[str], graph: Graph, modules: Mapping[str, Path]) -> str:
    """A circle's modules and the imports inside it that close it (file:line)."""
    members = set(component)
    lines = []
    for module in component:
        path = modules[module].relative_to(ROOT)
        for target, numbers in sorted(graph[module].items()):
            if target in members:
                at = ", ".join(f"{path}:{n}" for n in sorted(numbers))
                lines.append(f"    {module} -> {target} ({at})")
    return "circle: " + " <-> ".join(component) + "\n" + "\n".join(lines)


def test_no_import_circles() -> None:
    modules = module_files(ROOT, PACKAGES)
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(
        describe(component, graph, modules) for component in found
    )


def test_the_cycle_finder_sees_circles() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a"},  # a -> b -> c -> a
        "d": {"a", "e"},  # into the circle, not part of it
        "e": set(),
        "f": {"f"},  # a self-import
    }
    assert cycles(graph) == [["a", "b", "c"], ["f"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from . import one\n")
    (package / "one.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub.two import Thing\n"
    )
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "two.py").write_text(
        "def later():\n    from ..one import name\n    import pkg.sub\n    from pkg import sub\n"
    )
    graph = import_graph(tmp_path, ["pkg"])
    assert {module: sorted(edges) for module, edges in graph.items()} == {
        "pkg": ["pkg.one"],
        "pkg.one": ["pkg.sub.two"],
        "pkg.sub": [],
        "pkg.sub.two": ["pkg.one", "pkg.sub"],
    }
    assert cycles(graph) == [["pkg.one", "pkg.sub.two"]]


def long_functions(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> list[str]:
    offenders = []
    for path in module_files(root, packages).values():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = f"{path.relative_to(root)}:{node.lineno}"
                    offenders.append(f"{where} {node.name} ({length} lines)")
    return sorted(offenders)


def test_functions_are_short() -> None:
    offenders = long_functions()
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(offenders)


def test_the_length_check_sees_long_functions(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    body = "".join(f"    x{n} = {n}\n" for n in range(MAX_FUNCTION_LINES))
    (tmp_path / "pkg" / "long.py").write_text(f"def short():\n    pass\n\ndef long():\n{body}")
    assert long_functions(tmp_path, ["pkg"]) == [
        f"pkg/long.py:4 long ({MAX_FUNCTION_LINES + 1} lines)"
    ]
