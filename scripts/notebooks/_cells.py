"""Cell builders for the notebook generators in this folder (one module per notebook, ``NN_topic.py``).

Each generator module defines ``CELLS``: a list built with :func:`md`, :func:`code`, exactly one
:func:`parameters`, :func:`ending` and the self-check cell :func:`checks`. ``scripts/make_notebooks.py`` turns them
into ``notebooks/NN_topic.ipynb``, in the order :func:`arranged` gives them (the checks after the lesson).
"""

from __future__ import annotations

import ast
import textwrap

from gcflnet_lib.workbook.pages import INDEX_LINK
from gcflnet_lib.workbook.results import gpu_training_records
from gcflnet_lib.workbook.runner import load_run_times, machine_in_words


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


def code(text: str, tags: tuple[str, ...] = ()) -> dict:
    """A code cell. ``tags``: e.g. ``NBVAL_CHECK`` for a cell whose printed output a rerun must reproduce."""
    return {"cell_type": "code", "source": _clean(text), "tags": list(tags)}


# The tag nbval's ``--nbval-lax`` checks the outputs of (tests/test_nbval.py reruns a built notebook and compares):
# the cells whose printed numbers are the notebook's key results, which a rerun with the same seed must reproduce.
# Such a cell must not end in an expression silenced by ";": nbval's kernel keeps no input history, which IPython
# reads the ";" from, so the rerun would show the repr (end with ``plt.show()`` instead).
NBVAL_CHECK = "nbval-check-output"
# The tag of the self-check cell: the asserts on the notebook's key numbers and ``workbook.record_results``.
CHECKS_TAG = "checks"
CHECKS_HEADING = "## Checks and recorded results"
CHECKS_TEXT = (
    f"{CHECKS_HEADING}\n\n"
    "Bookkeeping, not part of the lesson. The folded cell below asserts the key numbers this page shows and records "
    "them (`workbook.record_results`) for the workbook's tests and the runner's summary table; unfold it to read it."
)


def checks(text: str) -> dict:
    """The self-check cell: asserts on the key results and ``workbook.record_results``. A generator lists it where
    its names are defined; :func:`arranged` moves it after the ending under :data:`CHECKS_HEADING`, and its code is
    folded (``metadata.jupyter.source_hidden``: JupyterLab shows it collapsed, the pages in a ``<details>``)."""
    return {"cell_type": "code", "source": _clean(text), "tags": [CHECKS_TAG],
            "metadata": {"jupyter": {"source_hidden": True}}}


def checks_note(text: str) -> dict:
    """A markdown paragraph on what the checks assert (no heading: it follows :data:`CHECKS_HEADING`), moved with
    them by :func:`arranged`."""
    return {**md(text), "tags": [CHECKS_TAG]}


def arranged(cells: list[dict], number: str) -> list[dict]:
    """A generator's ``CELLS`` as the notebook holds them: the lesson through its ending (summary, exercises, further
    research, references), then the self-check cells (:func:`checks`) under :data:`CHECKS_HEADING`, then the
    navigation line. The checks (and any :func:`checks_note`) keep their order, and still run, last."""
    lesson = [cell for cell in cells if CHECKS_TAG not in cell["tags"]]
    kept = [cell for cell in cells if CHECKS_TAG in cell["tags"]]
    tail = [md(CHECKS_TEXT), *kept] if kept else []
    return [*lesson, *tail, md(f"---\n\n{nav(number)}")]


def parameters(text: str) -> dict:
    """The one code cell tagged ``parameters`` (literals only; papermill injects its overrides after it)."""
    return {"cell_type": "code", "source": _clean(text), "tags": ["parameters"]}


# The parameter lines every notebook of 01-06 shares; where the data come from has two variants.
_DATA_LINES = {
    "synthetic": ('DATA_DIR = ""          # "" -> synthetic scenes; else a standard-layout root{example}',
                  "DATASET = \"Synthetic\"  # the split files' dataset name when DATA_DIR is given{dataset}"),
    "auto": ('DATA_DIR = "auto"      # "auto" -> NUAA-SIRST if found, else synthetic scenes; "" synthetic; '
             'else a standard-layout root',
             "DATASET = \"auto\"       # the split files' dataset name (\"auto\": read from DATA_DIR/img_idx)"),
}


