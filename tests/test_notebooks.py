"""Every notebook: stored clean with one parameters cell of literals, and runs through papermill in smoke size.

The runs use kernel ``python3`` (this venv's ipykernel), cwd = notebooks/, ``SMOKE=True`` and
``RESULTS_DIR`` in a temporary folder; each notebook asserts on its own results and records them, and the
checks below assert on that JSON again from the outside.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
ALWAYS_PARAMETERS = ("SMOKE", "DEVICE", "SEED", "RESULTS_DIR")
# Run times are not asserted here (timing goals live in benchmarks): `scripts/run_workbook.py` prints each
# notebook's time, and the notebooks' headers state the times it recorded (`--record-times`, results/workbook_times.json).
# Notebooks whose DATA_DIR and CHECKPOINT default to "auto" (released model on real data on a CPU).
AUTO_NOTEBOOKS = ("00", "07", "08", "09", "10")


def torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _ids(paths):
    return [p.stem for p in paths]


def read_notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def parameter_values(notebook) -> dict:
    """The literals of the cell tagged ``parameters`` (raises if it holds anything but ``NAME = literal``)."""
    (cell,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    values = {}
    for statement in ast.parse(cell.source).body:
        assert isinstance(statement, ast.Assign) and len(statement.targets) == 1, ast.dump(statement)
        target = statement.targets[0]
        assert isinstance(target, ast.Name), ast.dump(target)
        values[target.id] = ast.literal_eval(statement.value)  # ValueError for anything but a literal
    return values


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no NN_topic.ipynb in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
class TestStoredNotebook:
    def test_no_outputs_or_execution_counts(self, path):
        notebook = read_notebook(path)
        for index, cell in enumerate(code_cells(notebook)):
            assert cell.outputs == [], f"{path.name}: code cell {index} has outputs"
            assert cell.execution_count is None, f"{path.name}: code cell {index} has an execution count"
        assert "papermill" not in notebook.metadata and "widgets" not in notebook.metadata

    def test_one_parameters_cell_of_literals_first(self, path):
        notebook = read_notebook(path)
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged parameters"
        assert code_cells(notebook)[0] is tagged[0], f"{path.name}: the parameters cell is not the first code cell"
        values = parameter_values(notebook)
        missing = [name for name in ALWAYS_PARAMETERS if name not in values]
        assert not missing, f"{path.name}: parameters cell lacks {missing}"
        assert values["SMOKE"] == "auto" and values["DEVICE"] == "auto"
        for name in ("DATA_DIR", "CHECKPOINT"):
            if name in values and path.stem[:2] in AUTO_NOTEBOOKS:
                assert values[name] == "auto", f"{path.name}: {name} must default to \"auto\""
        assert isinstance(values["SEED"], int)
        assert notebook.metadata["kernelspec"]["name"] == "python3"

    def test_setup_right_after_parameters_and_results_recorded(self, path):
        notebook = read_notebook(path)
        second = code_cells(notebook)[1].source
        assert "setup(" in second, f"{path.name}: the cell after parameters must call gcflnet_lib.workbook.setup"
        if "DATA_DIR" in parameter_values(notebook):
            assert "data_dir=DATA_DIR" in second
        assert f'record_results("{path.stem}"' in code_cells(notebook)[-1].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_learner_structure(path):
    """Links at top and bottom, what you will learn / builds on / run time, a summary and 2-4 exercises;
    full-size training on a CPU announces its estimated time first."""
    notebook = read_notebook(path)
    first, last = notebook.cells[0].source, notebook.cells[-1].source
    assert ".ipynb)" in first and ".ipynb)" in last.split("---")[-1], f"{path.name}: previous/next links"
    about = next(c.source for c in notebook.cells if "**What you will learn**" in c.source)
    assert "**Builds on:**" in about and "**Run time**" in about and "not measured yet" not in about
    ending = next(c.source for c in notebook.cells if "## Summary" in c.source)
    assert "## Exercises" in ending
    exercises = [line for line in ending.split("## Exercises")[1].split("## Further")[0].splitlines() if line[:2] in ("1.", "2.", "3.", "4.")]
    assert 2 <= len(exercises) <= 4, exercises
    source = "\n".join(c.source for c in code_cells(notebook))
    if any(word in source for word in ("train(config)", "model_for_notebook(", "run_ablation(")):
        assert "warn_full_size_on_cpu(" in source, f"{path.name} trains without announcing the full-size time on a CPU"
    if path.stem[:2] == "00":
        assert all(f"({p.name})" in notebook.cells[1].source for p in NOTEBOOKS), "00 must link all eleven notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_checks_are_folded_after_the_lesson(path):
    """The self-check cell (asserts and ``record_results``) comes after the summary, exercises and references,
    under a heading that says what it is for, folded (JupyterLab's ``source_hidden``, a <details> on the pages),
    and the navigation line closes the notebook. It still runs: the smoke runs below execute it."""
    cells = read_notebook(path).cells
    ending = next(i for i, c in enumerate(cells) if "## Summary" in c.source)
    heading = next(i for i, c in enumerate(cells) if c.source.startswith("## Checks and recorded results"))
    checks = [i for i, c in enumerate(cells) if "checks" in c.metadata.get("tags", [])]
    code_checks = [i for i in checks if cells[i].cell_type == "code"]
    assert ending < heading < min(checks) and max(checks) == len(cells) - 2, (path.name, ending, heading, checks)
    assert code_checks and all(cells[i].metadata["jupyter"]["source_hidden"] is True for i in code_checks)
    assert f'record_results("{path.stem}"' in cells[code_checks[-1]].source
    assert not any("record_results(" in c.source for c in cells[:heading]), f"{path.name} records inside the lesson"
    assert cells[-1].source.startswith("---") and ".ipynb)" in cells[-1].source


def test_generated_notebooks_are_up_to_date():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "make_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_stored_notebooks_are_stripped():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "strip_notebooks.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------------------- runs


@pytest.fixture(scope="session")
def python3_kernel():
    """The ``python3`` kernel must run this interpreter (``python -m ipykernel install --sys-prefix``)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.fail(f"no python3 kernel; run: {sys.executable} -m ipykernel install --sys-prefix")
    executable = spec.argv[0]
    # jupyter_client swaps a bare "python" for the interpreter that launches the kernel (this one).
    if executable not in ("python", "python3", sys.executable):
        pytest.fail(f"kernel python3 runs {executable}, not {sys.executable}; "
                    f"run: {sys.executable} -m ipykernel install --sys-prefix")
    return "python3"


@pytest.fixture(autouse=True)
def _one_thread_kernels(monkeypatch):
    """Kernels inherit this environment: one BLAS/OpenMP thread keeps smoke runs fast and steady when
    other processes share the two cores (oversubscribed threads slow torch down several-fold)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")


def execute(path: Path, out_dir: Path, kernel: str, **parameters) -> nbformat.NotebookNode:
    import papermill

    output = out_dir / f"{path.stem}.out.ipynb"
    from gcflnet_lib.workbook.runner import kernel_config

    return papermill.execute_notebook(
        str(path), str(output), parameters=parameters, kernel_name=kernel, cwd=str(NOTEBOOKS_DIR),
        progress_bar=False, config=kernel_config(),
    )


# What an executed page must not show: Python warnings, and machine paths (the repository's own location, and
# the usual absolute prefixes) that say where this machine keeps things rather than what the notebook did.
STRAY_OUTPUT = re.compile("|".join([r"Warning\b", re.escape(str(REPO)), r"(?<![\w.])/(?:work|home|tmp|root|usr|opt|mnt)/"]))


def output_texts(output) -> list[str]:
    """The text an output shows: a stream, a traceback, or the text/* (and plain) parts of a display."""
    texts = [output.get("text", ""), "\n".join(output.get("traceback", []))]
    texts += [value for key, value in output.get("data", {}).items() if key.startswith("text/") and isinstance(value, str)]
    return [text for text in texts if text]


def stray_outputs(notebook) -> list[str]:
    """``"cell N: ...context..."`` for each warning or machine path in the outputs of an executed notebook."""
    found = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            for text in output_texts(output):
                found += [f"cell {index}: {text[max(m.start() - 60, 0):m.end() + 60]!r}" for m in STRAY_OUTPUT.finditer(text)]
    return found


def _close(a, b, tol=1e-9):
    return abs(a - b) <= tol


def check_01(r):
    assert r["target_convergence_mean"] > r["clutter_convergence_mean"] + 0.2
    assert r["n_target_patches"] >= 3 and r["n_clutter_patches"] >= 3
    assert -1 <= r["clutter_convergence_mean"] <= 1 and -1 <= r["target_convergence_mean"] <= 1


def check_02(r):
    assert r["max_abs_diff_vs_opencv"] < 1e-6
    assert r["centre_sensitivity_masked"] < 1e-3 < r["centre_sensitivity_unmasked"]
    assert r["fixed_weights_after_fit"] == 0.0 and r["fixed_weights_gradient"] == 0.0
    assert r["free_weights_change"] > 0.0
    assert r["loss_after"] < r["loss_before"]


def check_03(r):
    assert r["theta0_vs_conv_max_abs_diff"] < 1e-5
    assert r["formula_vs_library_max_abs_diff"] < 1e-4
    assert r["constant_response_theta1"] < 1e-4
    assert len(r["theta_sweep"]) >= 3


def check_04(r):
    assert len(r["edge_map_shapes"]) >= 2
    for (height, width), (next_height, next_width) in zip(r["edge_map_shapes"], r["edge_map_shapes"][1:]):
        assert (next_height, next_width) == (height // 2, width // 2)
    assert r["target_edge_ratio"] > 1.0


def check_05(r):
    assert r["receptive_field_dense"] < r["receptive_field_dilated"]
    assert r["attention_min"] >= 0.0 and r["attention_max"] <= 1.0
    assert r["rank_of_attention_logits"] == 1


def check_06(r):
    assert 0.0 <= r["spatial_attention_min"] <= r["spatial_attention_max"] <= 1.0
    assert 0.0 <= r["channel_attention_min"] <= r["channel_attention_max"] <= 1.0
    assert r["skip_change_relative"] > 0.0
    for row in r["skips_by_reading"]:  # a trained crossed model has shut its two finest skips; unit_gain uses them all
        if r["checkpoint"] and row["reading"] == "crossed":
            assert row["dead"][:2] == [0, 1], row
        if r["checkpoint"] and row["reading"] == "unit_gain":
            assert not {0, 1} & set(row["dead"]), row


def expected_release():
    """The release CHECKPOINT "auto" takes on a CPU here, or "" when no release or no NUAA-SIRST is present."""
    from gcflnet_lib import workbook
    from gcflnet_lib.released import AUTO_RELEASE, available

    present = [name for name in AUTO_RELEASE["gcflnet"] if name in available()]
    return present[0] if present and workbook.find_sirst() is not None else ""


def check_released_default(r, prefix):
    """A notebook run with its defaults on a CPU uses the released model on NUAA-SIRST where both are present."""
    release = expected_release()
    if release:
        assert r["checkpoint_name"] == release and r["dataset"] == "NUAA-SIRST", (prefix, r["checkpoint_name"], r["dataset"])
    return release


def used_release(r) -> bool:
    """True when the run scored a released checkpoint on NUAA-SIRST."""
    from gcflnet_lib.released import RELEASES

    return r.get("checkpoint_name", "") in RELEASES and r.get("dataset") == "NUAA-SIRST"


def model_card_check(r, prefix):
    """A released checkpoint scored on the whole NUAA-SIRST test split gives the model card's numbers
    (results/eval_cpu_<release>.json)."""
    from gcflnet_lib import workbook

    assert used_release(r), (prefix, r.get("checkpoint_name"), r.get("dataset"))
    card = workbook.model_card_metrics(r["checkpoint_name"])
    assert card is not None, f"results/eval_cpu_{r['checkpoint_name']}.json, the model card's record, is missing"
    assert r["n_images"] == card["n_images"] == 214
    for key in ("pd", "fa", "miou", "niou"):
        assert r[key] == card[key], (prefix, key, r[key], card[key])
    for key in ("auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05", "pd_at_fa_1e-04"):  # from float maps: to the last bits
        assert abs(r[key] - card[key]) <= 1e-6, (prefix, key, r[key], card[key])
    return True


def check_08(r):
    from gcflnet_lib import workbook
    from gcflnet_lib.workbook.conclusions import metrics_conclusion

    card = workbook.model_card_metrics(r["checkpoint_name"]) if r["checkpoint_name"] else None
    # the page opens with the conclusion its model card gives, and draws none without a card
    assert r["conclusion"] == (metrics_conclusion(card, label=f"`{r['checkpoint_name']}`") if card is not None else "")
    assert _close(r["hand_pd"], r["library_pd"]) and _close(r["hand_fa"], r["library_fa"])
    assert _close(r["hand_miou"], r["library_miou"]) and _close(r["hand_niou"], r["library_niou"])
    assert 0.0 <= r["auc_pd_fa"] <= 1.0 and 0.0 <= r["auc_pixel"] <= 1.0 and r["roc_points"] >= 10
    # the old measure is blind to doubled false alarms; the AUC over the shared range is not
    assert r["doubled_fa_old"][0] == pytest.approx(r["doubled_fa_old"][1]) and r["doubled_fa_new"][0] > r["doubled_fa_new"][1]
    assert "auc" not in r and 0.0 <= r["own_range_area"] <= 1.0
    assert r["predicted_pixels_low_threshold"] >= r["predicted_pixels_high_threshold"]
    assert 0.0 <= r["fa_at_high_threshold"] <= 1.0 and 0.0 <= r["widget_fa"] <= 1.0
    if used_release(r) and r["n_images"] == 214:
        model_card_check(r, "08")


def check_00(r):
    assert r["epochs"] >= 1 and r["final_loss"] < r["first_loss"]
    assert 0.0 <= r["miou"] <= 1.0 and 0.0 <= r["pd"] <= 1.0
    if used_release(r):  # a trained model on real images: real detections
        assert r["n_scored"] == 24 and r["pd"] > 0.7 and r["miou"] > 0.3 and r["fa"] < 1e-4
    if r["checkpoint"]:  # the section opens with the conclusion its records give
        from gcflnet_lib.workbook.conclusions import pair_conclusion

        assert r["conclusion"] == pair_conclusion(r["scored_metrics"], r["partner_metrics"] or None, r["budget"],
                                                  health_note=r["health_sentence"])
        assert f"{r['n_scored']} test images" in r["conclusion"] and "seed 0, one run" in r["budget"]
        if r["partner"]:
            assert "One seed each" in r["conclusion"] and ("ahead on" in r["conclusion"] or "tied on" in r["conclusion"])
    else:
        assert r["conclusion"].startswith("**Toy run**") and "not a result" in r["conclusion"]


def check_07(r):
    assert r["epochs"] >= 2 and r["final_loss"] < r["first_loss"] and r["loss_decreased"] is True
    assert all(0.0 <= r[k] <= 1.0 for k in ("miou", "niou", "pd", "fa", "auc_pd_fa", "auc_pixel")) and r["n_test_images"] > 0
    assert r["foreign_checkpoint_refused"] is True
    assert r["run_epochs"] >= 2 and r["run_final_loss"] < r["run_first_loss"]  # the short run still shows the loop
    if used_release(r):
        assert r["epochs"] >= 100 and r["n_test_images"] == 24 and r["miou"] > 0.3 and r["pd"] > 0.7


def check_09(r):
    from gcflnet_lib.models import list_models

    assert r["n_variants"] == 8 and [row["name"] for row in r["table"]] == list_models()
    p = r["params"]
    for bigger, smaller in [("gcflnet_eem", "unet"), ("gcflnet_glfi", "unet"), ("gcflnet", "gcflnet_glfi_msic"),
                            ("gcflnet", "gcflnet_eem_msic")]:
        assert p[bigger] > p[smaller]
    # MSIC replaces the plain skip: its parameter change is the same whatever else is switched on.
    assert p["gcflnet_msic"] - p["unet"] == r["msic_param_delta"] == p["gcflnet"] - p["gcflnet_eem_glfi"]
    assert all(0.0 <= row[k] <= 1.0 for row in r["table"] for k in ("miou", "niou", "pd", "fa", "auc_pd_fa"))
    # The measured NUDT-SIRST ablation: the notebook's verdicts are the committed analysis's.
    committed = json.loads((NOTEBOOKS_DIR.parent / "results" / "ablation_nudt.json").read_text())
    assert r["measured_runs"] == len(committed["records"]) >= 2
    assert r["measured_verdicts"] == {key: value["verdict"] for key, value in committed["verdicts"].items()}
    assert set(r["measured_verdicts"].values()) <= {"supported", "contradicted", "inconclusive"}
    # The budget study: the page shows the committed analysis, and judges no change while a 4x run is missing.
    budget = json.loads((NOTEBOOKS_DIR.parent / "results" / "ablation_nudt_budget4x.json").read_text())
    assert r["budget_missing"] == budget["missing"]
    assert r["budget_changes"] == {key: item["change"] for key, item in budget["changes"].items()}
    if r["budget_missing"]:
        assert set(r["budget_changes"].values()) == {None}
    for switch, views in r["agrees_with_paper"].items():
        assert set(views.values()) <= {"yes", "no", "inconclusive"}, (switch, views)
        if r["degenerate_variants"]:
            assert views["mean"] == "inconclusive", (switch, views, r["degenerate_variants"])
    if used_release(r):
        release = r["checkpoint_name"]
        from gcflnet_lib import workbook

        pair = {(row["model"], row["where"].split()[0]): row for row in r["released_pair"]}
        assert set(pair) == {("gcflnet", "here"), ("gcflnet", "card"), ("unet", "here"), ("unet", "card")}
        for model, name in (("gcflnet", release), ("unet", release.replace("gcflnet", "unet", 1))):
            card = workbook.model_card_metrics(name)
            assert card is not None, f"results/eval_cpu_{name}.json, the model card's record, is missing"
            assert pair[(model, "card")]["pd"] == card["pd"] and pair[(model, "card")]["miou"] == card["miou"]
            assert pair[(model, "here")]["pd"] > 0.7, (model, pair[(model, "here")])


def check_10(r):
    assert r["methods"] == ["tophat", "max_median", "tllcm", "wslcm", "ipi", "ript", "gcflnet"]
    curve_keys = ("auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05", "pd_at_fa_1e-04")
    assert all(0.0 <= row[k] <= 1.0 for row in r["table"] for k in ("miou", "niou", "pd", "fa", *curve_keys))
    assert all(row["pd_at_fa_1e-05"] <= row["pd_at_fa_1e-04"] for row in r["table"])
    assert all(r["flagged_pixels_k0"][m] >= r["flagged_pixels_k20"][m] for m in r["methods"][:-1])
    if r["n_images_whole_split"]:  # the first table: every row on the whole split, its conclusion the one it gives
        from gcflnet_lib.workbook.conclusions import comparison_conclusion, dead_skips_sentence

        assert {row["n_images"] for row in r["whole_table"]} == {r["n_images_whole_split"]}
        # the table's conclusion, then what the released GCFLNet's skip-health record says of its skips
        health_file = REPO / "results" / "health" / f"{r['checkpoint_name']}.json"
        health = json.loads(health_file.read_text()) if health_file.is_file() else None
        note = dead_skips_sentence(health, "The released GCFLNet")
        assert r["conclusion"] == f"{comparison_conclusion(r['whole_table'], r['budget'])} {note}".strip()
    else:
        assert r["whole_table"] == [] and r["conclusion"] == ""


CHECKS = {"00": check_00, "01": check_01, "02": check_02, "03": check_03, "04": check_04,
          "05": check_05, "06": check_06, "07": check_07, "08": check_08, "09": check_09, "10": check_10}


@pytest.fixture
def figure_text_log(tmp_path, monkeypatch):
    """Every figure a notebook's cells show is checked for overlapping text before it is drawn on the page: the
    kernel starts with ``tests/figure_hook/figure_text_startup.py`` (an IPython startup file, through IPYTHONDIR)
    and appends each collision it finds to the returned file. ``figure_text_problems`` reads it back."""
    import shutil

    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "figure_hook" / "figure_text_startup.py", startup / "00-figure-text.py")
    log = tmp_path / "figure_text.jsonl"
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("GCFLNET_FIGURE_TEXT_LOG", str(log))
    return log


def figure_text_problems(log: Path) -> list[str]:
    """One line per figure with colliding text, naming the cell (its first line) and the first collisions."""
    if not log.is_file():
        return []
    found = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [f"cell '{item['cell']}', figure {item['titles']}: {item['overlaps']}" for item in found]


def test_the_figure_check_runs_in_the_kernel(tmp_path, python3_kernel, figure_text_log):
    """The hook is live: a cell that draws two texts on one spot is reported, naming the cell; a clean one is not."""
    import papermill

    from gcflnet_lib.workbook.runner import kernel_config

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
                                                "ax.text(0.5, 0.5, 'one'); ax.text(0.5, 0.5, 'two');"),
                      nbformat.v4.new_code_cell("fig, ax = plt.subplots(); ax.set_title('alone');")]
    nbformat.write(notebook, tmp_path / "probe.ipynb")
    papermill.execute_notebook(str(tmp_path / "probe.ipynb"), str(tmp_path / "probe.out.ipynb"), kernel_name=python3_kernel,
                               progress_bar=False, config=kernel_config())
    problems = figure_text_problems(figure_text_log)
    assert len(problems) == 1 and "cell 'import matplotlib.pyplot as plt'" in problems[0] and "'one'" in problems[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_in_smoke_size(path, tmp_path, python3_kernel, figure_text_log):
    results_dir = tmp_path / "results"
    extra = {"RUN_DIR": str(tmp_path / "run")} if "RUN_DIR" in parameter_values(read_notebook(path)) else {}
    executed = execute(path, tmp_path, python3_kernel, SMOKE=True, RESULTS_DIR=str(results_dir), **extra)
    stray = stray_outputs(executed)
    assert not stray, f"{path.name} shows warnings or machine paths in its outputs: " + "; ".join(stray)
    # Its page as the runner writes it holds no machinery: papermill's parameters cell, load averages, bare object
    # reprs, project history, numbers broken across lines, a widget caption repeated (pages.machinery_on_page).
    from gcflnet_lib.workbook.pages import export_html, machinery_on_page

    page = export_html(tmp_path / f"{path.stem}.out.ipynb", tmp_path / f"{path.stem}.html", "mathjax/MathJax.js")
    machinery = machinery_on_page(page.read_text(encoding="utf-8"))
    assert not machinery, f"{path.name}'s page shows the workbook's machinery: " + "; ".join(machinery)
    collisions = figure_text_problems(figure_text_log)
    assert not collisions, f"{path.name} shows figures with overlapping text: " + "; ".join(collisions)
    results = json.loads((results_dir / f"{path.stem}.json").read_text())
    assert results, f"{path.name} recorded an empty dict"
    check = CHECKS.get(path.stem[:2])
    if check is not None:
        check(results)
    if path.stem[:2] in AUTO_NOTEBOOKS:
        check_released_default(results, path.stem[:2])


def _assert_stops_at_setup(path, tmp_path, kernel, ename, missing, **parameters):
    """Run ``path`` with a parameter naming ``missing``: it must stop at the setup cell, naming the path."""
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as info:
        execute(path, tmp_path, kernel, SMOKE=True, RESULTS_DIR=str(tmp_path), **parameters)
    error = info.value
    assert error.ename == ename
    assert str(missing) in error.evalue and "does not exist" in error.evalue
    assert "setup(" in error.source  # stopped at the setup cell, before anything slow
    assert not (tmp_path / f"{path.stem}.json").exists()
    return error


DATA_DIR_NOTEBOOKS = [p for p in NOTEBOOKS if "DATA_DIR" in parameter_values(read_notebook(p))]


@pytest.mark.parametrize("path", DATA_DIR_NOTEBOOKS, ids=_ids(DATA_DIR_NOTEBOOKS))
def test_missing_data_dir_stops_at_setup_with_clear_message(path, tmp_path, python3_kernel):
    missing = tmp_path / "no_such_dataset"
    _assert_stops_at_setup(path, tmp_path, python3_kernel, "DataError", missing, DATA_DIR=str(missing))


# 00, 07, 08, 09 and 10 read NUAA-SIRST by default (DATA_DIR "auto") where it is present: their smoke runs above
# are the real-data runs; 01 is run on it here.
@pytest.mark.parametrize("prefix", ["01"])
def test_notebook_runs_on_real_data(prefix, tmp_path, python3_kernel, sirst_root):
    (path,) = [p for p in NOTEBOOKS if p.stem.startswith(prefix)]
    results_dir = tmp_path / "results"
    execute(path, tmp_path, python3_kernel, SMOKE=True, DATA_DIR=str(sirst_root), DATASET="NUAA-SIRST",
            RESULTS_DIR=str(results_dir))
    results = json.loads((results_dir / f"{path.stem}.json").read_text())
    CHECKS[prefix](results)
    assert results["dataset"] == "NUAA-SIRST"


CHECKPOINT_NOTEBOOKS = [p for p in NOTEBOOKS if "CHECKPOINT" in parameter_values(read_notebook(p))]


@pytest.mark.parametrize("path", CHECKPOINT_NOTEBOOKS, ids=_ids(CHECKPOINT_NOTEBOOKS))
def test_missing_checkpoint_stops_at_setup_with_clear_message(path, tmp_path, python3_kernel):
    missing = tmp_path / "no_such_model.pt"
    error = _assert_stops_at_setup(path, tmp_path, python3_kernel, "CheckpointError", missing, CHECKPOINT=str(missing))
    assert "CHECKPOINT" in error.evalue


@pytest.mark.skipif(torch_cuda_available(), reason="the CPU default path needs a machine without a GPU")
def test_notebook_08_default_cpu_path_reproduces_the_model_card(tmp_path, python3_kernel, figure_text_log):
    """08 with its defaults on a CPU (SMOKE, DATA_DIR, CHECKPOINT "auto"): the released model on the 214
    NUAA-SIRST test images, Pd, Fa and mIoU at 0.5 equal to the model card's record."""
    release = expected_release()
    if not release:
        pytest.skip("needs a released checkpoint and NUAA-SIRST (set GCFLNET_SIRST)")
    (path,) = [p for p in NOTEBOOKS if p.stem.startswith("08")]
    results_dir = tmp_path / "results"
    execute(path, tmp_path, python3_kernel, RESULTS_DIR=str(results_dir))
    results = json.loads((results_dir / f"{path.stem}.json").read_text())
    check_08(results)
    assert results["checkpoint_name"] == release and results["matches_model_card"] is True
    assert model_card_check(results, "08")
    assert not figure_text_problems(figure_text_log), figure_text_problems(figure_text_log)


@pytest.mark.skipif(torch_cuda_available(), reason="the CPU default path needs a machine without a GPU")
def test_notebook_10_default_cpu_path_leads_with_the_whole_split(tmp_path, python3_kernel, figure_text_log):
    """10 with its defaults on a CPU: its first table scores the four fast classical detectors and both released
    networks on all 214 NUAA-SIRST test images, and opens with the conclusion those rows give."""
    release = expected_release()
    if not release:
        pytest.skip("needs a released checkpoint and NUAA-SIRST (set GCFLNET_SIRST)")
    (path,) = [p for p in NOTEBOOKS if p.stem.startswith("10")]
    results_dir = tmp_path / "results"
    executed = execute(path, tmp_path, python3_kernel, RESULTS_DIR=str(results_dir))
    results = json.loads((results_dir / f"{path.stem}.json").read_text())
    check_10(results)
    assert results["n_images_whole_split"] == 214 and results["checkpoint_name"] == release
    assert [row["name"] for row in results["whole_table"]] == ["tophat", "max_median", "tllcm", "wslcm", "gcflnet", "unet"]
    assert "each trained on NUAA-SIRST" in results["budget"] and "seed 0, one run" in results["budget"]
    # On the page, the conclusion comes first and the first table is the whole split's.
    shown = [text for cell in executed.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
             if "text/markdown" in output.get("data", {}) for text in [output["data"]["text/markdown"]]]
    assert shown[0] == results["conclusion"]
    first_table = next(text for text in shown if "|---" in text)
    counts = [line.split("|")[3].strip() for line in first_table.splitlines()[2:]]
    assert counts == ["214"] * 6, first_table
    assert not figure_text_problems(figure_text_log), figure_text_problems(figure_text_log)


def _tiny_checkpoint(path: Path, name: str) -> Path:
    """An untrained ``name`` model saved as the engine saves a run (enough for notebooks to load it).

    Seeded, and with its output head scaled by 100: an untrained net's logits sit in a band about 0.1 wide, about
    one step of the ROC's 0.1 logit grid, so how many ROC points it gave depended on the draw of its weights
    (4 to 8 in failed runs). Scaled, its scores spread over several logits, as a trained model's do.
    """
    import torch

    from gcflnet_lib.engine.checkpoint import save_checkpoint
    from gcflnet_lib.models import build_model

    torch.manual_seed(0)
    model = build_model(name, channels=(8, 16, 32, 64))
    with torch.no_grad():
        model.heads[-1].weight.mul_(100.0)
    return save_checkpoint(path, {"model": model.state_dict(), "model_config": model.config, "epoch": 1,
                                  "norm": {"mean": 100.0, "std": 30.0}, "dataset": "Synthetic"})


def test_checkpoint_of_another_variant_is_refused(tmp_path, python3_kernel):
    from papermill.exceptions import PapermillExecutionError

    (path,) = [p for p in NOTEBOOKS if p.stem.startswith("08")]
    checkpoint = _tiny_checkpoint(tmp_path / "unet.pt", "unet")
    with pytest.raises(PapermillExecutionError) as info:
        execute(path, tmp_path, python3_kernel, SMOKE=True, CHECKPOINT=str(checkpoint), MODEL="gcflnet",
                RESULTS_DIR=str(tmp_path))
    error = info.value
    assert error.ename == "CheckpointError"
    assert str(checkpoint) in error.evalue and "'unet'" in error.evalue and "'gcflnet'" in error.evalue
    assert "setup(" in error.source  # refused before any work is done


def test_notebook_08_uses_a_matching_checkpoint(tmp_path, python3_kernel):
    (path,) = [p for p in NOTEBOOKS if p.stem.startswith("08")]
    checkpoint = _tiny_checkpoint(tmp_path / "gcflnet.pt", "gcflnet")
    results_dir = tmp_path / "results"
    execute(path, tmp_path, python3_kernel, SMOKE=True, CHECKPOINT=str(checkpoint), MODEL="gcflnet", DATA_DIR="",
            RESULTS_DIR=str(results_dir))
    results = json.loads((results_dir / f"{path.stem}.json").read_text())
    assert results["checkpoint"] is True
    check_08(results)


def test_stray_outputs_names_the_cell_of_a_warning_or_a_machine_path():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("a"), nbformat.v4.new_code_cell("b"), nbformat.v4.new_code_cell("c")]
    notebook.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="data ../shared/x, runs in results")]
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", name="stderr", text="x.py:3: UserWarning: careful")]
    notebook.cells[2].outputs = [nbformat.v4.new_output("display_data", {"text/plain": f"{REPO}/notebooks and /tmp/y"})]
    found = stray_outputs(notebook)
    assert [line.split(":")[0] for line in found] == ["cell 1", "cell 2", "cell 2"], found
