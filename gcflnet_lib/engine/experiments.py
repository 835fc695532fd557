"""One experiment runner: N trainings of one recipe, run in order, resumable, each one's record kept.

Three experiments use it: the NUDT-SIRST ablation queue (``scripts/ablation_queue.py``), the measurement of the
paper's open readings (``scripts/measure_readings.py``) and notebook 09's sweep (``gcflnet_lib.ablation.run_ablation``).
An experiment is a list of :class:`Job`; :func:`run_queue` runs every job not yet done, on ``workers`` processes side
by side, and says what became of each. A job is one of three kinds:

- **train** (``train_flags``): ``gcflnet train FLAGS`` in a child process, in ``runs/NAME``, its output in
  ``runs/NAME.log``. ``--resume`` from its ``last.pt`` when an earlier queue was interrupted (the trainer resumes
  exactly), a fresh run otherwise. Then its ``final.pt`` is scored with ``gcflnet evaluate`` on every cross dataset
  (the run folder does not outlive the machine, so this cannot wait), and ``results/NAME.json`` is written
  atomically: the training record (command, commit, device, wall time, history, final metrics) plus ``cross``.
- **evaluate** (``evaluate_flags``): ``gcflnet evaluate FLAGS --json results/NAME.json``, nothing trained (a padding
  mode on a finished run's weights, a released checkpoint scored again).
- **in-process** (``config``, a :class:`~gcflnet_lib.engine.TrainConfig`): ``engine.train(config)`` in this process,
  with its progress bar where the caller shows it (a notebook); the run folder is its record, and it is done when it
  holds a finished run with the same learning settings on data not rewritten since (:func:`finished_run_matches`).

A job is skipped when its record exists (``done``) or when another live process trains into its run folder (``busy``:
two queues can share one list). One that fails (a NaN loss, a crash, a kill of its process) does not stop the queue: it
is written as ``results/NAME.failed.json`` with its return code and the tail of its log, and skipped by later queues
unless ``retry_failed``. Each child trains with ``--threads auto`` under ``OMP_NUM_THREADS = cores // workers``, so
side-by-side runs never ask for more cores than there are (``benchmarks/bench_queue_threads.py`` measures which layout
is faster).
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

from gcflnet_lib.data.layout import split_file
from gcflnet_lib.engine.config import TrainConfig
from gcflnet_lib.engine.cpu_threads import usable_cores
from gcflnet_lib.engine.runlock import RunLock
from gcflnet_lib.engine.trainer import train
from gcflnet_lib.errors import RunLockedError, UserError
from gcflnet_lib.files import atomic_write_json

LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class CrossData:
    """A dataset every finished run is also scored on: ``key`` in the record, its root and split name."""

    key: str
    data_root: str
    dataset: str


@dataclass(frozen=True)
class Job:
    """One run of an experiment: ``name`` (file names), fields copied into its record, and what it runs: the
    ``gcflnet train`` flags (no ``--out``, ``--record``, ``--resume`` or ``--threads``: the queue sets those), or
    the ``gcflnet evaluate`` flags (no ``--json``), or a ``TrainConfig`` trained in this process."""

    name: str
    train_flags: tuple[str, ...] = ()
    labels: dict[str, Any] = field(default_factory=dict)
    evaluate_flags: tuple[str, ...] | None = None
    config: TrainConfig | None = None

    @property
    def kind(self) -> str:
        """``"train"``, ``"evaluate"`` or ``"in-process"``."""
        return "in-process" if self.config is not None else "evaluate" if self.evaluate_flags is not None else "train"


# TrainConfig fields that say where and how a run is shown or stored, not what it learns.
BOOKKEEPING = ("out_dir", "resume", "overwrite", "progress", "save_every", "eval_every", "health_every")


def _learning_settings(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in BOOKKEEPING}


def read_record(path: Path) -> Any:
    """The JSON at ``path``, or None where it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def finished_run_matches(run_dir: str | os.PathLike, config: TrainConfig, metrics: Sequence[str] = ()) -> bool:
    """True when ``run_dir`` holds a finished run, scored with every one of ``metrics``, whose learning settings
    equal ``config``'s (everything but the output folder, progress display and checkpoint/evaluation cadence) and
    whose split files have not changed since it finished."""
    summary = read_record(Path(run_dir) / "metrics.json")
    if not isinstance(summary, dict) or not summary.get("finished"):
        return False
    if not all(metric in (summary.get("final") or {}) for metric in metrics):
        return False  # scored before the metrics it needs existed (the AUC over a fixed Fa range): retrain
    if _learning_settings(summary.get("train_config") or {}) != _learning_settings(config.to_dict()):
        return False
    # Same settings but data rewritten since (e.g. a regenerated synthetic set in the same folder): retrain.
    finished_at = (Path(run_dir) / "metrics.json").stat().st_mtime
    splits = [split_file(config.data_root, config.dataset, split) for split in ("train", "test")]
    return all(path.is_file() and path.stat().st_mtime <= finished_at for path in splits)


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


def saved_epoch(run_dir: Path) -> int | None:
    """The epoch ``run_dir/last.pt`` was saved at, or None where there is no readable run checkpoint (missing,
    half written, damaged, or weights without the optimizer state a resume needs)."""
    from gcflnet_lib.engine.checkpoint import peek_run_state

    state = peek_run_state(run_dir / "last.pt")
    if state is None:
        return None
    epoch = state.get("epoch")
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 0 else None


