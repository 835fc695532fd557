"""``gcflnet evaluate``: score a checkpoint on a split (mIoU, nIoU, Pd, Fa, ROC curves and AUCs) with the BasicIRSTD protocol.

``--save-maps DIR`` writes the 8-bit probability map of every image (``DIR/NAME.png``); ``gcflnet score``
on that folder reports the same numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gcflnet_lib.commands.arguments import add_batch_size, add_checkpoint, add_device, add_split, add_threshold
from gcflnet_lib.ops import PAD_MODES

NAME = "evaluate"
HELP = "Evaluate a checkpoint on a dataset split; optionally save its 8-bit probability maps."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint(parser)
    add_split(parser)
    parser.add_argument("--json", default=None, metavar="OUT", help="write the metrics and the ROC curves as JSON")
    parser.add_argument("--save-maps", default=None, metavar="DIR", help="write 8-bit probability maps DIR/NAME.png")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow --save-maps into a folder that already holds files (never into an input)")
    add_threshold(parser)
    add_batch_size(parser, 8)
    add_device(parser)
    parser.add_argument("--pad-mode", default=None, choices=PAD_MODES, metavar="|".join(PAD_MODES),
                        help="pad test images to the network's stride with this mode (default: the checkpoint's pad_mode)")


def largest_image(images) -> str:
    """``"1024x1280"``: the largest of (H, W) arrays by pixel count, for an out-of-memory message."""
    height, width = max((image.shape[:2] for image in images), key=lambda shape: shape[0] * shape[1])
    return f"{height}x{width}"


def oom_advice(args: argparse.Namespace) -> str:
    """What the CLI adds to an out-of-memory error: the batch and the largest image, and what to lower."""
    largest = getattr(args, "largest_image", None)
    images = f" with images up to {largest}" if largest else ""
    return f"at --batch-size {args.batch_size}{images}; lower --batch-size (1 evaluates one image at a time)"


def run(args: argparse.Namespace) -> int:
    from gcflnet_lib.commands.train import format_metrics
    from gcflnet_lib.metrics import no_target_note
    from gcflnet_lib.data.dataset import load_split
    from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint
    from gcflnet_lib.engine.device import resolve_device
    from gcflnet_lib.engine.evaluation import evaluate_model
    from gcflnet_lib.engine.overlap import Input, dataset_inputs, refuse_overlap, refuse_written_inputs
    from gcflnet_lib.files import (atomic_write_json, check_output_dir, check_output_file, refuse_filled,
                                   staged_directory)
    from gcflnet_lib.errors import DataError, UserError
    from gcflnet_lib.provenance import file_sha256
    from gcflnet_lib.released import resolve_checkpoint

    if not 0.0 <= args.threshold <= 1.0:
        raise UserError(f"--threshold must be in [0, 1] (got {args.threshold})")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1 (got {args.batch_size})")
    if args.json:
        check_output_file(args.json, "--json")
    if args.save_maps:
        check_output_dir(args.save_maps, "--save-maps")
    device = resolve_device(args.device)
    checkpoint_path = resolve_checkpoint(args.checkpoint)  # a released name or a path, resolved once
    # Outputs never overwrite inputs: --save-maps D/masks or --json R/final.pt is refused, --overwrite or not.
    inputs = [Input("the checkpoint", checkpoint_path), *dataset_inputs(args.data)]
    refuse_overlap(args.json, "--json", inputs)
    if args.save_maps:
        refuse_overlap(args.save_maps, "--save-maps", inputs, "folder")
        refuse_filled(args.save_maps, "--save-maps", args.overwrite, "maps")
    model, meta = load_model_from_checkpoint(checkpoint_path, device)
    dataset = args.dataset or meta.get("dataset")
    if not dataset:
        raise UserError(f"{args.checkpoint}: checkpoint names no dataset; pass --dataset")
    if not Path(args.data).is_dir():
        raise DataError(f"{args.data}: --data folder not found")
    samples = load_split(args.data, dataset, args.split)
    if args.save_maps:
        maps = [Path(args.save_maps) / f"{sample.name}.png" for sample in samples]
        refuse_written_inputs(args.save_maps, "--save-maps", maps, inputs)
    args.largest_image = largest_image([sample.image for sample in samples])
    mean, std = float(meta["norm"]["mean"]), float(meta["norm"]["std"])

    def score(maps_dir):
        return evaluate_model(model, samples, device, mean, std, args.batch_size, args.threshold,
                              save_maps=maps_dir, pad_mode=args.pad_mode)

    if args.save_maps:
        with staged_directory(args.save_maps) as stage:
            metrics = score(stage)
    else:
        metrics = score(None)
    report = {
        "checkpoint": str(args.checkpoint),
        # which file exactly: a released name can point at a retrained file later
        "checkpoint_sha256": file_sha256(checkpoint_path),
        "epoch": meta.get("epoch"),
        "model_config": meta.get("model_config"),
        "data": str(args.data),
        "dataset": dataset,
        "split": args.split,
        "threshold": args.threshold,
        "pad_mode": args.pad_mode or getattr(model, "pad_mode", "zeros"),  # what evaluate_model padded with
        "metrics": metrics,
    }
    if args.json:
        atomic_write_json(args.json, report)
    print(f"{args.checkpoint} on {dataset}/{args.split} ({metrics['n_images']} images): {format_metrics(metrics)}")
    if no_target_note(metrics):
        print(f"gcflnet evaluate: note: {no_target_note(metrics)}", file=sys.stderr)
    return 0