def standard_parameters(smoke: str, data: str = "synthetic", extra: str = "", example_root: str = "") -> dict:
    """The parameters cell of notebooks 01-06: SMOKE, DEVICE, DATA_DIR, DATASET, SEED, the notebook's own
    ``extra`` lines (``NAME = literal  # comment``), then RESULTS_DIR; literals only, as papermill wants.

    ``smoke``: what ``SMOKE = True`` makes small ("few small images"). ``data``: "synthetic" (DATA_DIR "" and
    DATASET "Synthetic") or "auto" (NUAA-SIRST where found). ``example_root``: a dataset root named in the
    synthetic variant's comment, e.g. ``../../shared/datasets/NUAA-SIRST``.
    """
    data_dir, dataset = _DATA_LINES[data]
    if example_root:
        data_dir = data_dir.format(example=f" such as {example_root}")
        dataset = dataset.format(dataset=f', e.g. "{example_root.rstrip("/").rsplit("/", 1)[-1]}"')
    else:
        data_dir, dataset = data_dir.format(example=""), dataset.format(dataset="")
    lines = [f'SMOKE = "auto"          # "auto": fast on a CPU, full size on a GPU; True: {smoke} so the notebook '
             "runs in seconds",
             'DEVICE = "auto"        # "auto" -> cuda if available else cpu',
             data_dir, dataset, "SEED = 0", *_clean(extra).splitlines(), 'RESULTS_DIR = "../build/notebook_results"']
    source = "\n".join(lines)
    for statement in ast.parse(source).body:  # NAME = literal, nothing else
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            raise ValueError(f"a parameters cell holds only NAME = literal lines, not {ast.unparse(statement)!r}")
        ast.literal_eval(statement.value)
    return {"cell_type": "code", "source": source, "tags": ["parameters"]}


def where_it_sits(module_key: str, boxes: str) -> list[dict]:
    """The "Where this sits in GCFLNet" pair: a line saying what the highlighted ``boxes`` are ("the EEM of every
    level") and the full-width model's architecture drawn with ``module_key`` ("eem", "glfi", "msic") highlighted.
    Splice it into ``CELLS`` with ``*where_it_sits(...)``."""
    text = (f"**Where this sits in GCFLNet.** The highlighted boxes are {boxes}, in the full-width model's\n"
            "architecture drawn from its configuration (`gcflnet_lib.workbook.architecture.draw_architecture`).")
    return [{"cell_type": "markdown", "source": text, "tags": []},
            code(f"""
                from gcflnet_lib.models import build_model
                from gcflnet_lib.workbook.architecture import draw_architecture

                draw_architecture(build_model("gcflnet").config, highlight="{module_key}");
                """)]


# The parameters that :func:`dissection_setup` reads besides the standard ones (notebooks 04 and 06).
DISSECTION_PARAMETERS = """
    CHECKPOINT = "auto"    # "auto": the released GCFLNets (CPU recipe, full width beside it); a path or name; "" trains briefly here
    TRAIN_STEPS = 600      # steps of the brief training used when CHECKPOINT is "" (SMOKE uses 20)
    """


def dissection_setup(imports: str, then: str = "", readings: str = "", crossed: bool = False) -> dict:
    """The set-up cell of notebooks 04 and 06, which take trained GCFLNets apart: the notebook's ``imports``,
    ``workbook.setup``, the test images holding targets and the models (``workbook.dissection_fits``, with the
    keyword arguments ``readings`` for the model trained briefly, e.g. ``'msic_reading="crossed"'``, and with
    ``crossed`` the CPU release's ``crossed`` predecessor first), then the notebook's own lines ``then`` before the
    closing print. Its parameters cell adds ``DISSECTION_PARAMETERS`` (CHECKPOINT, TRAIN_STEPS) to the standard ones."""
    setup = _clean("""
        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE, dataset=DATASET)
        SMOKE = ctx.smoke  # "auto" resolved
        SIZE = 128 if SMOKE else 256  # generated scenes only; real test images are used whole
        MODELS = workbook.dissection_checkpoints(CHECKPOINT, ctx.dataset{CROSSED})  # label -> checkpoint; {}: trained briefly
        test_samples = workbook.samples_with_targets(ctx, ctx.dataset, n=4 if SMOKE else 8, size=SIZE)
        # The released GCFLNets (CHECKPOINT = "auto"), or CHECKPOINT = "": the exercise, a small model trained briefly here.
        fits = workbook.dissection_fits(ctx, CHECKPOINT, TRAIN_STEPS{CROSSED}{READINGS})
        label, fit = next(iter(fits.items()))  # the model taken apart below; any other is shown beside it
        model = fit.model
        """).replace("{READINGS}", f", {readings}" if readings else "").replace("{CROSSED}", ", crossed=True" if crossed else "")
    done = 'print(f"device {ctx.device}; {len(test_samples)} {ctx.dataset} test images holding targets")'
    parts = [_clean(imports), setup, *([_clean(then)] if then.strip() else []), done]
    return {"cell_type": "code", "source": parts[0] + "\n\n" + "\n".join(parts[1:]), "tags": []}


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


