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

**ROC over the whole score range** (:func:`default_roc_thresholds`): the thresholds are placed where
scores are, not on a 0.02 grid: sigmoid(z) for logits z = -16, -15.9, ... 16 (a SoftIoU-trained model's
probabilities are nearly binary, so they live in the logit tails) plus the midpoint between every two 8-bit
levels, (k + 0.5) / 255, so that an 8-bit map (saved predictions and classical maps) meets a threshold between
each pair of its values. The curve runs from "almost nothing predicted" to "almost everything predicted" for any
model and is kept as (threshold, Pd, Fa) points, plus the pixel rates (TPR, FPR) at the same thresholds.
``gcflnet evaluate`` takes the curves from the float probabilities (8 bits put most of a near-binary model's
target pixels at 255 and cut off the confident end of its curve) and the numbers at 0.5 from the 8-bit maps it
saves (see ``engine.evaluation.evaluate_model``).

**AUC that compares methods** (:func:`auc_pd_fa`): the area under Pd against Fa over the *fixed* range
Fa in [0, 1e-4] (:data:`FA_RANGE`), divided by 1e-4 so that it lies in [0, 1]. Every method is integrated
over the same axis, so a model that finds more targets at fewer false alarms always scores higher. 1e-4
(100 x 1e-6, 6.5 false pixels in a 256 x 256 image) bounds the false-alarm rates the field's tables report
(the paper's are 1 to 100 x 1e-6); a detector beyond it is not in use. The curve between points is the best
Pd reachable within each budget (:func:`pd_at_fa`, a step that never goes down): the area is the mean of that
Pd over budgets spread evenly on [0, 1e-4]. A curve that ends before 1e-4 keeps its best Pd to the end of the
range (that operating point is within every larger budget); below its first point it is 0 (the threshold
above every score predicts nothing). The old measure, normalised by the largest Fa on each model's own
curve, put each model on its own axis; notebook 08 shows why it misled.

**Operating points**: Pd at Fa = 1e-5 and 1e-4 (:data:`FA_OPERATING_POINTS`, :func:`pd_at_fa`).

**Pixel-level ROC** (DNANet, ACM): true positive rate against false positive rate over all pixels of the
split, with its AUC from fine per-value counts (:func:`auc_pixel`): scores are counted in bins of the float32
value with 15 of its 23 mantissa bits (relative width 2^-15; every 8-bit level has a bin of its own) and
values below 2^-40 in one bin; scores within one bin count as ties (half a pair), as a rank AUC counts equal
scores. A split with no target, or no background pixel, gives NaN.

All counts accumulate as images stream by (:meth:`IRSTDMetrics.update`), so a split never has to be
held in memory. Undefined ratios (no union, no target) come back as NaN.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from gcflnet_lib.data.dataset import load_split, resize_known_defect
from gcflnet_lib.data.io import is_binary_map, prediction_to_probability, read_prediction_map
from gcflnet_lib.errors import DataError

FA_RANGE = 1e-4  # the shared false-alarm axis of auc_pd_fa: Fa in [0, 1e-4] (see the module docstring)
FA_OPERATING_POINTS = (1e-5, 1e-4)  # Pd is read off the curve at these false-alarm budgets
LOGIT_STEP = 0.1  # 321 logit thresholds; 0.05 moved the released CPU GCFLNet's AUC by 1e-5 on NUAA-SIRST, for 7% more time
LOGIT_LIMIT = 16.0  # sigmoid(16) = 1 - 1.1e-7, the edge of what float32 probabilities resolve near 1


def default_roc_thresholds() -> np.ndarray:
    """The ROC thresholds (see the module docstring): sigmoid of a logit grid, plus 8-bit level midpoints."""
    logits = np.arange(-LOGIT_LIMIT, LOGIT_LIMIT + LOGIT_STEP / 2, LOGIT_STEP)
    grid = 1.0 / (1.0 + np.exp(-logits))
    midpoints = (np.arange(255) + 0.5) / 255.0
    return np.unique(np.concatenate([grid, midpoints]))


DEFAULT_ROC_THRESHOLDS = default_roc_thresholds()


def operating_point_key(max_fa: float) -> str:
    """The metrics key of Pd at a false-alarm budget: ``pd_at_fa_1e-05`` for 1e-5."""
    return f"pd_at_fa_{max_fa:.0e}"


# The numbers IRSTDMetrics.compute() reads off the curves (NaN when the curves are skipped).
CURVE_KEYS = ("auc_pd_fa", "auc_pixel", *(operating_point_key(budget) for budget in FA_OPERATING_POINTS))


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


def _curve_arrays(fa: Sequence[float], pd: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    fa = np.asarray(fa, dtype=np.float64)
    pd = np.asarray(pd, dtype=np.float64)
    if fa.shape != pd.shape or fa.ndim != 1:
        raise ValueError(f"fa, pd: expected two 1-D sequences of one length, got {fa.shape} and {pd.shape}")
    return fa, pd


def pd_at_fa(fa: Sequence[float], pd: Sequence[float], max_fa: float = FA_RANGE) -> float:
    """The best Pd among the curve's points whose Fa is at most ``max_fa``; 0.0 when none is (predicting
    nothing is always within budget). NaN Pd (a split without targets) gives NaN."""
    fa, pd = _curve_arrays(fa, pd)
    if np.isnan(pd).any():
        return float("nan")
    within = fa <= max_fa
    return float(pd[within].max()) if within.any() else 0.0


def auc_pd_fa(fa: Sequence[float], pd: Sequence[float], max_fa: float = FA_RANGE) -> float:
    """Area under Pd against Fa over the fixed range [0, ``max_fa``], divided by ``max_fa``: in [0, 1].

    It is the mean, over budgets b spread evenly on [0, max_fa], of :func:`pd_at_fa` (fa, pd, b): the curve is
    the step of the best Pd within each budget, 0 below its first point, and a curve that ends before
    ``max_fa`` keeps its best Pd to the end of the range. Because every method is integrated over one axis,
    a curve that is at least as high at every budget has at least as large an area. NaN Pd gives NaN.
    """
    fa, pd = _curve_arrays(fa, pd)
    if not max_fa > 0:
        raise ValueError(f"max_fa: expected a positive false-alarm rate, got {max_fa!r}")
    if np.isnan(pd).any() or np.isnan(fa).any():
        return float("nan")
    within = fa <= max_fa
    if not within.any():
        return 0.0
    order = np.argsort(fa[within], kind="stable")
    steps = fa[within][order]
    best = np.maximum.accumulate(pd[within][order])  # best Pd within budget steps[i] .. steps[i + 1]
    widths = np.diff(np.append(steps, max_fa))
    return float(np.sum(best * widths) / max_fa)


# Pixel scores are counted per float32 value, keeping 15 of the 23 mantissa bits (see the module docstring).
_MANTISSA_DROP = 8
_FLOOR_BITS = int(np.float32(2.0**-40).view(np.uint32)) >> _MANTISSA_DROP
_N_SCORE_BINS = (int(np.float32(1.0).view(np.uint32)) >> _MANTISSA_DROP) - _FLOOR_BITS + 2


def score_bins(prob: np.ndarray) -> np.ndarray:
    """Bin index of each probability in [0, 1] (int64, same shape): ordered like the values, one bin for
    values below 2^-40, each other bin 2^-15 of its value wide, so distinct 8-bit levels never share one."""
    bits = np.ascontiguousarray(prob, dtype=np.float32).view(np.uint32).astype(np.int64) >> _MANTISSA_DROP
    return np.maximum(bits - _FLOOR_BITS + 1, 0)


def auc_pixel(positive_counts: np.ndarray, negative_counts: np.ndarray) -> float:
    """Pixel-level ROC AUC from per-bin counts of target (positive) and background (negative) pixel scores,
    bins in increasing score order: the chance that a random target pixel scores above a random background
    pixel, ties counted half (the Mann-Whitney form of the area under TPR against FPR). NaN when either
    class is empty."""
    positive = np.asarray(positive_counts, dtype=np.float64)
    negative = np.asarray(negative_counts, dtype=np.float64)
    if positive.shape != negative.shape:
        raise ValueError(f"positive_counts, negative_counts: shapes differ, {positive.shape} and {negative.shape}")
    n_positive, n_negative = positive.sum(), negative.sum()
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    below = np.cumsum(negative) - negative  # background pixels in lower bins
    return float(np.sum(positive * (below + 0.5 * negative)) / (n_positive * n_negative))


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


def _checked_probabilities(array, name: str) -> np.ndarray:
    """(B, H, W) float probabilities from any accepted shape; NaN or values outside [0, 1] are refused."""
    probs = _as_batch(array, name)
    if probs.size:
        low, high = probs.min(), probs.max()  # NaN propagates and fails the test below
        if not (low >= 0 and high <= 1):
            raise ValueError(
                f"{name}: expected probabilities in [0, 1], got values in [{low:.3g}, {high:.3g}]"
                " (logits or NaN? apply torch.sigmoid to logits first)"
            )
    return probs if np.issubdtype(probs.dtype, np.floating) else probs.astype(np.float32)


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
    """Streaming mIoU, nIoU, Pd, Fa, the Pd-Fa and pixel ROCs and their AUCs over a split (module docstring).

    ``threshold``: a pixel is predicted when ``prob > threshold``. ``roc_thresholds``: the probability
    thresholds of the ROC (default :data:`DEFAULT_ROC_THRESHOLDS`; an empty sequence skips both ROCs and
    their AUCs, which are then NaN).
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
        self.roc_positive = np.zeros(len(self.roc_thresholds), dtype=np.int64)  # target pixels above each threshold
        self.roc_negative = np.zeros(len(self.roc_thresholds), dtype=np.int64)  # background pixels above each
        self.n_positive = 0
        # Per-bin counts of the pixel scores (score_bins), allocated at the first image (21 MB).
        self.positive_bins: np.ndarray | None = None
        self.negative_bins: np.ndarray | None = None

    def update(self, prob, mask, roc_prob=None) -> None:
        """Add images: ``prob`` float probabilities in [0, 1] and ``mask`` bool (or 0/1), both (H, W),
        (B, H, W) or (B, 1, H, W), numpy or torch on any device. Crop padded predictions first.

        ``roc_prob`` (same shape): the scores the curves are taken from, when they differ from the ones that
        are thresholded at ``threshold`` (``evaluate_model`` thresholds 8-bit maps but sweeps the float ones).
        """
        probs = _checked_probabilities(prob, "prob")
        masks = _as_batch(mask, "mask")
        if probs.shape != masks.shape:
            raise ValueError(f"prob, mask: shapes differ, {probs.shape} and {masks.shape}")
        curve_probs = probs if roc_prob is None else _checked_probabilities(roc_prob, "roc_prob")
        if curve_probs.shape != probs.shape:
            raise ValueError(f"prob, roc_prob: shapes differ, {probs.shape} and {curve_probs.shape}")
        masks = masks > 0 if masks.dtype != np.bool_ else masks
        for plane, truth, curve_plane in zip(probs, masks, curve_probs):
            self._update_one(np.ascontiguousarray(plane), np.ascontiguousarray(truth), np.ascontiguousarray(curve_plane))

    def _update_one(self, prob: np.ndarray, truth: np.ndarray, curve_prob: np.ndarray) -> None:
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
            self._update_roc(curve_prob, truth, targets)
            self._update_pixel_bins(curve_prob, truth)

    def _update_pixel_bins(self, prob: np.ndarray, truth: np.ndarray) -> None:
        if self.positive_bins is None:
            self.positive_bins = np.zeros(_N_SCORE_BINS, dtype=np.int64)
            self.negative_bins = np.zeros(_N_SCORE_BINS, dtype=np.int64)
        bins = score_bins(prob)
        for counts, selected in ((self.positive_bins, bins[truth]), (self.negative_bins, bins[~truth])):
            values, n = np.unique(selected, return_counts=True)  # far cheaper than a bincount of 1.3M bins
            counts[values] += n

    def _update_roc(self, prob: np.ndarray, truth: np.ndarray, targets: _Targets) -> None:
        # Compare in the map's own precision, as `prob > 0.3` does in numpy and torch.
        thresholds = self.roc_thresholds.astype(prob.dtype)
        # levels[p] = number of thresholds strictly below p, so p is predicted at threshold j iff levels > j.
        levels = np.searchsorted(thresholds, prob.ravel(), side="left")
        per_level = np.bincount(levels, minlength=len(thresholds) + 1)
        predicted = per_level[::-1].cumsum()[::-1][1:]  # predicted pixels at each threshold
        positive_levels = np.bincount(levels[truth.ravel()], minlength=len(thresholds) + 1)
        positive_above = positive_levels[::-1].cumsum()[::-1][1:]
        self.roc_positive += positive_above
        self.roc_negative += predicted - positive_above
        self.n_positive += int(np.count_nonzero(truth))
        last = (0, 0)
        for j, threshold in enumerate(thresholds):
            if predicted[j] == 0:
                break  # higher thresholds predict nothing either: zero matches, zero false alarms
            if j == 0 or per_level[j] > 0:  # the mask changed since the previous threshold
                last = _match(targets, prob > threshold, self.distance)
            self.roc_matched[j] += last[0]
            self.roc_false[j] += last[1]

    def compute(self) -> dict:
        """The split's metrics (fa a fraction of all pixels; undefined values NaN):

        - ``miou, niou, pd, fa`` at ``threshold``; ``n_images, n_targets``;
        - ``auc_pd_fa``: :func:`auc_pd_fa` over Fa in [0, :data:`FA_RANGE`]; ``auc_pixel``: :func:`auc_pixel`;
        - ``pd_at_fa_1e-05, pd_at_fa_1e-04``: :func:`pd_at_fa` at :data:`FA_OPERATING_POINTS`;
        - ``roc``: lists ``thresholds, pd, fa`` (target level) and ``tpr, fpr`` (pixel level), one value per
          threshold.
        """
        nan = float("nan")
        n_thresholds = len(self.roc_thresholds)
        pixels = self.n_pixels or 1
        n_negative = self.n_pixels - self.n_positive
        roc_pd = (self.roc_matched / self.n_targets).tolist() if self.n_targets else [nan] * n_thresholds
        roc_fa = (self.roc_false / pixels).tolist()
        tpr = (self.roc_positive / self.n_positive).tolist() if self.n_positive else [nan] * n_thresholds
        fpr = (self.roc_negative / n_negative).tolist() if n_negative else [nan] * n_thresholds
        if n_thresholds and self.n_images:
            curve = {"auc_pd_fa": auc_pd_fa(roc_fa, roc_pd), "auc_pixel": auc_pixel(self.positive_bins, self.negative_bins),
                     **{operating_point_key(budget): pd_at_fa(roc_fa, roc_pd, budget) for budget in FA_OPERATING_POINTS}}
        else:
            curve = dict.fromkeys(CURVE_KEYS, nan)
        return {
            "miou": self.intersection / self.union if self.union else nan,
            "niou": float(np.mean(self.image_ious)) if self.image_ious else nan,
            "pd": self.n_matched / self.n_targets if self.n_targets else nan,
            "fa": self.n_false / pixels if self.n_pixels else nan,
            "n_images": self.n_images,
            "n_targets": self.n_targets,
            **curve,
            "roc": {"thresholds": self.roc_thresholds.tolist(), "pd": roc_pd, "fa": roc_fa, "tpr": tpr, "fpr": fpr},
        }


# ----------------------------------------------------------------- one threshold, small components removed


def remove_small_components(binary, min_size: int, connectivity: int = 8) -> np.ndarray:
    """Drop 8-connected (or 4-connected) components with fewer than ``min_size`` pixels.

    Returns:
        bool (H, W); ``min_size <= 1`` returns the input unchanged (as bool).
    """
    binary = as_plane(binary, "binary").astype(bool)
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    if min_size <= 1 or not binary.any():
        return binary.copy()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=connectivity)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_size
    keep[0] = False  # label 0 is the background
    return keep[labels]


def binarize(prob, threshold: float = 0.5, min_size: int = 0) -> np.ndarray:
    """``prob > threshold`` (the BasicIRSTD rule), then components smaller than ``min_size`` removed."""
    return remove_small_components(as_plane(prob, "prob") > threshold, min_size)


def as_plane(array, name: str = "image") -> np.ndarray:
    """A 2-D NumPy array from a NumPy array or torch tensor of shape (H, W), (1, H, W) or (1, 1, H, W)."""
    array = _to_numpy(array)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"{name}: expected an (H, W) image, got shape {array.shape}")
    return array


def as_planes(images, name: str) -> list[np.ndarray]:
    """A list of (H, W) arrays from one plane, a sequence of them, or an (N, H, W) / (N, 1, H, W) stack."""
    if hasattr(images, "detach"):
        images = _to_numpy(images)
    if isinstance(images, np.ndarray) and images.ndim == 2:
        return [images]
    if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    return [as_plane(image, f"{name}[{i}]") for i, image in enumerate(images)]


def threshold_stats(prob, mask, threshold: float = 0.5, min_size: int = 0, distance: float = 3) -> dict:
    """Pd, Fa and IoU of thresholded probability maps, with small components removed first.

    Follows the BasicIRSTD protocol of ``gcflnet_lib.metrics`` (with ``min_size = 0`` the numbers equal
    ``IRSTDMetrics(threshold)``): mIoU = total intersection / total union, nIoU = mean IoU over images that
    hold a target, Pd = matched targets / targets (centroids closer than ``distance`` px), Fa = predicted
    pixels outside matched components / all pixels.

    Args:
        prob: one (H, W) probability map in [0, 1], or a sequence / (N, H, W) / (N, 1, H, W) stack of them.
        mask: bool ground truth of the same shape(s).
        threshold: a pixel is predicted when ``prob > threshold``.
        min_size: predicted components with fewer pixels are dropped (0 or 1 keeps all).
        distance: centroid distance for a match, in pixels.

    Returns:
        dict with ``threshold, min_size, pd, fa, miou, niou, n_images, n_targets, n_matched,
        n_false_pixels, n_pixels, intersection, union``; undefined ratios (Pd without targets, IoU of an
        empty union) are NaN, as in ``IRSTDMetrics``.
    """
    probs, masks = as_planes(prob, "prob"), as_planes(mask, "mask")
    if len(probs) != len(masks):
        raise ValueError(f"got {len(probs)} probability maps but {len(masks)} masks")
    if not probs:
        raise ValueError("threshold_stats needs at least one probability map")
    nan = float("nan")  # undefined ratios (no target, empty union), as in IRSTDMetrics
    matched = targets = false_pixels = pixels = intersection = union = 0
    per_image_iou = []
    for index, (p, m) in enumerate(zip(probs, masks)):
        if p.shape != m.shape:
            raise ValueError(f"prob[{index}] has shape {p.shape} but mask[{index}] has {m.shape}")
        truth = m.astype(bool)
        predicted = binarize(p, threshold, min_size)
        n_matched, n_targets, n_false = pd_fa_image(predicted, truth, distance=distance)
        matched, targets, false_pixels = matched + n_matched, targets + n_targets, false_pixels + n_false
        pixels += truth.size
        inter, uni = int(np.count_nonzero(predicted & truth)), int(np.count_nonzero(predicted | truth))
        intersection, union = intersection + inter, union + uni
        if truth.any():
            per_image_iou.append(inter / uni)
    return {
        "threshold": float(threshold),
        "min_size": int(min_size),
        "pd": matched / targets if targets else nan,
        "fa": false_pixels / pixels,
        "miou": intersection / union if union else nan,
        "niou": float(np.mean(per_image_iou)) if per_image_iou else nan,
        "n_images": len(probs),
        "n_targets": int(targets),
        "n_matched": int(matched),
        "n_false_pixels": int(false_pixels),
        "n_pixels": int(pixels),
        "intersection": int(intersection),
        "union": int(union),
    }


def no_target_note(metrics: dict) -> str | None:
    """The one line that says why Pd and the AUCs of a split without targets are NaN (None when it has some)."""
    if metrics.get("n_targets", 1) == 0:
        return (f"the split's {metrics.get('n_images', 0)} masks hold no target: Pd, Pd at fixed Fa and both AUCs "
                "are undefined (NaN; null in --json)")
    return None


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
