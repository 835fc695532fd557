"""``gcflnet bench``: training and inference throughput, FLOPs and model FLOP utilisation on this machine.

Figures: training images/s at 256x256 (batch 16; fp32, and bf16 on CUDA); inference images/s at
256x256 and 512x512 with batch 1 and 32; parameters and GFLOPs; MFU against a matmul rate measured
in the same run (bf16 on CUDA, fp32 on CPU); with ``--data``, seconds per training epoch on that
split. ``--quick`` caps batches and repetitions so a CPU run finishes in under a minute.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch

from gcflnet_lib.commands.arguments import add_device
from gcflnet_lib.commands.train import int_list

NAME = "bench"
HELP = "Measure training/inference throughput, GFLOPs and model FLOP utilisation; print and write JSON."

QUICK_CPU_TRAIN_BATCH = 2
QUICK_CPU_INFERENCE_BATCH = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_device(parser)
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the figures as JSON")
    parser.add_argument("--model", default="gcflnet", help="model name (default gcflnet)")
    parser.add_argument("--channels", type=int_list, default=None, metavar="C1,C2,...", help="encoder widths (default the model's)")
    parser.add_argument("--data", default=None, metavar="ROOT", help="dataset root: also time one training epoch on its train split")
    parser.add_argument("--dataset", default=None, metavar="NAME", help="dataset name for --data")
    parser.add_argument("--batch-size", type=int, default=16, help="training batch (default 16)")
    parser.add_argument("--crop-size", type=int, default=256, help="training crop side (default 256)")
    parser.add_argument("--inference-batches", type=int_list, default=(1, 32), metavar="B1,B2", help="default 1,32")
    parser.add_argument("--inference-sizes", type=int_list, default=(256, 512), metavar="S1,S2", help="default 256,512")
    parser.add_argument("--iters", type=int, default=None, help="timed repetitions per figure (default 10, --quick 1 on CPU)")
    parser.add_argument("--quick", action="store_true",
                        help=f"CPU: cap training batch at {QUICK_CPU_TRAIN_BATCH}, inference batch at {QUICK_CPU_INFERENCE_BATCH}, "
                        "one warm-up and one repetition; the epoch time is estimated from the training throughput")


def _guard_oom(what: str, batch: int, flag: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; a CUDA out-of-memory becomes a one-line error suggesting half the batch."""
    try:
        return fn()
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        from gcflnet_lib.errors import UserError

        raise UserError(f"out of GPU memory for {what} at batch {batch}; try {flag} {max(1, batch // 2)}") from None


def oom_advice(args: argparse.Namespace) -> str:
    """What the CLI adds to an out-of-memory error on the CPU (``_guard_oom`` handles CUDA's per figure)."""
    return (f"at --batch-size {args.batch_size}, --crop-size {args.crop_size}, --inference-batches "
            f"{','.join(map(str, args.inference_batches))} and --inference-sizes {','.join(map(str, args.inference_sizes))}; "
            "lower them")


def run(args: argparse.Namespace) -> int:
    from gcflnet_lib.engine import bench
    from gcflnet_lib.engine.device import resolve_device
    from gcflnet_lib.files import atomic_write_json
    from gcflnet_lib.provenance import provenance
    from gcflnet_lib.engine.trainer import model_from_config
    from gcflnet_lib.engine.config import TrainConfig
    from gcflnet_lib.errors import UserError

    if (args.data is None) != (args.dataset is None):
        raise UserError("--data and --dataset go together")
    if args.json:
        from gcflnet_lib.files import check_output_file

        from gcflnet_lib.engine.overlap import dataset_inputs, refuse_overlap

        check_output_file(args.json, "--json")
        refuse_overlap(args.json, "--json", dataset_inputs(args.data) if args.data else [])
    # --iters 0 is refused, not read as "the default count" (``args.iters or ...`` below)
    iters_given = (args.iters,) if args.iters is not None else (1,)
    for flag, values in (("--batch-size", (args.batch_size,)), ("--inference-batches", args.inference_batches),
                         ("--inference-sizes", args.inference_sizes), ("--iters", iters_given)):
        if min(values) < 1:
            raise UserError(f"{flag} must be at least 1 (got {','.join(map(str, values))})")
    device = resolve_device(args.device)
    on_gpu = device.type == "cuda"
    quick_cpu = args.quick and not on_gpu
    warmup = 1 if args.quick else 3
    iters = args.iters or (1 if quick_cpu else 3 if args.quick else 10)
    train_batch = min(args.batch_size, QUICK_CPU_TRAIN_BATCH) if quick_cpu else args.batch_size
    reference_dtype = "bf16" if on_gpu else "fp32"
    config = TrainConfig(data_root="", dataset="", out_dir="", model=args.model, channels=args.channels, crop_size=args.crop_size)
    if on_gpu:
        torch.backends.cudnn.benchmark = True

    def fresh_model() -> torch.nn.Module:
        torch.manual_seed(0)
        model = model_from_config(config).to(device)
        return model.to(memory_format=torch.channels_last) if on_gpu else model

    model = fresh_model()
    size = args.crop_size
    report: dict[str, Any] = {
        "kind": "bench",
        **provenance(device, getattr(args, "command_line", None)),
        "model": model.config,
        "quick": bool(args.quick),
        "parameters": bench.count_parameters(model),
    }
    x1, y1 = bench.random_batch(1, size, device)
    report["gflops_forward_per_image"] = {str(s): bench.forward_flops(model, bench.random_batch(1, s, device)[0]) / 1e9
                                          for s in args.inference_sizes}
    train_flops = bench.training_flops(model, x1, y1)
    report["gflops_train_step_per_image"] = train_flops / 1e9
    report["train_size"] = size

    rates = {reference_dtype: bench.matmul_flops_per_s(device, bench.TORCH_DTYPES[reference_dtype])}
    if on_gpu:
        rates["fp32"] = bench.matmul_flops_per_s(device, torch.float32)
    report["matmul_tflops"] = {k: v / 1e12 for k, v in rates.items()}
    report["mfu_reference"] = f"{reference_dtype} matmul"
    reference_rate = rates[reference_dtype]

    report["train"] = []
    for dtype in ("fp32", "bf16") if on_gpu else ("fp32",):
        net = fresh_model()
        ips = _guard_oom(f"training ({dtype}, {size}x{size})", train_batch, "--batch-size",
                         lambda: bench.train_images_per_s(net, device, dtype, train_batch, size, warmup, iters))
        report["train"].append({"dtype": dtype, "batch": train_batch, "size": size, "images_per_s": ips,
                                "mfu": ips * train_flops / reference_rate})
        del net

    report["inference"] = []
    model = fresh_model()
    for inf_size in args.inference_sizes:
        flops = report["gflops_forward_per_image"][str(inf_size)] * 1e9
        for requested in args.inference_batches:
            batch = min(requested, QUICK_CPU_INFERENCE_BATCH) if quick_cpu else requested
            ips = _guard_oom(f"inference ({inf_size}x{inf_size})", batch, "--inference-batches",
                             lambda: bench.inference_images_per_s(model, device, reference_dtype, batch, inf_size, warmup, iters))
            report["inference"].append({"dtype": reference_dtype, "size": inf_size, "batch": batch, "requested_batch": requested,
                                        "images_per_s": ips, "mfu": ips * flops / reference_rate})

    if args.data is not None:
        train_ips = report["train"][0]["images_per_s"] if quick_cpu else None
        report["epoch"] = _guard_oom("the training epoch", args.batch_size, "--batch-size",
                                     lambda: _time_epoch(args, device, fresh_model(), reference_dtype, train_ips))

    _print(report)
    if args.json:
        atomic_write_json(args.json, report)
    return 0