def resume_note(job: Job, runs: Path, state: str) -> str:
    """What the queue found for a job it is about to run: ``resumed at epoch N``, or why it starts afresh."""
    run_dir = runs / job.name
    if state == "resume":
        return f"resumed at epoch {saved_epoch(run_dir)}"
    if job.kind != "train":
        return "starting"
    if not run_dir.exists():
        return "folder gone, starting afresh" if (runs / f"{job.name}.log").exists() else "new, starting afresh"
    if (run_dir / "last.pt").exists():
        return f"{run_dir / 'last.pt'} unreadable, starting afresh"
    return "no checkpoint in its folder, starting afresh"


def job_state(job: Job, runs: Path, results: Path, retry_failed: bool = False, metrics: Sequence[str] = ()) -> str:
    """``done``, ``failed`` (and not retried), ``busy``, ``resume`` (an interrupted run with a readable ``last.pt``)
    or ``new`` (a half-written folder starts afresh: it is never resumed from a damaged file)."""
    if job.kind == "in-process":
        return "done" if finished_run_matches(job.config.out_dir, job.config, metrics) else "new"
    if record_path(results, job).exists():
        return "done"
    if failed_path(results, job).exists() and not retry_failed:
        return "failed"
    run_dir = runs / job.name
    if busy(run_dir):
        return "busy"
    return "resume" if saved_epoch(run_dir) is not None else "new"


def _gcflnet(*arguments: str) -> list[str]:
    # The interpreter that runs the queue, so that the children use the same environment and package.
    return [sys.executable, "-m", "gcflnet_lib", *arguments]


def train_command(job: Job, run_dir: Path, resume: bool) -> list[str]:
    return _gcflnet("train", *job.train_flags, "--out", str(run_dir), "--resume" if resume else "--overwrite",
                    "--threads", "auto", "--no-progress", "--record", str(run_dir / "record.json"))


def evaluate_command(job: Job, results: Path) -> list[str]:
    return _gcflnet("evaluate", *job.evaluate_flags, "--json", str(record_path(results, job)))


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
    """Train ``job`` (or resume it), score it on ``cross``, write its record; the record (or failure) written.
    An evaluate job runs its one command, which writes its record itself."""
    run_dir = runs / job.name
    log = runs / f"{job.name}.log"
    runs.mkdir(parents=True, exist_ok=True)
    started = time.time()
    trained = run_dir / "record.json"
    steps: list[list[str]] = []
    if job.kind == "evaluate":
        steps.append(evaluate_command(job, results))
    elif not (trained.exists() and (run_dir / "final.pt").exists()):  # a finished training whose scoring was cut short
        steps.append(train_command(job, run_dir, resume))
    if job.kind == "train":
        steps += [cross_command(run_dir, item) for item in cross]
    for command in steps:
        code = _run_logged(command, log, env, cwd)
        if code != 0:
            failure = {"name": job.name, "status": "failed", "returncode": code, "command": shlex.join(command),
                       "labels": job.labels, "log": str(log), "log_tail": _tail(log),
                       "seconds": round(time.time() - started, 1)}
            atomic_write_json(failed_path(results, job), failure)
            return failure
    if job.kind == "evaluate":
        failed_path(results, job).unlink(missing_ok=True)
        return {"name": job.name, "status": "finished", **read_record(record_path(results, job))}
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
              say: Callable[[str], None] = print, required_metrics: Sequence[str] = ()) -> dict[str, str]:
    """Run every job not yet done, ``workers`` at a time, in order; ``{name: final state}``.

    ``on_record(job, record)`` is called after each job's record (or failure) is written, for example
    to commit it. ``required_metrics``: an in-process job's finished run lacking one of them is trained again.
    In-process jobs run in this thread, one at a time (``workers`` must be 1), and their errors propagate.

    Raises:
        UserError: before any work, a cross dataset's folder is missing or in-process jobs ask for workers.
    """
    runs, results = Path(runs), Path(results)
    for item in cross:
        if not Path(item.data_root).is_dir():
            raise UserError(f"{item.data_root}: cross-dataset folder for {item.dataset} not found")
    if workers > 1 and any(job.kind == "in-process" for job in jobs):
        raise UserError(f"workers={workers}: in-process jobs train one at a time in this process")
    results.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, usable_cores() // max(1, workers)))}
    cwd = Path(cwd) if cwd else Path.cwd()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH")]))
    states: dict[str, str] = {}
    claim = threading.Lock()  # two workers never take the same job

    def work(job: Job) -> None:
        with claim:
            state = job_state(job, runs, results, retry_failed, required_metrics)
            if state in ("done", "failed", "busy"):
                states[job.name] = state
                return
            note = resume_note(job, runs, state)
            (runs / job.name).mkdir(parents=True, exist_ok=True)
        say(f"{time.strftime('%H:%M:%S')} start {job.name} ({note})")
        started = time.time()
        if job.kind == "in-process":
            train(job.config)
            outcome = {"name": job.name, "status": "finished", **job.labels}
        else:
            outcome = run_job(job, runs, results, cross, env, cwd, resume=state == "resume")
        states[job.name] = outcome["status"]
        say(f"{time.strftime('%H:%M:%S')} {outcome['status']} {job.name} in {(time.time() - started) / 60:.1f} min")
        if on_record is not None:
            on_record(job, outcome)

    if workers <= 1:
        for job in jobs:
            work(job)
        return states
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(work, job) for job in jobs]:
            future.result()
    return states
