"""Bad input and faults, through the real ``gcflnet`` process: one line on stderr, exit status 2, no lost runs.

Every case in ``CASES`` runs ``python -m gcflnet_lib ...`` in a scratch folder (so paths in messages are
relative and stable) and its one stderr line must equal the row of ``docs/BAD_INPUT.md`` with the same
id, so the table cannot drift from what the program prints. After a deliberate change of a message,
regenerate the rows with ``GCFLNET_UPDATE_DOCS=1 pytest tests/test_bad_input.py``.

The fault tests (two trainings into one folder, ``kill -9``, a disk that fills up, ``--overwrite``
that fails before its first checkpoint) add their rows to the same table.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gcflnet_lib.cli import main
from gcflnet_lib.data.synthetic import write_dataset
from gcflnet_lib.engine.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "BAD_INPUT.md"
UPDATE = os.environ.get("GCFLNET_UPDATE_DOCS") == "1"

TOY = ["--dataset", "Toy", "--model", "unet", "--channels", "4,8", "--batch-size", "2", "--crop-size", "32",
       "--eval-every", "0", "--device", "cpu", "--no-progress"]
TRAIN = ["train", "--data", "data", *TOY]


def gcflnet(cwd: Path, *argv, env: dict | None = None, timeout: float = 180, prefix: list[str] | None = None):
    """Run the real CLI as a child process in ``cwd``; (exit status, stdout, stderr)."""
    child_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **(env or {})}
    command = [sys.executable, *(prefix or ["-m", "gcflnet_lib"]), *map(str, argv)]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=child_env)
    return done.returncode, done.stdout, done.stderr


def start(cwd: Path, *argv) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "gcflnet_lib", *map(str, argv)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def wait_for(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name != ".lock"}


# ----------------------------------------------------------------------------- the table in docs/BAD_INPUT.md

ROW = re.compile(r"^\| `(?P<id>[a-z0-9-]+)` \| (?P<command>.*) \| `(?P<message>.*)` \|$")
TABLE_START, TABLE_END = "<!-- cases: start -->", "<!-- cases: end -->"


def doc_rows() -> dict[str, tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    return {m["id"]: (m["command"], m["message"]) for m in map(ROW.match, text.splitlines()) if m}


def normalise(line: str) -> str:
    return re.sub(r"pid \d+", "pid PID", line)


def check_row(case_id: str, command: str, line: str) -> None:
    """``line`` (normalised) must be the message of row ``case_id``; with GCFLNET_UPDATE_DOCS=1, write it there."""
    line = normalise(line)
    if UPDATE:
        rows = doc_rows()
        rows[case_id] = (command, line)
        order = [case[0] for case in CASES] + FAULT_IDS
        body = "\n".join(f"| `{key}` | {rows[key][0]} | `{rows[key][1]}` |" for key in sorted(rows, key=order.index))
        text = DOC.read_text(encoding="utf-8")
        head, _, rest = text.partition(TABLE_START)
        _, _, tail = rest.partition(TABLE_END)
        header = "| Case | Command | stderr (the only line; exit status 2) |\n|---|---|---|\n"
        DOC.write_text(f"{head}{TABLE_START}\n{header}{body}\n{TABLE_END}{tail}", encoding="utf-8")
        return
    assert case_id in doc_rows(), f"{case_id}: no row in {DOC}; run with GCFLNET_UPDATE_DOCS=1"
    assert doc_rows()[case_id] == (command, line), f"{DOC} row {case_id} differs from the program's output"


def code(argv) -> str:
    """The command as the table shows it, the common training flags abbreviated."""
    return "`gcflnet " + shlex.join(map(str, argv)).replace(shlex.join(TOY), "TRAIN_FLAGS") + "`"


# ----------------------------------------------------------------------------- a scratch folder with bad files


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """data/ (16 toy images), run/ (a finished one-epoch run), afile.txt, and damaged checkpoints and images."""
    base = tmp_path_factory.mktemp("bad")
    write_dataset(base / "data", 16, size=48, seed=2, name="Toy")
    assert main(["train", "--data", str(base / "data"), "--out", str(base / "run"), "--epochs", "1", *TOY]) == 0
    (base / "afile.txt").write_text("hi\n")
    state = torch.load(base / "run" / "final.pt", weights_only=True)
    nan_state = {**state, "model": {**state["model"]}}
    first = next(k for k, v in nan_state["model"].items() if v.is_floating_point())
    nan_state["model"][first] = torch.full_like(nan_state["model"][first], float("nan"))
    torch.save(nan_state, base / "nan-weights.pt")
    torch.save({**state, "norm": {"mean": state["norm"]["mean"], "std": 0.0}}, base / "zero-std.pt")
    torch.save({**state, "norm": {"mean": float("nan"), "std": state["norm"]["std"]}}, base / "nan-mean.pt")
    (base / "garbage.pt").write_text("hello world\n")
    torch.save({"format": state["format"], "payload": np.float64}, base / "pickle.pt")
    image = cv2.imread(str(base / "data" / "images" / "000000.png"), cv2.IMREAD_UNCHANGED).astype(np.float32)
    image[5, 5] = np.nan
    assert cv2.imwrite(str(base / "nan.tif"), image)
    png = (base / "data" / "images" / "000000.png").read_bytes()
    (base / "truncated.png").write_bytes(png[: len(png) // 2])
    # A dataset whose first image (a train image) and last image (a test image) are float TIFFs with a NaN pixel.
    shutil.copytree(base / "data", base / "nandata")
    for name in ("000000", "000015"):
        (base / "nandata" / "images" / f"{name}.png").unlink()
        shutil.copy(base / "nan.tif", base / "nandata" / "images" / f"{name}.tif")
    (base / "full").mkdir()
    (base / "full" / "keep.txt").write_text("a file")
    return base


EVAL = ["evaluate", "--checkpoint", "run/final.pt", "--data", "data", "--device", "cpu"]
PREDICT = ["predict", "--checkpoint", "run/final.pt", "--input", "data/images/000001.png", "--device", "cpu"]
CLASSICAL = ["classical", "--method", "tophat", "--data", "data", "--dataset", "Toy"]
SCORE = ["score", "--data", "data", "--dataset", "Toy", "--pred", "data/masks"]

# (id, argv, what must stay absent afterwards)
CASES = [
    # output paths: checked before any work
    ("train-out-under-a-file", [*TRAIN, "--out", "afile.txt/run", "--epochs", "1"], []),
    ("train-out-is-a-file", [*TRAIN, "--out", "afile.txt", "--epochs", "1"], []),
    ("train-record-under-a-file", [*TRAIN, "--out", "new-run", "--epochs", "1", "--record", "afile.txt/r.json"],
     ["new-run"]),
    ("train-record-is-a-folder", [*TRAIN, "--out", "new-run", "--epochs", "1", "--record", "data"], ["new-run"]),
    ("evaluate-json-is-a-folder", [*EVAL, "--json", "data"], []),
    ("evaluate-save-maps-under-a-file", [*EVAL, "--save-maps", "afile.txt/maps"], []),
    ("score-json-under-a-file", [*SCORE, "--json", "afile.txt/s.json"], []),
    ("predict-out-under-a-file", [*PREDICT, "--out", "afile.txt/pred"], []),
    ("classical-out-is-a-file", [*CLASSICAL, "--out", "afile.txt"], []),
    ("classical-out-under-a-file", [*CLASSICAL, "--out", "afile.txt/maps"], []),
    ("synth-out-under-a-file", ["synth", "--out", "afile.txt/s", "--n", "4", "--size", "16", "--quiet"], []),
    ("bench-json-is-a-folder", ["bench", "--quick", "--device", "cpu", "--json", "data"], []),
    # numbers: finite, in range, named
    ("train-weight-decay-nan", [*TRAIN, "--out", "new-run", "--epochs", "1", "--weight-decay", "nan"], ["new-run"]),
    ("train-weight-decay-inf", [*TRAIN, "--out", "new-run", "--epochs", "1", "--weight-decay", "inf"], ["new-run"]),
    ("train-lr-inf", [*TRAIN, "--out", "new-run", "--epochs", "1", "--lr", "inf"], ["new-run"]),
    ("train-gamma-nan", [*TRAIN, "--out", "new-run", "--epochs", "1", "--gamma", "nan"], ["new-run"]),
    ("train-p-target-inf", [*TRAIN, "--out", "new-run", "--epochs", "1", "--p-target", "inf"], ["new-run"]),
    ("train-milestones-beyond-epochs", [*TRAIN, "--out", "new-run", "--epochs", "2", "--milestones", "1,5"], ["new-run"]),
    ("train-channels-empty-entry", [*TRAIN, "--out", "new-run", "--epochs", "1", "--channels", "4,,8"], ["new-run"]),
    ("evaluate-threshold-nan", [*EVAL, "--threshold", "nan"], []),
    ("predict-threshold-inf", [*PREDICT, "--out", "pred", "--threshold", "inf"], ["pred"]),
    ("synth-n-too-small", ["synth", "--out", "s", "--n", "1", "--size", "16", "--quiet"], ["s"]),
    ("synth-test-fraction-nan", ["synth", "--out", "s", "--n", "4", "--test-fraction", "nan", "--quiet"], ["s"]),
    ("synth-scr-inf", ["synth", "--out", "s", "--n", "4", "--scr", "3", "inf", "--quiet"], ["s"]),
    ("synth-out-not-empty", ["synth", "--out", "full", "--n", "4", "--size", "16", "--quiet"], []),
    # run folders
    ("train-into-a-finished-run", [*TRAIN, "--out", "run", "--epochs", "1"], []),
    ("train-resume-and-overwrite", [*TRAIN, "--out", "run", "--epochs", "2", "--resume", "--overwrite"], []),
    # checkpoints
    ("evaluate-nan-weights", [*EVAL[:2], "nan-weights.pt", *EVAL[3:]], []),
    ("predict-zero-std", [*PREDICT[:2], "zero-std.pt", *PREDICT[3:], "--out", "pred"], ["pred"]),
    ("evaluate-nan-mean", [*EVAL[:2], "nan-mean.pt", *EVAL[3:]], []),
    ("evaluate-garbage-checkpoint", [*EVAL[:2], "garbage.pt", *EVAL[3:]], []),
    ("evaluate-pickled-objects", [*EVAL[:2], "pickle.pt", *EVAL[3:]], []),
    # images
    ("predict-nan-pixels", [*PREDICT[:4], "nan.tif", *PREDICT[5:], "--out", "pred"], ["pred"]),
    ("evaluate-nan-pixels", [*EVAL[:4], "nandata", *EVAL[5:]], []),
    ("train-nan-pixels", ["train", "--data", "nandata", *TOY, "--out", "new-run", "--epochs", "1"], ["new-run"]),
    ("predict-truncated-png", [*PREDICT[:4], "truncated.png", *PREDICT[5:], "--out", "pred"], ["pred"]),
]
FAULT_IDS = ["train-second-training-same-out", "train-disk-full"]


# One child process runs every case in turn (each as ``gcflnet_lib.cli.main(argv)``, as ``python -m gcflnet_lib``
# does), so the cases pay one start-up of Python and torch, not one each. Each case still gets the program's
# own stderr and status, and the child reports what the scratch folder holds after it.
BATCH = """
import contextlib, hashlib, io, json, os, sys, warnings
from gcflnet_lib.cli import main

