"""``gcflnet classical``: run a classical detector over a dataset split and save one map per image.

Output ``PRED_DIR/NAME.png`` for every image of the split:

- default: the saliency map rescaled per image to 8 bits (min -> 0, max -> 255). ``gcflnet score`` reads
  it as a probability (value / 255), so ``--threshold t`` there flags pixels above
  ``min + t * (max - min)`` of each image's saliency; the ROC curves sweep that fraction. A constant map
  (nothing salient) is all 0.
- ``--binary``: the method's own decision, the adaptive threshold ``mean + K * std`` of the saliency,
  as a 0/255 mask (``--k`` sets K).

The maps are written into a temporary folder beside PRED_DIR and moved into place at the end, so an
error half-way leaves PRED_DIR as it was.
"""

from __future__ import annotations

import argparse
import ast

NAME = "classical"
HELP = "Run a classical detector (Top-Hat, Max-Median, TLLCM, WSLCM, IPI, RIPT) over a split and save its maps."

DEFAULT_K = 10.0  # same as gcflnet_lib.classical.DEFAULT_K (a test keeps them equal)
# Same names as gcflnet_lib.classical.METHODS (a test keeps them equal); listed here so that building
# the parser does not import torch.
METHOD_NAMES = ("tophat", "max_median", "tllcm", "wslcm", "ipi", "ript")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, choices=METHOD_NAMES, help="detector to run")
    parser.add_argument("--data", required=True, metavar="ROOT", help="dataset root with images/ and img_idx/")
    parser.add_argument("--dataset", required=True, metavar="NAME", help="split files are img_idx/{split}_NAME.txt")
    parser.add_argument("--split", default="test", help="split to process (default test)")
    parser.add_argument("--out", required=True, metavar="PRED_DIR", help="folder for NAME.png maps (created)")
    parser.add_argument(
        "--binary", action="store_true",
        help="write the adaptive-threshold mask (0/255) instead of the 8-bit min-max saliency map",
    )
    parser.add_argument(
        "--k", type=float, default=DEFAULT_K,
        help=f"K of the adaptive threshold mean + K * std used by --binary (default {DEFAULT_K:g})",
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a method parameter, e.g. --param patch=30 --param scales='(5, 7)' (repeatable)",
    )
    parser.add_argument("--overwrite", action="store_true", help="allow writing into a PRED_DIR that already holds files")


def parse_params(items: list[str]) -> dict:
    """``["patch=30", "shape=disk"]`` -> ``{"patch": 30, "shape": "disk"}`` (Python literals, else strings)."""
    from gcflnet_lib.errors import UserError

    params = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UserError(f"--param {item!r}: expected NAME=VALUE, e.g. patch=30")
        try:
            params[name] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            params[name] = text.strip()
    return params


def _check_params(method, method_name: str, params: dict) -> None:
    import inspect

    from gcflnet_lib.errors import UserError

    accepted = [name for name in inspect.signature(method).parameters if name != "image"]
    for name in params:
        if name not in accepted:
            raise UserError(f"--param {name}: {method_name} has no parameter {name!r}; it accepts: {', '.join(accepted)}")


def largest_shape(paths) -> tuple[int, int]:
    """(H, W) of the largest image by pixels, from PNG headers where it can; unreadable files are left to the loop,
    which names them in order."""
    from gcflnet_lib.data.io import image_shape
    from gcflnet_lib.errors import DataError

    shapes = []
    for path in paths:
        try:
            shapes.append(image_shape(path))
        except DataError:
            continue
    return max(shapes, key=lambda shape: shape[0] * shape[1], default=(32, 32))


def oom_advice(args: argparse.Namespace) -> str:
    """What the CLI adds to an out-of-memory error."""
    given = f" with --param {' --param '.join(args.param)}" if args.param else ""
    lower = "lower patch or raise stride (--param)" if args.method in ("ipi", "ript") else "use smaller images"
    return f"running {args.method}{given} on the split's largest image; {lower}"


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from gcflnet_lib.classical import adaptive_threshold, get_method, saliency_to_uint8
    from gcflnet_lib.classical.limits import check_params
    from gcflnet_lib.data.io import read_image, write_png
    from gcflnet_lib.data.layout import find_image, read_split
    from gcflnet_lib.files import check_output_dir, refuse_filled, staged_directory
    from gcflnet_lib.engine.overlap import dataset_inputs, refuse_overlap, refuse_written_inputs
    from gcflnet_lib.errors import UserError

    if not np.isfinite(args.k):
        raise UserError(f"--k must be a finite number (got {args.k})")
    method = get_method(args.method)
    params = parse_params(args.param)
    _check_params(method, args.method, params)
    out = check_output_dir(args.out, "--out")
    inputs = dataset_inputs(args.data)
    refuse_overlap(out, "--out", inputs, "folder")  # outputs never overwrite inputs, --overwrite or not
    refuse_filled(out, "--out", args.overwrite, "maps")
    names = read_split(args.data, args.dataset, args.split)
    paths = [find_image(args.data, name) for name in names]  # every image is located before any work
    refuse_written_inputs(out, "--out", [out / f"{name}.png" for name in names], inputs)
    # Parameter values the method refuses, or cannot fit in memory, stop here rather than mid-split.
    check_params(args.method, method, params, largest_shape(paths))
    with staged_directory(out) as stage:
        for name, path in tqdm(list(zip(names, paths)), desc=args.method, unit="img", leave=False, disable=None):
            image = read_image(path)
            try:
                saliency = method(image, **params)
            except ValueError as exc:
                raise UserError(f"{path}: {args.method} failed: {exc}") from None
            if args.binary:
                result = adaptive_threshold(saliency, args.k).astype(np.uint8) * np.uint8(255)
            else:
                result = saliency_to_uint8(saliency)
            write_png(stage / f"{name}.png", result)
    kind = f"0/255 masks (mean + {args.k:g} * std)" if args.binary else "8-bit saliency maps (min-max per image)"
    print(f"wrote {len(names)} {kind} from {args.method} to {out}")
    return 0