def measured_time(number: str, device: str) -> str | None:
    """Notebook ``number``'s time on ``device`` ("cpu", "cuda") in the runner's table (``RUN_TIMES_FILE``), as a page
    says it: "about 49 s on a 2-core CPU" (run with its defaults), or None where the table has no run of it. The record's
    date, architecture and load average stay in the table (``runner.machine_in_words``)."""
    entry = load_run_times().get(device, {}).get(NOTEBOOKS[number][0])
    if entry is None:
        return None
    size = {True: " with SMOKE = True", False: " at full size"}.get(entry["smoke"], "")  # "": its defaults
    return f"about {entry['seconds']:.0f} s on {machine_in_words(device, entry['machine'])}{size}"


def gpu_statement(number: str, gpu_models: tuple[str, ...]) -> str:
    """The GPU time: the runner's, else the committed GPU training records of the models the notebook trains
    at full size (``gpu_models``), else that there is no record."""
    measured = measured_time(number, "cuda")
    if measured:
        return measured
    records = gpu_training_records(gpu_models) if gpu_models else []
    if not records:
        return "not timed yet"
    trainings = "; ".join(f"{r['model']} on {r['dataset']} for {r['epochs']} epochs took about {r['wall_time_s']:.0f} s "
                          f"on one {r['device']}" for r in records)
    return f"not timed as a whole; its training of {trainings}"


def about(number: str, learn: list[str], builds_on: list[str], cpu_path: str, gpu_models: tuple[str, ...] = (),
          open_rows: str = "") -> dict:
    """What you will learn, what it builds on (links), the run times as last measured, and (``open_rows``) the
    rows of docs/PAPER_READING.md that list what the paper leaves open about this notebook's module.

    ``cpu_path``: what the defaults do on a CPU. ``gpu_models``: the models its full-size path trains, whose
    committed GPU records are quoted until the runner has timed the notebook on a GPU.
    """
    learned = "\n".join(f"- {item}" for item in learn)
    before = ", ".join(link(n) for n in builds_on) if builds_on else "nothing: start here"
    cpu = measured_time(number, "cpu") or "no measured run on a CPU"
    text = (f"**What you will learn**\n\n{learned}\n\n**Builds on:** {before}.\n\n{prerequisites(number)}\n\n"
            f"**Run time** (all cells): {cpu}, where its defaults take the fast path: {cpu_path}. "
            f"On a GPU at full size: {gpu_statement(number, gpu_models)}.")
    if open_rows:
        text += (f"\n\n**What the paper leaves open here:** [docs/PAPER_READING.md](../docs/PAPER_READING.md), "
                 f"{open_rows}: the paper's words, what the code does, the switch, and the measured effect.")
    return {"cell_type": "markdown", "source": text, "tags": []}


