"""GCFLNet's CPU training step over unet_wide's, timed in one process, and the library's fast forms against the old ones.

    python benchmarks/bench_step_ratio.py                      # 7 rounds, writes results/bench_step_ratio_cpu.json
    python benchmarks/bench_step_ratio.py --rounds 3 --json ''  # a quick look, no record

Each figure is one ``gcflnet train`` step on a CPU (``gcflnet_lib.engine.bench.make_train_step``: channels-last
forward, deep-supervision SoftIoU, backward, AdamW) at the CPU recipe: widths 8..128, batch 16, 128x128 crops, one
torch thread. Four steps are timed round by round in one process, A B C D A B C D ..., so that a neighbour's load
hits all alike, and each gets the median of its rounds (round 0 warms up and is not counted):

    gcflnet          GCFLNet as the library runs it now
    unet_wide        the U-Net widened to GCFLNet's parameter count, as the library runs it now
    gcflnet_old      GCFLNet (the same weights and batch) with the old forms patched in (``old_forms``)
    unet_wide_old    unet_wide with the old forms (its skips' concatenation is one of them)

Ratios are given twice: of the medians, and the median of each round's own ratio (its two steps ran seconds apart,
under much the same load). On a shared machine the ratio itself moves with the load (unet_wide's wide convolutions
suffer more from a busy neighbour than GCFLNet's narrow ones), so compare figures of one record only.

The old forms are what the library did before issue 33 (kept here, and checked against the library's forms
in tests/test_fast_paths.py: outputs and gradients within 1e-5):

    EFEU             both directional responses of a channel from one grouped convolution with two outputs per
                     group (oneDNN's slow path), their squares summed over a (B, C, 2, H, W) view, an NCHW copy
                     back to channels-last, autograd's backward through five ops; now two depthwise convolutions
                     (one output per group) and ``gradient_magnitude``'s own three-pass backward
    concatenation    ``torch.cat`` (+ ``match_layout`` where a 1-channel map takes part), whose backward hands
                     out channel slices that are not dense in channels-last; now ``cat_channels`` (EEM, GLFI, its
                     edge fusion, MSIC, the U-Net skip)
    GLFI attention   the outer product of the two profiles by ``torch.matmul`` (written NCHW) and a copy back to
                     channels-last; now one broadcast product written channels-last

The figures are printed, never asserted: timing goals live here, not in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

import gcflnet_lib.nn.blocks as blocks_module
import gcflnet_lib.nn.eem as eem_module
import gcflnet_lib.nn.efeu as efeu_module
import gcflnet_lib.nn.glfi as glfi_module
import gcflnet_lib.nn.msic as msic_module
from gcflnet_lib.engine import bench
from gcflnet_lib.models import build_model
from gcflnet_lib.ops.gradients import _pad
from gcflnet_lib.ops.layout import match_layout

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "results" / "bench_step_ratio_cpu.json"
RECIPE = {"channels": (8, 16, 32, 64, 128), "batch": 16, "crop": 128}
STEPS = ("gcflnet", "unet_wide", "gcflnet_old", "unet_wide_old")
PAIRS = {"gcflnet_over_unet_wide": ("gcflnet", "unet_wide"), "gcflnet_old_over_unet_wide_old": ("gcflnet_old", "unet_wide_old"),
         "gcflnet_old_over_new": ("gcflnet_old", "gcflnet"), "unet_wide_old_over_new": ("unet_wide_old", "unet_wide")}


def old_directional_magnitude(x, kx, ky, border="replicate", eps=0.0):
    """EFEU's magnitude before issue 33: one grouped convolution, channel 2c = gx of channel c, 2c + 1 = gy."""
    channels = x.shape[1]
    if kx.dim() == 2:
        kx, ky = kx.expand(channels, 3, 3), ky.expand(channels, 3, 3)
    weight = torch.stack([kx, ky], dim=1).reshape(2 * channels, 1, 3, 3).to(x.dtype)
    padded, conv_padding = _pad(x, border, 1)
    both = F.conv2d(padded, weight, padding=conv_padding, groups=channels).unflatten(1, (channels, 2))
    return torch.sqrt(match_layout(both.square().sum(dim=2), x) + eps)


def old_cat_channels(tensors, like=None):
    """Channel concatenation before issue 33: ``torch.cat``, copied to channels-last where a 1-channel map made it
    NCHW (``like``: the features, or the first tensor)."""
    tensors = list(tensors)
    return match_layout(torch.cat(tensors, dim=1), tensors[0] if like is None else like)


def old_outer_attention(x, fc=None):
    """GLFI's attention map before issue 33: the outer product by ``torch.matmul``, copied back to x's layout."""
    row_profile = x.amax(dim=3, keepdim=True)
    column_profile = x.mean(dim=2, keepdim=True)
    if fc is not None:
        row_profile = glfi_module.along_channels(fc, row_profile)
        column_profile = glfi_module.along_channels(fc, column_profile)
    return match_layout(torch.sigmoid(torch.matmul(row_profile, column_profile)), x)


