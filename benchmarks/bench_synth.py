"""Time the synthetic generator (goal: 1000 images of 256x256 in < 30 s on one core) and the metrics on its output.

    .venv/bin/python benchmarks/bench_synth.py [--n 1000] [--size 256] [--workers 1]

Prints figures only; nothing is asserted. OpenCV and torch are held to one thread so the figure is per core;
both wall-clock and CPU seconds are shown (they differ when other work shares the machine).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from gcflnet_lib.data.synthetic import make_samples, write_dataset
from gcflnet_lib.metrics import IRSTDMetrics


class Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def __str__(self):
        return f"{self.wall:6.2f} s wall, {self.cpu:6.2f} s CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=1, help="processes for the write_dataset figure")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)

    with Timer() as timer:
        samples = make_samples(args.n, size=args.size, seed=0)
    print(f"make_samples   {args.n} x {args.size}x{args.size}: {timer}  ({1000 * timer.wall / args.n:.2f} ms/image wall, 1 core)")

    with tempfile.TemporaryDirectory() as folder, Timer() as timer:
        write_dataset(Path(folder) / "synth", args.n, size=args.size, seed=0, workers=args.workers)
    print(f"write_dataset  {args.n} x {args.size}x{args.size}: {timer}  (PNG files included, {args.workers} worker(s); CPU of this process only)")

    rng = np.random.default_rng(0)
    maps = [np.clip(s.mask * 0.8 + rng.random(s.mask.shape, dtype=np.float32) * 0.3, 0, 1).astype(np.float32) for s in samples[:200]]
    for label, thresholds in (("threshold only", []), ("with 49-point ROC", None)):
        metrics = IRSTDMetrics(roc_thresholds=thresholds)
        with Timer() as timer:
            for prob, sample in zip(maps, samples):
                metrics.update(prob, sample.mask)
            metrics.compute()
        print(f"IRSTDMetrics   {len(maps)} noisy soft maps, {label}: {timer}  ({1000 * timer.cpu / len(maps):.2f} ms CPU/image)")


if __name__ == "__main__":
    main()
