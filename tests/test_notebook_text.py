"""The generated notebooks' markdown reads as written: no accidental code blocks, no control characters."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s")
# Any C0 control character but the newline, and DEL: what a "\t" or "\b" in a non-raw generator string leaves.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def markdown_cells(path: Path) -> list[tuple[int, str]]:
    """``(cell index, source)`` of every markdown cell of the notebook at ``path``."""
    notebook = nbformat.read(path, as_version=4)
    return [(index, cell.source) for index, cell in enumerate(notebook.cells) if cell.cell_type == "markdown"]


def accidental_code_lines(source: str) -> list[str]:
    """Lines that Markdown would render as an indented code block: 4+ leading spaces at the start of a paragraph,
    outside a fenced block and not continuing a list item (where indentation is the list's own)."""
    found, fenced, previous_blank, in_list = [], False, True, False
    for line in source.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced, previous_blank = not fenced, False
            continue
        if fenced:
            continue
        if not line.strip():
            previous_blank = True
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            in_list = bool(LIST_ITEM.match(line))
        elif LIST_ITEM.match(line):
            in_list = True
        if indent >= 4 and previous_blank and not in_list:
            found.append(line)
        previous_blank = False
    return found


def test_the_checker_sees_an_indented_paragraph_and_spares_lists_and_fences():
    assert accidental_code_lines("# Title\n\n    rendered as code") == ["    rendered as code"]
    assert accidental_code_lines("    first line") == ["    first line"]
    assert accidental_code_lines("- item\n\n    continued item") == []
    assert accidental_code_lines("```\n    fenced\n```") == []
    assert accidental_code_lines("text\n    a wrapped line of the same paragraph") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_markdown_cell_turns_into_a_code_block(path):
    bad = [(index, line) for index, source in markdown_cells(path) for line in accidental_code_lines(source)]
    assert not bad, f"{path.name}: indented lines render as code blocks: " + "; ".join(
        f"cell {index}: {line.strip()[:60]!r}" for index, line in bad)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_markdown_cell_holds_control_characters(path):
    bad = [(index, match.group(), source[max(match.start() - 20, 0):match.end() + 20])
           for index, source in markdown_cells(path) for match in CONTROL.finditer(source)]
    assert not bad, f"{path.name}: control characters (a backslash escape in a non-raw generator string?): " + "; ".join(
        f"cell {index}: {char!r} in {context!r}" for index, char, context in bad)


def _cell_with(path: Path, marker: str) -> str:
    return next(source for _, source in markdown_cells(path) if marker in source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_scaffolding_prerequisites_answers_further_research_references(path):
    """The shared helpers of scripts/notebooks/_cells.py: a Prerequisites line with links, an expected answer
    folded under every exercise, a Further research paragraph and the references."""
    about = _cell_with(path, "**What you will learn**")
    prerequisites = next(line for line in about.splitlines() if line.startswith("**Prerequisites:**"))
    assert re.search(r"\]\(https://", prerequisites), prerequisites
    ending = _cell_with(path, "## Exercises")
    exercises = ending.split("## Exercises")[1].split("## Further research")[0]
    numbered = [line for line in exercises.splitlines() if re.match(r"\d\. ", line)]
    assert 2 <= len(numbered) <= 4
    assert exercises.count("<details><summary>Expected answer</summary>") == exercises.count("</details>") == len(numbered)
    further = ending.split("## Further research")[1].split("## References")[0].strip()
    assert len(further) > 200, further
    references = ending.split("## References")[1].split("---")[0]
    for work in ("GCFLNet", "Asymmetric Contextual Modulation", "Dense Nested Attention", "Central Difference", "BasicIRSTD"):
        assert work in references, (path.name, work)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_header_states_the_recorded_times(path):
    """The run times in the header are the runner's recorded ones (results/workbook_times.json), not typed."""
    from gcflnet_lib.workbook import runner

    about = _cell_with(path, "**Run time**")
    recorded = runner.load_run_times().get("cpu", {}).get(path.stem)
    if recorded is None:
        assert "no measured run on a CPU" in about
    else:
        # The runner records the SMOKE it passed: True (--smoke), False (--full) or "auto" (the default); the page
        # says the time and the cores, not the record's date, architecture or load average.
        size = {True: " with SMOKE = True", False: " at full size"}.get(recorded["smoke"], "")
        cores = recorded["machine"].split(" cores")[0].rsplit(" ", 1)[-1]
        assert f"**Run time** (all cells): about {recorded['seconds']:.0f} s on a {cores}-core CPU{size}," in about
    assert "load average" not in about and "x86_64" not in about
    gpu = runner.load_run_times().get("cuda", {}).get(path.stem)
    if gpu is None:
        assert "On a GPU at full size: not timed" in about
    else:
        assert f"On a GPU at full size: about {gpu['seconds']:.0f} s on one " in about


def test_a_recorded_machine_in_words():
    from gcflnet_lib.workbook.runner import machine_in_words

    assert machine_in_words("cpu", "x86_64, 2 cores, 1 torch thread(s) per kernel, load average 5.6") == "a 2-core CPU"
    assert machine_in_words("cpu", "arm64") == "a CPU"
    assert machine_in_words("cuda", "NVIDIA H100 80GB HBM3 (one GPU)") == "one NVIDIA H100 80GB HBM3"