def _time_epoch(args, device, model, dtype: str, train_ips: float | None) -> dict[str, Any]:
    """Seconds for one epoch of ``args.batch_size`` batches on the train split, crops included.

    With ``train_ips`` (quick CPU runs) the model's share is estimated as images / train_ips and only
    the crop pipeline is timed over the whole epoch; otherwise a full epoch is run and timed.
    """
    from gcflnet_lib.data.dataset import load_split, norm_stats_for
    from gcflnet_lib.engine import bench
    from gcflnet_lib.engine.pipeline import DeviceTrainSet

    samples = load_split(args.data, args.dataset, "train")
    mean, std = norm_stats_for(args.dataset, samples)
    data = DeviceTrainSet(samples, mean, std, device, args.crop_size)
    batch = args.batch_size
    steps_per_epoch = data.steps_per_epoch(batch)
    generator = torch.Generator().manual_seed(0)
    result = {"dataset": args.dataset, "train_images": len(data), "batch": batch, "steps": steps_per_epoch}
    if train_ips is not None:
        start = time.perf_counter()
        for _ in data.epoch(batch, generator):
            pass
        bench.synchronize(device)
        pipeline_s = time.perf_counter() - start
        return {**result, "seconds": pipeline_s + steps_per_epoch * batch / train_ips, "estimated": True}
    step = bench.make_train_step(model, device, dtype)
    x, y = data.batch(range(batch), generator)
    step(x, y)  # warm-up (kernel selection, allocator) on a real batch
    bench.synchronize(device)
    start = time.perf_counter()
    for x, y in data.epoch(batch, generator):
        step(x, y)
    bench.synchronize(device)
    return {**result, "seconds": time.perf_counter() - start, "estimated": False}


def _print(report: dict[str, Any]) -> None:
    print(f"device: {report['device']}   torch {report['torch']}   model {report['model']['name']} "
          f"channels {report['model'].get('channels')}")
    flops = ", ".join(f"{s}x{s}: {g:.2f}" for s, g in report["gflops_forward_per_image"].items())
    print(f"parameters: {report['parameters'] / 1e6:.3f} M   forward GFLOPs/image {flops}   "
          f"train step GFLOPs/image ({report['train_size']}x{report['train_size']}): {report['gflops_train_step_per_image']:.2f}")
    print("matmul rate: " + ", ".join(f"{k} {v:.2f} TFLOP/s" for k, v in report["matmul_tflops"].items())
          + f"   (MFU reference: {report['mfu_reference']})")
    for row in report["train"]:
        print(f"train     {row['dtype']:>4} {row['size']}x{row['size']} batch {row['batch']:>3}: "
              f"{row['images_per_s']:9.2f} images/s   MFU {row['mfu'] * 100:5.1f}%")
    for row in report["inference"]:
        print(f"inference {row['dtype']:>4} {row['size']}x{row['size']} batch {row['batch']:>3}: "
              f"{row['images_per_s']:9.2f} images/s   MFU {row['mfu'] * 100:5.1f}%")
    if "epoch" in report:
        epoch = report["epoch"]
        note = " (estimated: crops timed, model time from the training throughput)" if epoch["estimated"] else ""
        print(f"epoch on {epoch['dataset']} train ({epoch['train_images']} images, {epoch['steps']} steps of "
              f"{epoch['batch']}): {epoch['seconds']:.2f} s{note}")
