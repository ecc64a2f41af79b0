"""The imports of src/ run one way: no cycle between files, and the CLI modules import nothing
from each other but the shared context.

Every ``import`` / ``from ... import`` counts, including those inside functions (moving an import
into a function hides a cycle from Python, not from the design); only imports under
``if TYPE_CHECKING:`` are left out, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "campaignrec"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that ``name`` imports at run time (resolved to files)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` depends on the submodule; `from pkg import name` on pkg
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            targets = subs if len(subs) == len(node.names) else [*subs, base]
        for t in targets:
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith(PACKAGE):
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def _parents(name: str) -> list[str]:
    """Importing ``a.b.c`` first runs ``a/__init__`` and ``a/b/__init__``: edges too."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_function_level_imports_and_finds_a_planted_cycle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    modules = {"campaignrec.a": tmp_path / "a.py", "campaignrec.b": tmp_path / "b.py"}
    modules["campaignrec.a"].write_text("def f():\n    from campaignrec import b\n")
    modules["campaignrec.b"].write_text(
        "from typing import TYPE_CHECKING\nimport campaignrec.a\nif TYPE_CHECKING:\n"
        "    import campaignrec.c\n"
    )
    graph = {n: _imported(n, p, modules) for n, p in modules.items()}
    assert graph == {"campaignrec.a": {"campaignrec.b"}, "campaignrec.b": {"campaignrec.a"}}
    assert _cycles(graph) == [["campaignrec.a", "campaignrec.b"]]


def test_no_import_cycle_between_files_of_src() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cli_modules_import_nothing_from_each_other_but_the_context() -> None:
    graph = _graph()
    faces = {"campaignrec.cli", "campaignrec.cli.main"}  # they mount the sub-commands
    allowed = {"campaignrec.cli.context", "campaignrec.cli"}
    bad = {
        name: sorted(t for t in targets if t.startswith("campaignrec.cli") and t not in allowed)
        for name, targets in graph.items()
        if name.startswith("campaignrec.cli.") and name not in faces
    }
    assert {n: t for n, t in bad.items() if t} == {}