def state():
    run = sorted(os.listdir("run"))
    return {"names": sorted(os.listdir(".")),
            "run": {n: hashlib.sha256(open(os.path.join("run", n), "rb").read()).hexdigest()
                    for n in run if n != ".lock" and os.path.isfile(os.path.join("run", n))}}

results = []
for argv in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    # catch_warnings forgets which warnings were shown, so each case shows its warnings as a fresh process would
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        try:
            status = main(argv)
        except SystemExit as exit:
            status = exit.code
    results.append({"status": status, "stdout": out.getvalue(), "stderr": err.getvalue(), "after": state()})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def case_results(work, state_before) -> dict[str, dict]:
    """Every case of CASES run in one child process in ``work`` (after ``state_before`` was taken)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", BATCH], input=json.dumps([list(map(str, c[1])) for c in CASES]),
                          cwd=work, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    return dict(zip([case[0] for case in CASES], json.loads(done.stdout.splitlines()[-1])))


@pytest.fixture(scope="module")
def state_before(work) -> dict:
    import hashlib

    run = work / "run"
    return {"names": sorted(p.name for p in work.iterdir()),
            "run": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.iterdir())
                    if p.is_file() and p.name != ".lock"}}


@pytest.mark.parametrize("case_id, argv, absent", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_line(state_before, case_results, case_id, argv, absent):
    result = case_results[case_id]
    assert result["status"] == 2, (result["stdout"], result["stderr"])
    line = one_line(result["stderr"])
    assert line.startswith(f"gcflnet {argv[0]}: error: "), line
    check_row(case_id, code(argv), line)
    for name in absent:
        assert name not in result["after"]["names"], name
    assert result["after"] == state_before  # nothing made, the run untouched


def test_one_case_in_its_own_process_prints_what_the_batch_saw(work, case_results):
    """The batch runner changes nothing: a case run alone as ``python -m gcflnet_lib`` gives the same line."""
    case_id, argv, _ = next(case for case in CASES if case[0] == "train-nan-pixels")
    status, _, stderr = gcflnet(work, *argv)
    assert (status, one_line(stderr)) == (2, one_line(case_results[case_id]["stderr"]))


def test_every_row_of_the_table_is_a_tested_case():
    assert set(doc_rows()) == {case[0] for case in CASES} | set(FAULT_IDS)


def test_read_only_place_is_refused_before_any_work(work):
    # /proc refuses new files for everyone, root included (no chmod trick works for root).
    status, _, stderr = gcflnet(work, *TRAIN, "--out", "/proc/gcflnet-run", "--epochs", "1")
    assert status == 2
    line = one_line(stderr)
    assert line.startswith("gcflnet train: error: /proc/gcflnet-run: --out cannot be written in /proc ("), line


# ----------------------------------------------------------------------------- faults during a training


def test_second_training_is_refused_and_kill_9_releases_the_lock(work, tmp_path):
    shutil.copytree(work / "data", tmp_path / "data")
    argv = [*TRAIN, "--out", "busy", "--epochs", "400", "--save-every", "400"]
    first = start(tmp_path, *argv)
    try:
        lock = tmp_path / "busy" / ".lock"
        wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.pid), "the first training's lock")
        status, _, stderr = gcflnet(tmp_path, *argv)
        assert status == 2
        line = one_line(stderr)
        assert f"pid {first.pid}" in line
        check_row("train-second-training-same-out", code(argv) + " while another runs", line)
        assert first.poll() is None  # the first one goes on
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The kernel released the lock with the process: the folder can be trained into again.
    status, _, stderr = gcflnet(tmp_path, *TRAIN, "--out", "busy", "--epochs", "1", "--overwrite")
    assert status == 0, stderr
    assert load_checkpoint(tmp_path / "busy" / "final.pt")["epoch"] == 1


def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint(work, tmp_path):
    shutil.copytree(work / "data", tmp_path / "data")
    shutil.copytree(work / "run", tmp_path / "run")
    old = snapshot(tmp_path / "run")
    assert {"final.pt", "last.pt", "metrics.json", "history.csv", "history.json", "config.json"} <= set(old)
    new = start(tmp_path, *TRAIN, "--out", "run", "--epochs", "400", "--save-every", "400", "--overwrite")
    try:
        staged = tmp_path / "run" / ".staged-run" / "config.json"
        wait_for(staged.exists, "the staged run's config.json")
        assert snapshot(tmp_path / "run") == old
    finally:
        new.send_signal(signal.SIGKILL)
        new.wait()
    assert snapshot(tmp_path / "run") == old  # killed before its first checkpoint: the old run is complete
    assert load_checkpoint(tmp_path / "run" / "final.pt")["epoch"] == 1
    # The next training into the folder removes the staged leftovers (one warning line) and replaces the run.
    status, _, stderr = gcflnet(tmp_path, *TRAIN, "--out", "run", "--epochs", "2", "--overwrite")
    assert status == 0, stderr
    assert one_line(stderr) == f"gcflnet train: warning: {Path('run') / '.staged-run'}: removed a staged run left by an interrupted --overwrite training"
    assert not (tmp_path / "run" / ".staged-run").exists()
    assert load_checkpoint(tmp_path / "run" / "final.pt")["epoch"] == 2
    assert [row["epoch"] for row in json.loads((tmp_path / "run" / "history.json").read_text())] == [1, 2]


DISK_FULL = """
import errno, os, sys
from gcflnet_lib.cli import main
real_fsync, seen = os.fsync, []
def fsync(fd):
    name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
    if name.startswith(".last.pt."):
        seen.append(name)
        if len(seen) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_fsync(fd)
