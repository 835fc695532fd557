"""mIoU, nIoU, Pd, Fa, the ROC curves and their AUCs (gcflnet_lib.metrics): hand-worked cases, a slow independent
implementation, and scikit-learn for the pixel ROC."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
import torch

from sklearn.metrics import roc_auc_score

from gcflnet_lib.metrics import (
    DEFAULT_ROC_THRESHOLDS,
    FA_RANGE,
    IRSTDMetrics,
    auc_pd_fa,
    auc_pixel,
    binarize,
    no_target_note,
    pd_at_fa,
    pd_fa_image,
    remove_small_components,
    score_bins,
    threshold_stats,
)

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
        assert (result["miou"], result["niou"], result["pd"], result["fa"]) == (1.0, 1.0, 1.0, 0.0)
        assert (result["auc_pd_fa"], result["auc_pixel"], result["pd_at_fa_1e-05"], result["pd_at_fa_1e-04"]) == (1.0,) * 4
        assert all(len(result["roc"][key]) == len(DEFAULT_ROC_THRESHOLDS) for key in ("thresholds", "pd", "fa", "tpr", "fpr"))

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


def two_detectors(rng: np.random.Generator, n_images: int = 6, shape=(96, 96)):
    """Masks and two detectors' float maps, the second dominated by the first at every threshold: the same
    maps plus a false blob (score 0.6) far from every target in every other image, so at each threshold it
    finds the same targets with more false pixels (the tests check the dominance on the curves themselves)."""
    masks, better, worse = [], [], []
    for index in range(n_images):
        mask = np.zeros(shape, bool)
        for row, col in rng.integers(12, min(shape) - 12, size=(2, 2)):
            mask[row:row + 2, col:col + 3] = True
        logits = rng.normal(-9.0, 2.0, shape) + rng.uniform(4.0, 10.0) * mask
        good = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        bad = good.copy()
        if index % 2:
            bad[1:3, 1:3] = np.maximum(bad[1:3, 1:3], 0.6)  # in a corner: targets lie 12 px or more inside
        masks.append(mask)
        better.append(good)
        worse.append(bad)
    return masks, better, worse


def scored(probs, masks, **kwargs) -> dict:
    metrics = IRSTDMetrics(**kwargs)
    for prob, mask in zip(probs, masks):
        metrics.update(prob, mask)
    return metrics.compute()


class TestThresholds:
    def test_grid_spans_the_logit_tails_and_every_8_bit_level(self):
        thresholds = DEFAULT_ROC_THRESHOLDS
        assert np.all(np.diff(thresholds) > 0)
        assert thresholds[0] == pytest.approx(1 / (1 + math.exp(16))) and thresholds[-1] == pytest.approx(1 / (1 + math.exp(-16)))
        levels = np.arange(256) / 255.0
        # between every two consecutive 8-bit levels lies a threshold
        assert np.all(np.searchsorted(thresholds, levels[1:]) > np.searchsorted(thresholds, levels[:-1]))

    def test_a_near_binary_map_gets_a_curve_from_nothing_to_much(self):
        # Scores as a SoftIoU-trained model gives them: logits far in the tails. The old 0.02..0.98 grid saw one point.
        rng = np.random.default_rng(4)
        masks, better, _ = two_detectors(rng)
        sharp = [(1 / (1 + np.exp(-(np.log(p / (1 - p)) * 2.0)))).astype(np.float32) for p in better]
        roc = scored(sharp, masks)["roc"]
        old_grid = scored(sharp, masks, roc_thresholds=np.linspace(0.02, 0.98, 49))["roc"]
        assert len(set(zip(roc["pd"], roc["fa"]))) > 5 * len(set(zip(old_grid["pd"], old_grid["fa"])))
        assert min(roc["fa"]) < 1e-3 < max(roc["fa"])


class TestAucPdFa:
    def test_mean_of_the_best_pd_within_each_budget(self):
        # Pd 0.5 from Fa 0, then 1.0 from Fa 5e-5: half the range at each.
        assert auc_pd_fa([0.0, 5e-5], [0.5, 1.0]) == pytest.approx(0.75)
        # below its first point the curve is 0 (nothing predicted); a dip is never taken (the best so far holds)
        assert auc_pd_fa([2e-5, 4e-5], [0.9, 0.6]) == pytest.approx(0.9 * 0.8)

    def test_a_curve_that_ends_early_keeps_its_best_pd(self):
        assert auc_pd_fa([1e-5, 2e-5], [0.4, 0.8]) == pytest.approx((0.4 * 1e-5 + 0.8 * 8e-5) / 1e-4)

    def test_points_beyond_the_range_do_not_count(self):
        assert auc_pd_fa([2e-4, 1e-3], [1.0, 1.0]) == 0.0
        assert auc_pd_fa([5e-5, 2e-4], [0.5, 1.0]) == pytest.approx(0.25)

    def test_fixed_axis_does_not_depend_on_the_curve_own_extent(self):
        # The old measure divided by each curve's largest Fa: doubling every false alarm left it unchanged.
        fa, pd = np.array([1e-5, 3e-5, 6e-5]), np.array([0.6, 0.8, 0.9])
        assert auc_pd_fa(fa, pd) > auc_pd_fa(2 * fa, pd)

    def test_nan_and_bad_input(self):
        assert math.isnan(auc_pd_fa([1e-5], [float("nan")]))
        with pytest.raises(ValueError, match="max_fa"):
            auc_pd_fa([1e-5], [0.5], max_fa=0.0)
        with pytest.raises(ValueError, match="1-D"):
            auc_pd_fa([1e-5, 2e-5], [0.5])

    def test_pd_at_fa(self):
        assert pd_at_fa([1e-6, 5e-5, 2e-4], [0.3, 0.6, 1.0], 1e-4) == 0.6
        assert pd_at_fa([1e-6, 5e-5, 2e-4], [0.3, 0.6, 1.0], 1.0) == 1.0
        assert pd_at_fa([1e-3], [0.5], 1e-4) == 0.0
        assert math.isnan(pd_at_fa([0.0, 0.0], [float("nan")] * 2))


class TestPixelRoc:
    def test_auc_equals_scikit_learn_on_float_maps(self):
        rng = np.random.default_rng(5)
        masks, better, worse = two_detectors(rng, n_images=8)
        for probs in (better, worse):
            expected = roc_auc_score(np.concatenate([m.ravel() for m in masks]), np.concatenate([p.ravel() for p in probs]))
            assert scored(probs, masks)["auc_pixel"] == pytest.approx(expected, abs=1e-6)

    def test_auc_equals_scikit_learn_on_8_bit_maps_with_ties(self):
        rng = np.random.default_rng(6)
        masks, better, _ = two_detectors(rng)
        levels = [np.round(p * 255).astype(np.float32) / np.float32(255) for p in better]
        expected = roc_auc_score(np.concatenate([m.ravel() for m in masks]), np.concatenate([p.ravel() for p in levels]))
        assert scored(levels, masks)["auc_pixel"] == pytest.approx(expected, abs=1e-6)

    def test_rates_at_each_threshold_count_pixels(self):
        rng = np.random.default_rng(7)
        masks, better, _ = two_detectors(rng, n_images=3)
        thresholds = [0.01, 0.2, 0.5, 0.9]
        roc = scored(better, masks, roc_thresholds=thresholds)["roc"]
        positives = sum(int(m.sum()) for m in masks)
        negatives = sum(int((~m).sum()) for m in masks)
        for j, threshold in enumerate(thresholds):
            assert roc["tpr"][j] == sum(int((p[m] > threshold).sum()) for p, m in zip(better, masks)) / positives
            assert roc["fpr"][j] == sum(int((p[~m] > threshold).sum()) for p, m in zip(better, masks)) / negatives

    def test_bins_keep_the_order_of_the_scores(self):
        values = np.array([0.0, 1e-30, 2.0**-40, 1e-6, 0.25, 127 / 255, 0.5, 128 / 255, 0.999, 1.0], np.float32)
        bins = score_bins(values)
        assert np.all(np.diff(bins[2:]) > 0) and bins[0] == bins[1] == 0
        assert auc_pixel(np.zeros(3), np.ones(3)) != auc_pixel(np.zeros(3), np.ones(3))  # NaN: no positive pixel


class TestComparingMethods:
    def test_a_dominating_detector_scores_higher_on_both_aucs(self):
        rng = np.random.default_rng(8)
        masks, better, worse = two_detectors(rng)
        good, bad = scored(better, masks), scored(worse, masks)
        # the fixture dominates at every threshold ...
        assert all(g >= b for g, b in zip(good["roc"]["pd"], bad["roc"]["pd"]))
        assert all(g <= b for g, b in zip(good["roc"]["fa"], bad["roc"]["fa"]))
        # ... so its areas on the shared axes are higher
        assert good["auc_pd_fa"] > bad["auc_pd_fa"]
        assert good["auc_pixel"] > bad["auc_pixel"]
        assert good["pd_at_fa_1e-04"] >= bad["pd_at_fa_1e-04"]


class TestCurveBadInput:
    def test_nan_map_is_refused(self):
        prob = np.full((6, 6), 0.2, np.float32)
        prob[2, 2] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            IRSTDMetrics().update(prob, blank((6, 6)))
        with pytest.raises(ValueError, match="roc_prob"):
            IRSTDMetrics().update(np.zeros((6, 6), np.float32), blank((6, 6)), roc_prob=prob)

    def test_split_without_targets_gives_nan_and_says_so(self):
        result = scored([np.random.default_rng(9).random((8, 8)).astype(np.float32)], [blank((8, 8))])
        for key in ("pd", "auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05", "pd_at_fa_1e-04"):
            assert math.isnan(result[key]), key
        assert "no target" in no_target_note(result) and "\n" not in no_target_note(result)
        assert no_target_note({"n_targets": 3, "n_images": 1}) is None

    def test_constant_map_gives_a_defined_curve_and_auc(self):
        mask = blank((16, 16))
        mask[4:6, 4:6] = True
        result = scored([np.full((16, 16), 0.3, np.float32)], [mask])
        assert result["auc_pixel"] == 0.5  # every pixel tied
        assert 0.0 <= result["auc_pd_fa"] <= 1.0 and np.isfinite(result["roc"]["pd"]).all()
        assert result["roc"]["fpr"][0] == 1.0 and result["roc"]["fpr"][-1] == 0.0

    def test_curves_can_come_from_other_scores_than_the_decision(self):
        rng = np.random.default_rng(10)
        masks, better, worse = two_detectors(rng, n_images=2)
        metrics = IRSTDMetrics()
        for mask, decision, curve in zip(masks, worse, better):
            metrics.update(decision, mask, roc_prob=curve)
        mixed, at_half, curves = metrics.compute(), scored(worse, masks), scored(better, masks)
        assert (mixed["miou"], mixed["pd"], mixed["fa"]) == (at_half["miou"], at_half["pd"], at_half["fa"])
        assert (mixed["auc_pd_fa"], mixed["auc_pixel"], mixed["roc"]) == (curves["auc_pd_fa"], curves["auc_pixel"], curves["roc"])
        assert FA_RANGE == 1e-4


class TestRemoveSmallComponents:
    def test_drops_components_below_min_size_with_8_connectivity(self):
        binary = np.zeros((10, 10), bool)
        binary[0, 0] = True  # 1 px
        binary[3, 3] = binary[4, 4] = True  # 2 px joined diagonally
        binary[7:10, 7:10] = True  # 9 px
        kept = remove_small_components(binary, 2)
        assert not kept[0, 0] and kept[3, 3] and kept[4, 4] and kept[7:10, 7:10].all()
        four = remove_small_components(binary, 2, connectivity=4)
        assert not four[3, 3] and not four[4, 4]
        assert remove_small_components(binary, 10).sum() == 0

    def test_min_size_zero_or_one_keeps_everything(self):
        binary = np.random.default_rng(0).random((8, 8)) > 0.5
        np.testing.assert_array_equal(remove_small_components(binary, 0), binary)
        np.testing.assert_array_equal(remove_small_components(binary, 1), binary)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="min_size"):
            remove_small_components(np.zeros((2, 2)), -1)
        with pytest.raises(ValueError, match="connectivity"):
            remove_small_components(np.zeros((2, 2)), 2, connectivity=6)

    def test_binarize_is_strictly_greater(self):
        np.testing.assert_array_equal(binarize(np.array([[0.5, 0.51]]), 0.5), [[False, True]])


def _hand_example():
    """Image A: a 2x2 target found with prob 0.9 and a 1-px false alarm at 0.8; image B: no target, nothing found."""
    prob_a, mask_a = np.zeros((10, 10)), np.zeros((10, 10), bool)
    mask_a[2:4, 2:4] = True
    prob_a[2:4, 2:4] = 0.9
    prob_a[8, 8] = 0.8
    return [prob_a, np.zeros((10, 10))], [mask_a, np.zeros((10, 10), bool)]


class TestThresholdStats:
    def test_hand_worked_example(self):
        probs, masks = _hand_example()
        stats = threshold_stats(probs, masks, threshold=0.5)
        assert stats["pd"] == 1.0 and stats["n_targets"] == 1
        assert stats["fa"] == pytest.approx(1 / 200) and stats["n_false_pixels"] == 1
        assert stats["miou"] == pytest.approx(4 / 5) and stats["niou"] == pytest.approx(4 / 5)

    def test_min_size_removes_the_false_alarm(self):
        probs, masks = _hand_example()
        stats = threshold_stats(probs, masks, threshold=0.5, min_size=2)
        assert stats["fa"] == 0.0 and stats["miou"] == 1.0 and stats["pd"] == 1.0

    def test_threshold_above_the_false_alarm(self):
        probs, masks = _hand_example()
        assert threshold_stats(probs, masks, threshold=0.85)["fa"] == 0.0
        above_all = threshold_stats(probs, masks, threshold=0.95)
        assert above_all["pd"] == 0.0 and above_all["miou"] == 0.0

    def test_no_target_gives_nan_pd(self):
        stats = threshold_stats(np.zeros((4, 4)), np.zeros((4, 4), bool))
        assert np.isnan(stats["pd"]) and np.isnan(stats["miou"]) and stats["fa"] == 0.0

    @pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
    def test_equals_irstd_metrics_without_min_size(self, threshold):
        rng = np.random.default_rng(1)
        masks = [np.zeros((24, 24), bool) for _ in range(3)]
        masks[0][3:6, 4:7] = True
        masks[1][10:12, 15:18] = True
        masks[1][20, 2] = True
        probs = [np.clip(m * 0.6 + rng.random((24, 24)) ** 6, 0, 1) for m in masks]
        metrics = IRSTDMetrics(threshold=threshold, roc_thresholds=[])
        metrics.update(np.stack(probs), np.stack(masks))
        expected = metrics.compute()
        stats = threshold_stats(probs, masks, threshold)
        for key in ("pd", "fa", "miou", "niou"):
            assert stats[key] == pytest.approx(expected[key]), key
        assert stats["n_targets"] == expected["n_targets"] == 3

    def test_accepts_stacks_and_tensors(self):
        probs, masks = _hand_example()
        from_list = threshold_stats(probs, masks)
        from_tensor = threshold_stats(torch.tensor(np.stack(probs))[:, None], torch.tensor(np.stack(masks))[:, None])
        assert from_list == from_tensor

    def test_mismatches_raise(self):
        probs, masks = _hand_example()
        with pytest.raises(ValueError, match="2 probability maps but 1 masks"):
            threshold_stats(probs, masks[:1])
        with pytest.raises(ValueError, match=r"prob\[0\] has shape"):
            threshold_stats([np.zeros((3, 3))], [np.zeros((3, 4), bool)])
