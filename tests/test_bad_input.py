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
import hashlib
import json
import os
import pickle
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
    # Issue 23: inputs an output must never overwrite, and damaged files that passed the loader.
    (base / "masks-link").symlink_to("data/masks", target_is_directory=True)
    torch.save({key: value for key, value in state.items() if key not in ("optimizer", "scheduler", "scaler", "rng")},
               base / "weights-only.pt")
    (base / "released-copy").mkdir()
    shutil.copy(base / "weights-only.pt", base / "released-copy" / "last.pt")  # a release copied in as last.pt
    torch.save({**state, "model": {k: v.round().long() if v.is_floating_point() else v for k, v in state["model"].items()}},
               base / "int-weights.pt")
    torch.save({**state, "model_config": "unet"}, base / "str-config.pt")
    torch.save({**state, "epoch": "one"}, base / "str-epoch.pt")
    (base / "raw.pkl").write_bytes(pickle.dumps({"model": {}, "epoch": 1}, protocol=4))
    assert main(["predict", "--checkpoint", str(base / "run" / "final.pt"), "--input", str(base / "data" / "images"),
                 "--out", str(base / "shots"), "--device", "cpu"]) == 0
    (base / "colour-maps").mkdir()
    for mask in sorted((base / "data" / "masks").iterdir()):
        rgb = cv2.cvtColor(cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2BGR)
        rgb[2, 2] = (0, 0, 255)  # one red pixel: an overlay, not a gray map stored as RGB
        cv2.imwrite(str(base / "colour-maps" / mask.name), rgb)
    (base / "dangling").mkdir()
    shutil.copy(base / "data" / "images" / "000001.png", base / "dangling" / "000001.png")
    (base / "dangling" / "000002.png").symlink_to("../gone/000002.png")
    shutil.copytree(base / "data", base / "splitdir")
    (base / "splitdir" / "img_idx" / "test_Toy.txt").unlink()
    (base / "splitdir" / "img_idx" / "test_Toy.txt").mkdir()
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
    # issue 23: outputs never overwrite inputs (links followed, --overwrite or not)
    ("evaluate-save-maps-into-the-masks", [*EVAL, "--save-maps", "data/masks"], []),
    ("evaluate-save-maps-into-a-link-to-the-masks", [*EVAL, "--save-maps", "masks-link", "--overwrite"], []),
    ("evaluate-json-over-the-checkpoint", [*EVAL, "--json", "run/final.pt"], []),
    ("evaluate-save-maps-not-empty", [*EVAL, "--save-maps", "full"], []),
    ("train-record-over-the-run-checkpoint", [*TRAIN, "--out", "new-run", "--epochs", "1", "--record", "new-run/final.pt"],
     ["new-run"]),
    ("train-record-into-the-split-folder", [*TRAIN, "--out", "new-run", "--epochs", "1", "--record",
                                            "data/img_idx/r.json"], ["new-run"]),
    ("train-out-in-the-images", [*TRAIN, "--out", "data/images/run", "--epochs", "1"], []),
    ("score-json-over-a-mask", ["score", "--data", "data", "--dataset", "Toy", "--pred", "shots/prob", "--json",
                                "data/masks/000001.png"], []),
    ("score-json-into-the-pred-folder", [*SCORE, "--json", "data/masks/s.json"], []),
    ("predict-out-not-empty", [*PREDICT, "--out", "full"], []),
    ("predict-maps-over-the-input", [*PREDICT[:4], "shots/prob", *PREDICT[5:], "--out", "shots", "--overwrite"], []),
    ("classical-out-in-the-images", [*CLASSICAL, "--out", "data/images/maps", "--overwrite"], []),
    # issue 23: fine-tuning and resuming
    ("train-resume-weights-only", [*TRAIN, "--out", "released-copy", "--epochs", "2", "--resume"], []),
    ("train-resume-other-batch-and-seed", [*TRAIN, "--out", "run", "--epochs", "2", "--resume", "--batch-size", "4",
                                           "--seed", "7"], []),
    ("train-init-another-model", [*TRAIN, "--out", "new-run", "--epochs", "1", "--init", "run/final.pt",
                                  "--model", "gcflnet"], ["new-run"]),
    ("train-init-missing", [*TRAIN, "--out", "new-run", "--epochs", "1", "--init", "nope.pt"], ["new-run"]),
    # issue 23: tracebacks that became one line
    ("train-batchnorm-one-value", ["train", "--data", "data", *TOY, "--out", "new-run", "--epochs", "1",
                                   "--channels", "4,8,16,32,64,128", "--batch-size", "1"], ["new-run"]),
    ("classical-ipi-patch-too-large", ["classical", "--method", "ipi", "--data", "data", "--dataset", "Toy",
                                       "--out", "maps", "--param", "patch=1000"], ["maps"]),
    ("classical-param-refused", ["classical", "--method", "ipi", "--data", "data", "--dataset", "Toy",
                                 "--out", "maps", "--param", "patch=10", "--param", "stride=20"], ["maps"]),
    ("evaluate-str-model-config", [*EVAL[:2], "str-config.pt", *EVAL[3:]], []),
    ("evaluate-str-epoch", [*EVAL[:2], "str-epoch.pt", *EVAL[3:]], []),
    ("evaluate-json-as-checkpoint", [*EVAL[:2], "run/metrics.json", *EVAL[3:]], []),
    ("evaluate-raw-pickle", [*EVAL[:2], "raw.pkl", *EVAL[3:]], []),
    ("evaluate-integer-weights", [*EVAL[:2], "int-weights.pt", *EVAL[3:]], []),
    ("score-overlay-folder", ["score", "--data", "data", "--dataset", "Toy", "--split", "train", "--pred",
                              "shots/overlay"], []),
    ("score-colour-maps", ["score", "--data", "data", "--dataset", "Toy", "--pred", "colour-maps"], []),
    ("predict-broken-link", [*PREDICT[:4], "dangling", *PREDICT[5:], "--out", "pred"], ["pred"]),
    ("evaluate-split-file-is-a-folder", [*EVAL[:4], "splitdir", *EVAL[5:]], []),
    ("bench-iters-zero", ["bench", "--quick", "--device", "cpu", "--iters", "0"], []),
]
FAULT_IDS = ["train-second-training-same-out", "train-disk-full", "predict-disk-full", "synth-disk-full",
             "model-info-out-of-memory", "model-info-stdout-full"]


