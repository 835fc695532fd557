"""CPU training step with and without keeping freed buffers (``engine/cpu_memory.py``), side by side.

    python benchmarks/bench_malloc.py            # CPU recipe's width (8..128, 128 px crops, batch 16), 2 rounds
    python benchmarks/bench_malloc.py --json results/bench_malloc_cpu.json

Each figure is a fresh process timing AdamW steps on SoftIoU with deep supervision (``bench_train_cpu``'s
worker) on 2 threads: ``plain`` (glibc's defaults), ``env`` (``MALLOC_MMAP_MAX_=0
MALLOC_TRIM_THRESHOLD_=68719476736`` set before start) and ``mallopt`` (``keep_freed_memory()`` called in
the process, what ``gcflnet train`` does on a CPU). ``/usr/bin/time`` adds minor page faults and system
seconds. Rounds alternate the three so that a change of load hits all of them. Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_cpu import ROOT, WORKER  # noqa: E402

KEEP = "from gcflnet_lib.engine.cpu_memory import keep_freed_memory\nassert keep_freed_memory()\n"
SPEC = {"model": "gcflnet", "channels": [8, 16, 32, 64, 128], "batch": 16, "crop": 128, "threads": 2, "warmup": 2, "steps": 6}


def measure(mode: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = str(ROOT)
    if mode == "env":
        env.update(MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_="68719476736")
    code = KEEP + WORKER if mode == "mallopt" else WORKER
    done = subprocess.run(["/usr/bin/time", "-f", "TIME %R %S", sys.executable, "-c", code, json.dumps(SPEC)],
                          env=env, capture_output=True, text=True, check=True)
    faults, system_s = re.search(r"TIME (\d+) ([\d.]+)", done.stderr).groups()
    return {"mode": mode, **json.loads(done.stdout.strip().splitlines()[-1]), "minor_faults": int(faults),
            "system_s": float(system_s)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for round_index in range(args.rounds):
        for mode in ("plain", "env", "mallopt"):
            row = {"round": round_index, **measure(mode)}
            rows.append(row)
            print(f"round {round_index} {mode:8s} {row['images_per_s']:6.2f} images/s  {row['minor_faults']:8d} minor faults"
                  f"  {row['system_s']:5.2f} s system", flush=True)
    if args.json:
        from gcflnet_lib.provenance import device_description, git_commit

        Path(args.json).write_text(json.dumps({"kind": "bench_malloc", "command": " ".join(["python", *sys.argv]),
                                               "git_commit": git_commit(ROOT), "device": device_description("cpu"),
                                               "spec": SPEC, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
