"""Milliseconds per 256 x 256 image for every classical detector.

Run from the repository root::

    .venv/bin/python benchmarks/bench_classical.py [--size 256] [--repeats 5] [--threads 1]

Prints one line per method: median and best wall-clock time over ``--repeats`` runs (after one
warm-up run), the median CPU time of this process (what the run would take on an idle core: the
methods run single-threaded, so on a machine shared with other jobs it is the steadier figure),
and the goal from issue 7 (Top-Hat, Max-Median < 5 ms; TLLCM, WSLCM < 100 ms; IPI, RIPT < 3 s),
judged on the median wall time.
The image is a fixed synthetic scene (smooth clutter, sensor noise, three small targets), so
the low-rank solvers do a realistic number of iterations.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import cv2
import numpy as np
import torch

from gcflnet_lib.classical import METHODS

GOALS_MS = {"tophat": 5, "max_median": 5, "tllcm": 100, "wslcm": 100, "ipi": 3000, "ript": 3000}


def scene(size: int, seed: int = 0) -> np.ndarray:
    """Cloud-like clutter (blurred noise at three scales) + noise + three Gaussian targets, uint8 (size, size)."""
    rng = np.random.default_rng(seed)
    clutter = np.zeros((size, size), np.float32)
    for sigma, amplitude in ((24, 40.0), (8, 15.0), (3, 5.0)):
        layer = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), sigma)
        clutter += amplitude * layer / (layer.std() + 1e-6)
    image = 100 + clutter + 2.0 * rng.standard_normal((size, size)).astype(np.float32)
    yy, xx = np.mgrid[:size, :size]
    for cy, cx in rng.integers(20, size - 20, size=(3, 2)):
        image += 60.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 1.0**2))
    return np.clip(image, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    image = scene(args.size)
    print(f"classical detectors on a {args.size}x{args.size} uint8 image, {args.repeats} runs after a warm-up")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load:.2f}, torch threads {torch.get_num_threads()}")
    print(f"{'method':<12}{'median ms':>11}{'best ms':>10}{'cpu ms':>10}{'goal ms':>10}  ok")
    for name, method in METHODS.items():
        method(image)
        wall, cpu = [], []
        for _ in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            method(image)
            wall.append((time.perf_counter() - start) * 1000.0)
            cpu.append((time.process_time() - start_cpu) * 1000.0)
        median = statistics.median(wall)
        goal = GOALS_MS[name]
        print(
            f"{name:<12}{median:>11.1f}{min(wall):>10.1f}{statistics.median(cpu):>10.1f}{goal:>10}"
            f"  {'yes' if median < goal else 'NO'}"
        )


if __name__ == "__main__":
    main()
