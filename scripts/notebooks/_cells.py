"""Cell builders for the notebook generators in this folder (one module per notebook, ``NN_topic.py``).

Each generator module defines ``CELLS``: a list built with :func:`md`, :func:`code` and exactly one
:func:`parameters`. ``scripts/make_notebooks.py`` turns them into ``notebooks/NN_topic.ipynb``.
"""

from __future__ import annotations

import textwrap


def _clean(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def md(text: str) -> dict:
    """A markdown cell (text is dedented; LaTeX with $...$ and $$...$$ works in Jupyter)."""
    return {"cell_type": "markdown", "source": _clean(text), "tags": []}


def code(text: str) -> dict:
    """A code cell."""
    return {"cell_type": "code", "source": _clean(text), "tags": []}


def parameters(text: str) -> dict:
    """The one code cell tagged ``parameters`` (literals only; papermill injects its overrides after it)."""
    return {"cell_type": "code", "source": _clean(text), "tags": ["parameters"]}
