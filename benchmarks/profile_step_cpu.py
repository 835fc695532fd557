"""Where a CPU training step spends its time: ``torch.profiler`` over GCFLNet, + EEM and + GLFI at the CPU recipe.

    python benchmarks/profile_step_cpu.py                          # gcflnet, gcflnet_eem, gcflnet_glfi; 3 steps each
    python benchmarks/profile_step_cpu.py --models gcflnet unet_wide --steps 2 --top 12
    python benchmarks/profile_step_cpu.py --markdown               # the tables of docs/PERFORMANCE.md
    python benchmarks/profile_step_cpu.py --old-forms --models gcflnet   # with the forms before issue 33
    python benchmarks/profile_step_cpu.py --shapes --models gcflnet      # each operator split by its input shapes

One step is what ``gcflnet train`` does on a CPU (``gcflnet_lib.engine.bench.make_train_step``: channels-last
forward, deep-supervision SoftIoU, backward, AdamW) at the CPU recipe: widths 8..128, batch 16, 128x128 crops, one
torch thread. After one warm-up step, ``--steps`` steps are profiled; operators are ranked by their *self* CPU time
(time inside the operator, not in the operators it calls), as a share of the total self time of the profiled steps.
Backward operators carry autograd's names (``ConvolutionBackward0``, ``MulBackward0``, ...): their self time is the
backward work that the operator's own kernels do not report as child operators.

``--old-forms`` profiles with the library's forms before issue 33 patched in (``bench_step_ratio.old_forms``).
The shares are printed, never asserted; on a machine shared with other runs the absolute times are noisy, the
shares less so.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from gcflnet_lib.engine import bench
from gcflnet_lib.models import build_model

RECIPE = {"channels": (8, 16, 32, 64, 128), "batch": 16, "crop": 128}


def _shapes(event) -> str:
    # The tensor arguments' shapes; convolutions as input x weight (the output, for a backward: grad x input x weight).
    return " ".join("x".join(map(str, shape)) for shape in event.input_shapes if shape)


def profile_model(name: str, steps: int, top: int, shapes: bool = False) -> dict:
    """The ``top`` operators of ``steps`` profiled training steps of ``name`` by self CPU time, and the step time
    (with ``shapes``, an operator's calls on different input shapes are separate rows)."""
    torch.manual_seed(0)
    model = build_model(name, channels=RECIPE["channels"])
    x, y = bench.random_batch(RECIPE["batch"], RECIPE["crop"], torch.device("cpu"))
    step = bench.make_train_step(model, torch.device("cpu"), "fp32")
    step(x, y)  # warm-up: oneDNN primitives, allocator, AdamW state
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=shapes) as prof:
        for _ in range(steps):
            step(x, y)
    seconds = (time.perf_counter() - start) / steps
    events = prof.key_averages(group_by_input_shape=shapes)
    total = sum(event.self_cpu_time_total for event in events)
    ranked = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[:top]
    rows = [{"op": " ".join(filter(None, (event.key, _shapes(event) if shapes else ""))), "calls_per_step": event.count / steps,
             "self_ms_per_step": event.self_cpu_time_total / 1000.0 / steps,
             "share": event.self_cpu_time_total / total} for event in ranked]
    return {"model": name, "s_per_step_profiled": seconds, "self_ms_per_step": total / 1000.0 / steps, "rows": rows}


def markdown(result: dict) -> str:
    lines = [f"**{result['model']}**: {result['s_per_step_profiled']:.2f} s per profiled step "
             f"(self time of all operators {result['self_ms_per_step']:.0f} ms per step)", "",
             "| operator | calls/step | self ms/step | self share |", "|---|---:|---:|---:|"]
    for row in result["rows"]:
        lines.append(f"| `{row['op']}` | {row['calls_per_step']:.0f} | {row['self_ms_per_step']:.0f} | "
                     f"{100 * row['share']:.1f} % |")
    return "\n".join(lines)


def plain(result: dict) -> str:
    lines = [f"{result['model']}: {result['s_per_step_profiled']:.3f} s per profiled step",
             f"  {'operator':60s} {'calls':>6s} {'self ms':>8s} {'share':>7s}"]
    for row in result["rows"]:
        lines.append(f"  {row['op'][:60]:60s} {row['calls_per_step']:6.0f} {row['self_ms_per_step']:8.1f} "
                     f"{100 * row['share']:6.1f}%")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gcflnet", "gcflnet_eem", "gcflnet_glfi"])
    parser.add_argument("--steps", type=int, default=3, help="profiled steps per model (after one warm-up)")
    parser.add_argument("--top", type=int, default=10, help="operators listed per model")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--old-forms", action="store_true", help="profile the forms before issue 33")
    parser.add_argument("--shapes", action="store_true", help="split each operator by its input shapes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    forms = contextlib.nullcontext()
    if args.old_forms:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_step_ratio import old_forms

        forms = old_forms()
    print(f"torch {torch.__version__}, 1 thread; widths 8..128, batch 16, 128x128, channels-last, AdamW"
          f"{'; old forms' if args.old_forms else ''}\n")
    with forms:
        for name in args.models:
            result = profile_model(name, args.steps, args.top, args.shapes)
            print((markdown if args.markdown else plain)(result) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
