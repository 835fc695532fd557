"""``gcflnet predict``: probability maps and overlays for images of any size and mode.

For every input image ``NAME.*`` it writes ``OUT/prob/NAME.png`` (the 8-bit probability map, readable by
``gcflnet score``) and ``OUT/overlay/NAME.png`` (RGB: the gray image with detected pixels in red).
Outputs are staged in a temporary sibling folder, so a bad input leaves ``OUT`` untouched.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from gcflnet_lib.commands.arguments import add_batch_size, add_checkpoint, add_device, add_threshold

NAME = "predict"
HELP = "Predict probability maps and red overlays for an image or a folder of images with a checkpoint."

RED = np.array([255, 0, 0], dtype=np.uint8)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint(parser)
    parser.add_argument("--input", required=True, metavar="IMAGE_OR_DIR", help="an image file or a folder of images")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (prob/ and overlay/ inside)")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow an --out folder that already holds files (never one holding the input)")
    add_threshold(parser, "probability above which a pixel is shown red")
    add_batch_size(parser, 1)
    add_device(parser)


def overlay_rgb(image: np.ndarray, detected: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3): the 0..255 gray ``image`` with ``detected`` (bool (H, W)) pixels pure red."""
    gray = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    rgb[detected] = RED
    return rgb


def input_images(path: Path) -> list[Path]:
    """The image files to predict: ``path`` itself, or the image files directly inside a folder."""
    from gcflnet_lib.data.layout import IMAGE_EXTENSIONS
    from gcflnet_lib.errors import DataError

    if path.is_file():
        return [path]
    if path.is_symlink():
        raise DataError(f"{path}: --input is a broken link to {os.readlink(path)}")
    if not path.is_dir():
        raise DataError(f"{path}: --input not found")
    images = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
    # A broken link stops the run as a corrupt image does, rather than being skipped without a word.
    broken = sorted(p for p in images if p.is_symlink() and not p.exists())
    if broken:
        raise DataError(f"{broken[0]}: broken link to {os.readlink(broken[0])} (the file it points to is missing)")
    files = sorted(p for p in images if p.is_file())
    if not files:
        raise DataError(f"{path}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in --input folder")
    stems: dict[str, Path] = {}
    for file in files:
        if file.stem in stems:
            raise DataError(f"{file}: same name as {stems[file.stem]}; outputs would collide")
        stems[file.stem] = file
    return files


def oom_advice(args: argparse.Namespace) -> str:
    """What the CLI adds to an out-of-memory error: the batch and the largest image, and what to lower."""
    largest = getattr(args, "largest_image", None)
    images = f" with images up to {largest}" if largest else ""
    return (f"at --batch-size {args.batch_size}{images}; lower --batch-size, or cut large images into tiles "
            "and predict those")


def run(args: argparse.Namespace) -> int:
    import cv2

    from gcflnet_lib.data.io import read_image, write_png
    from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint
    from gcflnet_lib.engine.device import resolve_device
    from gcflnet_lib.engine.evaluation import predict_probabilities, quantize_probability
    from gcflnet_lib.commands.evaluate import largest_image
    from gcflnet_lib.files import check_output_dir, refuse_filled, staged_directory
    from gcflnet_lib.engine.overlap import Input, refuse_overlap, refuse_written_inputs
    from gcflnet_lib.released import resolve_checkpoint
    from gcflnet_lib.errors import UserError

    if not 0.0 <= args.threshold <= 1.0:
        raise UserError(f"--threshold must be in [0, 1] (got {args.threshold})")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1 (got {args.batch_size})")
    check_output_dir(args.out, "--out")
    files = input_images(Path(args.input))
    checkpoint = resolve_checkpoint(args.checkpoint)
    # Outputs never overwrite inputs, --overwrite or not. --out may hold the input images (its maps go to
    # prob/ and overlay/ inside); a map that would land on an input image, or on the checkpoint, is refused.
    inputs = [Input("the checkpoint", checkpoint), *(Input("the --input image", file) for file in files)]
    refuse_overlap(args.out, "--out", inputs, "folder")
    out = Path(args.out)
    targets = [out / sub / f"{file.stem}.png" for file in files for sub in ("prob", "overlay")]
    refuse_written_inputs(args.out, "--out", targets, inputs)
    refuse_filled(args.out, "--out", args.overwrite, "maps")
    images = [read_image(file) for file in files]  # every input is checked before anything is written
    args.largest_image = largest_image(images)
    device = resolve_device(args.device)
    model, meta = load_model_from_checkpoint(checkpoint, device)
    mean, std = float(meta["norm"]["mean"]), float(meta["norm"]["std"])
    probs = predict_probabilities(model, images, device, mean, std, args.batch_size)
    with staged_directory(args.out) as stage:
        for sub in ("prob", "overlay"):
            (stage / sub).mkdir()
        for file, image, prob in zip(files, images, probs):
            write_png(stage / "prob" / f"{file.stem}.png", quantize_probability(prob))
            # write_png goes through OpenCV, which stores channels as B, G, R.
            overlay = overlay_rgb(image, prob > args.threshold)
            write_png(stage / "overlay" / f"{file.stem}.png", cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    detected = sum(int((prob > args.threshold).any()) for prob in probs)
    print(f"{args.out}: {len(files)} image(s), {detected} with detections; prob/ and overlay/ written")
    return 0
