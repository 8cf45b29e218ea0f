"""Layers point down: the import graph of the package, read from the source (no imports run).

An edge is a module-level or function-level import of a package module; imports under
``if TYPE_CHECKING:`` run never and do not count. ``storage/``, ``tmux/`` and ``metrics/`` are
below supervision and the actors, and no group of modules imports itself round in a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "yesman_recovery"
LOWER = (
    "yesman_recovery.storage",
    "yesman_recovery.tmux",
    "yesman_recovery.metrics",
    "yesman_recovery.agents",
)
UPPER = ("yesman_recovery.supervisors", "yesman_recovery.actors")
ALLOWED_UPWARD: set[str] = set()
ALLOWED_CYCLES: list[set[str]] = []


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports when it runs (any depth, TYPE_CHECKING excluded)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = (
                        name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    )
                    package = package[: len(package) - child.level + 1]
                    base = ".".join([*package, base] if base else package)
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if full in known else base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(group)

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def test_storage_tmux_and_metrics_do_not_import_supervision_or_actors() -> None:
    edges = graph()
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in edges.items()
        if module.startswith(LOWER) and module not in ALLOWED_UPWARD
        for target in targets
        if target.startswith(UPPER)
    )
    assert upward == []


def test_only_the_cli_imports_the_package_root() -> None:
    edges = graph()
    root = sorted(m for m, targets in edges.items() if "yesman_recovery" in targets)
    assert [m for m in root if not m.startswith("yesman_recovery.cli")] == []


def test_the_package_has_no_import_cycle() -> None:
    found = cycles(graph())
    assert [c for c in found if c not in ALLOWED_CYCLES] == []


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [{"a", "b", "c"}]
    known = modules()
    store = known["yesman_recovery.storage.store"]
    assert "yesman_recovery.clock" in imports_of("yesman_recovery.storage.store", store, known)


def test_every_module_is_on_the_code_map() -> None:
    code_map = (PACKAGE.parent / "docs" / "code-map.md").read_text(encoding="utf-8")
    missing = sorted(
        name
        for name, path in modules().items()
        if path.name != "__init__.py"
        and f"`{path.relative_to(PACKAGE).as_posix()}`" not in code_map
    )
    assert missing == []
