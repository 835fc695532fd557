"""gcflnet_lib.workbook.widgets.AdaptiveThresholdExplorer, driven by setting slider values as a user would."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from gcflnet_lib.workbook.compare import adaptive_threshold_stats
from gcflnet_lib.workbook.widgets import AdaptiveThresholdExplorer


def _maps():
    """Two 32x32 saliency maps: a 3x3 target at 10, a lone clutter pixel at 4 on low noise."""
    rng = np.random.default_rng(0)
    saliency, masks = [], []
    for index in range(2):
        s = rng.uniform(0, 0.5, (32, 32)).astype(np.float32)
        mask = np.zeros((32, 32), bool)
        mask[8 + index: 11 + index, 8:11] = True
        s[mask] = 10.0
        s[25, 25] = 4.0
        saliency.append(s)
        masks.append(mask)
    return saliency, masks


@pytest.fixture
def explorer():
    saliency, masks = _maps()
    return AdaptiveThresholdExplorer(saliency, masks, images=[s * 20 for s in saliency], k=2.0, method="test")


def _png(explorer):
    (output,) = explorer.figure_output.outputs
    return output["data"]["image/png"]


class TestAdaptiveThresholdExplorer:
    def test_initial_state_is_the_library_function(self, explorer):
        saliency, masks = _maps()
        assert explorer.stats == adaptive_threshold_stats(saliency, masks, 2.0)
        assert explorer.stats["pd"] == 1.0 and explorer.stats["n_false_pixels"] == 2  # the clutter pixels
        assert "T = mean + 2.00 std" in explorer.stats_html.value
        assert explorer.figure_png.startswith(b"\x89PNG") and _png(explorer)

    def test_moving_k_updates_stats_table_and_figure(self, explorer):
        html, png = explorer.stats_html.value, _png(explorer)
        explorer.k_slider.value = 8.0  # T above the clutter pixel (4) but below the targets (10)
        saliency, masks = _maps()
        assert explorer.stats == adaptive_threshold_stats(saliency, masks, 8.0)
        assert explorer.stats["pd"] == 1.0 and explorer.stats["n_false_pixels"] == 0
        assert explorer.stats_html.value != html and "0.0 x1e-6" in explorer.stats_html.value
        assert _png(explorer) != png
        explorer.k_slider.value = 20.0  # T above everything: nothing is flagged
        assert explorer.stats["pd"] == 0.0 and explorer.stats["n_false_pixels"] == 0

    def test_image_slider_redraws_without_changing_the_totals(self, explorer):
        stats, png = dict(explorer.stats), _png(explorer)
        explorer.image_slider.value = 1
        assert explorer.stats == stats and _png(explorer) != png

    def test_bad_arguments(self):
        saliency, masks = _maps()
        with pytest.raises(ValueError, match="as many saliency maps"):
            AdaptiveThresholdExplorer(saliency, masks[:1])
        with pytest.raises(ValueError, match="k_range"):
            AdaptiveThresholdExplorer(saliency, masks, k=30.0)