# Every file of the scratch folder by its SHA-256 (links by their target, never followed): no case may change an
# input. The child process and this module run the same source.
FILE_HASHES = """
def file_hashes(top):
    import hashlib, os
    found = {}
    for folder, _, names in os.walk(top):
        for name in names:
            path = os.path.join(folder, name)
            if name == ".lock":
                continue
            if os.path.islink(path):
                found[path] = "link to " + os.readlink(path)
            else:
                with open(path, "rb") as handle:
                    found[path] = hashlib.sha256(handle.read()).hexdigest()
    return found
"""
exec(FILE_HASHES)

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
                    for n in run if n != ".lock" and os.path.isfile(os.path.join("run", n))},
            "files": file_hashes(".")}
""" + FILE_HASHES + """
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
    here = os.getcwd()
    os.chdir(work)  # the same relative names the child process records
    try:
        files = file_hashes(".")
    finally:
        os.chdir(here)
    return {"names": sorted(p.name for p in work.iterdir()),
            "run": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run.iterdir())
                    if p.is_file() and p.name != ".lock"},
            "files": files}


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
    from gcflnet_lib.files import describe_os_error

    assert describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "x/last.pt")) == \
        "x/last.pt: cannot write (No space left on device)"


# ----------------------------------------------------------------------------- issue 23: faults in their own process

