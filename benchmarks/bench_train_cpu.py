"""CPU training throughput, quiet and under load, for the default width and the CPU recipe's width.

    python benchmarks/bench_train_cpu.py                # full matrix, about 5 minutes on 2 cores
    python benchmarks/bench_train_cpu.py --quick        # fewer steps

Each figure is one AdamW step on SoftIoU with deep supervision (as ``gcflnet train`` does), batch 16 for
the CPU recipe (128x128 crops) and 4 for the default width (256x256),
timed in a fresh process so that OpenMP settings read at start-up apply. "Load" is one other process
spinning on one core for the whole measurement, the situation of a shared 2-core machine.

Columns: model and widths, crop, torch threads ("auto" = ``gcflnet_lib.engine.cpu_threads``'s choice,
which follows the cores that other processes leave free), OpenMP wait policy, quiet or loaded,
images/s. Figures are printed, never asserted: timing goals live here, not in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time, torch
from gcflnet_lib.engine import bench, cpu_threads
from gcflnet_lib.models import build_model
spec = json.loads(sys.argv[1])
threads = cpu_threads.configure_threads(spec["threads"])
torch.manual_seed(0)
model = build_model(spec["model"], channels=tuple(spec["channels"]))
x, y = bench.random_batch(spec["batch"], spec["crop"], torch.device("cpu"))
step = bench.make_train_step(model, torch.device("cpu"), "fp32")
for _ in range(spec["warmup"]):
    step(x, y)
start = time.perf_counter()
for _ in range(spec["steps"]):
    step(x, y)
seconds = time.perf_counter() - start
print(json.dumps({"images_per_s": spec["batch"] * spec["steps"] / seconds, "threads": threads}))
"""

# The neighbour spins until the benchmark ends, and by itself stops if the benchmark dies (its parent changes).
SPIN = "import os, time\nparent = os.getppid()\nend = time.time() + 3600\nwhile time.time() < end and os.getppid() == parent:\n    pass\n"


def measure(spec: dict, wait_policy: str | None, loaded: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env["PYTHONPATH"] = str(ROOT)
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if loaded else None
    try:
        if spinner is not None:
            time.sleep(2.0)  # let the load average see it, as it would see a long-running neighbour
        done = subprocess.run([sys.executable, "-c", WORKER, json.dumps(spec)], env=env, capture_output=True,
                              text=True, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed steps")
    parser.add_argument("--json", default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    steps = 2 if args.quick else 4
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cases = [
        # the CPU recipe (preset cpu): the full matrix of threads x wait policy x load
        *[({"model": m, "channels": [8, 16, 32, 64, 128], "crop": 128, "batch": 16}, threads, policy, loaded)
          for m in ("gcflnet", "unet")
          for loaded in (False, True)
          for threads, policy in ((str(cores), None), (str(cores), "PASSIVE"), ("auto", None))],
        # the default (paper) width at 256x256, batch 4: before (all cores, spinning) and after (auto, passive)
        *[({"model": "gcflnet", "channels": [16, 32, 64, 128, 256], "crop": 256, "batch": 4}, threads, policy, loaded)
          for loaded in (False, True)
          for threads, policy in ((str(cores), None), ("auto", None))],
    ]
    rows = []
    print(f"{'model':8s} {'widths':>10s} {'crop':>4s} {'batch':>5s} {'threads':>9s} {'wait':>8s} {'load':>6s} {'images/s':>9s}")
    for shape, threads, policy, loaded in cases:
        spec = {**shape, "threads": threads, "warmup": 1, "steps": steps}
        result = measure(spec, policy, loaded)
        row = {**shape, "threads_asked": threads, "threads_used": result["threads"], "wait_policy": policy or "default",
               "loaded": loaded, "images_per_s": round(result["images_per_s"], 3)}
        rows.append(row)
        widths = f"{shape['channels'][0]}..{shape['channels'][-1]}"
        print(f"{shape['model']:8s} {widths:>10s} {shape['crop']:4d} {shape['batch']:5d} {threads + '->' + str(result['threads']):>9s} "
              f"{row['wait_policy']:>8s} {'loaded' if loaded else 'quiet':>6s} {row['images_per_s']:9.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"cores": cores, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
