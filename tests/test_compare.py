"""gcflnet_lib.workbook.compare: crops, classical decisions, rescaled-map ROC, table rows on the shared Fa axis."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gcflnet_lib.classical import adaptive_threshold, saliency_to_uint8, tophat
from gcflnet_lib.workbook.compare import (
    adaptive_threshold_stats,
    crop_around_targets,
    method_row,
    network_row,
    run_detector,
    saliency_to_probability,
    score_probabilities,
)
from gcflnet_lib.data.dataset import Sample
from gcflnet_lib.metrics import DEFAULT_ROC_THRESHOLDS, IRSTDMetrics
from gcflnet_lib.metrics import threshold_stats


def _scene(seed: int, size: int = 40, centre=(12, 25)):
    """Noise with a 3x3 bright target at ``centre``; its mask."""
    rng = np.random.default_rng(seed)
    image = rng.normal(50, 3, (size, size)).astype(np.float32)
    mask = np.zeros((size, size), bool)
    mask[centre[0] - 1: centre[0] + 2, centre[1] - 1: centre[1] + 2] = True
    image[mask] += 60
    return image, mask


class TestCropAroundTargets:
    def test_window_centred_on_the_target_and_kept_inside(self):
        image, mask = _scene(0, size=64, centre=(30, 40))
        (crop,) = crop_around_targets([Sample("a", image, mask)], 16)
        assert crop.image.shape == crop.mask.shape == (16, 16)
        rows, cols = np.nonzero(crop.mask)
        assert (rows.mean(), cols.mean()) == (8, 8)
        np.testing.assert_array_equal(crop.image, image[22:38, 32:48])
        image, mask = _scene(0, size=64, centre=(2, 61))
        (corner,) = crop_around_targets([Sample("b", image, mask)], 16)
        np.testing.assert_array_equal(corner.image, image[0:16, 48:64])
        assert corner.mask.sum() == mask.sum()

    def test_small_images_and_empty_masks(self):
        image = np.arange(20 * 10, dtype=np.float32).reshape(20, 10)
        (crop,) = crop_around_targets([Sample("c", image, np.zeros_like(image, bool))], 12)
        np.testing.assert_array_equal(crop.image, image[4:16, :])  # centre window; the short side is kept whole
        with pytest.raises(ValueError, match="size"):
            crop_around_targets([Sample("c", image, np.zeros_like(image, bool))], 4)


class TestScoring:
    def test_run_detector_returns_one_float32_map_per_image_and_time(self):
        images = [_scene(s)[0] for s in range(3)]
        maps, seconds = run_detector(tophat, images, size=5)
        assert len(maps) == 3 and all(m.dtype == np.float32 and m.shape == (40, 40) for m in maps)
        np.testing.assert_array_equal(maps[1], tophat(images[1], size=5))
        assert seconds >= 0
        with pytest.raises(ValueError, match="at least one image"):
            run_detector(tophat, [])

    def test_saliency_to_probability_is_the_cli_map_read_back(self):
        saliency = np.random.default_rng(1).normal(size=(9, 11))
        prob = saliency_to_probability(saliency)
        np.testing.assert_array_equal(prob, saliency_to_uint8(saliency) / np.float32(255))
        assert prob.min() == 0.0 and prob.max() == 1.0
        assert not saliency_to_probability(np.full((4, 4), 3.0)).any()

    def test_adaptive_threshold_stats_follow_k(self):
        scenes = [_scene(s) for s in range(3)]
        saliency = [tophat(image, size=7) for image, _ in scenes]
        masks = [mask for _, mask in scenes]
        low, high = adaptive_threshold_stats(saliency, masks, 0.5), adaptive_threshold_stats(saliency, masks, 6.0)
        expected = threshold_stats([adaptive_threshold(s, 6.0).astype(np.float32) for s in saliency], masks, 0.5)
        assert high == {**expected, "k": 6.0}
        assert high["pd"] == 1.0 and low["n_false_pixels"] > high["n_false_pixels"]
        with pytest.raises(ValueError, match="as many saliency maps"):
            adaptive_threshold_stats(saliency, masks[:2], 3.0)

    def test_score_probabilities_equals_irstd_metrics(self):
        rng = np.random.default_rng(2)
        probs = [rng.random((16, 16)).astype(np.float32) for _ in range(2)]
        masks = [p > 0.9 for p in probs]
        metrics = IRSTDMetrics(0.3)
        for p, m in zip(probs, masks):
            metrics.update(p, m)
        assert score_probabilities(probs, masks, 0.3) == metrics.compute()


class TestRows:
    def test_perfect_maps_score_perfectly_in_both_rows(self):
        masks = [_scene(s)[1] for s in range(2)]
        classical = method_row("oracle", [m.astype(np.float32) * 7 for m in masks], masks, k=1.0, seconds_per_image=0.5)
        deep = network_row("net", [m.astype(np.float32) for m in masks], masks)
        for row in (classical, deep):
            assert (row["pd"], row["fa"], row["miou"], row["pd_at_fa_1e-04"], row["pd_at_fa_1e-05"]) == (1.0, 0.0, 1.0, 1.0, 1.0)
            assert (row["auc_pd_fa"], row["auc_pixel"]) == (1.0, 1.0)
            assert len(row["roc"]["fa"]) == len(row["roc"]["pd"]) == len(row["roc"]["tpr"]) == len(DEFAULT_ROC_THRESHOLDS)
        assert classical["kind"] == "classical" and classical["decision"] == "mean + 1 std"
        assert deep["kind"] == "deep" and deep["decision"] == "p > 0.5" and math.isnan(deep["seconds_per_image"])
        assert classical["seconds_per_image"] == 0.5

    def test_network_row_thresholds_at_its_decision(self):
        masks = [_scene(0)[1]]
        prob = masks[0].astype(np.float32) * 0.4
        assert network_row("net", [prob], masks)["pd"] == 0.0
        assert network_row("net", [prob], masks, threshold=0.3)["pd"] == 1.0
