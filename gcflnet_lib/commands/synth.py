"""``gcflnet synth``: write a synthetic IRSTD dataset in the standard layout (see ``gcflnet_lib.data.synthetic``)."""

from __future__ import annotations

import argparse

NAME = "synth"
HELP = "Write a synthetic infrared small target dataset (images/, masks/, img_idx/) from a seed."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (refused if not empty, unless --overwrite)")
    parser.add_argument("--n", type=int, default=1000, metavar="N", help="number of images (default 1000)")
    parser.add_argument("--size", type=int, default=256, metavar="PX", help="image side in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed; the same seed gives identical files (default 0)")
    parser.add_argument("--name", default="Synthetic", metavar="NAME", help="dataset name in img_idx/{train,test}_NAME.txt (default Synthetic)")
    parser.add_argument("--test-fraction", type=float, default=0.5, metavar="F", help="share of images in the test split (default 0.5)")
    parser.add_argument("--scr", type=float, nargs=2, default=(3.0, 15.0), metavar=("MIN", "MAX"), help="signal-to-clutter ratio range (default 3 15)")
    parser.add_argument("--max-targets", type=int, default=4, metavar="K", help="at most K targets per image (default 4)")
    parser.add_argument("--workers", type=int, default=1, metavar="W", help="render in W processes (same files; default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def oom_advice(args: argparse.Namespace) -> str:
    """What the CLI adds to an out-of-memory error."""
    return f"rendering {args.size}x{args.size} images with --workers {args.workers}; lower --size or --workers"


def run(args: argparse.Namespace) -> int:
    import math

    from gcflnet_lib.data.synthetic import write_dataset
    from gcflnet_lib.files import check_output_dir
    from gcflnet_lib.errors import UserError

    if args.size < 8:
        raise UserError(f"--size must be at least 8 pixels (got {args.size})")
    low, high = args.scr
    if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise UserError(f"--scr expects finite 0 < MIN <= MAX (got {low} {high})")
    check_output_dir(args.out, "--out")
    if args.max_targets < 0:
        raise UserError(f"--max-targets must be 0 or more (got {args.max_targets})")
    out = write_dataset(
        args.out,
        args.n,
        size=args.size,
        seed=args.seed,
        name=args.name,
        test_fraction=args.test_fraction,
        overwrite=args.overwrite,
        workers=args.workers,
        progress=not args.quiet,
        scr_range=(low, high),
        max_targets=args.max_targets,
    )
    n_test = sum(1 for line in (out / "img_idx" / f"test_{args.name}.txt").read_text().splitlines() if line)
    print(f"wrote {args.n} images of {args.size}x{args.size} to {out} (train {args.n - n_test}, test {n_test}, dataset {args.name}, seed {args.seed})")
    return 0