WRITE_FAILS = """
import errno, os, pathlib, sys
from gcflnet_lib.cli import main
real = pathlib.Path.write_bytes
def write_bytes(self, data):
    if ".tmp" in str(self):  # the disk fills while the staging folder is being filled
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
    return real(self, data)
pathlib.Path.write_bytes = write_bytes
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("case_id, argv, out", [
    ("predict-disk-full", [*PREDICT[:4], "data/images", *PREDICT[5:], "--out", "pf"], "pf"),
    ("synth-disk-full", ["synth", "--out", "sf", "--n", "4", "--size", "16", "--quiet"], "sf"),
])
def test_disk_full_names_the_target_not_the_staging_folder(work, case_id, argv, out):
    before = file_hashes(str(work))
    status, _, stderr = gcflnet(work, *argv, prefix=["-c", WRITE_FAILS])
    assert status == 2
    line = one_line(stderr)
    check_row(case_id, code(argv) + " on a full disk", line)
    assert line.split(": ")[2].startswith(f"{out}/") and ".tmp" not in line
    assert file_hashes(str(work)) == before  # nothing made, no staging folder left


# The child caps its address space a little above what it holds after importing torch, so the allocation
# fails at once, as on a machine without the memory, and no other process on this one is pressed.
CAPPED = """
import resource, sys
import torch
from gcflnet_lib.cli import main
with open("/proc/self/statm") as handle:
    held = int(handle.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (held + 2 * 2**30, resource.RLIM_INFINITY))
