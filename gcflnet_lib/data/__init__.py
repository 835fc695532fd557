"""Datasets for infrared small target detection.

- ``io``         read images (L/RGB/RGBA/16-bit -> float 0..255), masks (-> bool), predictions (-> [0, 1]); write PNGs
- ``layout``     the standard folder layout: ``images/``, ``masks/``, ``img_idx/{split}_{DATASET}.txt``
- ``dataset``    ``load_split`` (validated, in memory), normalisation statistics, ``IRSTDFolder``
- ``transforms`` device-agnostic tensor ops: pad/crop for testing, random crops/flips/transposes for training
- ``synthetic``  NUDT-style synthetic targets on procedural clutter, deterministic from a seed
"""

from gcflnet_lib.data.dataset import NORM_STATS, IRSTDFolder, Sample, compute_norm_stats, load_split, norm_stats_for
from gcflnet_lib.data.io import encode_png, read_image, read_mask, read_prediction, write_png
from gcflnet_lib.data.layout import find_image, find_mask, read_split, split_file
from gcflnet_lib.data.synthetic import make_samples, render_sample, write_dataset
from gcflnet_lib.data.transforms import crop_to, pad_to_multiple, random_crops, random_flips_transposes

__all__ = [
    "NORM_STATS",
    "IRSTDFolder",
    "Sample",
    "compute_norm_stats",
    "crop_to",
    "encode_png",
    "find_image",
    "find_mask",
    "load_split",
    "make_samples",
    "norm_stats_for",
    "pad_to_multiple",
    "random_crops",
    "random_flips_transposes",
    "read_image",
    "read_mask",
    "read_prediction",
    "read_split",
    "render_sample",
    "split_file",
    "write_dataset",
    "write_png",
]
