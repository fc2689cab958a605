"""The declared dependencies match the code: every third-party module the package imports is
declared (core or an extra), and every core dependency is imported somewhere."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "channelopt"
#: distribution name -> the module it provides, where they differ
MODULE_OF = {"scikit-learn": "sklearn"}
#: declared for data, not imported: zoneinfo reads tzdata's files on systems without a zone database
DATA_ONLY = {"tzdata"}


def declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def modules(reqs: list[str]) -> set[str]:
        names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in reqs}
        return {MODULE_OF.get(n, n.replace("-", "_")) for n in names}

    extras = set().union(*(modules(v) for k, v in project["optional-dependencies"].items() if k != "dev"))
    return modules(project["dependencies"]), extras


def imported() -> set[str]:
    stdlib = set(sys.stdlib_module_names)
    found = set()
    for file in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found |= {n.split(".")[0] for n in names}
    return {m for m in found if m not in stdlib and m != "channelopt" and m != "__future__"}


def test_every_imported_module_is_declared():
    core, extras = declared()
    assert imported() - core - extras == set()


def test_every_core_dependency_is_imported():
    core, _ = declared()
    assert core - imported() - {MODULE_OF.get(d, d) for d in DATA_ONLY} == set()


def test_the_check_sees_the_usual_imports():
    assert {"numpy", "numba", "pandas", "pyarrow", "scipy", "sklearn", "threadpoolctl", "tqdm"} <= imported()
