"""Patch images (Gao et al. 2013) and patch tensors (Dai & Wu 2017): slide a window, stack the patches.

A ``patch x patch`` window slides with ``stride`` over the image; each position gives one patch.
The image is first extended by mirroring at the bottom/right so the last window ends exactly on the
border (and images smaller than one patch get one full patch). Going back, a pixel covered by
several patches takes the median (default, robust to a patch that caught a target) or the mean of
its values.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np


class PatchGrid(NamedTuple):
    """Where the patches of one image came from: needed to put them back."""

    image_shape: tuple[int, int]  # (H, W) of the original image
    padded_shape: tuple[int, int]  # (H', W') after mirroring at bottom/right
    grid: tuple[int, int]  # patch positions along (rows, cols); patch index = row * cols + col
    patch: int
    stride: int


def _check_patching(patch: int, stride: int) -> tuple[int, int]:
    for name, value in (("patch", patch), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    if stride > patch:
        raise ValueError(f"stride: {stride} is larger than the patch size {patch}, which would leave pixels uncovered")
    return int(patch), int(stride)


def _padded_length(length: int, patch: int, stride: int) -> int:
    length = max(length, patch)
    return length + (-(length - patch)) % stride


def image_to_patches(gray: np.ndarray, patch: int, stride: int) -> tuple[np.ndarray, PatchGrid]:
    """Cut ``gray (H, W)`` into overlapping patches.

    Returns:
        ``patches``: ``float64 (N, patch * patch)``, one row-major flattened patch per row
        (N = rows * cols, raster order); ``grid``: a :class:`PatchGrid` for :func:`patches_to_image`.
        The patch-image matrix of Gao et al. (one patch per column) is ``patches.T``.
    """
    patch, stride = _check_patching(patch, stride)
    height, width = gray.shape
    padded_h, padded_w = _padded_length(height, patch, stride), _padded_length(width, patch, stride)
    # "symmetric" mirroring works for any amount of padding, also beyond the image size.
    padded = np.pad(np.asarray(gray, dtype=np.float64), ((0, padded_h - height), (0, padded_w - width)), mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (patch, patch))[::stride, ::stride]
    rows, cols = windows.shape[:2]
    patches = windows.reshape(rows * cols, patch * patch)  # reshape of a strided view copies
    return patches, PatchGrid((height, width), (padded_h, padded_w), (rows, cols), patch, stride)


def _overlap_layers(patches: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """``(q * q, H', W')`` stack: each layer holds a set of non-overlapping patches, NaN elsewhere.

    Patches whose grid indices agree modulo ``q = ceil(patch / stride)`` never overlap (``q * stride >=
    patch``), so each such class tiles one layer; every pixel's values across layers are exactly the
    values the patches covering it give.
    """
    rows, cols = grid.grid
    p, s = grid.patch, grid.stride
    padded_h, padded_w = grid.padded_shape
    q = math.ceil(p / s)
    tile = q * s
    blocks = patches.reshape(rows, cols, p, p)
    layers = np.full((q * q, padded_h + tile, padded_w + tile), np.nan)
    for a in range(q):
        for b in range(q):
            chosen = blocks[a::q, b::q]
            n_r, n_c = chosen.shape[:2]
            if n_r == 0 or n_c == 0:
                continue
            tiles = np.pad(chosen, ((0, 0), (0, 0), (0, tile - p), (0, tile - p)), constant_values=np.nan)
            mosaic = tiles.transpose(0, 2, 1, 3).reshape(n_r * tile, n_c * tile)
            layers[a * q + b, a * s : a * s + n_r * tile, b * s : b * s + n_c * tile] = mosaic
    return layers[:, :padded_h, :padded_w]


def _nan_median(layers: np.ndarray) -> np.ndarray:
    """Median over axis 0 ignoring NaN (every position has at least one value); faster than np.nanmedian."""
    ordered = np.sort(layers, axis=0)  # NaN sorts last
    count = np.count_nonzero(~np.isnan(layers), axis=0)
    low = np.take_along_axis(ordered, ((count - 1) // 2)[None], axis=0)[0]
    high = np.take_along_axis(ordered, (count // 2)[None], axis=0)[0]
    return 0.5 * (low + high)


def patches_to_image(patches: np.ndarray, grid: PatchGrid, reduce: str = "median") -> np.ndarray:
    """Put patches ``(N, patch * patch)`` back into an image ``float32 (H, W)`` (inverse of :func:`image_to_patches`).

    Args:
        reduce: how a pixel covered by several patches is decided, ``"median"`` or ``"mean"``.
    """
    if reduce not in ("median", "mean"):
        raise ValueError(f"reduce: expected 'median' or 'mean', got {reduce!r}")
    rows, cols = grid.grid
    expected = (rows * cols, grid.patch * grid.patch)
    if patches.shape != expected:
        raise ValueError(f"patches: expected shape {expected} for this grid, got {tuple(patches.shape)}")
    layers = _overlap_layers(np.asarray(patches, dtype=np.float64), grid)
    image = _nan_median(layers) if reduce == "median" else np.nanmean(layers, axis=0)
    height, width = grid.image_shape
    return image[:height, :width].astype(np.float32)
