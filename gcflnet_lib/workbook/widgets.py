"""The workbook's widgets: ipywidgets panels over library functions that the notebooks also call directly.

- :class:`ThresholdExplorer` (notebook 08) wraps :func:`gcflnet_lib.metrics.threshold_stats` (the metric protocol
  lives there): sliders for the probability threshold and the minimum component size, with live Pd, Fa and IoU.
- :class:`AdaptiveThresholdExplorer` (notebook 10) wraps :func:`gcflnet_lib.workbook.compare.adaptive_threshold_stats`:
  a slider for k, the constant of the classical adaptive threshold ``T = mean + k * std``.

Every move of a slider recomputes the statistics over all images (``.stats``, the same dict the wrapped function
returns) and redraws one image's decision (hits gold, false alarms red, misses cyan), so a headless run computes the
same thing and a test drives a widget by setting its values.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from gcflnet_lib.classical import adaptive_threshold
from gcflnet_lib.metrics import as_planes, binarize, threshold_stats
from gcflnet_lib.workbook.compare import adaptive_threshold_stats
from gcflnet_lib.workbook.viz import figure_to_png, plot_detections


def _stats_table(stats: Mapping, image_stats: Mapping | None, image_index: int) -> str:
    rows = [
        ("Pd", f"{stats['pd']:.3f}", f"{stats['n_matched']}/{stats['n_targets']} targets"),
        ("Fa", f"{stats['fa'] * 1e6:.2f} x1e-6", f"{stats['n_false_pixels']} false pixels"),
        ("mIoU", f"{stats['miou']:.3f}", f"{stats['intersection']}/{stats['union']} px"),
        ("nIoU", f"{stats['niou']:.3f}", f"{stats['n_images']} images"),
    ]
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{name}</th><td class='gcfl-{name.lower()}'>{value}</td>"
        f"<td style='color:#666;padding-left:1em'>{detail}</td></tr>"
        for name, value, detail in rows
    )
    caption = f"all images, threshold {stats['threshold']:.2f}, min size {stats['min_size']}"
    note = ""
    if image_stats is not None:
        note = (
            f"<div style='color:#444'>image {image_index}: Pd {image_stats['pd']:.3f}, "
            f"Fa {image_stats['fa'] * 1e6:.2f} x1e-6, IoU {image_stats['miou']:.3f}</div>"
        )
    return f"<table class='gcfl-stats'><caption>{html.escape(caption)}</caption>{cells}</table>{note}"


class ThresholdExplorer:
    """Sliders for the probability threshold and the minimum component size, with live Pd, Fa and IoU.

    Every change recomputes :func:`threshold_stats` over all images (``.stats``, shown in ``.stats_html``)
    and redraws the chosen image's overlay (hits gold, false alarms red, misses cyan) into
    ``.figure_output`` (its PNG bytes also in ``.figure_png``). Display the explorer itself, or ``.widget``.

    Args:
        prob_maps: sequence (or (N, H, W) stack) of probability maps in [0, 1].
        masks: matching bool ground-truth masks.
        images: optional matching input images drawn under the overlay (default: the probability maps).
        threshold, min_size: initial slider values.
        max_min_size: upper end of the min-size slider.
    """

    def __init__(self, prob_maps, masks, images=None, threshold: float = 0.5, min_size: int = 0, max_min_size: int = 50):
        self.prob_maps = as_planes(prob_maps, "prob_maps")
        self.masks = [m.astype(bool) for m in as_planes(masks, "masks")]
        self.images = self.prob_maps if images is None else as_planes(images, "images")
        if not (len(self.prob_maps) == len(self.masks) == len(self.images)) or not self.prob_maps:
            raise ValueError(
                f"need as many probability maps ({len(self.prob_maps)}), masks ({len(self.masks)}) "
                f"and images ({len(self.images)}), at least one"
            )
        self.threshold_slider = widgets.FloatSlider(
            value=threshold, min=0.01, max=0.99, step=0.01, description="threshold",
            continuous_update=False, readout_format=".2f",
        )
        self.min_size_slider = widgets.IntSlider(
            value=min_size, min=0, max=max_min_size, step=1, description="min size", continuous_update=False
        )
        self.image_slider = widgets.IntSlider(
            value=0, min=0, max=len(self.prob_maps) - 1, step=1, description="image", continuous_update=False,
            layout=widgets.Layout(display="flex" if len(self.prob_maps) > 1 else "none"),
        )
        self.stats_html = widgets.HTML()
        self.figure_output = widgets.Output()
        self.stats: dict = {}
        self.image_stats: dict = {}
        self.figure_png = b""
        for slider in (self.threshold_slider, self.min_size_slider, self.image_slider):
            slider.observe(self._on_change, names="value")
        self.widget = widgets.VBox(
            [widgets.HBox([self.threshold_slider, self.min_size_slider, self.image_slider]),
             widgets.HBox([self.figure_output, self.stats_html])]
        )
        self.update()

    def _on_change(self, _change=None) -> None:
        self.update()

    def update(self) -> dict:
        """Recompute the statistics and the figure for the current slider values; returns ``.stats``."""
        threshold, min_size = self.threshold_slider.value, self.min_size_slider.value
        index = self.image_slider.value
        self.stats = threshold_stats(self.prob_maps, self.masks, threshold, min_size)
        self.image_stats = threshold_stats(self.prob_maps[index], self.masks[index], threshold, min_size)
        self.stats_html.value = _stats_table(self.stats, self.image_stats if len(self.prob_maps) > 1 else None, index)
        self.figure_png = self._draw(index, threshold, min_size)
        encoded = base64.b64encode(self.figure_png).decode("ascii")
        # Set the outputs directly (not through a captured display) so it also works outside a kernel.
        self.figure_output.outputs = (
            {
                "output_type": "display_data",
                "data": {"image/png": encoded, "text/plain": f"<overlay image {index} at threshold {threshold:.2f}>"},
                "metadata": {},
            },
        )
        return self.stats

    def _draw(self, index: int, threshold: float, min_size: int) -> bytes:
        predicted = binarize(self.prob_maps[index], threshold, min_size)
        figure = Figure(figsize=(7.2, 3.6), layout="constrained")
        plot_detections(self.images[index], predicted, self.masks[index],
                        title=f"image {index}, p > {threshold:.2f}, min size {min_size}", figure=figure, panel=1.6)
        return figure_to_png(figure, dpi=80)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


class AdaptiveThresholdExplorer:
    """Sliders for k (and the image shown) over the saliency maps of one classical method.

    Args:
        saliency_maps: (H, W) saliency maps of one method, higher = more target-like.
        masks: matching bool ground truth.
        images: matching input images drawn under the overlay (default: the saliency maps).
        k: initial k; ``k_range``: the slider's (min, max); ``method``: name shown in the caption.

    Attributes:
        k_slider, image_slider: the ipywidgets sliders (set ``.value`` to drive it from code).
        stats: ``adaptive_threshold_stats(saliency_maps, masks, k)`` for the current k.
        stats_html, figure_output, figure_png, widget: the rendered table, figure and the whole panel.
    """

    def __init__(self, saliency_maps: Sequence[np.ndarray], masks: Sequence[np.ndarray],
                 images: Sequence[np.ndarray] | None = None, k: float = 3.0,
                 k_range: tuple[float, float] = (0.0, 20.0), method: str = ""):
        self.saliency_maps = [np.asarray(s, dtype=np.float32) for s in saliency_maps]
        self.masks = [np.asarray(m, dtype=bool) for m in masks]
        self.images = self.saliency_maps if images is None else [np.asarray(i) for i in images]
        if not (len(self.saliency_maps) == len(self.masks) == len(self.images)) or not self.masks:
            raise ValueError(f"need as many saliency maps ({len(self.saliency_maps)}), masks ({len(self.masks)}) "
                             f"and images ({len(self.images)}), at least one")
        low, high = float(k_range[0]), float(k_range[1])
        if not low < high or not low <= k <= high:
            raise ValueError(f"k_range: expected min < max with k={k} inside, got {k_range}")
        self.method = method
        self.k_slider = widgets.FloatSlider(value=k, min=low, max=high, step=0.25, description="k",
                                            continuous_update=False, readout_format=".2f")
        self.image_slider = widgets.IntSlider(
            value=0, min=0, max=len(self.masks) - 1, description="image", continuous_update=False,
            layout=widgets.Layout(display="flex" if len(self.masks) > 1 else "none"),
        )
        self.stats_html = widgets.HTML()
        self.figure_output = widgets.Output()
        self.stats: dict = {}
        self.figure_png = b""
        for slider in (self.k_slider, self.image_slider):
            slider.observe(self._on_change, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.k_slider, self.image_slider]),
                                    widgets.HBox([self.figure_output, self.stats_html])])
        self.update()

    def _on_change(self, _change=None) -> None:
        self.update()

    def update(self) -> dict:
        """Recompute ``.stats``, the table and the figure for the current slider values; returns ``.stats``."""
        k, index = float(self.k_slider.value), int(self.image_slider.value)
        self.stats = adaptive_threshold_stats(self.saliency_maps, self.masks, k)
        self.stats_html.value = self._table(k)
        self.figure_png = figure_to_png(self._figure(index, k), dpi=80)
        self.figure_output.outputs = ({
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(self.figure_png).decode("ascii"),
                     "text/plain": f"<decision of image {index} at k = {k:.2f}>"},
            "metadata": {},
        },)
        return self.stats

    def _table(self, k: float) -> str:
        s = self.stats
        rows = [("Pd", f"{s['pd']:.3f}", f"{s['n_matched']}/{s['n_targets']} targets"),
                ("Fa", f"{s['fa'] * 1e6:.1f} x1e-6", f"{s['n_false_pixels']} false pixels"),
                ("mIoU", f"{s['miou']:.3f}", ""), ("nIoU", f"{s['niou']:.3f}", "")]
        cells = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{name}</th>"
                        f"<td class='gcfl-{name.lower()}'>{value}</td>"
                        f"<td style='color:#666;padding-left:1em'>{detail}</td></tr>" for name, value, detail in rows)
        caption = html.escape(f"{self.method + ': ' if self.method else ''}T = mean + {k:.2f} std, "
                              f"{s['n_images']} images")
        return f"<table class='gcfl-stats'><caption>{caption}</caption>{cells}</table>"

    def _figure(self, index: int, k: float) -> Figure:
        decision = adaptive_threshold(self.saliency_maps[index], k)
        # The frame with every target and false alarm boxed, zoomed crops of each and the colour key (viz).
        figure = Figure(figsize=(7.2, 3.6), layout="constrained")
        return plot_detections(self.images[index], decision, self.masks[index], figure=figure, panel=1.6,
                               title=f"image {index}: k = {k:.2f} flags {int(decision.sum())} px")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
