"""The package's shape: layers whose imports point down, no cycle, no import hidden in a function.

Layers, bottom to top (docs/architecture.md draws them):
``core`` < ``kernels`` < ``data`` < ``state`` < ``policy`` < ``evaluation`` / ``inspect`` / ``sim`` < ``apps``.
A module may import its own layer or a lower one; modules of one layer form no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "channelopt"

LAYER = {"core": 0, "exceptions": 0, "_version": 0, "kernels": 1, "data": 2, "state": 3, "policy": 4,
         "evaluation": 5, "inspect": 5, "sim": 5, "apps": 6, "__init__": 7, "__main__": 7}
MAX_LINES = 520


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(["channelopt", *parts])] = path
    return out


MODULES = _modules()


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYER[parts[1]] if len(parts) > 1 else LAYER["__init__"]


def _resolve(node: ast.ImportFrom | ast.Import, module: str) -> list[str]:
    """The channelopt modules an import statement names (``from a.b import c`` names ``a.b.c`` when it is a module)."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            pkg = module.split(".")
            if not MODULES[module].name == "__init__.py":
                pkg = pkg[:-1]
            pkg = pkg[:len(pkg) - node.level + 1]
            base = ".".join(pkg + ([base] if base else []))
        names = [base] + [f"{base}.{a.name}" for a in node.names]
    return [n for n in names if n in MODULES]


def _imports(module: str) -> list[tuple[ast.AST, str, bool]]:
    """``(node, imported module, inside a function or class)`` for every channelopt import of ``module``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[ast.AST, str, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _resolve(child, module):
                    if target != module:
                        found.append((child, target, nested))
            visit(child, inner)

    visit(tree, False)
    return found


def test_the_walker_sees_every_kind_of_import(tmp_path):
    # the checks below are only as good as the walker: it must see relative, absolute and nested imports
    assert ("channelopt.core.arms" in {t for _, t, _ in _imports("channelopt.policy.model")}
            or "channelopt.core.arms" in {t for _, t, _ in _imports("channelopt.core.decision")})
    nested = [t for _, t, inner in _imports("channelopt.__init__") if inner]
    assert nested == []
    assert _resolve(ast.parse("from .arms import ArmSpace").body[0], "channelopt.core.decision") == ["channelopt.core.arms"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    up = [(target, node.lineno) for node, target, _ in _imports(module) if _layer(target) > _layer(module)]
    assert not up, f"{module} imports a higher layer: {up}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_channelopt_import_inside_a_function(module):
    hidden = [(target, node.lineno) for node, target, nested in _imports(module) if nested]
    assert not hidden, f"{module} imports inside a function (a cycle dodged?): {hidden}"


def test_no_import_cycle():
    graph = {m: {t for _, t, nested in _imports(m) if not nested and not _type_only(m, t)} for m in MODULES}
    # a package imports its own submodules to hand names on; that is not a cycle
    for m in graph:
        graph[m] = {t for t in graph[m] if not t.startswith(m + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                dfs(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m)


def _type_only(module: str, target: str) -> bool:
    """True when ``module`` imports ``target`` only under ``if TYPE_CHECKING:``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    guarded, plain = set(), set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    guarded.update(_resolve(sub, module))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            plain.update(_resolve(node, module))
    return target in guarded and target not in plain


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("channelopt.kernels")))
def test_kernels_never_import_pandas(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not names & {"pandas", "pyarrow"}, f"{module} imports {names & {'pandas', 'pyarrow'}}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_small(module):
    n = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{module} has {n} lines (split it: a file does one thing)"


def test_every_module_declares_its_public_names():
    def hands_on(p: Path) -> bool:  # a package face that imports nothing declares nothing
        return p.name != "__init__.py" or any(isinstance(n, (ast.Import, ast.ImportFrom))
                                              for n in ast.parse(p.read_text(encoding="utf-8")).body)

    missing = [m for m, p in MODULES.items()
               if p.name not in ("__main__.py", "_version.py") and hands_on(p)
               and "__all__" not in p.read_text(encoding="utf-8")]
    assert not missing, f"modules without __all__: {missing}"
