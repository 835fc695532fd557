#!/usr/bin/env python
"""Strip outputs, execution counts and run metadata from notebooks so they are stored clean.

    python scripts/strip_notebooks.py                 # every notebooks/*.ipynb, in place
    python scripts/strip_notebooks.py --check         # exit 1 and list the notebooks that are not clean
    python scripts/strip_notebooks.py path/a.ipynb    # just these

Cell tags (``parameters``), folding (``jupyter.source_hidden``) and the kernelspec are kept; papermill/execution
metadata and widget state go.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from gcflnet_lib.files import atomic_write_text

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
# Notebook-level metadata worth keeping; the rest (papermill, widgets state) is run residue.
KEEP_NOTEBOOK_METADATA = ("kernelspec", "language_info")
KEEP_CELL_METADATA = ("tags", "jupyter")  # jupyter: source_hidden, the folded self-check cells


def strip_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return ``notebook`` without outputs, execution counts or run metadata (mutates and returns it)."""
    notebook.metadata = nbformat.from_dict(
        {key: notebook.metadata[key] for key in KEEP_NOTEBOOK_METADATA if key in notebook.metadata}
    )
    if "language_info" in notebook.metadata:
        notebook.metadata.language_info = nbformat.from_dict(
            {key: notebook.metadata.language_info[key] for key in ("name",) if key in notebook.metadata.language_info}
        )
    for cell in notebook.cells:
        cell.metadata = nbformat.from_dict(
            {key: cell.metadata[key] for key in KEEP_CELL_METADATA if cell.metadata.get(key)}
        )
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def notebook_text(notebook: nbformat.NotebookNode) -> str:
    """The canonical stored text of a notebook (validated, 1-space indent as Jupyter writes)."""
    nbformat.validate(notebook)
    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any notebook is not clean")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    dirty = []
    for path in paths:
        if not path.is_file():
            print(f"strip_notebooks: error: {path}: no such notebook", file=sys.stderr)
            return 2
        original = path.read_text(encoding="utf-8")
        cleaned = notebook_text(strip_notebook(nbformat.reads(original, as_version=4)))
        if cleaned != original:
            dirty.append(path)
            if not args.check:
                atomic_write_text(path, cleaned)
    if args.check and dirty:
        print("not stripped: " + " ".join(str(p) for p in dirty), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
