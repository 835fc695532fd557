#!/usr/bin/env python
"""Write notebooks/NN_topic.ipynb from the generators in scripts/notebooks/NN_topic.py.

    python scripts/make_notebooks.py             # (re)write every notebook that has a generator
    python scripts/make_notebooks.py 01 08       # only those whose name starts so
    python scripts/make_notebooks.py --check     # change nothing; exit 1 if a stored notebook differs

The notebooks are stored stripped (no outputs, no execution counts) with stable cell ids, so the
generator output and the stored file are byte-identical and diffs stay readable.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
GENERATORS_DIR = Path(__file__).resolve().parent / "notebooks"
NOTEBOOKS_DIR = ROOT / "notebooks"
sys.path[:0] = [str(Path(__file__).resolve().parent), str(GENERATORS_DIR)]
from strip_notebooks import notebook_text, strip_notebook  # noqa: E402

from gcflnet_lib.files import atomic_write_text  # noqa: E402

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def generators(only: list[str] | None = None) -> list[Path]:
    paths = sorted(GENERATORS_DIR.glob("[0-9][0-9]_*.py"))
    if only:
        paths = [p for p in paths if any(p.stem.startswith(prefix) for prefix in only)]
    return paths


def load_cells(generator: Path) -> list[dict]:
    spec = importlib.util.spec_from_file_location(f"notebook_{generator.stem}", generator)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cells = module.CELLS
    tagged = [cell for cell in cells if "parameters" in cell["tags"]]
    if len(tagged) != 1:
        raise ValueError(f"{generator}: needs exactly one parameters cell, has {len(tagged)}")
    from _cells import arranged

    return arranged(cells, generator.stem[:2])  # the self-check cells after the lesson, then the navigation


def build_notebook(name: str, cells: list[dict]) -> nbformat.NotebookNode:
    """An nbformat 4 notebook with stable cell ids ``c00``, ``c01``, ..."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    for index, spec in enumerate(cells):
        maker = nbformat.v4.new_markdown_cell if spec["cell_type"] == "markdown" else nbformat.v4.new_code_cell
        cell = maker(spec["source"])
        cell.id = f"c{index:02d}"
        if spec["tags"]:
            cell.metadata["tags"] = list(spec["tags"])
        cell.metadata.update(nbformat.from_dict(spec.get("metadata", {})))  # e.g. jupyter.source_hidden
        notebook.cells.append(cell)
    return strip_notebook(notebook)


def render(generator: Path) -> str:
    return notebook_text(build_notebook(generator.stem, load_cells(generator)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="notebook name prefixes, e.g. 01 08")
    parser.add_argument("--check", action="store_true", help="exit 1 if a stored notebook differs from its generator")
    args = parser.parse_args(argv)
    stale = []
    for generator in generators(args.only):
        target = NOTEBOOKS_DIR / f"{generator.stem}.ipynb"
        text = render(generator)
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(target)
        if not args.check:
            atomic_write_text(target, text)
            print(f"wrote {target.relative_to(ROOT)}")
    if args.check and stale:
        print("out of date: " + " ".join(str(p.relative_to(ROOT)) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
