"""Every notebook in notebooks/ runs top to bottom on the sample data, in a kernel of this interpreter.

Notebooks are stored as jupytext percent scripts (``notebooks/*.py``); a ``.ipynb``
dropped in the folder is run too and must be stored without outputs. A cell error
fails the test with the cell's traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

pytestmark = pytest.mark.slow  # subprocesses / notebooks: make test runs them, -m 'not slow' skips them

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.iterdir() if p.suffix in (".py", ".ipynb") and not p.name.startswith("."))
KERNEL = "channelopt-test"
CELL_TIMEOUT_S = 300  # a generous hang guard for a loaded CI machine; the notebooks take seconds


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A kernelspec whose argv is this very interpreter, so the notebooks see the same install."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "channelopt tests", "language": "python"}))
    return root


def _read(path: Path) -> nbformat.NotebookNode:
    return jupytext.read(path) if path.suffix == ".py" else nbformat.read(path, as_version=4)


def test_the_folder_holds_the_quickstart():
    assert "01_quickstart.py" in [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = _read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cell"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        f"{path.name}: store notebooks without outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, kernel_dir, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))
    nb = _read(path)
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=CELL_TIMEOUT_S,
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    failure = None
    try:
        client.execute()
    except CellExecutionError as exc:  # the message holds the failing cell and its traceback
        failure = str(exc)
    if failure is not None:
        pytest.fail(f"{path.name}: a cell failed\n{failure}", pytrace=False)
    assert nb.cells[0].outputs[0]["text"].strip() == sys.prefix  # ran in this interpreter's environment
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
