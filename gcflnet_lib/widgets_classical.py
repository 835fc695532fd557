"""A slider for k, the constant of the classical adaptive threshold ``T = mean + k * std`` (notebook 10).

:class:`AdaptiveThresholdExplorer` wraps :func:`gcflnet_lib.compare.adaptive_threshold_stats`: every move
of the k slider recomputes Pd, Fa and IoU over all images (``.stats``, the same dict the function returns)
and redraws one image's decision (hits gold, false alarms red, misses cyan) with its saliency map.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from gcflnet_lib.compare import adaptive_threshold_stats


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
        import ipywidgets as widgets

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
        from gcflnet_lib.viz import figure_to_png

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
        from gcflnet_lib.classical import adaptive_threshold
        from gcflnet_lib.viz import plot_detections

        decision = adaptive_threshold(self.saliency_maps[index], k)
        # The frame with every target and false alarm boxed, zoomed crops of each and the colour key (viz).
        figure = Figure(figsize=(7.2, 3.6), layout="constrained")
        return plot_detections(self.images[index], decision, self.masks[index], figure=figure, panel=1.6,
                               title=f"image {index}: k = {k:.2f} flags {int(decision.sum())} px")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
