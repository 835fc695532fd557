"""The workbook on a machine without the datasets, as a new user's laptop: the README's first command, less the
install, in a copy of this tree that has no ``../shared`` beside it, no ``data/NUAA-SIRST`` and no ``GCFLNET_*``
variables.

``scripts/run_workbook.py`` runs with its defaults (``SMOKE = "auto"``: on a CPU the fast path, which is where the
released models meet the missing test split; without the datasets it costs what ``--smoke`` does) on the CPU,
with the copy's own ``gcflnet_lib`` (``PYTHONPATH``), so that every lookup starts from the copy. It runs the
notebooks that look for a dataset (``DATA_DIR = "auto"``); the others (``DATA_DIR = ""``) never look, so they run
here what tests/test_notebooks.py runs, and leaving them out keeps this test near 2.5 min of one core. Every notebook
run must work on generated scenes and say so, and the pages that compare with a real split must say what they show
instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Left out of the copy: what is ignored (build outputs, venvs, data/*), and anything a dataset could hide in.
SKIP_TOP = {".git", ".venv", "build", "data", "runs"}
NOT_FOUND = 'DATA_DIR "auto": NUAA-SIRST not found'


def _data_dir(notebook: Path) -> str | None:
    """The DATA_DIR of a notebook's parameters cell, None without one."""
    (cell,) = [c for c in nbformat.read(notebook, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    found = re.search(r'^DATA_DIR = "([^"]*)"', cell.source, re.M)
    return found.group(1) if found else None


LOOKING = [notebook for notebook in NOTEBOOKS if _data_dir(notebook) == "auto"]


def _files_to_copy(root: Path) -> list[Path]:
    """The tree's files as git sees them (tracked and untracked, not ignored), else every file but SKIP_TOP."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                             capture_output=True, text=True)
    if listing.returncode == 0:
        names = [Path(name) for name in listing.stdout.split("\0") if name]
    else:  # not a git checkout (an unpacked archive)
        names = [path.relative_to(root) for path in root.rglob("*") if path.is_file()]
    return [name for name in names if name.parts[0] not in SKIP_TOP and (root / name).is_file()
            and "__pycache__" not in name.parts]


@pytest.fixture(scope="module")
def fresh_copy(tmp_path_factory) -> Path:
    """A copy of this tree in an empty folder: nothing beside it, and an empty data/ in it."""
    base = tmp_path_factory.mktemp("laptop")
    copy = base / ROOT.name
    for name in _files_to_copy(ROOT):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    (copy / "data").mkdir(exist_ok=True)
    assert not (base / "shared").exists() and not (copy / "data" / "NUAA-SIRST").exists()
    return copy


@pytest.fixture(scope="module")
def run_without_datasets(fresh_copy):
    build = fresh_copy.parent / "build"
    env = {key: value for key, value in os.environ.items() if not key.startswith("GCFLNET_")}
    env.update(PYTHONPATH=str(fresh_copy), CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # No HTML: the pages' text is in the executed notebooks, and the export does not depend on the data.
    only = [notebook.stem[:2] for notebook in LOOKING]
    result = subprocess.run([sys.executable, "scripts/run_workbook.py", "--no-html", "--build", str(build),
                             "--only", *only], cwd=fresh_copy, env=env, capture_output=True, text=True, timeout=900)
    return result, build


def _outputs(path: Path) -> str:
    """Every text output of an executed notebook, one string."""
    notebook = nbformat.read(path, as_version=4)
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts += [v for k, v in output.get("data", {}).items() if k.startswith("text/") and isinstance(v, str)]
    return "\n".join(texts)


def test_the_kernels_import_the_copy_and_find_no_dataset(fresh_copy):
    # As a notebook kernel does: from the copy's notebooks/, with the run's environment.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GCFLNET_")}, "PYTHONPATH": str(fresh_copy)}
    found = subprocess.run([sys.executable, "-c", "from gcflnet_lib import workbook; print(workbook.REPO_ROOT); "
                            "print(workbook.find_sirst())"], cwd=fresh_copy / "notebooks", env=env,
                           capture_output=True, text=True, check=True)
    assert found.stdout.split("\n")[:2] == [str(fresh_copy.resolve()), "None"], found.stdout


def test_the_notebooks_left_out_never_look_for_a_dataset():
    assert len(LOOKING) >= 8, [notebook.stem for notebook in LOOKING]  # 00 and 04-10 today
    for notebook in NOTEBOOKS:
        if notebook not in LOOKING:
            assert _data_dir(notebook) in ("", None), notebook.stem
            # ... and says where its images come from, in one line.
            code = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
            assert re.search(r'"(generated )?synthetic scenes" if ctx\.synthetic', code), notebook.stem


def test_every_notebook_runs_on_generated_scenes(run_without_datasets):
    result, build = run_without_datasets
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert f"all {len(LOOKING)} notebook(s) ran" in result.stdout, result.stdout[-2000:]
    for notebook in LOOKING:
        results = json.loads((build / "notebook_results" / f"{notebook.stem}.json").read_text())
        assert results.get("dataset", "Synthetic") == "Synthetic", (notebook.stem, results.get("dataset"))
        text = _outputs(build / notebook.name)
        # The machine's paths stay off the page, here a temporary folder.
        assert str(build.parent) not in text and not re.search(r"(?<![\w.])/tmp/", text), notebook.stem
        # One line says so: setup's, once.
        assert text.count(NOT_FOUND) == 1 and "using generated synthetic scenes instead" in text, notebook.stem


def test_pages_that_compare_with_a_real_split_say_what_they_show(run_without_datasets):
    _, build = run_without_datasets
    # 09: the released pair is scored on generated scenes, and the rows say so.
    ablation = json.loads((build / "notebook_results" / "09_ablation.json").read_text())
    here = [row for row in ablation["released_pair"] if row["where"].startswith("here")]
    assert here and all(row["where"].endswith("generated scenes)") for row in here), ablation["released_pair"]
    assert "generated scenes, not on the test split" in _outputs(build / "09_ablation.ipynb")
    # 10: no whole-split table, and no claim of one.
    classical = json.loads((build / "notebook_results" / "10_classical_vs_deep.json").read_text())
    assert classical["n_images_whole_split"] == 0 and classical["whole_split_miou"] == {}
    text = _outputs(build / "10_classical_vs_deep.ipynb")
    assert "no whole-split table" in text and "every table below scores these" in text
    assert "the whole Synthetic test split" not in text and "214" not in text