# (module, name, old form): every library function the old forms replace, where the library looks it up.
OLD_FORMS = (
    (efeu_module, "directional_magnitude", old_directional_magnitude),
    *((module, "cat_channels", old_cat_channels) for module in (blocks_module, eem_module, glfi_module, msic_module)),
    (glfi_module, "outer_attention", old_outer_attention),
)


@contextlib.contextmanager
def old_forms(active: bool = True) -> Iterator[None]:
    """Inside (when ``active``), the library runs the old forms; restored on the way out."""
    saved = [getattr(module, name) for module, name, _ in OLD_FORMS]
    if active:
        for module, name, old in OLD_FORMS:
            setattr(module, name, old)
    try:
        yield
    finally:
        for (module, name, _), function in zip(OLD_FORMS, saved):
            setattr(module, name, function)


def compare(rounds: int, steps: int, channels=RECIPE["channels"], batch=RECIPE["batch"], crop=RECIPE["crop"]) -> dict:
    """Median seconds per step of each of ``STEPS`` over ``rounds`` rounds of ``steps`` steps, alternating."""
    x, y = bench.random_batch(batch, crop, torch.device("cpu"))
    torch.manual_seed(0)
    gcflnet = build_model("gcflnet", channels=channels)
    torch.manual_seed(0)
    unet_wide = build_model("unet_wide", channels=channels)
    models = {"gcflnet": gcflnet, "gcflnet_old": copy.deepcopy(gcflnet), "unet_wide": unet_wide,
              "unet_wide_old": copy.deepcopy(unet_wide)}
    train_steps = {name: bench.make_train_step(model, torch.device("cpu"), "fp32") for name, model in models.items()}
    times: dict[str, list[float]] = {name: [] for name in STEPS}
    for round_index in range(rounds + 1):
        for name in STEPS:
            with old_forms(name.endswith("_old")):
                start = time.perf_counter()
                for _ in range(steps):
                    train_steps[name](x, y)
                if round_index:  # round 0 warms every step up
                    times[name].append((time.perf_counter() - start) / steps)
    seconds = {name: statistics.median(values) for name, values in times.items()}
    # Each round's own ratio too: the two steps of a round ran seconds apart, under much the same load.
    paired = {key: [a / b for a, b in zip(times[top], times[bottom])] for key, (top, bottom) in PAIRS.items()}
    return {
        "channels": list(channels), "batch": batch, "crop": crop, "rounds": rounds, "steps_per_round": steps,
        "s_per_step": {name: round(value, 4) for name, value in seconds.items()},
        "s_per_step_rounds": {name: [round(value, 4) for value in values] for name, values in times.items()},
        "ratio_gcflnet_over_unet_wide": round(seconds["gcflnet"] / seconds["unet_wide"], 3),
        "ratio_gcflnet_old_over_unet_wide_old": round(seconds["gcflnet_old"] / seconds["unet_wide_old"], 3),
        "speedup_gcflnet_old_over_new": round(seconds["gcflnet_old"] / seconds["gcflnet"], 3),
        "speedup_unet_wide_old_over_new": round(seconds["unet_wide_old"] / seconds["unet_wide"], 3),
        "median_of_round_ratios": {key: round(statistics.median(values), 3) for key, values in paired.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds, each step once a round (default 7)")
    parser.add_argument("--steps", type=int, default=1, help="steps per round (default 1)")
    parser.add_argument("--machine", default="", help="a line on the machine and its load, kept in the record")
    parser.add_argument("--json", default=str(RECORD), help="the record to write ('' for none)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()[0]
    row = compare(args.rounds, args.steps)
    load_after = os.getloadavg()[0]
    print(f"torch {torch.__version__}, 1 thread; widths 8..128, batch 16, 128x128, channels-last, AdamW; "
          f"median of {args.rounds} rounds")
    for name in STEPS:
        print(f"{name:>14s} {row['s_per_step'][name]:7.3f} s/step")
    print(f"GCFLNet / unet_wide: {row['ratio_gcflnet_over_unet_wide']:.3f} "
          f"(old forms: {row['ratio_gcflnet_old_over_unet_wide_old']:.3f}); old / new: "
          f"GCFLNet {row['speedup_gcflnet_old_over_new']:.3f}, unet_wide {row['speedup_unet_wide_old_over_new']:.3f}")
    print("median of the rounds' own ratios: " + ", ".join(f"{key} {value:.3f}" for key, value
                                                            in row["median_of_round_ratios"].items()))
    print(f"1-minute load average: {load_before:.2f} before, {load_after:.2f} after")
    if args.json:
        record = {
            "command": shlex.join(["python", "benchmarks/bench_step_ratio.py", *(sys.argv[1:] if argv is None else argv)]),
            "machine": args.machine or f"{platform.machine()}, {platform.processor() or 'cpu'}",
            "torch": torch.__version__, "threads": torch.get_num_threads(), "cores": os.cpu_count(),
            "load_average_1min": {"before": round(load_before, 2), "after": round(load_after, 2)}, **row,
        }
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
