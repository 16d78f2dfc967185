"""Imports point down the stages, never up, and no module cycle exists (imports inside functions
count too: they were how the old cycle hid)."""

from __future__ import annotations

import ast
import pathlib

from tests.helpers import REPO

PKG = pathlib.Path(REPO) / "codemix_search"

# Lowest first; a module may import its own layer's modules or lower ones.
LAYERS = [
    ["errors", "sandbox_prelude", "sandbox", "core"],
    ["observability"],
    ["storage", "cluster"],
    ["config"],
    ["data"],
    ["demo"],
    ["evaluate"],
    ["train"],
    ["search"],
    ["export"],
    ["analysis"],
    ["preflight"],
    ["pipeline", "swarm_search"],
    ["commands"],
    ["cli", "run", "__main__"],
]


def layer_of(module: str) -> int:
    """The layer of ``codemix_search.<module>``: its longest listed prefix wins."""
    best, depth = None, -1
    for i, names in enumerate(LAYERS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and n.count(".") > depth:
                best, depth = i, n.count(".")
    assert best is not None, f"codemix_search.{module} is in no layer: add it to LAYERS"
    return best


def imports(path: pathlib.Path) -> set[str]:
    """Every codemix_search module ``path`` imports, at top level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "codemix_search":
                out |= {a.name for a in node.names if a.name != "__version__"}
            elif node.module.startswith("codemix_search."):
                base = node.module.removeprefix("codemix_search.")
                for a in node.names:  # `from codemix_search.core import ranking` is a module
                    sub = PKG / base.replace(".", "/") / f"{a.name}.py"
                    out.add(f"{base}.{a.name}" if sub.exists() else base)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("codemix_search."):
                    out.add(a.name.removeprefix("codemix_search."))
    return out


def graph() -> dict[str, set[str]]:
    g = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        g[name] = {m for m in imports(path) if m != name}
    return g


def upward(g: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, deps in g.items()
        for b in deps
        if a != "__init__" and layer_of(b) > layer_of(a)
    )


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(n, stack):
        state[n] = 1
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                found.append(stack[stack.index(m) :] + [m])
            elif m in g and not state.get(m):
                visit(m, [*stack, m])
        state[n] = 2

    for n in sorted(g):
        if not state.get(n):
            visit(n, [n])
    return found


def test_no_module_imports_a_higher_layer():
    assert upward(graph()) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_a_planted_upward_import_and_cycle_are_caught():
    g = graph()
    g["core.mixture"] = g["core.mixture"] | {"search.tuner"}  # pure maths importing Ray Tune
    assert any(x.startswith("core.mixture (layer 0) imports search.tuner") for x in upward(g))
    g["search.tuner"] = g["search.tuner"] | {"core.mixture"}
    assert any("core.mixture" in c and "search.tuner" in c for c in cycles(g))


def test_no_module_over_400_lines():
    long = {
        str(p.relative_to(PKG)): n
        for p in PKG.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


def test_no_function_over_80_lines():
    long = {
        f"{p.relative_to(PKG)}:{n.name}": n.end_lineno - n.lineno + 1
        for p in PKG.rglob("*.py")
        for n in ast.walk(ast.parse(p.read_text()))
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno - n.lineno >= 80
    }
    assert long == {}


def _function_imports(path: pathlib.Path):
    """(import node, its function, inside a try) for each import inside a function."""
    tree = ast.parse(path.read_text())
    parents = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            q, fn, in_try = parents.get(node), None, False
            while q is not None:
                in_try |= isinstance(q, ast.Try)
                if fn is None and isinstance(q, ast.FunctionDef | ast.AsyncFunctionDef):
                    fn = q
                q = parents.get(q)
            if fn is not None:
                yield node, fn, in_try


def test_an_import_inside_a_function_says_why():
    """Imports go at the top unless that costs something (a heavy package's seconds, an optional
    dependency): an import inside a function has ``# imported here, not at the top: <why>``
    above it in its function, and is never a standard-library one outside a ``try``."""
    import sys

    unexplained = []
    for path in PKG.rglob("*.py"):
        lines = path.read_text().splitlines()
        for node, fn, in_try in _function_imports(path):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            where = f"{path.relative_to(PKG)}:{node.lineno}"
            if module.split(".")[0] in sys.stdlib_module_names and not in_try:
                unexplained.append(f"{where} {module} (standard library: import it at the top)")
                continue
            above = lines[fn.lineno : node.lineno - 1]
            if not in_try and not any("# imported here, not at the top:" in x for x in above):
                unexplained.append(f"{where} {module}")
    assert unexplained == []
