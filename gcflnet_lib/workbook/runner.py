"""The workbook runner: every notebook executed through papermill into ``build/`` (executed ``.ipynb`` plus
HTML pages), a summary table of each one's key results, and the table of run times the notebooks' headers state.

    python -m gcflnet_lib.workbook run [--smoke | --full] [--only 01 08] [--build DIR] [--no-html]

(``scripts/run_workbook.py`` is the same.) A failing notebook is reported in the table; the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import papermill
import torch
from tqdm.auto import tqdm
from traitlets.config import Config

from gcflnet_lib.errors import UserError
from gcflnet_lib.files import atomic_write_text
from gcflnet_lib.workbook.context import REPO_ROOT, shown_path
from gcflnet_lib.workbook.pages import NOTEBOOKS_DIR, export_html, list_notebooks, local_mathjax, write_index
from gcflnet_lib.workbook.results import load_results

BUILD_DIR = REPO_ROOT / "build"


@dataclass
class NotebookRun:
    """One notebook's outcome in :func:`run_workbook`."""

    name: str
    status: str  # "ok" or "failed"
    seconds: float
    results: dict = field(default_factory=dict)
    error: str = ""
    executed: Path | None = None
    html: Path | None = None


def kernel_config():
    """The traitlets config papermill's notebook client hands its kernel manager: the kernel talks over local
    IPC sockets, not TCP. The kernel only ever serves this machine, and over unencrypted TCP ipykernel warns
    "Kernel is running over TCP without encryption" on the terminal at every notebook run."""
    return Config({"KernelManager": {"transport": "ipc"}})


def _short_error(exc: BaseException) -> str:
    """One line: the failing cell (papermill's error knows it) and the exception's name and first line."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    message = f"{ename}: {evalue}".strip().splitlines()[0][:300]
    if getattr(exc, "exec_count", None) is not None:
        # The prompt number the executed page shows beside the cell, and the cell's first line to find it by.
        first_line = next((line.strip() for line in (getattr(exc, "source", "") or "").splitlines() if line.strip()), "")
        message = f"cell In [{exc.exec_count}] ({first_line[:60]}): {message}"
    return message


def run_notebook(
    notebook: Path,
    build_dir: Path,
    parameters: Mapping[str, Any],
    results_dir: Path,
    kernel_name: str = "python3",
    html: bool = True,
    mathjax_url: str | None = None,
) -> NotebookRun:
    """Execute one notebook with papermill (cwd = its folder) into ``build_dir``; never raises for notebook errors."""
    name = notebook.stem
    build_dir.mkdir(parents=True, exist_ok=True)
    executed = build_dir / f"{name}.ipynb"
    partial = build_dir / f".{name}.partial.ipynb"
    (results_dir / f"{name}.json").unlink(missing_ok=True)  # a stale JSON must not pass for this run's
    start = time.perf_counter()
    status, error, results = "ok", "", {}
    try:
        papermill.execute_notebook(
            str(notebook),
            str(partial),
            parameters=dict(parameters),
            kernel_name=kernel_name,
            cwd=str(notebook.parent),
            progress_bar=False,
            config=kernel_config(),
        )
        results = load_results(name, results_dir)
    except Exception as exc:  # a failing notebook is reported in the table, the others still run
        status, error = "failed", _short_error(exc)
    seconds = time.perf_counter() - start
    html_path = None
    if partial.exists():
        os.replace(partial, executed)  # the executed copy holds papermill's error marker when it failed
        if html:
            html_path = export_html(executed, build_dir / f"{name}.html", mathjax_url)
    return NotebookRun(name, status, seconds, results, error, executed if executed.exists() else None, html_path)


def format_results(results: Mapping[str, Any], limit: int = 4) -> str:
    """A compact ``key=value`` string of the first ``limit`` scalar results, for the summary table."""
    parts = []
    for key, value in results.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
        if len(parts) == limit:
            break
    return ", ".join(parts)


def summary_table(runs: Sequence[NotebookRun]) -> str:
    """A plain-text table: notebook, status, seconds, key results (or the error of a failed one)."""
    rows = [("notebook", "status", "seconds", "key results")]
    for run in runs:
        rows.append((run.name, run.status, f"{run.seconds:.1f}", format_results(run.results) or run.error))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * 11)
    return "\n".join(lines)


def run_workbook(
    notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR,
    build_dir: str | os.PathLike = BUILD_DIR,
    smoke: bool | str = "auto",
    only: Sequence[str] = (),
    html: bool = True,
    extra_parameters: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> list[NotebookRun]:
    """Execute every notebook into ``build_dir`` with ``SMOKE = smoke``.

    ``"auto"`` (the default) runs what a learner who opens a notebook runs: full size on a GPU, the fast path on
    a CPU (the released models on the whole test split); True forces the tiny sizes (tests, CI); False full size.
    """
    if smoke is None:  # the old spelling of the default
        smoke = "auto"
    if smoke != "auto" and not isinstance(smoke, bool):
        raise UserError(f'smoke={smoke!r} must be "auto", True or False')
    build_dir = Path(build_dir).resolve()
    results_dir = build_dir / "notebook_results"
    notebooks = list_notebooks(notebooks_dir, only)
    # Relative to the notebooks' folder (their working directory): the executed pages show no machine paths.
    results_arg = os.path.relpath(results_dir, Path(notebooks_dir).resolve())
    parameters = {"SMOKE": smoke, "RESULTS_DIR": results_arg, **(extra_parameters or {})}
    mathjax_url = local_mathjax(build_dir) if html else None
    runs = []
    bar = tqdm(notebooks, desc="workbook", unit="notebook", disable=not progress)
    for notebook in bar:
        bar.set_postfix_str(notebook.stem)
        runs.append(run_notebook(notebook.resolve(), build_dir, parameters, results_dir, html=html, mathjax_url=mathjax_url))
    if html:
        write_index(build_dir, notebooks_dir, mathjax_url)
    return runs


# The runner's table of times, kept for the notebooks' headers (scripts/notebooks/_cells.py reads it):
# ``scripts/run_workbook.py --record-times`` writes each notebook that ran to its device's table.
RUN_TIMES_FILE = REPO_ROOT / "results" / "workbook_times.json"


def machine_description(device: str) -> str:
    """The machine a run is timed on, in words: the GPU's name, or the CPU's architecture, cores, the kernels'
    thread setting and the load when the run started (a shared machine's load changes every time)."""
    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)} (one GPU)"
    threads = os.environ.get("OMP_NUM_THREADS", "torch's default number of")
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{platform.machine()}, {os.cpu_count()} cores, {threads} torch thread(s) per kernel{load}"


