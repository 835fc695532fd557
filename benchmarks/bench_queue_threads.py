"""A queue of CPU trainings: one 2-thread run at a time, or two 1-thread runs side by side?

    python benchmarks/bench_queue_threads.py                   # about 3 minutes on 2 cores
    python benchmarks/bench_queue_threads.py --steps 4 --json results/bench_queue_threads_cpu.json

For each model of the ablation's extremes (``unet`` and ``gcflnet``, CPU recipe: widths 8..128, batch 16,
128x128 crops) it times ``--steps`` AdamW steps (``benchmarks/bench_train_cpu.py``'s worker, each in a
fresh process):

- ``serial``: one process with as many threads as cores;
- ``side_by_side``: as many 1-thread processes as cores, started together; the wall time is the slowest's.

The figure that decides is queue throughput, training images per second of wall time summed over the
processes. ``scripts/ablation_queue.py --workers`` follows it. Printed, never asserted.
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
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_train_cpu import WORKER  # noqa: E402  (the same timed step as the other CPU training figures)


def timed_processes(spec: dict, processes: int) -> tuple[float, float]:
    """(summed images/s, wall seconds) of ``processes`` copies of the worker started together."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env["PYTHONPATH"] = str(ROOT)
    started = time.perf_counter()
    children = [subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(spec)], env=env, stdout=subprocess.PIPE,
                                 text=True) for _ in range(processes)]
    outputs = [child.communicate()[0] for child in children]
    if any(child.returncode for child in children):
        raise SystemExit("bench_queue_threads: a worker failed")
    # images/s of each process over its own timed steps; the queue's rate is their sum
    return sum(json.loads(out.strip().splitlines()[-1])["images_per_s"] for out in outputs), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per process (default 6)")
    parser.add_argument("--json", default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = []
    print(f"{'model':8s} {'layout':>13s} {'processes':>9s} {'threads':>7s} {'images/s':>9s}")
    for model in ("unet", "gcflnet"):
        shape = {"model": model, "channels": [8, 16, 32, 64, 128], "crop": 128, "batch": 16, "warmup": 1,
                 "steps": args.steps}
        for layout, processes, threads in (("serial", 1, cores), ("side_by_side", cores, 1)):
            rate, wall = timed_processes({**shape, "threads": str(threads)}, processes)
            rows.append({"model": model, "layout": layout, "processes": processes, "threads": threads,
                         "images_per_s": round(rate, 3), "wall_s": round(wall, 2)})
            print(f"{model:8s} {layout:>13s} {processes:9d} {threads:7d} {rate:9.2f}", flush=True)
        serial, side = rows[-2]["images_per_s"], rows[-1]["images_per_s"]
        print(f"{model:8s} side_by_side / serial = x{side / serial:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"cores": cores, "steps": args.steps, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