# What a notebook expects its reader to know, with a place to learn it: ``PREREQUISITES`` picks from these.
LEARN_MORE = {
    "python": "[NumPy basics](https://numpy.org/doc/stable/user/absolute_beginners.html)",
    "pytorch": "[PyTorch basics](https://pytorch.org/tutorials/beginner/basics/intro.html)",
    "autograd": "[autograd and `nn.Module`](https://pytorch.org/tutorials/beginner/basics/buildmodel_tutorial.html)",
    "cnn": "[convolutional networks (CS231n)](https://cs231n.github.io/convolutional-networks/)",
    "unet": "[U-Net (Ronneberger et al., 2015)](https://arxiv.org/abs/1505.04597)",
    "gradients": "[image gradients and the Sobel operator](https://docs.opencv.org/4.x/d2/d2c/tutorial_sobel_derivatives.html)",
    "dilation": "[dilated convolutions (Yu & Koltun, 2016)](https://arxiv.org/abs/1511.07122)",
    "attention": "[channel and spatial attention, CBAM (Woo et al., 2018)](https://arxiv.org/abs/1807.06521)",
    "training": "[a PyTorch training loop](https://pytorch.org/tutorials/beginner/basics/optimization_tutorial.html)",
    "roc": "[ROC analysis (Fawcett, 2006)](https://doi.org/10.1016/j.patrec.2005.10.010)",
    "morphology": "[morphological top-hat](https://docs.opencv.org/4.x/d9/d61/tutorial_py_morphological_ops.html)",
}
PREREQUISITES: dict[str, tuple[str, ...]] = {
    "00": ("pytorch", "cnn", "unet"), "01": ("python", "gradients"), "02": ("gradients", "autograd"),
    "03": ("cnn", "autograd"), "04": ("cnn", "unet"), "05": ("cnn", "dilation", "attention"),
    "06": ("unet", "attention"), "07": ("pytorch", "training", "unet"), "08": ("python", "roc"),
    "09": ("training", "roc"), "10": ("python", "morphology", "roc"),
}
# The paper as published (CITATION.cff cites it too; tests/test_citation.py checks that the two agree). The text this
# project works from (../shared/paper/gcflnet-paper.txt) prints no author list, so the citation names none.
PAPER_TITLE = "Gradient Compensation-Based Feature Learning Network (GCFLNet) for Infrared Small Target Detection"
PAPER_DOI = "10.3390/electronics15040868"
PAPER_CITATION = (f"*{PAPER_TITLE}*, *Electronics* 2026, 15(4), 868, "
                  f"[doi:{PAPER_DOI}](https://doi.org/{PAPER_DOI})")
# The works every notebook rests on: the paper, the datasets and the protocol, and the operator EEM borrows.
REFERENCES = (
    f"{PAPER_CITATION}: the paper this workbook follows.",
    "Y. Dai, Y. Wu, F. Zhou, K. Barnard, *Asymmetric Contextual Modulation for Infrared Small Target Detection*, "
    "WACV 2021 ([arXiv:2009.14530](https://arxiv.org/abs/2009.14530)): ACM and the SIRST (NUAA-SIRST) dataset, "
    "[github.com/YimianDai/sirst](https://github.com/YimianDai/sirst).",
    "B. Li, C. Xiao, L. Wang, Y. Wang, Z. Lin, M. Li, W. An, Y. Guo, *Dense Nested Attention Network for Infrared "
    "Small Target Detection*, IEEE TIP 2023 ([arXiv:2106.00487](https://arxiv.org/abs/2106.00487)): DNANet and "
    "the NUDT-SIRST dataset.",
    "Z. Yu, C. Zhao, Z. Wang, Y. Qin, Z. Su, X. Li, F. Zhou, G. Zhao, *Searching Central Difference Convolutional "
    "Networks for Face Anti-Spoofing*, CVPR 2020 ([arXiv:2003.04092](https://arxiv.org/abs/2003.04092)): CDC.",
    "BasicIRSTD, the open-source toolbox whose data layout and protocol this workbook uses: "
    "[github.com/XinyiYing/BasicIRSTD](https://github.com/XinyiYing/BasicIRSTD).",
)


def prerequisites(number: str) -> str:
    """The "Prerequisites" line of notebook ``number``: what to know first, each with a link to learn it."""
    return "**Prerequisites:** " + ", ".join(LEARN_MORE[key] for key in PREREQUISITES[number]) + "."


def answered(question: str, answer: str) -> str:
    """A numbered exercise's text and its expected answer folded in a ``<details>`` block, indented to stay
    inside the list item (three spaces: four would be a code block outside a list)."""
    folded = "\n".join(f"   {line}" if line else "" for line in _clean(answer).splitlines())
    return (f"{_clean(question)}\n\n   <details><summary>Expected answer</summary>\n\n{folded}\n\n"
            f"   </details>")


def ending(number: str, summary: str, exercises: list[tuple[str, str]], further: str) -> dict:
    """The closing cell: a short summary, 2-4 exercises on the notebook's own objects, each with its expected
    answer folded, a "Further research" paragraph and the shared references (:func:`arranged` adds the checks and
    the navigation after it)."""
    if not 2 <= len(exercises) <= 4:
        raise ValueError(f"notebook {number}: give 2 to 4 exercises, not {len(exercises)}")
    listed = "\n".join(f"{i}. {answered(question, answer)}" for i, (question, answer) in enumerate(exercises, 1))
    references = "\n".join(f"- {reference}" for reference in REFERENCES)
    text = (f"## Summary\n\n{_clean(summary)}\n\n## Exercises\n\n{listed}\n\n"
            f"## Further research\n\n{_clean(further)}\n\n## References\n\n{references}")
    return {"cell_type": "markdown", "source": text, "tags": []}
