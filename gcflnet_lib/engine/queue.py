"""A resumable queue of CPU trainings, each scored on more datasets as soon as it ends.

A queue is a list of :class:`Job` (a name and the ``gcflnet train`` flags of one run). For each job,
in order, on ``workers`` processes side by side:

1. ``results/NAME.json`` exists: the job is done, skip it. A process already training into the run
   folder (another queue sharing the list): skip it too.
2. Train it with ``gcflnet train`` in ``runs/NAME``: ``--resume`` from its ``last.pt`` when an earlier
   queue was interrupted (the trainer resumes exactly), a fresh run otherwise. Its output goes to
   ``runs/NAME.log``.
3. Score its ``final.pt`` with ``gcflnet evaluate`` on every cross dataset (the run folder does not
   outlive the machine, so this cannot wait), and write ``results/NAME.json`` atomically: the training
   record (command, commit, device, wall time, history, final metrics) plus ``cross``.

A job that fails (a NaN loss, a crash, a kill of its process) does not stop the queue: it is written
as ``results/NAME.failed.json`` with its return code and the tail of its log, and skipped by later
queues unless ``retry_failed``. Each process trains with ``--threads auto`` under
``OMP_NUM_THREADS = cores // workers``, so side-by-side runs never ask for more cores than there are
(``benchmarks/bench_queue_threads.py`` measures which layout is faster).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gcflnet_lib.engine.cpu_threads import usable_cores
from gcflnet_lib.files import atomic_write_json
from gcflnet_lib.engine.runlock import RunLock
from gcflnet_lib.errors import RunLockedError, UserError

LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class CrossData:
    """A dataset every finished run is also scored on: ``key`` in the record, its root and split name."""

    key: str
    data_root: str
    dataset: str


@dataclass(frozen=True)
class Job:
    """One training of a queue: ``name`` (file names), the ``gcflnet train`` flags (no ``--out``,
    ``--record``, ``--resume`` or ``--threads``: the queue sets those) and fields copied into its record."""

    name: str
    train_flags: tuple[str, ...]
    labels: dict[str, Any] = field(default_factory=dict)


def record_path(results: Path, job: Job) -> Path:
    return results / f"{job.name}.json"


def failed_path(results: Path, job: Job) -> Path:
    return results / f"{job.name}.failed.json"


def busy(run_dir: Path) -> bool:
    """True when another live process trains into ``run_dir`` now (a second queue may share the list)."""
    if not run_dir.exists():
        return False
    try:
        RunLock(run_dir).release()
    except RunLockedError:
        return True
    return False


def job_state(job: Job, runs: Path, results: Path, retry_failed: bool = False) -> str:
    """``done``, ``failed`` (and not retried), ``busy``, ``resume`` (an interrupted run) or ``new``."""
    if record_path(results, job).exists():
        return "done"
    if failed_path(results, job).exists() and not retry_failed:
        return "failed"
    run_dir = runs / job.name
    if busy(run_dir):
        return "busy"
    return "resume" if (run_dir / "last.pt").exists() else "new"


def _gcflnet(*arguments: str) -> list[str]:
    # The interpreter that runs the queue, so that the children use the same environment and package.
    return [sys.executable, "-m", "gcflnet_lib", *arguments]


def train_command(job: Job, run_dir: Path, resume: bool) -> list[str]:
    return _gcflnet("train", *job.train_flags, "--out", str(run_dir), "--resume" if resume else "--overwrite",
                    "--threads", "auto", "--no-progress", "--record", str(run_dir / "record.json"))


def cross_command(run_dir: Path, cross: CrossData) -> list[str]:
    return _gcflnet("evaluate", "--checkpoint", str(run_dir / "final.pt"), "--data", cross.data_root,
                    "--dataset", cross.dataset, "--device", "cpu", "--json", str(run_dir / f"cross_{cross.key}.json"))


def _tail(log: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        return log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _run_logged(command: list[str], log: Path, env: dict[str, str], cwd: Path) -> int:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"+ {shlex.join(command)}\n")
        out.flush()
        return subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd).returncode


def run_job(job: Job, runs: Path, results: Path, cross: Sequence[CrossData], env: dict[str, str], cwd: Path,
            resume: bool) -> dict[str, Any]:
    """Train ``job`` (or resume it), score it on ``cross``, write its record; the record (or failure) written."""
    run_dir = runs / job.name
    log = runs / f"{job.name}.log"
    runs.mkdir(parents=True, exist_ok=True)
    started = time.time()
    trained = run_dir / "record.json"
    steps: list[list[str]] = []
    if not (trained.exists() and (run_dir / "final.pt").exists()):  # a finished training whose scoring was cut short
        steps.append(train_command(job, run_dir, resume))
    steps += [cross_command(run_dir, item) for item in cross]
    for command in steps:
        code = _run_logged(command, log, env, cwd)
        if code != 0:
            failure = {"name": job.name, "status": "failed", "returncode": code, "command": shlex.join(command),
                       "labels": job.labels, "log": str(log), "log_tail": _tail(log),
                       "seconds": round(time.time() - started, 1)}
            atomic_write_json(failed_path(results, job), failure)
            return failure
    record = json.loads(trained.read_text(encoding="utf-8"))
    record.update({"name": job.name, "status": "finished", **job.labels, "cross": {}})
    for item in cross:
        report = json.loads((run_dir / f"cross_{item.key}.json").read_text(encoding="utf-8"))
        record["cross"][item.key] = {"dataset": item.dataset, "metrics": report["metrics"],
                                     "checkpoint_sha256": report.get("checkpoint_sha256"),
                                     "command": shlex.join(["gcflnet", *cross_command(run_dir, item)[3:]])}
    atomic_write_json(record_path(results, job), record)
    failed_path(results, job).unlink(missing_ok=True)
    return record


def run_queue(jobs: Sequence[Job], runs: str | os.PathLike, results: str | os.PathLike, cross: Sequence[CrossData] = (),
              workers: int = 1, retry_failed: bool = False, cwd: str | os.PathLike | None = None,
              on_record: Callable[[Job, dict[str, Any]], None] | None = None,
              say: Callable[[str], None] = print) -> dict[str, str]:
    """Run every job not yet done, ``workers`` at a time, in order; ``{name: final state}``.

    ``on_record(job, record)`` is called after each job's record (or failure) is written, for example
    to commit it. Raises ``UserError`` before any work when a cross dataset's folder is missing.
    """
    runs, results = Path(runs), Path(results)
    for item in cross:
        if not Path(item.data_root).is_dir():
            raise UserError(f"{item.data_root}: cross-dataset folder for {item.dataset} not found")
    results.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, usable_cores() // max(1, workers)))}
    cwd = Path(cwd) if cwd else Path.cwd()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")]))
    states: dict[str, str] = {}
    claim = threading.Lock()  # two workers never take the same job

    def work(job: Job) -> None:
        with claim:
            state = job_state(job, runs, results, retry_failed)
            if state in ("done", "failed", "busy"):
                states[job.name] = state
                return
            (runs / job.name).mkdir(parents=True, exist_ok=True)
        say(f"{time.strftime('%H:%M:%S')} start {job.name} ({state})")
        started = time.time()
        outcome = run_job(job, runs, results, cross, env, cwd, resume=state == "resume")
        states[job.name] = outcome["status"]
        say(f"{time.strftime('%H:%M:%S')} {outcome['status']} {job.name} in {(time.time() - started) / 60:.1f} min")
        if on_record is not None:
            on_record(job, outcome)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for future in [pool.submit(work, job) for job in jobs]:
            future.result()
    return states
