"""Local-contrast detectors (Han et al.): compare a target cell with the 8 cells around it.

Both methods use a 3 x 3 grid of ``s x s`` cells centred on each pixel. A cell is summarised by the
mean of its ``K`` brightest pixels (robust to a single hot pixel, yet sensitive to a target that
fills only part of the cell). The grid is evaluated for several cell sizes and the largest response
wins, so targets of different sizes are found.

Intensities are taken as non-negative (contrast is a ratio); an image with negative values is
shifted so its minimum is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from gcflnet_lib.classical.common import as_gray_float32

# The 3 x 3 binomial kernel [1 2 1]^T [1 2 1] / 16 both papers use to match the target's point spread.
_GAUSS_3X3 = (np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]) / 16.0).astype(np.float32)
# Offsets (in cells) of the 8 surrounding cells.
_SURROUND = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
# Values handled per partition call: about 1 MB, so each chunk is sorted inside the CPU cache.
_CHUNK_VALUES = 1 << 18


def _nonnegative(gray: np.ndarray) -> np.ndarray:
    low = float(gray.min())
    return gray - np.float32(low) if low < 0 else gray


def _check_scales(scales: Sequence[int], k: int) -> tuple[int, ...]:
    if isinstance(scales, (int, np.integer)):
        scales = (scales,)
    scales = tuple(scales)
    if not scales:
        raise ValueError("scales: expected at least one cell size")
    for s in scales:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 or s % 2 == 0:
            raise ValueError(f"scales: cell sizes must be odd positive integers, got {s!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected a positive integer (number of brightest pixels), got {k!r}")
    if k > min(scales) ** 2:
        raise ValueError(f"k: {k} brightest pixels do not fit in the smallest {min(scales)}x{min(scales)} cell")
    return tuple(int(s) for s in scales)


def _gauss3(gray: np.ndarray) -> np.ndarray:
    return cv2.filter2D(gray, cv2.CV_32F, _GAUSS_3X3, borderType=cv2.BORDER_REPLICATE)


def top_k_mean_map(padded: np.ndarray, size: int, k: int) -> np.ndarray:
    """Mean of the ``k`` largest values in every ``size x size`` window fully inside ``padded``.

    ``padded (H + size - 1, W + size - 1)`` -> ``float32 (H, W)``; entry ``(i, j)`` summarises the
    window whose top-left corner is ``(i, j)``.
    """
    return top_k_mean_maps(padded, (size,), k)[size]


def top_k_mean_maps(padded: np.ndarray, sizes: Sequence[int], k: int) -> dict[int, np.ndarray]:
    """Mean of the ``k`` largest values in centred windows of several odd ``sizes``, for every centre.

    Entry ``(i, j)`` of each ``float32 (H', W')`` map (``H' = rows - max(sizes) + 1``, same for columns)
    summarises the window centred on ``padded[i + max(sizes) // 2, j + max(sizes) // 2]``, so all maps
    share one grid. Windows are nested, so the ``k`` largest values of a window are among the ``k``
    largest of the next smaller one plus the ring around it: each size only partitions ``k + ring``
    values instead of ``size**2``. Vectorised with ``np.partition``, in row chunks that fit the CPU cache.
    """
    sizes = sorted(set(int(s) for s in sizes))
    largest = sizes[-1]
    out_h, out_w = padded.shape[0] - largest + 1, padded.shape[1] - largest + 1
    views, rings = {}, {}
    previous = 0
    for size in sizes:
        offset = largest // 2 - size // 2
        views[size] = np.lib.stride_tricks.sliding_window_view(padded, (size, size))[offset : offset + out_h, offset : offset + out_w]
        ring = np.ones((size, size), dtype=bool)
        inner = (size - previous) // 2
        ring[inner : inner + previous, inner : inner + previous] = False
        rings[size] = np.nonzero(ring)
        previous = size
    maps = {size: np.empty((out_h, out_w), dtype=np.float32) for size in sizes}
    widest = max(len(rings[size][0]) + (k if i else 0) for i, size in enumerate(sizes))
    rows = max(1, _CHUNK_VALUES // max(1, out_w * widest))
    for start in range(0, out_h, rows):
        best = None
        for size in sizes:
            ring_y, ring_x = rings[size]
            candidates = views[size][start : start + rows][..., ring_y, ring_x]  # a copy
            if best is not None:
                candidates = np.concatenate([best, candidates], axis=-1)
            n = candidates.shape[-1]
            if k < n:
                candidates.partition(n - k, axis=-1)
            best = candidates[..., n - k :]
            np.sum(best, axis=-1, out=maps[size][start : start + rows])
    for image in maps.values():
        image /= np.float32(k)
    return maps


def _cell_maps(gray: np.ndarray, sizes: Sequence[int], k: int, with_mean: bool = False) -> dict:
    """Per-cell statistics for 3 x 3 grids of ``size x size`` cells around every pixel, for each size.

    Returns ``{size: (top, mean)}``, each a list of 9 ``(H, W)`` maps (centre cell first, then the 8
    surrounding cells in raster order). ``top`` = mean of the ``k`` brightest pixels of the cell,
    ``mean`` = plain mean (``None`` unless ``with_mean``). Borders are extended by replication.
    """
    height, width = gray.shape
    largest = max(sizes)
    pad = largest + largest // 2  # the far surrounding cell reaches size + size // 2 pixels past the centre
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    # Statistics at every cell centre within ``largest`` of the image; entry (i, j) describes the cell
    # centred at image pixel (i - largest, j - largest). Shifting them gives the 8 neighbours.
    tops = top_k_mean_maps(padded, sizes, k)
    offsets = ((0, 0),) + _SURROUND
    cells = {}
    for size in sizes:

        def shifted(stat: np.ndarray, size: int = size) -> list[np.ndarray]:
            return [
                stat[largest + dy * size : largest + dy * size + height, largest + dx * size : largest + dx * size + width]
                for dy, dx in offsets
            ]

        mean = None
        if with_mean:
            mean_all = cv2.boxFilter(padded, cv2.CV_32F, (size, size), normalize=True, borderType=cv2.BORDER_REPLICATE)
            half = largest // 2
            mean = shifted(mean_all[half : half + height + 2 * largest, half : half + width + 2 * largest])
        cells[size] = (shifted(tops[size]), mean)
    return cells


def _safe_floor(gray: np.ndarray) -> np.float32:
    # Keeps the contrast ratio finite on black regions without changing it anywhere else.
    return np.float32(max(1e-3 * float(gray.max()), 1e-12))


def tllcm(image, scales: Sequence[int] = (5, 7, 9), k: int = 9) -> np.ndarray:
    """Tri-Layer Local Contrast Measure (TLLCM), multi-scale.

    Paper: J. Han, S. Moradi, I. Faramarzi, C. Liu, H. Zhang and Q. Zhao, "A local contrast method for
    infrared small-target detection utilizing a tri-layer window", *IEEE Geoscience and Remote Sensing
    Letters* 17(10), 2020.

    Core layer: the image smoothed by the 3 x 3 Gaussian ``[1 2 1]^T [1 2 1] / 16`` (a matched filter for
    the target), ``C``. Reserve layer: the rest of the centre cell, ignored, so a target larger than
    the core does not leak into the background estimate. Surrounding layer: the 8 cells around it,
    each summarised by the mean of its ``K`` brightest pixels; the background is their maximum ``B``.
    ``TLLCM = max(C^2 / B - C, 0)`` (``C * (C / B - 1)``: ratio enhancement times difference), and the
    multi-scale map is the maximum over cell sizes. Defaults: ``K = 9`` and the 3 x 3 Gaussian core as in
    the authors' published code; cell sizes 5, 7, 9 (the code's 9 plus two smaller ones for smaller targets).

    Args:
        image: ``(H, W)`` gray or ``(H, W, 3|4)`` colour, any dtype (see :func:`as_gray_float32`).
        scales: odd cell sizes ``s`` (each grid is ``3s x 3s``).
        k: brightest pixels averaged per surrounding cell, ``<= min(scales)**2``.

    Returns:
        ``float32 (H, W)`` saliency >= 0.
    """
    scales = _check_scales(scales, k)
    gray = _nonnegative(as_gray_float32(image))
    core = _gauss3(gray)
    floor = _safe_floor(gray)
    response = np.zeros_like(gray)
    for top, _ in _cell_maps(gray, scales, k).values():
        background = np.maximum(np.maximum.reduce(top[1:]), floor)
        np.maximum(response, core * core / background - core, out=response)
    return response


def wslcm(image, scales: Sequence[int] = (5, 7, 9, 11), k: int = 9, xi: float = 5.0) -> np.ndarray:
    """Weighted Strengthened Local Contrast Measure (WSLCM), multi-scale.

    Paper: J. Han, S. Moradi, I. Faramarzi, H. Zhang, Q. Zhao, X. Zhang and N. Li, "Infrared small target
    detection based on the weighted strengthened local contrast measure", *IEEE Geoscience and Remote
    Sensing Letters* 18(9), 2021.

    The image is first median-filtered (3 x 3, removes isolated hot pixels). For cell size ``s``:

    - strengthened LCM: ``SLCM = max(G^2 / B - G, 0)`` with ``G`` the 3 x 3 Gaussian-smoothed image and
      ``B`` the largest top-``K`` mean of the 8 surrounding cells;
    - improved regional intensity level of cell ``i``: ``IRIL_i = topK_mean_i - mean_i`` (how much the
      brightest pixels stand out inside the cell; high for a compact target, low for flat clutter);
    - weight ``W = IRIL_0 * max(IRIL_0 - max_i IRIL_i, 0) / max(std_i IRIL_i, xi)``: the centre must
      stand out more than any neighbour, and neighbourhoods whose cells disagree (edges, clutter)
      are damped;
    - ``WSLCM = W * SLCM``; the multi-scale map is the maximum over cell sizes.

    Defaults from the authors' published code: cell sizes 5, 7, 9, 11, ``K = 9``, ``xi = 5`` (on the
    0..255 intensity scale).

    Args:
        image: ``(H, W)`` gray or ``(H, W, 3|4)`` colour, any dtype (see :func:`as_gray_float32`).
        scales: odd cell sizes ``s``.
        k: brightest pixels averaged per cell, ``<= min(scales)**2``.
        xi: lower bound on the spread of the surrounding ``IRIL`` values (keeps the weight finite).

    Returns:
        ``float32 (H, W)`` saliency >= 0.
    """
    scales = _check_scales(scales, k)
    if not np.isfinite(xi) or xi <= 0:
        raise ValueError(f"xi: expected a positive number, got {xi!r}")
    gray = _nonnegative(as_gray_float32(image))
    filtered = cv2.medianBlur(gray, 3)
    smooth = _gauss3(filtered)
    floor = _safe_floor(filtered)
    response = np.zeros_like(gray)
    for top, mean in _cell_maps(filtered, scales, k, with_mean=True).values():
        background = np.maximum(np.maximum.reduce(top[1:]), floor)
        slcm = np.maximum(smooth * smooth / background - smooth, 0.0)
        iril = np.stack([t - m for t, m in zip(top, mean)])
        difference = np.maximum(iril[0] - iril[1:].max(axis=0), 0.0)
        spread = np.maximum(iril[1:].std(axis=0, ddof=1), np.float32(xi))
        weight = iril[0] * difference / spread
        np.maximum(response, weight * slcm, out=response)
    return response.astype(np.float32, copy=False)