sys.exit(main(sys.argv[1:]))
"""


def test_out_of_memory_is_one_line_naming_the_size_and_the_flag(work):
    argv = ["model-info", "--model", "unet", "--channels", "4,8", "--size", "50000"]
    status, _, stderr = gcflnet(work, *argv, prefix=["-c", CAPPED])
    assert status == 2
    line = one_line(stderr)
    check_row("model-info-out-of-memory", code(argv) + " on a machine without 10 GB free", line)
    assert "--size 50000" in line and "lower --size" in line


def test_a_full_stdout_is_named(work):
    argv = ["model-info", "--model", "unet", "--channels", "4,8"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "gcflnet_lib", *argv], cwd=work, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=180, env=env)
    assert done.returncode == 2
    check_row("model-info-stdout-full", code(argv) + " > /dev/full", one_line(done.stderr))


# ----------------------------------------------------------------------------- issue 23: what works as documented


def test_stale_temporary_files_are_removed_by_the_next_run(work, tmp_path):
    shutil.copytree(work / "data", tmp_path / "data")
    shutil.copytree(work / "run", tmp_path / "run")
    stale = [tmp_path / "run" / ".last.pt.k1ll3d00.tmp", tmp_path / "run" / ".history.json.k1ll3d00.tmp",
             tmp_path / ".e.json.k1ll3d00.tmp"]
    for path in stale:
        path.write_bytes(b"half a file" * 100)
    status, _, stderr = gcflnet(tmp_path, *TRAIN, "--out", "run", "--epochs", "2", "--resume")
    assert status == 0, stderr
    assert "run/.last.pt.k1ll3d00.tmp: removed a temporary file left by an interrupted write" in stderr
    status, _, stderr = gcflnet(tmp_path, *EVAL, "--json", "e.json")
    assert status == 0 and one_line(stderr).endswith(".e.json.k1ll3d00.tmp: removed a temporary file left by an "
                                                     "interrupted write")
    assert not any(path.exists() for path in stale) and (tmp_path / "e.json").is_file()


def test_resume_keeps_the_saved_flags_and_states_the_accepted_changes(work, tmp_path):
    shutil.copytree(work / "run", tmp_path / "run")
    # Only --data (the run's own, by another path), --dataset and --out: every other setting is the saved run's.
    data = os.path.relpath(work / "data", tmp_path)
    status, _, stderr = gcflnet(tmp_path, "train", "--data", data, "--dataset", "Toy", "--out", "run", "--resume",
                                "--epochs", "2", "--lr", "5e-4")
    assert status == 0, stderr
    assert one_line(stderr) == ("gcflnet train: warning: --resume: continuing from epoch 1 with --epochs 2 (saved 1), "
                                "--lr 0.0005 (saved 0.001); lr milestones now 1,2 (saved 1); these apply from epoch 2 on")
    final = load_checkpoint(tmp_path / "run" / "final.pt")
    saved = final["train_config"]
    assert (saved["model"], saved["channels"], saved["batch_size"], saved["crop_size"]) == ("unet", [4, 8], 2, 32)
    assert [row["lr"] for row in final["history"]] == [1e-3, pytest.approx(5e-5)]


def test_init_fine_tunes_and_the_record_names_the_weights(work, tmp_path):
    shutil.copytree(work / "data", tmp_path / "data")
    shutil.copy(work / "weights-only.pt", tmp_path / "release.pt")
    digest = hashlib.sha256((tmp_path / "release.pt").read_bytes()).hexdigest()
    # The model flags are left out: --init's checkpoint gives them.
    status, _, stderr = gcflnet(tmp_path, "train", "--data", "data", "--dataset", "Toy", "--batch-size", "2",
                                "--crop-size", "32", "--eval-every", "0", "--device", "cpu", "--no-progress",
                                "--out", "tuned", "--epochs", "1", "--init", "release.pt", "--record", "r.json")
    assert status == 0, stderr
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["init"]["sha256"] == digest and record["init"]["checkpoint"] == "release.pt"
    assert record["config"]["model"] == "unet" and record["config"]["channels"] == [4, 8]
    tuned = load_checkpoint(tmp_path / "tuned" / "final.pt")
    assert tuned["init"]["sha256"] == digest and tuned["epoch"] == 1
    assert json.loads((tmp_path / "tuned" / "metrics.json").read_text())["init"]["epoch"] == 1
    assert hashlib.sha256((tmp_path / "release.pt").read_bytes()).hexdigest() == digest


def test_overwrite_writes_into_a_filled_folder_but_never_over_inputs(work, tmp_path):
    shutil.copytree(work / "data", tmp_path / "data")
    shutil.copytree(work / "run", tmp_path / "run")
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "notes.txt").write_text("kept")
    status, _, stderr = gcflnet(tmp_path, *EVAL, "--save-maps", "maps", "--overwrite")
    assert status == 0, stderr
    assert (tmp_path / "maps" / "notes.txt").read_text() == "kept" and (tmp_path / "maps" / "000008.png").is_file()
    masks = file_hashes(str(tmp_path / "data"))
    status, _, stderr = gcflnet(tmp_path, *EVAL, "--save-maps", "data/masks", "--overwrite")
    assert status == 2 and "is the dataset's masks folder" in one_line(stderr)
    assert file_hashes(str(tmp_path / "data")) == masks


FIRST_STEP_OOM = """
import sys
from gcflnet_lib.cli import main
from gcflnet_lib.engine import trainer
def loss(*args, **kwargs):
    raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 3221225472 bytes.")
trainer.deep_supervision_loss = loss
sys.exit(main(sys.argv[1:]))
"""


def test_out_of_memory_in_the_first_step_leaves_no_run_folder(work, tmp_path):
    shutil.copytree(work / "data", tmp_path / "data")
    status, _, stderr = gcflnet(tmp_path, *TRAIN, "--out", "oom-run", "--epochs", "1", prefix=["-c", FIRST_STEP_OOM])
    assert status == 2
    assert one_line(stderr) == ("gcflnet train: error: out of memory (tried to allocate 3.00 GiB) at --batch-size 2 and "
                                "--crop-size 32 (evaluation: --eval-batch-size 8); lower them")
    assert not (tmp_path / "oom-run").exists()
