"""scripts/record_test_time.py refuses what it cannot time: bad --clone gets one line and exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "record_test_time.py"
RECORD = ROOT / "results" / "test_suite_time.json"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT)


def test_a_folder_without_ci_run_is_refused(tmp_path):
    before = RECORD.read_bytes() if RECORD.is_file() else None
    result = run("--clone", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"record_test_time: --clone {tmp_path}: no .ci/run there; give a clone of this repository"]
    assert (RECORD.read_bytes() if RECORD.is_file() else None) == before


def test_the_working_tree_itself_is_refused():
    result = run("--clone", str(ROOT))
    assert result.returncode == 2 and "is this working tree; time a fresh clone" in result.stderr
