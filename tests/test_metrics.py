"""mIoU, nIoU, Pd, Fa and ROC (gcflnet_lib.metrics): hand-worked cases and a slow independent implementation."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
import torch

from gcflnet_lib.metrics import IRSTDMetrics, pd_fa_image, roc_auc

# ----------------------------------------------------------------------------- slow reference, written independently


def bfs_components(binary: np.ndarray) -> list[list[tuple[int, int]]]:
    """8-connected components by breadth-first search, numbered in raster order of their first pixel."""
    height, width = binary.shape
    seen = [[False] * width for _ in range(height)]
    components = []
    for row in range(height):
        for col in range(width):
            if not binary[row, col] or seen[row][col]:
                continue
            seen[row][col] = True
            queue, pixels = deque([(row, col)]), []
            while queue:
                r, c = queue.popleft()
                pixels.append((r, c))
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        rr, cc = r + dr, c + dc
                        if 0 <= rr < height and 0 <= cc < width and binary[rr, cc] and not seen[rr][cc]:
                            seen[rr][cc] = True
                            queue.append((rr, cc))
            components.append(pixels)
    return components


def slow_pd_fa(pred: np.ndarray, mask: np.ndarray, distance: float = 3.0) -> tuple[int, int, int]:
    centroid = lambda pixels: (sum(p[0] for p in pixels) / len(pixels), sum(p[1] for p in pixels) / len(pixels))
    targets = [centroid(c) for c in bfs_components(mask)]
    remaining = [(centroid(c), len(c)) for c in bfs_components(pred)]
    matched, matched_pixels = 0, 0
    for target in targets:
        for k, (centre, area) in enumerate(remaining):
            if math.dist(target, centre) < distance:
                matched += 1
                matched_pixels += area
                del remaining[k]
                break
    return matched, len(targets), int(pred.sum()) - matched_pixels


def random_mask(rng: np.random.Generator, shape=(24, 28)) -> np.ndarray:
    """Blobby random binary maps: many small components that touch, merge and sit close together."""
    noise = rng.random(shape)
    return noise < rng.uniform(0.05, 0.35)


# ----------------------------------------------------------------------------- hand-worked cases


def blank(shape=(20, 20)) -> np.ndarray:
    return np.zeros(shape, dtype=bool)


class TestPdFaImage:
    def test_two_diagonally_touching_blobs_are_one_target(self):
        mask = blank()
        mask[10:12, 10:12] = True
        mask[12:14, 12:14] = True  # touches the first blob at one corner: 8-connected
        pred = blank()
        pred[10:12, 10:12] = True  # centroid (10.5, 10.5), target centroid (11.5, 11.5): 1.41 px
        assert pd_fa_image(pred, mask) == (1, 1, 0)

    def test_centroid_2_9_px_away_matches_3_1_px_does_not(self):
        mask = blank()
        mask[10, 10] = True
        line = blank()
        line[6:15, 13] = True  # 9 pixels, centroid (10, 13)
        near, far = line.copy(), line.copy()
        near[10, 12] = True  # centroid column (9 * 13 + 12) / 10 = 12.9
        far[10, 14] = True  # centroid column 13.1
        assert pd_fa_image(near, mask) == (1, 1, 0)
        assert pd_fa_image(far, mask) == (0, 1, 10)

    def test_exactly_three_px_is_not_a_match(self):
        mask, pred = blank(), blank()
        mask[5, 5] = True
        pred[5, 8] = True
        assert pd_fa_image(pred, mask) == (0, 1, 1)

    def test_empty_prediction(self):
        mask = blank()
        mask[3:5, 3:5] = True
        mask[15, 15] = True
        assert pd_fa_image(blank(), mask) == (0, 2, 0)

    def test_image_without_target(self):
        pred = blank()
        pred[0:2, 0:3] = True
        pred[19, 19] = True
        assert pd_fa_image(pred, blank()) == (0, 0, 7)
        assert pd_fa_image(blank(), blank()) == (0, 0, 0)

    def test_raster_order_greedy_matching(self):
        # Target A (raster first) is near predictions X and Y; target B only near X. A takes X (the first in
        # raster order), so B stays unmatched and Y counts as false alarm: a matching that is not optimal.
        mask, pred = blank(), blank()
        mask[5, 5] = True  # A
        mask[7, 9] = True  # B
        pred[5, 7] = True  # X: 2 px from A, 2.83 px from B
        pred[6, 3] = True  # Y: 2.24 px from A, 6.08 px from B
        assert pd_fa_image(pred, mask) == (1, 2, 1)

    def test_shapes_must_agree(self):
        with pytest.raises(ValueError, match="shapes differ"):
            pd_fa_image(blank((4, 4)), blank((4, 5)))

    def test_matches_the_slow_implementation_on_random_masks(self):
        rng = np.random.default_rng(0)
        for _ in range(150):
            mask, pred = random_mask(rng), random_mask(rng)
            if rng.random() < 0.5:  # predictions that overlap the targets, so that matches happen
                pred = mask ^ (rng.random(mask.shape) < 0.08)
            assert pd_fa_image(pred, mask) == slow_pd_fa(pred, mask)


class TestIRSTDMetrics:
    def test_hand_worked_split(self):
        metrics = IRSTDMetrics(roc_thresholds=[])
        mask_a, prob_a = blank(), np.zeros((20, 20), np.float32)
        mask_a[2:4, 2:4] = True  # 4 px target, predicted with 2 of its pixels plus 2 outside
        prob_a[2:4, 3:5] = 0.9
        metrics.update(prob_a, mask_a)
        mask_b = blank()  # no target, one false-alarm pixel
        prob_b = np.zeros((20, 20), np.float32)
        prob_b[10, 10] = 0.7
        metrics.update(prob_b, mask_b)
        mask_c = blank()  # target missed completely
        mask_c[15, 15] = True
        metrics.update(np.full((20, 20), 0.5, np.float32), mask_c)  # 0.5 is not > 0.5
        result = metrics.compute()
        # intersection 2 + 0 + 0; union 6 + 1 + 1
        assert result["miou"] == pytest.approx(2 / 8)
        assert result["niou"] == pytest.approx((2 / 6 + 0) / 2)  # image b holds no target
        assert result["pd"] == pytest.approx(1 / 2)  # a: centroid (2.5, 3.5) vs (2.5, 2.5)
        assert result["fa"] == pytest.approx(1 / 1200)  # only b's pixel is outside a matched component
        assert (result["n_images"], result["n_targets"]) == (3, 2)

    def test_no_targets_and_no_predictions_give_nan_not_a_guess(self):
        metrics = IRSTDMetrics()
        metrics.update(np.zeros((8, 8), np.float32), blank((8, 8)))
        result = metrics.compute()
        assert math.isnan(result["miou"]) and math.isnan(result["niou"]) and math.isnan(result["pd"])
        assert result["fa"] == 0.0

    def test_only_false_alarms(self):
        metrics = IRSTDMetrics(roc_thresholds=[])
        prob = np.zeros((10, 10), np.float32)
        prob[1:3, 1:3] = 1.0
        metrics.update(prob, blank((10, 10)))
        result = metrics.compute()
        assert result["miou"] == 0.0 and result["fa"] == pytest.approx(0.04) and math.isnan(result["pd"])

    def test_batches_torch_and_streaming_agree(self):
        rng = np.random.default_rng(1)
        probs = rng.random((5, 1, 16, 16)).astype(np.float32) ** 3
        masks = probs > 0.6
        masks[:, :, ::5] = False
        whole = IRSTDMetrics()
        whole.update(torch.from_numpy(probs), torch.from_numpy(masks))
        streamed = IRSTDMetrics()
        for prob, mask in zip(probs, masks):
            streamed.update(prob[0], mask[0])
        assert whole.compute() == streamed.compute()
        half_precision = IRSTDMetrics()
        half_precision.update(torch.from_numpy(probs).bfloat16(), torch.from_numpy(masks))
        assert half_precision.compute()["n_targets"] == whole.compute()["n_targets"]
        streamed.reset()
        assert streamed.compute()["n_images"] == 0

    def test_roc_matches_thresholding_by_hand(self):
        rng = np.random.default_rng(2)
        thresholds = [0.1, 0.3, 0.5, 0.52, 0.7, 0.9, 0.95]
        probs = [np.round(rng.random((14, 18)) ** 2, 2).astype(np.float32) for _ in range(4)]
        masks = [random_mask(rng, (14, 18)) for _ in range(4)]
        metrics = IRSTDMetrics(roc_thresholds=thresholds)
        for prob, mask in zip(probs, masks):
            metrics.update(prob, mask)
        roc = metrics.compute()["roc"]
        for j, threshold in enumerate(thresholds):
            counts = [slow_pd_fa(prob > threshold, mask) for prob, mask in zip(probs, masks)]
            assert roc["pd"][j] == pytest.approx(sum(c[0] for c in counts) / sum(c[1] for c in counts))
            assert roc["fa"][j] == pytest.approx(sum(c[2] for c in counts) / (4 * 14 * 18))

    def test_perfect_prediction(self):
        rng = np.random.default_rng(3)
        metrics = IRSTDMetrics()
        for _ in range(3):
            mask = random_mask(rng)
            metrics.update(mask.astype(np.float32), mask)
        result = metrics.compute()
        assert (result["miou"], result["niou"], result["pd"], result["fa"], result["auc"]) == (1.0, 1.0, 1.0, 0.0, 1.0)
        assert len(result["roc"]["thresholds"]) == len(result["roc"]["pd"]) == len(result["roc"]["fa"]) >= 49

    def test_bad_input(self):
        metrics = IRSTDMetrics()
        with pytest.raises(ValueError, match="probabilities in"):
            metrics.update(np.full((4, 4), 3.0, np.float32), blank((4, 4)))
        with pytest.raises(ValueError, match="shapes differ"):
            metrics.update(np.zeros((4, 4), np.float32), blank((4, 5)))
        with pytest.raises(ValueError, match="roc_thresholds"):
            IRSTDMetrics(roc_thresholds=[0.5, 0.2])
        with pytest.raises(ValueError, match="threshold"):
            IRSTDMetrics(threshold=1.5)


class TestRocAuc:
    def test_trapezoid_over_normalised_fa_from_the_origin(self):
        # Points (0.5e-6, 0.5) and (1e-6, 1), plus (0, 0): Fa axis normalised by 1e-6 -> 0, 0.5, 1.
        assert roc_auc([1e-6, 0.5e-6], [1.0, 0.5]) == pytest.approx(0.5)
        assert roc_auc([2e-6, 1e-6], [1.0, 1.0]) == pytest.approx(0.75)

    def test_no_false_alarm_at_any_threshold_gives_best_pd(self):
        assert roc_auc([0.0, 0.0], [0.5, 0.8]) == 0.8

    def test_nan_pd_gives_nan(self):
        assert math.isnan(roc_auc([0.1], [float("nan")]))
