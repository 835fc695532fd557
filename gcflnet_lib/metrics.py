"""Infrared small target detection metrics, BasicIRSTD protocol (see ARCHITECTURE.md, "Evaluation protocol").

Pixel level, over a split (predictions are ``prob > threshold``, threshold 0.5 by default):

- **mIoU** = total intersection / total union, summed over all images of the split;
- **nIoU** = mean per-image IoU over the images that hold a target (an empty prediction scores 0).

Target level, per image (:func:`pd_fa_image`):

- targets and predictions are split into 8-connected components;
- each ground-truth target, in raster order of its first pixel, takes the first remaining predicted
  component (raster order too) whose centroid is closer than ``distance`` = 3 px (Euclidean, strict);
- **Pd** = matched targets / targets; **Fa** = predicted pixels outside matched components / all pixels
  (a fraction here; papers print it x1e-6).

**ROC**: Pd against Fa for each probability threshold of ``roc_thresholds`` (default 0.02, 0.04, ... 0.98:
the ends are left out because ``prob > 0`` marks nearly every pixel of a soft map). See :func:`roc_auc`
for how the area is taken.

All counts accumulate as images stream by (:meth:`IRSTDMetrics.update`), so a split never has to be
held in memory. Undefined ratios (no union, no target) come back as NaN.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from gcflnet_lib.errors import DataError

DEFAULT_ROC_THRESHOLDS = np.round(np.linspace(0.0, 1.0, 51)[1:-1], 4)


def _components(binary: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of a bool (H, W) map: (labels, top rows, areas, centroids (n, 2) as row, col).

    Index k of the returned arrays is cv2 label k + 1; cv2 does not number labels in raster order,
    so :func:`_raster_rank` restores that order where it matters.
    """
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(
        binary.view(np.uint8), connectivity=8, ltype=cv2.CV_32S
    )
    return labels, stats[1:, cv2.CC_STAT_TOP], stats[1:, cv2.CC_STAT_AREA], centroids[1:, ::-1]


