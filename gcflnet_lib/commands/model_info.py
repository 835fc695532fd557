"""``gcflnet model-info``: parameters and FLOPs of GCFLNet, its ablation variants and the U-Net baselines.

Each row also gives the model's own widths (``unet_wide``'s differ from ``--channels``); the line after
the table names the readings the models were built with (``docs/PAPER_READING.md``).
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from gcflnet_lib.commands.train import add_reading_arguments
from gcflnet_lib.errors import UserError
from gcflnet_lib.models import MODELS, READING_DEFAULTS, build_model, list_models
from gcflnet_lib.models.readings import applicable_readings

NAME = "model-info"
HELP = "print parameters and GFLOPs (torch FlopCounterMode, one image) of each model variant"


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: torch.nn.Module, size: int = 256) -> int:
    """FLOPs of one eval-mode forward pass on a (1, in_channels, size, size) input.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``: convolutions and matrix products, a
    multiply-add counting as 2 FLOPs (divide by 2 for MACs, the unit many papers call "FLOPs").
    """
    was_training = model.training
    model.eval()
    x = torch.zeros(1, model.in_channels, size, size)
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops()


def model_summary(name: str, size: int = 256, **kwargs) -> dict:
    """``{"name", "params", "gflops", "widths"}`` for a registered model (widths: its own, per level)."""
    model = build_model(name, **kwargs)
    return {"name": name, "params": count_parameters(model), "gflops": count_flops(model, size) / 1e9,
            "widths": list(model.channels)}


def _parse_channels(text: str) -> tuple[int, ...]:
    try:
        channels = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 16,32,64, got {text!r}") from None
    if len(channels) < 2 or min(channels) < 1:
        raise argparse.ArgumentTypeError(f"expected at least 2 positive widths, got {text!r}")
    return channels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="all",
                        help=f"'all' or one of: {', '.join(list_models(baselines=True))} (default: all)")
    parser.add_argument("--size", type=int, default=256, help="square input side for the FLOP count (default: 256)")
    parser.add_argument("--channels", type=_parse_channels, default=None, help="encoder widths, e.g. 16,32,64,128,256")
    add_reading_arguments(parser)


def oom_advice(args: argparse.Namespace) -> str:
    """What the CLI adds to an out-of-memory error: the input size, and the flag that sets it."""
    return f"for one {args.size}x{args.size} image (--size {args.size}); lower --size"


def run(args: argparse.Namespace) -> int:
    known = list_models(baselines=True)
    names = known if args.model == "all" else [args.model]
    if args.model != "all" and args.model not in known:
        raise UserError(f"--model: unknown model {args.model!r}; choose 'all' or one of: {', '.join(known)}")
    if args.size < 1:
        raise UserError(f"--size must be >= 1, got {args.size}")
    kwargs = {} if args.channels is None else {"channels": args.channels}
    readings = {key: getattr(args, key) for key in READING_DEFAULTS}
    rows = []
    for name in names:
        # With --model all, a reading goes only to the models that have its module.
        chosen = applicable_readings(MODELS[name], readings) if args.model == "all" else readings
        try:
            rows.append(model_summary(name, args.size, **kwargs, **chosen))
        except ValueError as exc:
            raise UserError(f"--model {name}: {str(exc).strip().splitlines()[0]}") from exc
    print(f"{'model':<20} {'params':>12} {'params (M)':>10} {f'GFLOPs@{args.size}':>12}  widths")
    for row in rows:
        widths = ",".join(map(str, row["widths"]))
        print(f"{row['name']:<20} {row['params']:>12,} {row['params'] / 1e6:>10.3f} {row['gflops']:>12.3f}  {widths}")
    print("readings: " + " ".join(f"{key}={value}" for key, value in readings.items()))
    return 0
