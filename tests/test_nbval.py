"""nbval on a freshly built notebook: what papermill does not check.

papermill runs every cell and fails on an exception, and each notebook asserts ranges on its own results. Neither
says that the numbers a page prints are the numbers a reader gets who opens the built notebook and runs it again.
The key-output cells of the notebooks are tagged ``nbval-check-output`` (``scripts/notebooks/_cells.py``
``NBVAL_CHECK``); ``pytest --nbval-lax`` reruns a notebook built here by papermill and compares those cells' outputs
with the stored ones, after the sanitizers of ``tests/nbval_sanitize.cfg`` (times, progress rates, addresses).
One fast notebook (03, CDC: float64 identities and a seeded theta sweep) keeps it to seconds; a copy with one
printed digit changed must fail, so the comparison is known to bite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "03_central_difference_conv.ipynb"
SANITIZE = Path(__file__).resolve().parent / "nbval_sanitize.cfg"
TAG = "nbval-check-output"


def _marked(notebook) -> list[int]:
    """Positions, among the code cells (as nbval numbers them: "Cell 4"), of the cells tagged for nbval."""
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return [i for i, cell in enumerate(cells) if TAG in cell.metadata.get("tags", [])]


def _nbval(notebook: Path, report: Path) -> tuple[list[str], str]:
    """Run ``pytest --nbval-lax`` on ``notebook`` (its kernel runs in the notebook's folder); the names of the
    failing cells ("Cell 4") and the run's output."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--nbval-lax",
         "--nbval-sanitize-with", str(SANITIZE), "--nbval-kernel-name", "python3", f"--junitxml={report}",
         notebook.name],
        cwd=notebook.parent, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    cases = list(ElementTree.parse(report).getroot().iter("testcase"))
    assert cases, done.stdout[-3000:] + done.stderr[-3000:]
    failed = [case.get("name") for case in cases if case.find("failure") is not None or case.find("error") is not None]
    return failed, done.stdout[-4000:]


def test_the_stored_notebook_marks_its_key_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    marked = _marked(notebook)
    assert len(marked) >= 2 and all("print(" in cells[i].source for i in marked)  # cells that show numbers
    # nbval's kernel keeps no input history, from which IPython reads a closing ";": a marked cell that relied on
    # one would show a repr on the rerun only.
    assert not any(cells[i].source.rstrip().endswith(";") for i in marked)


@pytest.mark.slow
def test_a_rerun_of_the_built_notebook_prints_the_same_key_outputs(tmp_path, monkeypatch):
    import papermill

    from gcflnet_lib.workbook.runner import kernel_config

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the build and the rerun alike
    built = tmp_path / "built" / NOTEBOOK.name
    built.parent.mkdir()
    papermill.execute_notebook(str(NOTEBOOK), str(built), parameters={"SMOKE": True, "RESULTS_DIR": str(tmp_path / "r")},
                               kernel_name="python3", cwd=str(NOTEBOOK.parent), progress_bar=False, config=kernel_config())
    notebook = nbformat.read(built, as_version=4)
    marked = _marked(notebook)  # papermill keeps the tags (and adds its injected cell, which nbval counts too)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(any(o.get("output_type") == "stream" for o in cells[i].outputs) for i in marked)

    failed, output = _nbval(built, tmp_path / "built.xml")
    assert failed == [], output

    # The same build with one printed digit changed in the first marked cell: nbval must catch it, and only it.
    stream = next(o for o in cells[marked[0]].outputs if o.get("output_type") == "stream")
    stream["text"] = re.sub(r"\d", lambda m: str((int(m.group()) + 1) % 10), stream["text"], count=1)
    tampered = tmp_path / "tampered" / NOTEBOOK.name
    tampered.parent.mkdir()
    nbformat.write(notebook, tampered)
    failed, output = _nbval(tampered, tmp_path / "tampered.xml")
    assert failed == [f"Cell {marked[0]}"], output
