"""Classical detectors against a trained network, scored the same way (notebook 10).

A classical detector gives an unbounded saliency map; a network gives probabilities. Two readings
make them comparable, both used by the CLI as well (``gcflnet classical`` then ``gcflnet score``):

- **the method's own decision**: classical maps are binarised by the adaptive threshold
  ``mean + k * std`` (:func:`adaptive_threshold_stats`), the network's by ``p > 0.5``;
- **the whole Pd-Fa curve**: each saliency map is min-max rescaled to [0, 1] per image and quantised to
  8 bits exactly as ``saliency_to_uint8`` writes it (:func:`saliency_to_probability`), then swept over the
  same thresholds as the network's probabilities (``IRSTDMetrics``' ROC). Every curve is then read on the
  one shared false-alarm axis: ``auc_pd_fa`` over Fa in [0, 1e-4], Pd at Fa 1e-5 and 1e-4, and the pixel
  ROC's ``auc_pixel`` (``gcflnet_lib.metrics``).

:func:`method_row` / :func:`network_row` turn either into one row of the comparison table:
``name, kind, decision, miou, niou, pd, fa, auc_pd_fa, auc_pixel, pd_at_fa_1e-05, pd_at_fa_1e-04,
n_images, n_targets, seconds_per_image, roc``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm
from scipy import ndimage

from gcflnet_lib.classical import adaptive_threshold, saliency_to_uint8
from gcflnet_lib.data.dataset import Sample
from gcflnet_lib.metrics import CURVE_KEYS, IRSTDMetrics, threshold_stats


def crop_around_targets(samples: Sequence[Sample], size: int) -> list[Sample]:
    """Each sample cut to a ``size`` x ``size`` window centred on its first target (the image centre
    when it has none), shifted to stay inside the image; sides shorter than ``size`` are kept whole.

    Used to keep the slow low-rank methods (IPI, RIPT) to seconds on real images in smoke runs.
    """
    if size < 8:
        raise ValueError(f"size: expected at least 8 pixels, got {size}")
    cropped = []
    for sample in samples:
        height, width = sample.mask.shape
        if sample.mask.any():
            labels, _ = ndimage.label(sample.mask, structure=np.ones((3, 3)))
            row, col = ndimage.center_of_mass(labels == 1)
        else:
            row, col = height / 2, width / 2
        top = int(np.clip(round(row) - size // 2, 0, max(height - size, 0)))
        left = int(np.clip(round(col) - size // 2, 0, max(width - size, 0)))
        window = (slice(top, top + size), slice(left, left + size))
        cropped.append(Sample(sample.name, np.ascontiguousarray(sample.image[window]),
                              np.ascontiguousarray(sample.mask[window])))
    return cropped


def run_detector(detector: Callable[..., np.ndarray], images: Sequence[np.ndarray], progress: bool = False,
                 **params: Any) -> tuple[list[np.ndarray], float]:
    """Saliency maps of ``detector`` on every image, and its mean wall time per image in seconds
    (``progress``: a tqdm bar over the images, with the time left)."""
    if not images:
        raise ValueError("run_detector needs at least one image")
    start = time.perf_counter()
    name = getattr(detector, "__name__", "detector")
    maps = [np.asarray(detector(image, **params), dtype=np.float32)
            for image in tqdm(images, desc=name, unit="img", disable=not progress, leave=False)]
    return maps, (time.perf_counter() - start) / len(images)


def saliency_to_probability(saliency: np.ndarray) -> np.ndarray:
    """float32 (H, W) in [0, 1]: the map as ``gcflnet classical`` stores it (min-max to 8 bits) and
    ``gcflnet score`` reads it back (value / 255), so notebook and CLI give the same numbers."""
    return saliency_to_uint8(saliency).astype(np.float32) / np.float32(255.0)


def score_probabilities(prob_maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], threshold: float = 0.5
                        ) -> dict[str, Any]:
    """``IRSTDMetrics(threshold).compute()`` over the maps: miou, niou, pd, fa, the AUCs and the ROC."""
    if len(prob_maps) != len(masks) or not masks:
        raise ValueError(f"need as many maps ({len(prob_maps)}) as masks ({len(masks)}), at least one")
    metrics = IRSTDMetrics(threshold=threshold)
    for prob, mask in zip(prob_maps, masks):
        metrics.update(prob, mask)
    return metrics.compute()


def adaptive_threshold_stats(saliency_maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], k: float
                             ) -> dict[str, Any]:
    """Pd, Fa, mIoU and nIoU of the classical decision rule: each map binarised at ``mean + k * std``.

    Returns:
        ``gcflnet_lib.metrics.threshold_stats`` of the binary masks (keys pd, fa, miou, niou, n_targets,
        n_matched, n_false_pixels, ...) plus ``k``.
    """
    if len(saliency_maps) != len(masks) or not masks:
        raise ValueError(f"need as many saliency maps ({len(saliency_maps)}) as masks ({len(masks)}), at least one")
    decisions = [adaptive_threshold(saliency, k).astype(np.float32) for saliency in saliency_maps]
    stats = threshold_stats(decisions, [np.asarray(mask, dtype=bool) for mask in masks], threshold=0.5)
    stats["k"] = float(k)
    return stats


def _row(name: str, kind: str, decision: str, point: Mapping[str, Any], curve: Mapping[str, Any],
         seconds: float) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "decision": decision,
        **{key: float(point[key]) for key in ("miou", "niou", "pd", "fa")},
        **{key: float(curve[key]) for key in CURVE_KEYS},
        "n_images": int(curve["n_images"]),
        "n_targets": int(curve["n_targets"]),
        "seconds_per_image": float(seconds),
        "roc": {key: list(curve["roc"][key]) for key in ("thresholds", "pd", "fa", "tpr", "fpr")},
    }


def method_row(name: str, saliency_maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], k: float,
               seconds_per_image: float = float("nan")) -> dict[str, Any]:
    """Table row of a classical method: its own decision (``mean + k * std``) and its rescaled-map ROC."""
    point = adaptive_threshold_stats(saliency_maps, masks, k)
    curve = score_probabilities([saliency_to_probability(s) for s in saliency_maps], masks)
    return _row(name, "classical", f"mean + {k:g} std", point, curve, seconds_per_image)


def network_row(name: str, prob_maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], threshold: float = 0.5,
                seconds_per_image: float = float("nan")) -> dict[str, Any]:
    """Table row of a network: its decision ``p > threshold`` and its probability ROC."""
    curve = score_probabilities(prob_maps, masks, threshold)
    return _row(name, "deep", f"p > {threshold:g}", curve, curve, seconds_per_image)
