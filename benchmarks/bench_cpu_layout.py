"""CPU training speed by memory layout: NCHW, channels-last as torch gives it, and channels-last kept by the library.

    python benchmarks/bench_cpu_layout.py                # U-Net, GCFLNet, U-Net-wide at the CPU recipe's width
    python benchmarks/bench_cpu_layout.py --quick        # fewer rounds
    python benchmarks/bench_cpu_layout.py --rounds 8     # more rounds, for a machine under changing load
    python benchmarks/bench_cpu_layout.py --models gcflnet --json layout.json

Each figure is one ``gcflnet train`` step (``gcflnet_lib.engine.bench.make_train_step``: SoftIoU with deep
supervision, backward, AdamW) at the CPU recipe: widths 8..128, batch 16, 128x128 crops. Three forms of the same
model, weights and batch are timed, alternating round by round in one process so that a neighbour's load hits
all alike:

    nchw            the plain layout (``--no-channels-last``)
    nhwc-as-is      channels-last with the library's layout keeping switched off (``cat_channels`` becomes
                    ``torch.cat``, GLFI's outer product is taken as for NCHW): where an op's inputs disagree (a
                    1-channel image or map beside the features) torch falls back to NCHW and the network runs NCHW
                    from there to the next convolution
    nhwc            channels-last as ``gcflnet train`` runs it (the default)

The speed-up column is nchw time / nhwc time. Figures are printed, never asserted: timing goals live here, not
in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import torch

import gcflnet_lib.nn.blocks as blocks_module
import gcflnet_lib.nn.eem as eem_module
import gcflnet_lib.nn.glfi as glfi_module
import gcflnet_lib.nn.msic as msic_module
from gcflnet_lib.engine import bench, cpu_threads
from gcflnet_lib.models import build_model

FORMS = ("nchw", "nhwc-as-is", "nhwc")
# Every (module, name) through which the library keeps a channels-last network channels-last, and what stands in
# for it when that is switched off.
_LAYOUT_KEEPERS = (
    *((module, "cat_channels", lambda tensors, like=None: torch.cat(list(tensors), dim=1))
      for module in (blocks_module, eem_module, glfi_module, msic_module)),
    (glfi_module, "is_channels_last", lambda x: False),
)


@contextlib.contextmanager
def layout_kept(keep: bool) -> Iterator[None]:
    """Inside, the library's layout keeping (``_LAYOUT_KEEPERS``) is switched off unless ``keep``."""
    saved = [getattr(module, name) for module, name, _ in _LAYOUT_KEEPERS]
    if not keep:
        for module, name, stand_in in _LAYOUT_KEEPERS:
            setattr(module, name, stand_in)
    try:
        yield
    finally:
        for (module, name, _), function in zip(_LAYOUT_KEEPERS, saved):
            setattr(module, name, function)


def compare(model_name: str, channels: tuple[int, ...], crop: int, batch: int, rounds: int, steps: int) -> dict:
    """Median seconds per step of each form over ``rounds`` rounds of ``steps`` steps (after one warm-up round)."""
    torch.manual_seed(0)
    model = build_model(model_name, channels=channels)
    x, y = bench.random_batch(batch, crop, torch.device("cpu"))
    train_steps = {form: bench.make_train_step(copy.deepcopy(model), torch.device("cpu"), "fp32",
                                               channels_last=form != "nchw") for form in FORMS}
    times: dict[str, list[float]] = {form: [] for form in FORMS}
    for round_index in range(rounds + 1):
        for form, step in train_steps.items():
            with layout_kept(form != "nhwc-as-is"):
                start = time.perf_counter()
                for _ in range(steps):
                    step(x, y)
                if round_index:  # round 0 warms every form up
                    times[form].append((time.perf_counter() - start) / steps)
    seconds = {form: statistics.median(values) for form, values in times.items()}
    return {"model": model_name, "channels": list(channels), "crop": crop, "batch": batch, "rounds": rounds,
            "steps_per_round": steps, **{f"s_per_step_{form}": round(seconds[form], 4) for form in FORMS},
            "speedup": round(seconds["nchw"] / seconds["nhwc"], 3)}


def table(rows: list[dict]) -> str:
    """The figures as printed: one line per model, seconds per step of each form and the speed-up."""
    lines = [f"{'model':>10s} " + " ".join(f"{form:>11s}" for form in FORMS) + f" {'speedup':>8s}"]
    for row in rows:
        times = " ".join(f"{row[f's_per_step_{form}']:11.3f}" for form in FORMS)
        lines.append(f"{row['model']:>10s} {times} {row['speedup']:8.3f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["unet", "gcflnet", "unet_wide"], help="model names")
    parser.add_argument("--quick", action="store_true", help="fewer timed rounds")
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds, each form once a round (default 4)")
    parser.add_argument("--threads", default="auto", help="torch threads (default auto: the cores left free)")
    parser.add_argument("--json", default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    threads = cpu_threads.configure_threads(args.threads)
    rounds = 2 if args.quick else args.rounds
    rows = [compare(name, (8, 16, 32, 64, 128), 128, 16, rounds, steps=2) for name in args.models]
    print(f"torch threads: {threads}; seconds per step of 16 crops of 128x128, widths 8..128")
    print(table(rows))
    if args.json:
        figures = {"threads": threads, "torch": torch.__version__, "rows": rows}
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
