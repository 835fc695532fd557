"""Time the README's test command (``.ci/run``) in a fresh clone and record it for the README's run-times block.

    git clone . /tmp/fresh && python scripts/record_test_time.py --clone /tmp/fresh

runs ``bash .ci/run`` in the clone (CI=true, as CI runs it), streams its output to ``--log``, and writes
``results/test_suite_time.json`` (command, seconds, date, machine, summary: pytest's last line) in this repository.
A run that fails is not recorded: the README states the time of a green run only. Exit status: the run's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "results" / "test_suite_time.json"
COMMAND = "bash .ci/run"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clone", type=Path, required=True, help="a fresh clone of this repository (not this tree)")
    parser.add_argument("--log", type=Path, default=None, help="where the run's output goes (default: <clone>.log)")
    args = parser.parse_args(argv)
    clone = args.clone.resolve()
    if not (clone / ".ci" / "run").is_file():
        print(f"record_test_time: --clone {args.clone}: no .ci/run there; give a clone of this repository", file=sys.stderr)
        return 2
    if clone == ROOT:
        print(f"record_test_time: --clone {args.clone} is this working tree; time a fresh clone", file=sys.stderr)
        return 2
    log = args.log or clone.with_suffix(".log")
    load = os.getloadavg()[0]
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as handle:
        code = subprocess.call(["bash", ".ci/run"], cwd=clone, stdout=handle, stderr=subprocess.STDOUT,
                               env={**os.environ, "CI": "true"})
    seconds = time.monotonic() - start
    lines = [line.strip() for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else ""
    print(f"{COMMAND}: exit {code} after {seconds:.0f} s; {summary}")
    if code != 0:
        print("record_test_time: the run failed, so nothing is recorded", file=sys.stderr)
        return code
    record = {"command": COMMAND, "seconds": round(seconds, 1), "date": date.today().isoformat(),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at the start",
              "summary": summary}
    RECORD.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RECORD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