os.fsync = fsync
sys.exit(main(sys.argv[1:]))
"""


def test_disk_full_during_training_is_one_line_and_history_never_runs_ahead(work, tmp_path):
    shutil.copytree(work / "data", tmp_path / "data")
    argv = [*TRAIN, "--out", "full-run", "--epochs", "6", "--save-every", "2"]
    status, _, stderr = gcflnet(tmp_path, *argv, prefix=["-c", DISK_FULL])
    assert status == 2
    line = one_line(stderr)
    check_row("train-disk-full", code(argv) + " on a disk that fills during epoch 4", line)
    run = tmp_path / "full-run"
    assert load_checkpoint(run / "last.pt")["epoch"] == 2  # the failed save of epoch 4 left epoch 2's
    assert [row["epoch"] for row in json.loads((run / "history.json").read_text())] == [1, 2]
    assert (run / "history.csv").read_text().splitlines()[-1].startswith("2,")
    assert not any(p.name.endswith(".tmp") for p in run.iterdir())


# ----------------------------------------------------------------------------- modes and staging leftovers


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_files_and_folders_follow_the_umask(work, tmp_path, umask, file_mode, dir_mode):
    shutil.copytree(work / "data", tmp_path / "data")
    prefix = ["-c", f"import os, sys; os.umask({umask:#o}); from gcflnet_lib.cli import main; sys.exit(main(sys.argv[1:]))"]
    assert gcflnet(tmp_path, "synth", "--out", "s", "--n", "4", "--size", "16", "--quiet", prefix=prefix)[0] == 0
    assert gcflnet(tmp_path, *TRAIN, "--out", "r", "--epochs", "1", "--record", "r.json", prefix=prefix)[0] == 0
    assert gcflnet(tmp_path, *CLASSICAL, "--out", "maps", prefix=prefix)[0] == 0
    for folder in (tmp_path / "s", tmp_path / "s" / "images", tmp_path / "r", tmp_path / "maps"):
        assert folder.stat().st_mode & 0o777 == dir_mode, folder
    files = [tmp_path / "s" / "synthetic.json", tmp_path / "s" / "images" / "000000.png", tmp_path / "r" / "last.pt",
             tmp_path / "r" / "final.pt", tmp_path / "r" / "history.csv", tmp_path / "r.json", tmp_path / "maps" / "000008.png"]
    for file in files:
        assert file.stat().st_mode & 0o777 == file_mode, file


def test_a_staging_folder_left_by_a_killed_run_is_removed_and_a_live_one_kept(tmp_path):
    stale = tmp_path / ".synk.abc123.tmp"
    (stale / "images").mkdir(parents=True)
    (stale / "images" / "000000.png").write_bytes(b"x" * 1000)
    live = tmp_path / ".synk.live99.tmp"
    live.mkdir()
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a synth still filling it holds it
    try:
        status, _, stderr = gcflnet(tmp_path, "synth", "--out", "synk", "--n", "4", "--size", "16", "--quiet")
    finally:
        os.close(fd)
    assert status == 0, stderr
    assert one_line(stderr) == f"gcflnet synth: warning: {stale.name}: removed a staging folder left by an interrupted run"
    assert not stale.exists() and live.exists() and (tmp_path / "synk" / "images").is_dir()


def test_a_killed_synth_leaves_a_staging_folder_that_the_next_run_removes(tmp_path):
    child = start(tmp_path, "synth", "--out", "synk", "--n", "400", "--size", "64", "--quiet")
    try:
        wait_for(lambda: any((p / "images").is_dir() and any((p / "images").iterdir())
                             for p in tmp_path.glob(".synk.*.tmp")), "synth's staging folder")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert list(tmp_path.glob(".synk.*.tmp"))
    status, _, stderr = gcflnet(tmp_path, "synth", "--out", "synk", "--n", "4", "--size", "16", "--quiet")
    assert status == 0 and "removed a staging folder" in one_line(stderr)
    assert not list(tmp_path.glob(".synk.*.tmp"))


def test_enospc_reads_as_the_system_says(tmp_path):
    from gcflnet_lib.engine.files import describe_os_error

    assert describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "x/last.pt")) == \
        "x/last.pt: cannot write (No space left on device)"
