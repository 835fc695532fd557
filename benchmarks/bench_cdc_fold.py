"""CDC as one folded convolution against the two-pass form it replaced, in a GCFLNet training step on the CPU.

    python benchmarks/bench_cdc_fold.py                  # CPU recipe (8..128, 128x128, batch 16) and 16..256 at 256, batch 4
    python benchmarks/bench_cdc_fold.py --quick          # fewer rounds

``gcflnet_lib.ops.central_difference_conv2d`` computes ``conv(x, w) - theta * conv1x1(x, sum(w))`` as one
convolution with ``theta * sum(w)`` taken off the centre tap (``cdc_kernel``). This script times the same model,
weights and batch with the library's op and with the two-pass form patched in, alternating the two round by round
in one process (so that a neighbour's load hits both alike), and prints the images/s of each and their ratio.
The figures are printed, never asserted: timing goals live here, not in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import gcflnet_lib.nn.cdc as cdc_module
from gcflnet_lib.engine import bench, cpu_threads
from gcflnet_lib.models import build_model


def two_pass_cdc(x, weight, theta=0.7, stride=1, dilation=1, groups=1):
    """The form before the fold: a k x k convolution minus theta times a 1x1 convolution with the summed kernel."""
    padding = dilation * (weight.shape[-1] // 2)
    out = F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups)
    return out - theta * F.conv2d(x, weight.sum(dim=(2, 3), keepdim=True), stride=stride, groups=groups)


@contextlib.contextmanager
def cdc_op(op):
    library_op = cdc_module.central_difference_conv2d
    cdc_module.central_difference_conv2d = op
    try:
        yield
    finally:
        cdc_module.central_difference_conv2d = library_op


def compare(channels: tuple[int, ...], crop: int, batch: int, rounds: int, steps: int) -> dict:
    torch.manual_seed(0)
    model = build_model("gcflnet", channels=channels)
    x, y = bench.random_batch(batch, crop, torch.device("cpu"))
    step = bench.make_train_step(model, torch.device("cpu"), "fp32")
    ops = {"folded": cdc_module.central_difference_conv2d, "two_pass": two_pass_cdc}
    times: dict[str, list[float]] = {name: [] for name in ops}
    for round_index in range(rounds + 1):
        for name, op in ops.items():
            with cdc_op(op):
                start = time.perf_counter()
                for _ in range(steps):
                    step(x, y)
                if round_index:  # round 0 warms both up
                    times[name].append((time.perf_counter() - start) / steps)
    rates = {name: batch / statistics.median(values) for name, values in times.items()}
    return {"channels": list(channels), "crop": crop, "batch": batch, "rounds": rounds, "steps_per_round": steps,
            "images_per_s_folded": round(rates["folded"], 3), "images_per_s_two_pass": round(rates["two_pass"], 3),
            "speedup": round(rates["folded"] / rates["two_pass"], 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed rounds")
    parser.add_argument("--threads", default="auto", help="torch threads (default auto: the cores left free)")
    parser.add_argument("--json", default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    threads = cpu_threads.configure_threads(args.threads)
    rounds = 2 if args.quick else 5
    cases = [((8, 16, 32, 64, 128), 128, 16), ((16, 32, 64, 128, 256), 256, 4)]
    rows = []
    print(f"torch threads: {threads}")
    print(f"{'widths':>10s} {'crop':>4s} {'batch':>5s} {'folded img/s':>13s} {'two-pass img/s':>15s} {'speedup':>8s}")
    for channels, crop, batch in cases:
        row = compare(channels, crop, batch, rounds, steps=2)
        rows.append(row)
        print(f"{channels[0]:>4d}..{channels[-1]:<4d} {crop:4d} {batch:5d} {row['images_per_s_folded']:13.2f} "
              f"{row['images_per_s_two_pass']:15.2f} {row['speedup']:8.3f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": threads, "torch": torch.__version__, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