def machine_in_words(device: str, machine: str) -> str:
    """What a page says about the machine a recorded time ran on (:func:`machine_description` wrote ``machine``):
    "a 2-core CPU", "one NVIDIA H100 80GB HBM3". The architecture, thread setting and load average stay in
    the record (``results/workbook_times.json``), off the pages."""
    if device == "cuda":
        return "one " + machine.split(" (one GPU)")[0].split(", load average")[0]
    cores = re.search(r"(\d+) cores?\b", machine)
    return f"a {cores.group(1)}-core CPU" if cores else "a CPU"


def load_run_times(path: str | os.PathLike = RUN_TIMES_FILE) -> dict[str, dict[str, dict]]:
    """The recorded table: device ("cpu", "cuda") -> notebook name -> {seconds, smoke, date, machine}; {} without one."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8"))["runs"] if path.is_file() else {}


def record_run_times(runs: Sequence[NotebookRun], smoke: bool | str, device: str, machine: str,
                     path: str | os.PathLike = RUN_TIMES_FILE) -> Path:
    """Merge the times of the notebooks that ran (status ok) into the table at ``path``, under ``device``;
    a failed run keeps the notebook's previous time. ``smoke``: the ``SMOKE`` the run passed (True, False or
    "auto", kept as given so a header can say which path was timed). Returns ``path``."""
    table = load_run_times(path)
    date = time.strftime("%Y-%m-%d")
    for run in runs:
        if run.status == "ok":
            table.setdefault(device, {})[run.name] = {"seconds": round(run.seconds, 1), "smoke": smoke,
                                                      "date": date, "machine": machine}
    record = {"kind": "workbook_times",
              "note": "wall time of each notebook as scripts/run_workbook.py --record-times last ran it; "
                      "the notebooks' headers state these (scripts/make_notebooks.py)",
              "runs": {device: dict(sorted(names.items())) for device, names in sorted(table.items())}}
    return atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gcflnet_lib.workbook run [--smoke | --full] [--only 01 08] [--build DIR] [--no-html]``.

    Without ``--smoke`` / ``--full`` every notebook gets ``SMOKE = "auto"``, its own default."""
    parser = argparse.ArgumentParser(
        prog="python -m gcflnet_lib.workbook",
        description="Execute the workbook's notebooks with papermill into build/ (executed .ipynb + HTML).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute every notebook and print a summary table")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--smoke", dest="smoke", action="store_const", const=True, default="auto",
                      help='force the tiny sizes, SMOKE=True (CI); the default passes SMOKE="auto", what a notebook '
                           "opened in JupyterLab runs: full size on a GPU, the released models on a CPU")
    size.add_argument("--full", dest="smoke", action="store_const", const=False,
                      help="full sizes, SMOKE=False, also on a CPU")
    run.add_argument("--only", nargs="+", default=(), metavar="PREFIX", help="run notebooks whose name starts so, e.g. 01 08")
    run.add_argument("--notebooks", type=Path, default=NOTEBOOKS_DIR, help="folder of NN_topic.ipynb files")
    run.add_argument("--build", type=Path, default=BUILD_DIR, help="output folder (default build/)")
    run.add_argument("--no-html", dest="html", action="store_false", help="skip the HTML export")
    run.add_argument("--record-times", nargs="?", type=Path, const=RUN_TIMES_FILE, default=None, metavar="FILE",
                     help="keep each notebook's time in FILE (default results/workbook_times.json), which the "
                          "notebooks' headers state once scripts/make_notebooks.py has rewritten them")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    machine = machine_description(device)  # before the run: the load it starts under
    smoke = args.smoke
    try:
        runs = run_workbook(args.notebooks, args.build, smoke=smoke, only=args.only, html=args.html)
    except UserError as exc:
        print(f"run_workbook: error: {exc}", file=sys.stderr)
        return 2
    print(summary_table(runs))
    if args.record_times:
        path = record_run_times(runs, smoke, device, machine, args.record_times)
        print(f"times recorded in {shown_path(path)}; run scripts/make_notebooks.py to state them in the headers")
    failed = [run for run in runs if run.status != "ok"]
    if failed:
        for run in failed:
            print(f"{run.name} failed at {run.error}", file=sys.stderr)
        print(f"{len(failed)} of {len(runs)} notebook(s) failed: {', '.join(run.name for run in failed)}; "
              "the other pages are written", file=sys.stderr)
        return 1
    print(f"all {len(runs)} notebook(s) ran; outputs in {Path(args.build).resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
