"""The house's borders, read from the source's own imports (an AST walk; nothing is imported).

- ``backends/`` takes nothing of the gateway but its core (``gateway.core``: the error tree, ids).
- ``billing/`` never imports ``litestar``; below the web layer nothing does: only the endpoint
  modules and the few modules of the web layer listed in ``WEB`` may.
- No import circles between modules. Every import counts, those under ``if TYPE_CHECKING:`` and
  those inside functions too: a type-only or a deferred import still ties the two modules' meaning
  together, and a circle through one is a circle a reader walks.
- No module over 400 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "backends", "billing", "migrations")
MAX_LINES = 400

# The web layer besides the endpoint modules (``endpoints.py``, ``*_endpoints.py``): the app and its
# providers, the OpenAPI schema, the HTTP edge (ASGI, error rendering, JSON in and out), the
# operations endpoints, and the dashboard's other pages (sign-in and page rendering; rollouts).
WEB = {
    "gateway/app.py",
    "gateway/dependencies.py",
    "gateway/openapi.py",
    "gateway/health.py",
    "gateway/dashboard/guards.py",
    "gateway/dashboard/rollouts.py",
}
WEB_FOLDERS = ("gateway/edge/",)


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # the importing file, relative to the root
    target: str  # the dotted name imported, resolved to a module of the tree where it is one
    line: int


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files() -> dict[str, Path]:
    return {_module_of(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import of the file (module level, ``TYPE_CHECKING`` blocks and function bodies alike)."""
    source = str(path.relative_to(ROOT))
    package = _module_of(path) if path.name == "__init__.py" else _module_of(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # ``from gateway.routing import admin`` imports the module gateway.routing.admin
                name = f"{base}.{alias.name}"
                yield Import(source, name if name in modules else base, node.lineno)


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    modules = _files()
    return [found for path in modules.values() for found in _imports(path, modules)]


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _is_web(source: str) -> bool:
    return source.endswith("endpoints.py") or source in WEB or source.startswith(WEB_FOLDERS)


def test_backends_take_nothing_of_the_gateway_but_its_core(imports: list[Import]) -> None:
    crossing = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in imports
        if i.source.startswith("backends/") and _within(i.target, "gateway") and not _within(i.target, "gateway.core")
    ]
    assert crossing == []


def test_billing_never_imports_litestar(imports: list[Import]) -> None:
    crossing = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in imports
        if i.source.startswith("billing/") and _within(i.target, "litestar")
    ]
    assert crossing == []


def test_only_the_web_layer_imports_litestar(imports: list[Import]) -> None:
    crossing = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in imports
        if _within(i.target, "litestar") and not _is_web(i.source)
    ]
    assert crossing == []


def test_the_web_layer_list_names_files_that_exist() -> None:
    assert all((ROOT / name).is_file() for name in WEB)


def test_no_import_circles_between_modules(imports: list[Import]) -> None:
    modules = _files()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for found in imports:
        source = _module_of(ROOT / found.source)
        if found.target in modules and found.target != source:
            edges[source].add(found.target)
    circles = [sorted(group) for group in _strongly_connected(edges) if len(group) > 1]
    assert circles == []


def test_no_module_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _files().values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the import graph is deeper than Python's recursion allows)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
    return groups
