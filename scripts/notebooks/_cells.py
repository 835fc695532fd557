"""Cell builders for the notebook generators in this folder (one module per notebook, ``NN_topic.py``).

Each generator module defines ``CELLS``: a list built with :func:`md`, :func:`code` and exactly one
:func:`parameters`. ``scripts/make_notebooks.py`` turns them into ``notebooks/NN_topic.ipynb``.
"""

from __future__ import annotations

import textwrap

from gcflnet_lib.workbook import INDEX_LINK


def _clean(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def md(text: str, **inserts: str) -> dict:
    """A markdown cell (text is dedented; LaTeX with $...$ and $$...$$ works in Jupyter).

    ``inserts``: each ``{name}`` placeholder of ``text`` is replaced by ``inserts[name]`` *after* the dedent, so
    generated unindented lines (a table's rows) cannot defeat it and turn the cell into a code block.
    """
    source = _clean(text)
    for name, value in inserts.items():
        source = source.replace("{" + name + "}", value)
    return {"cell_type": "markdown", "source": source, "tags": []}


def code(text: str) -> dict:
    """A code cell."""
    return {"cell_type": "code", "source": _clean(text), "tags": []}


def parameters(text: str) -> dict:
    """The one code cell tagged ``parameters`` (literals only; papermill injects its overrides after it)."""
    return {"cell_type": "code", "source": _clean(text), "tags": ["parameters"]}


# The workbook's notebooks in reading order: number -> (file stem, short title).
NOTEBOOKS = {
    "00": ("00_tour", "A tour: data, model, training, metrics"),
    "01": ("01_gradient_vector_fields", "Gradient vector fields"),
    "02": ("02_efeu_learnable_sobel", "EFEU, the learnable Sobel unit"),
    "03": ("03_central_difference_conv", "Central difference convolution"),
    "04": ("04_edge_enhancement_module", "The edge enhancement module (EEM)"),
    "05": ("05_glfi_pooling_attention", "GLFI: receptive fields and pooled attention"),
    "06": ("06_msic", "MSIC on the skip connections"),
    "07": ("07_training_gcflnet", "Training GCFLNet"),
    "08": ("08_metrics_roc_thresholds", "Metrics, ROC curves and thresholds"),
    "09": ("09_ablation", "Ablation: what each module contributes"),
    "10": ("10_classical_vs_deep", "Classical detectors against GCFLNet"),
}

# Measured wall time of each notebook with its defaults (SMOKE = "auto", papermill, one torch thread) on the
# development machine, see MACHINE; GPU times are given only where a record holds them.
# Measured with papermill (parameters left at their defaults, RESULTS_DIR set), OMP_NUM_THREADS=1, on the machine
# below with the full-width release gcflnet-nuaa-sirst (the CPU release, 4x cheaper, was not there yet).
MACHINE = ("a shared 2-core x86_64 development machine with one torch thread (notebooks 01-06 while other jobs kept "
           "its load average at 4-6: expect less on a quiet machine)")
CPU_SECONDS: dict[str, str] = {
    "00": "13 s with the CPU-recipe release, the machine otherwise quiet", "01": "9 s", "02": "19 s", "03": "16 s", "04": "31 s", "05": "22 s", "06": "34 s",
    "07": "22 s with the CPU-recipe release, the machine otherwise quiet",
    "08": "50 s with the CPU-recipe release, the machine otherwise quiet (most of it scoring the 214 test images)",
    "09": "25 s with the CPU-recipe release, the machine otherwise quiet", "10": "14 s with the CPU-recipe release, the machine otherwise quiet",
}


def link(number: str) -> str:
    """A markdown link to notebook ``number``: ``[07 · Training GCFLNet](07_training_gcflnet.ipynb)``."""
    stem, title = NOTEBOOKS[number]
    return f"[{number} · {title}]({stem}.ipynb)"


def nav(number: str) -> str:
    """Previous / index / next links of notebook ``number``."""
    numbers = list(NOTEBOOKS)
    index = numbers.index(number)
    parts = [f"← {link(numbers[index - 1])}" if index else "(first notebook)",
             f"[index: 00]({INDEX_LINK})" if number != "00" else "index below",
             f"{link(numbers[index + 1])} →" if index + 1 < len(numbers) else "(last notebook)"]
    return " | ".join(parts)


def top(number: str) -> dict:
    """The navigation line at the top of a notebook."""
    return md(nav(number))


def about(number: str, learn: list[str], builds_on: list[str], cpu_path: str, gpu: str = "not measured",
          open_rows: str = "") -> dict:
    """What you will learn, what it builds on (links), the measured run times, and (``open_rows``) the rows of
    docs/PAPER_READING.md that list what the paper leaves open about this notebook's module."""
    learned = "\n".join(f"- {item}" for item in learn)
    before = ", ".join(link(n) for n in builds_on) if builds_on else "nothing: start here"
    seconds = CPU_SECONDS.get(number, "not measured yet")
    text = (f"**What you will learn**\n\n{learned}\n\n**Builds on:** {before}.\n\n"
            f"**Run time** (all cells, defaults): CPU, {cpu_path}: {seconds}, measured on {MACHINE}; "
            f"GPU (full size): {gpu}.")
    if open_rows:
        text += (f"\n\n**What the paper leaves open here:** [docs/PAPER_READING.md](../docs/PAPER_READING.md), "
                 f"{open_rows}: the paper's words, what the code does, the switch, and the measured effect.")
    return {"cell_type": "markdown", "source": text, "tags": []}


def ending(number: str, summary: str, exercises: list[str]) -> dict:
    """The closing cell: a short summary, 2-4 exercises on the notebook's own objects, and the navigation."""
    if not 2 <= len(exercises) <= 4:
        raise ValueError(f"notebook {number}: give 2 to 4 exercises, not {len(exercises)}")
    listed = "\n".join(f"{i}. {_clean(item)}" for i, item in enumerate(exercises, 1))
    text = f"## Summary\n\n{_clean(summary)}\n\n## Exercises\n\n{listed}\n\n---\n\n{nav(number)}"
    return {"cell_type": "markdown", "source": text, "tags": []}