def _raster_rank(labels: np.ndarray, tops: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Sort key of components ``indices``: raster position (row * W + col) of each one's first pixel."""
    rows = labels[tops[indices]]  # the first pixel lies in the component's top row
    first_cols = (rows == (indices + 1)[:, None]).argmax(axis=1)
    return tops[indices].astype(np.int64) * labels.shape[1] + first_cols


class _Targets:
    """Ground-truth components of one mask, in raster order (computed once, reused for every threshold)."""

    def __init__(self, mask: np.ndarray) -> None:
        labels, tops, _, centroids = _components(mask)
        order = np.argsort(_raster_rank(labels, tops, np.arange(len(tops))), kind="stable")
        self.centroids = centroids[order]

    def __len__(self) -> int:
        return len(self.centroids)


def _match(targets: _Targets, pred: np.ndarray, distance: float) -> tuple[int, int]:
    """(matched targets, false-alarm pixels) for a bool prediction (H, W) against ``targets``."""
    n_pred_pixels = int(np.count_nonzero(pred))
    if n_pred_pixels == 0:
        return 0, 0
    if len(targets) == 0:
        return 0, n_pred_pixels
    labels, tops, areas, centroids = _components(pred)
    gaps = np.linalg.norm(targets.centroids[:, None, :] - centroids[None, :, :], axis=2)
    close = gaps < distance  # (targets, predicted components)
    candidates = np.flatnonzero(close.any(axis=0))
    if len(candidates) == 0:
        return 0, n_pred_pixels
    candidates = candidates[np.argsort(_raster_rank(labels, tops, candidates), kind="stable")]
    close = close[:, candidates]
    free = np.ones(len(candidates), dtype=bool)
    matched_pixels = 0
    n_matched = 0
    for target_row in close:
        hits = np.flatnonzero(target_row & free)
        if len(hits):
            free[hits[0]] = False
            matched_pixels += int(areas[candidates[hits[0]]])
            n_matched += 1
    return n_matched, n_pred_pixels - matched_pixels


def pd_fa_image(pred_bool: np.ndarray, mask_bool: np.ndarray, distance: float = 3) -> tuple[int, int, int]:
    """Target-level counts for one image: ``(n_matched, n_targets, n_false_pixels)``.

    ``pred_bool`` and ``mask_bool`` are (H, W) bool (or 0/1) arrays. Matching as in the module docstring:
    targets in raster order each take the first remaining predicted component (raster order) whose
    centroid lies closer than ``distance`` px; false pixels are the predicted pixels of unmatched components.
    """
    pred = _as_bool_plane(pred_bool, "pred_bool")
    mask = _as_bool_plane(mask_bool, "mask_bool")
    if pred.shape != mask.shape:
        raise ValueError(f"pred_bool, mask_bool: shapes differ, {pred.shape} and {mask.shape}")
    targets = _Targets(mask)
    n_matched, n_false = _match(targets, pred, distance)
    return n_matched, len(targets), n_false


def roc_auc(fa: Sequence[float], pd: Sequence[float]) -> float:
    """Area under the Pd-Fa curve, in [0, 1].

    The curve is the given (Fa, Pd) points plus the start (0, 0) (a threshold above every probability
    predicts nothing), sorted by Fa (ties by Pd), and integrated by the trapezoid rule over Fa
    *normalised by the largest Fa on the curve*, so the Fa axis runs from 0 to 1. The value therefore
    compares methods evaluated on the same thresholds. If no threshold gives any false alarm, the
    curve is a vertical segment and the area is taken as the best Pd. NaN Pd (no targets) gives NaN.
    """
    fa = np.asarray(fa, dtype=np.float64)
    pd = np.asarray(pd, dtype=np.float64)
    if fa.shape != pd.shape or fa.ndim != 1:
        raise ValueError(f"fa, pd: expected two 1-D sequences of one length, got {fa.shape} and {pd.shape}")
    if np.isnan(pd).any() or np.isnan(fa).any() or len(fa) == 0:
        return float("nan")
    fa = np.concatenate([[0.0], fa])
    pd = np.concatenate([[0.0], pd])
    largest = fa.max()
    if largest <= 0:
        return float(pd.max())
    order = np.lexsort((pd, fa))
    x, y = fa[order] / largest, pd[order]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def _as_bool_plane(array, name: str) -> np.ndarray:
    array = _to_numpy(array)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected an (H, W) array, got shape {array.shape}")
    return np.ascontiguousarray(array > 0 if array.dtype != np.bool_ else array)


def _to_numpy(array) -> np.ndarray:
    if hasattr(array, "detach"):  # torch tensor on any device
        array = array.detach()
        if array.is_floating_point() and array.element_size() < 4:  # AMP output; numpy has no bfloat16
            array = array.float()
        array = array.cpu().numpy()
    return np.asarray(array)


def _as_batch(array, name: str) -> np.ndarray:
    """(H, W), (B, H, W) or (B, 1, H, W) -> (B, H, W)."""
    array = _to_numpy(array)
    if array.ndim == 2:
        return array[None]
    if array.ndim == 3:
        return array
    if array.ndim == 4 and array.shape[1] == 1:
        return array[:, 0]
    raise ValueError(f"{name}: expected (H, W), (B, H, W) or (B, 1, H, W), got shape {array.shape}")


class IRSTDMetrics:
    """Streaming mIoU, nIoU, Pd, Fa and the Pd-Fa ROC over a split (see the module docstring).

    ``threshold``: a pixel is predicted when ``prob > threshold``. ``roc_thresholds``: the probability
    thresholds of the ROC (default :data:`DEFAULT_ROC_THRESHOLDS`; an empty sequence skips the ROC).
    ``distance``: the centroid distance (px, strict) under which a prediction matches a target.
    """

    def __init__(self, threshold: float = 0.5, roc_thresholds: Sequence[float] | None = None, distance: float = 3):
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold: expected a probability in [0, 1], got {threshold!r}")
        thresholds = DEFAULT_ROC_THRESHOLDS if roc_thresholds is None else roc_thresholds
        self.roc_thresholds = np.asarray(thresholds, dtype=np.float64).ravel()
        if len(self.roc_thresholds) and (
            np.any(np.diff(self.roc_thresholds) <= 0) or self.roc_thresholds[0] < 0 or self.roc_thresholds[-1] > 1
        ):
            raise ValueError("roc_thresholds: expected strictly increasing probabilities in [0, 1]")
        self.threshold = float(threshold)
        self.distance = float(distance)
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far."""
        self.intersection = 0
        self.union = 0
        self.image_ious: list[float] = []
        self.n_images = 0
        self.n_pixels = 0
        self.n_targets = 0
        self.n_matched = 0
        self.n_false = 0
        self.roc_matched = np.zeros(len(self.roc_thresholds), dtype=np.int64)
        self.roc_false = np.zeros(len(self.roc_thresholds), dtype=np.int64)

    def update(self, prob, mask) -> None:
        """Add images: ``prob`` float probabilities in [0, 1] and ``mask`` bool (or 0/1), both (H, W),
        (B, H, W) or (B, 1, H, W), numpy or torch on any device. Crop padded predictions first."""
        probs = _as_batch(prob, "prob")
        masks = _as_batch(mask, "mask")
        if probs.shape != masks.shape:
            raise ValueError(f"prob, mask: shapes differ, {probs.shape} and {masks.shape}")
        if probs.size:
            low, high = probs.min(), probs.max()  # NaN propagates and fails the test below
            if not (low >= 0 and high <= 1):
                raise ValueError(
                    f"prob: expected probabilities in [0, 1], got values in [{low:.3g}, {high:.3g}]"
                    " (logits or NaN? apply torch.sigmoid to logits first)"
                )
        masks = masks > 0 if masks.dtype != np.bool_ else masks
        if not np.issubdtype(probs.dtype, np.floating):
            probs = probs.astype(np.float32)
        for plane, truth in zip(probs, masks):
            self._update_one(np.ascontiguousarray(plane), np.ascontiguousarray(truth))

    def _update_one(self, prob: np.ndarray, truth: np.ndarray) -> None:
        pred = prob > self.threshold
        intersection = int(np.count_nonzero(pred & truth))
        union = int(np.count_nonzero(pred | truth))
        self.intersection += intersection
        self.union += union
        if truth.any():
            self.image_ious.append(intersection / union)
        self.n_images += 1
        self.n_pixels += truth.size

        targets = _Targets(truth)
        matched, false = _match(targets, pred, self.distance)
        self.n_targets += len(targets)
        self.n_matched += matched
        self.n_false += false
        if len(self.roc_thresholds):
            self._update_roc(prob, targets)

    def _update_roc(self, prob: np.ndarray, targets: _Targets) -> None:
        # Compare in the map's own precision, as `prob > 0.3` does in numpy and torch.
        thresholds = self.roc_thresholds.astype(prob.dtype)
        # levels[p] = number of thresholds strictly below p, so p is predicted at threshold j iff levels > j.
        levels = np.searchsorted(thresholds, prob.ravel(), side="left")
        per_level = np.bincount(levels, minlength=len(thresholds) + 1)
        predicted = per_level[::-1].cumsum()[::-1][1:]  # predicted pixels at each threshold
        last = (0, 0)
        for j, threshold in enumerate(thresholds):
            if predicted[j] == 0:
                break  # higher thresholds predict nothing either: zero matches, zero false alarms
            if j == 0 or per_level[j] > 0:  # the mask changed since the previous threshold
                last = _match(targets, prob > threshold, self.distance)
            self.roc_matched[j] += last[0]
            self.roc_false[j] += last[1]

    def compute(self) -> dict:
        """``{"miou", "niou", "pd", "fa", "n_images", "n_targets", "auc", "roc"}``; fa is a fraction of all pixels,
        roc = ``{"thresholds", "pd", "fa"}`` lists; undefined values are NaN."""
        nan = float("nan")
        pixels = self.n_pixels or 1
        roc_pd = (self.roc_matched / self.n_targets).tolist() if self.n_targets else [nan] * len(self.roc_thresholds)
        roc_fa = (self.roc_false / pixels).tolist()
        return {
            "miou": self.intersection / self.union if self.union else nan,
            "niou": float(np.mean(self.image_ious)) if self.image_ious else nan,
            "pd": self.n_matched / self.n_targets if self.n_targets else nan,
            "fa": self.n_false / pixels if self.n_pixels else nan,
            "n_images": self.n_images,
            "n_targets": self.n_targets,
            "auc": roc_auc(roc_fa, roc_pd) if len(self.roc_thresholds) else nan,
            "roc": {"thresholds": self.roc_thresholds.tolist(), "pd": roc_pd, "fa": roc_fa},
        }


PRED_FORMATS = ("auto", "probability", "binary")


def score_folder(
    root: str | os.PathLike,
    dataset: str,
    split: str,
    pred_dir: str | os.PathLike,
    threshold: float = 0.5,
    roc_thresholds: Sequence[float] | None = None,
    pred_format: str = "auto",
) -> dict:
    """Score saved predictions ``PRED_DIR/NAME.png`` against the masks of a standard-layout split.

    ``pred_format``: ``"probability"`` (8-bit value/255, 16-bit value/65535), ``"binary"`` (any value
    above 0 is a detection: 0/1 and 0/255 masks), or ``"auto"``: binary when *every* map of the folder is
    8-bit and holds only 0 and 1, else probability. Deciding per folder keeps a near-empty probability
    map (values 0 and 1 only, i.e. p < 0.008) from being read as a mask full of detections.

    The split is validated as :func:`gcflnet_lib.data.dataset.load_split` does; missing predictions (how
    many, and the first few names) or a prediction whose size differs from its mask raise
    :class:`DataError` (a map on the grid of a known defective mask, see
    :data:`~gcflnet_lib.data.dataset.KNOWN_MASK_RESIZES`, is resized like that mask).
    Returns :meth:`IRSTDMetrics.compute`'s dict plus ``"pred_format"``, the reading used.
    """
    from gcflnet_lib.data.dataset import load_split, resize_known_defect
    from gcflnet_lib.data.io import is_binary_map, prediction_to_probability, read_prediction_map

    if pred_format not in PRED_FORMATS:
        raise ValueError(f"pred_format: expected one of {', '.join(PRED_FORMATS)}, got {pred_format!r}")
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise DataError(f"{pred_dir}: prediction folder not found")
    samples = load_split(root, dataset, split)
    paths = [pred_dir / f"{sample.name}.png" for sample in samples]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DataError(
            f"{pred_dir}: {len(missing)} of {len(paths)} predictions missing for the {split} split of {dataset} "
            f"(expected NAME.png per image): {shown}"
        )
    stored_maps = []  # as stored (8-bit for the usual PNGs), so the whole split is cheap to hold
    for sample, path in zip(samples, paths):
        stored = read_prediction_map(path)
        if stored.shape != sample.mask.shape:
            resized = resize_known_defect(sample.name, stored, sample.mask.shape, path)
            if resized is None:
                raise DataError(
                    f"{path}: prediction is {stored.shape[0]}x{stored.shape[1]} but the mask of {sample.name} "
                    f"is {sample.mask.shape[0]}x{sample.mask.shape[1]} (H x W)"
                )
            stored = resized
        stored_maps.append(stored)
    binary = pred_format == "binary" or (pred_format == "auto" and all(is_binary_map(m) for m in stored_maps))
    metrics = IRSTDMetrics(threshold=threshold, roc_thresholds=roc_thresholds)
    for sample, path, stored in zip(samples, paths, stored_maps):
        metrics.update(prediction_to_probability(stored, binary, path), sample.mask)
    return {**metrics.compute(), "pred_format": "binary" if binary else "probability"}
