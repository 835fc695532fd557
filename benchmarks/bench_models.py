"""Forward-pass time of every model variant.

CPU (the default): one 256x256 image, batch 1, eval mode, median of several runs:

    .venv/bin/python benchmarks/bench_models.py

GPU: a batch of 32, channels_last, optionally under bf16 autocast and torch.compile:

    python benchmarks/bench_models.py --device cuda --batch 32 --bf16 --channels-last [--compile]

Prints milliseconds per forward pass (median and min) and images per second.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from gcflnet_lib.models import build_model, list_models


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(
    model: torch.nn.Module,
    x: torch.Tensor,
    repeats: int,
    warmup: int,
    autocast: contextlib.AbstractContextManager,
) -> list[float]:
    """Wall-clock milliseconds of ``repeats`` forward passes after ``warmup`` untimed ones."""
    times = []
    with torch.inference_mode(), autocast:
        for index in range(warmup + repeats):
            _synchronize(x.device)
            start = time.perf_counter()
            model(x)
            _synchronize(x.device)
            if index >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="all", help="'all' or comma-separated names from list_models()")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast")
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    parser.add_argument("--compile", action="store_true", help="torch.compile each model first")
    args = parser.parse_args(argv)

    names = list_models() if args.models == "all" else args.models.split(",")
    unknown = [name for name in names if name not in list_models()]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(list_models())}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()

    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(
        f"device={device} ({hardware}) "
        f"batch={args.batch} size={args.size} bf16={args.bf16} channels_last={args.channels_last} "
        f"compile={args.compile} repeats={args.repeats} torch={torch.__version__}"
    )
    print(f"{'model':<20} {'median ms':>10} {'min ms':>10} {'images/s':>10}")
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.size, args.size, device=device).to(memory_format=memory_format)
    for name in names:
        model = build_model(name).to(device=device, memory_format=memory_format).eval()
        runner = torch.compile(model) if args.compile else model
        times = time_forward(runner, x, args.repeats, args.warmup, autocast)
        median = statistics.median(times)
        print(f"{name:<20} {median:>10.2f} {min(times):>10.2f} {args.batch / median * 1e3:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
