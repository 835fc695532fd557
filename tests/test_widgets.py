"""gcflnet_lib.workbook.viz.ThresholdExplorer, driven by setting widget values as a user would."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from gcflnet_lib.metrics import threshold_stats
from gcflnet_lib.workbook.widgets import ThresholdExplorer


def _maps():
    """Three 32x32 images: a target at prob 0.7, a 1-px false alarm at 0.6, a 6-px false alarm at 0.95."""
    probs, masks = [], []
    for index in range(3):
        prob, mask = np.zeros((32, 32), np.float32), np.zeros((32, 32), bool)
        mask[10 + index: 13 + index, 10:13] = True
        prob[mask] = 0.7
        prob[25, 4 + index] = 0.6
        prob[2:4, 20:23] = 0.95 if index == 1 else 0.0
        probs.append(prob)
        masks.append(mask)
    return probs, masks


@pytest.fixture
def explorer():
    probs, masks = _maps()
    return ThresholdExplorer(probs, masks, images=[p * 100 for p in probs])


def _png(explorer):
    (output,) = explorer.figure_output.outputs
    return output["data"]["image/png"]


class TestThresholdExplorer:
    def test_initial_state_matches_the_pure_function(self, explorer):
        probs, masks = _maps()
        assert explorer.stats == threshold_stats(probs, masks, 0.5, 0)
        assert explorer.stats["pd"] == 1.0
        assert f"{explorer.stats['fa'] * 1e6:.2f}" in explorer.stats_html.value
        assert explorer.figure_png.startswith(b"\x89PNG") and _png(explorer)

    def test_threshold_slider_updates_stats_text_and_figure(self, explorer):
        html, png = explorer.stats_html.value, _png(explorer)
        explorer.threshold_slider.value = 0.8
        probs, masks = _maps()
        assert explorer.stats == threshold_stats(probs, masks, 0.8, 0)
        assert explorer.stats["pd"] == 0.0  # every target sits at 0.7
        assert explorer.stats["n_false_pixels"] == 6  # only the 0.95 blob survives
        assert explorer.stats_html.value != html and "0.000" in explorer.stats_html.value
        assert _png(explorer) != png

    def test_min_size_slider_removes_small_false_alarms(self, explorer):
        before = explorer.stats["n_false_pixels"]
        explorer.min_size_slider.value = 2
        assert before == 3 + 6 and explorer.stats["n_false_pixels"] == 6
        assert explorer.stats["pd"] == 1.0
        explorer.min_size_slider.value = 7
        assert explorer.stats["n_false_pixels"] == 0

    def test_image_slider_changes_the_figure_not_the_totals(self, explorer):
        totals, png = dict(explorer.stats), _png(explorer)
        explorer.image_slider.value = 1
        assert explorer.stats == totals
        assert explorer.image_stats["n_false_pixels"] == 7
        assert _png(explorer) != png and "image 1" in explorer.stats_html.value

    def test_single_image_hides_the_image_slider(self):
        probs, masks = _maps()
        single = ThresholdExplorer(probs[0], masks[0])
        assert single.image_slider.layout.display == "none"
        assert single.stats["n_images"] == 1

    def test_mismatched_inputs(self):
        probs, masks = _maps()
        with pytest.raises(ValueError, match="as many probability maps"):
            ThresholdExplorer(probs, masks[:2])

    def test_displays_as_a_widget(self, explorer):
        bundle = explorer._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
