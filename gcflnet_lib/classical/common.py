"""Input handling and output post-processing shared by the classical detectors.

Every detector takes an image of any common mode and returns a ``float32 (H, W)`` saliency map
(higher = more target-like). Two post-processing steps turn a saliency map into something else:

- :func:`adaptive_threshold` binarises it with the rule most of these papers use,
  ``T = mean + k * std`` of the map;
- :func:`saliency_to_uint8` rescales it to 0..255 per image (min-max), so a folder of maps can be
  scored like probability maps by ``gcflnet score``.
"""

from __future__ import annotations

import numpy as np

# Default k of the adaptive threshold. On the first 60 (IPI, RIPT: 20) NUAA-SIRST test images, k = 10
# gave Pd 0.73-1.0 with Fa 2e-5 to 8e-4 per method; k = 3 raised Pd by at most 0.07 while Top-Hat,
# Max-Median and IPI then flagged about 1e-2 of all pixels.
DEFAULT_K = 10.0

# ITU-R BT.601 luma for R, G, B: the weights gcflnet_lib.data.io.read_image uses.
_LUMA_RGB = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def as_gray_float32(image, name: str = "image") -> np.ndarray:
    """Turn an image of any common mode into ``float32 (H, W)``.

    Accepted: 2-D arrays (bool, integer or float), ``(H, W, 1)``, ``(H, W, 3)`` RGB and ``(H, W, 4)`` RGBA
    (alpha dropped; colour -> gray by ITU-R 601 luma). Scale follows
    :func:`gcflnet_lib.data.io.read_image`: 8-bit and float values as they are, 16-bit divided by 257
    (so both land on the 0..255 scale). Torch tensors are accepted too.

    Raises:
        ValueError: empty (0-d or zero pixels), wrong number of dimensions or channels,
            non-numeric dtype, or non-finite values; the message names ``name``.
    """
    if hasattr(image, "detach"):  # torch.Tensor, without importing torch here
        image = image.detach().cpu().numpy()
    array = np.asarray(image)
    if array.ndim == 0 or array.size == 0:
        raise ValueError(
            f"{name}: empty image (shape {array.shape}); a detector needs a 2-D image with at least one pixel"
        )
    if array.dtype == bool:
        array = array.astype(np.float32)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name}: expected a numeric image, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3 and array.shape[2] in (3, 4):
        gray = array[:, :, :3].astype(np.float32) @ _LUMA_RGB
    elif array.ndim == 2:
        gray = array.astype(np.float32)
    else:
        raise ValueError(f"{name}: expected shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    if array.dtype == np.uint16:
        gray = gray / np.float32(257.0)
    if not np.isfinite(gray).all():
        raise ValueError(f"{name}: image holds NaN or infinite values")
    return np.ascontiguousarray(gray, dtype=np.float32)


def _as_saliency(saliency, name: str = "saliency") -> np.ndarray:
    array = np.asarray(saliency)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D saliency map, got shape {array.shape}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: saliency map holds NaN or infinite values")
    return array


def adaptive_threshold(saliency, k: float = DEFAULT_K) -> np.ndarray:
    """Binarise a saliency map with ``T = mean + k * std`` (the rule of Gao et al. 2013 and most LCM papers).

    Args:
        saliency: ``(H, W)`` map, higher = more target-like.
        k: how many standard deviations above the mean a pixel must lie; larger k flags fewer pixels
            (default :data:`DEFAULT_K` = 10).

    Returns:
        ``bool (H, W)``, True where ``saliency > T``. A constant map gives no detections.
    """
    if not np.isfinite(k):
        raise ValueError(f"k: must be a finite number, got {k}")
    values = _as_saliency(saliency).astype(np.float64)
    threshold = values.mean() + k * values.std()
    return values > threshold


def saliency_to_uint8(saliency) -> np.ndarray:
    """Min-max rescale one map to ``uint8`` 0..255 (its minimum -> 0, its maximum -> 255).

    A constant map becomes all zeros. Read back with ``read_prediction`` the values are in [0, 1],
    so ``gcflnet score --threshold t`` flags pixels above ``min + t * (max - min)`` of that image.
    """
    values = _as_saliency(saliency).astype(np.float64)
    low, high = values.min(), values.max()
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)
