"""``gcflnet inspect``: is every skip connection of a trained model in use? A table per skip level.

For each level (0 = full resolution): the kept ratio (how much of the encoder features' norm survives the skip's
modulation into the decoder's fusion; 1 for a plain U-Net skip), the mean per-pixel gain on target and background
pixels, and the shuffle test (the encoder features entering that level's decoder block moved to random positions,
one permutation for all channels, so each channel's mean and maximum stay as they were): the largest change of the
output's probability, the pixels that cross 0.5, and the IoU before and after on the crops. A last line shuffles the
two finest levels together. ``gcflnet_lib.diagnostics.skip_health`` explains the measurements.

A model with GLFI gets a second table, per encoder level: the range and mean spread of its attention, and the
flatten test (the attention replaced by each channel's spatial mean: the largest probability change and the IoU on
the same crops); ``gcflnet_lib.diagnostics.glfi_use`` explains it.

    gcflnet inspect --checkpoint gcflnet-cpu-nudt-sirst --data ../shared/datasets/NUDT-SIRST --images 10 --json h.json
"""

from __future__ import annotations

import argparse

from gcflnet_lib.commands.arguments import add_checkpoint, add_device, add_split

NAME = "inspect"
HELP = ("Skip health of a checkpoint: kept ratio and shuffle test of every skip connection, per level; with GLFI, "
        "its attention's range and the flatten test.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint(parser)
    add_split(parser, "split to take the images from")
    parser.add_argument("--images", type=int, default=10, metavar="N",
                        help="crops measured: the first N images of the split that hold a target (default 10)")
    parser.add_argument("--crop", type=int, default=128, metavar="S", help="side of the crops, centred on a target (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pixel permutations (default 0)")
    parser.add_argument("--json", default=None, metavar="OUT", help="write the measurements as JSON")
    add_device(parser, "cpu")


def format_table(report) -> str:
    """The per-level table ``gcflnet inspect`` prints."""
    header = (f"{'level':>5} {'ch':>4} {'kept':>7} {'gain@target':>11} {'gain@bg':>8} {'max dprob':>9} "
              f"{'changed px':>10} {'IoU before':>10} {'IoU after':>9}  status")
    lines = [header]
    for item in report.levels:
        lines.append(f"{item.level:>5} {item.channels:>4} {item.kept_ratio:>7.4f} {item.gain_target:>11.4f} "
                     f"{item.gain_background:>8.4f} {item.max_probability_change:>9.2e} {item.changed_pixels:>10d} "
                     f"{item.iou_before:>10.4f} {item.iou_after:>9.4f}  {item.status}")
    fine = report.fine
    levels = "+".join(str(level) for level in fine.levels)
    lines.append(f"{levels:>5} {'':>4} {'':>7} {'':>11} {'':>8} {fine.max_probability_change:>9.2e} "
                 f"{fine.changed_pixels:>10d} {fine.iou_before:>10.4f} {fine.iou_after:>9.4f}  "
                 f"(finest levels shuffled together: IoU cost {fine.iou_cost:+.4f})")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gcflnet_lib.data.dataset import load_split
    from gcflnet_lib.diagnostics import flatten_test, glfi_table, glfi_use, skip_blocks
    from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint
    from gcflnet_lib.engine.device import resolve_device
    from gcflnet_lib.engine.health import health_inputs, health_of_samples
    from gcflnet_lib.engine.overlap import Input, dataset_inputs, refuse_overlap
    from gcflnet_lib.errors import DataError, UserError
    from gcflnet_lib.files import atomic_write_json, check_output_file
    from gcflnet_lib.provenance import file_sha256
    from gcflnet_lib.released import resolve_checkpoint

    if args.images < 1:
        raise UserError(f"--images must be at least 1 (got {args.images})")
    if args.crop < 1:
        raise UserError(f"--crop must be at least 1 (got {args.crop})")
    if args.json:
        check_output_file(args.json, "--json")
    if not Path(args.data).is_dir():
        raise DataError(f"{args.data}: --data folder not found")
    checkpoint_path = resolve_checkpoint(args.checkpoint)
    refuse_overlap(args.json, "--json", [Input("the checkpoint", checkpoint_path), *dataset_inputs(args.data)])
    model, meta = load_model_from_checkpoint(checkpoint_path, resolve_device(args.device))
    try:
        skip_blocks(model)
    except ValueError as exc:
        raise UserError(f"{args.checkpoint}: {exc}") from None
    dataset = args.dataset or meta.get("dataset")
    if not dataset:
        raise UserError(f"{args.checkpoint}: checkpoint names no dataset; pass --dataset")
    samples = load_split(args.data, dataset, args.split)
    if not samples:
        raise DataError(f"{args.data}: the {args.split} split of {dataset} lists no image")
    if args.crop % model.size_multiple:
        raise UserError(f"--crop {args.crop}: must be a multiple of the network's stride {model.size_multiple}")
    report = health_of_samples(model, samples, float(meta["norm"]["mean"]), float(meta["norm"]["std"]),
                               count=args.images, size=args.crop, seed=args.seed)
    config = meta.get("model_config") or {}
    reading = f", msic_reading={config.get('msic_reading', 'crossed')!r}" if config.get("msic") else ""
    print(f"{args.checkpoint} ({config.get('name')}{reading}) on "
          f"{len(report.names)} crops of {args.crop}x{args.crop} from {dataset}/{args.split}:")
    print(format_table(report))
    dead = report.dead_levels
    print(f"dead skips (no probability moves by 0.05 when their spatial detail is shuffled): "
          f"{', '.join(f'level {level}' for level in dead) if dead else 'none'}")
    glfi = []
    if config.get("glfi") and config.get("glfi_attention", "outer") != "channel":
        images, masks, _ = health_inputs(samples, float(meta["norm"]["mean"]), float(meta["norm"]["std"]),
                                         args.images, args.crop, model.size_multiple)
        glfi = glfi_use(model, images, masks)
        together = flatten_test(model, images, masks, tuple(item.level for item in glfi))
        print("GLFI attention (A: its range over the crops; spread: each channel's max - min, averaged; the flatten "
              "test replaces A by each channel's spatial mean):")
        print(glfi_table(glfi))
        print(f"  all {'':>28} {together.max_probability_change:>9.2e} {together.iou_before:>10.4f} "
              f"{together.iou_after:>8.4f}  (every level flattened together: IoU change "
              f"{together.iou_after - together.iou_before + 0.0:+.4f})")
        flat = [item.level for item in glfi if item.status == "flat"]
        print(f"flat GLFI attention (no probability moves by 0.05 when it is flattened): "
              f"{', '.join(f'level {level}' for level in flat) if flat else 'none'}")
    if args.json:
        atomic_write_json(args.json, {"checkpoint": str(args.checkpoint), "checkpoint_sha256": file_sha256(checkpoint_path),
                                      "model_config": config, "data": str(args.data), "dataset": dataset,
                                      "split": args.split, "crop": args.crop, "seed": args.seed, **report.to_dict(),
                                      **({"glfi": [item.to_dict() for item in glfi], "glfi_all": together.to_dict()}
                                         if glfi else {})})
    return 0
