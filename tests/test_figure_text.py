"""Every figure function of the workbook draws its text without collisions.

Each figure-making function of ``gcflnet_lib.workbook.viz`` and ``gcflnet_lib.workbook.architecture``, and the
ablation report's plots (``gcflnet_lib.ablation.render.plot_report``, ``render_msic.plot_gate``) on the committed
records, is drawn on small inputs with Agg; ``viz.overlapping_texts`` collects every Text artist the draw puts on
the canvas (titles, axis and tick labels, annotations, legend entries) with matplotlib's own window extents, and
finds no two that overlap by more than a pixel, nor a text reaching into another axes' drawing area (a title under
a neighbour's colour bar).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gcflnet_lib.models import build_model  # noqa: E402
from gcflnet_lib.workbook import viz  # noqa: E402
from gcflnet_lib.workbook.architecture import draw_architecture  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _scene():
    rng = np.random.default_rng(0)
    image = rng.uniform(20, 60, (48, 64))
    mask = np.zeros((48, 64), bool)
    mask[10:13, 10:13] = True
    mask[35:37, 50:52] = True
    prediction = np.zeros((48, 64), bool)
    prediction[9:14, 10:14] = True  # a hit, with pixels outside the mask
    prediction[25:27, 30:33] = True  # a false alarm
    return image, prediction, mask


def _curves():
    fa = np.array([0.0, 2e-6, 1e-5, 8e-5, 3e-4])
    return {"GCFLNet": {"roc": {"fa": fa, "pd": [0.2, 0.6, 0.8, 0.9, 0.95], "tpr": [0.1, 0.5, 0.7, 0.9, 0.99],
                                "fpr": [1e-7, 1e-5, 1e-4, 1e-3, 1e-2]}, "auc_pd_fa": 0.81, "auc_pixel": 0.93},
            "U-Net": {"roc": {"fa": fa, "pd": [0.1, 0.5, 0.7, 0.85, 0.9], "tpr": [0.1, 0.4, 0.6, 0.8, 0.95],
                              "fpr": [1e-7, 1e-5, 1e-4, 1e-3, 1e-2]}, "auc_pd_fa": 0.74, "auc_pixel": 0.9}}


def close_targets():
    """Two targets 8 px apart near a 258 x 374 frame's top and one false-alarm blob joining them, as the released
    GCFLNet predicts NUAA-SIRST's Misc_301: the three boxes' number labels would sit on one spot."""
    rng = np.random.default_rng(1)
    image = rng.uniform(20, 60, (258, 374))
    mask = np.zeros((258, 374), bool)
    mask[26:30, 54:60] = True
    mask[26:31, 62:67] = True
    prediction = np.zeros_like(mask)
    prediction[27:30, 52:70] = True  # one component, its centroid more than 3 px from both targets
    return viz.plot_detections(image, prediction, mask, title="Misc_301, p > 0.5", max_crops=4)


def _figures():
    """(name, zero-argument function returning a figure) for every figure function."""
    image, prediction, mask = _scene()
    rng = np.random.default_rng(1)
    gx, gy = rng.normal(size=(2, 32, 32))

    def quiver():
        figure, ax = plt.subplots(figsize=(3, 3), layout="constrained")
        viz.plot_quiver(ax, image[:32, :32], gx, gy, step=4)
        ax.set_title("around the target")
        return figure

    def orientation():
        figure = viz.show_images([image, mask, np.hypot(gx, gy), viz.orientation_rgb(gx, gy)],
                                 ["image", "target mask", "|g| (Sobel)", "orientation (hue), |g| (brightness)"])
        viz.add_orientation_key(figure.axes[3])
        return figure

    def level_maps():
        shape = (45, 61)  # padded to 48 x 64, as a 3-level model pads
        rows = [{name: rng.uniform(size=(48 // 2 ** level, 64 // 2 ** level)) for name in
                 ("image", "EFEU", "CDC", "fused", "fused\n(gcflnet-nuaa-sirst)")} for level in range(3)]
        targets = [np.zeros((48 // 2 ** level, 64 // 2 ** level), bool) for level in range(3)]
        for target in targets:
            target[2, 3] = True
        return viz.plot_level_maps(rows, shape, targets, cmap={"image": "gray"}, colorbar={"image": False})

    def roc():
        return viz.plot_roc(_curves()).figure

    def pixel_roc():
        return viz.plot_pixel_roc(_curves()).figure

    def report():
        from gcflnet_lib.ablation.render import plot_report

        return plot_report(json.loads((RESULTS / "ablation_nudt.json").read_text()))

    def gate():
        from gcflnet_lib.ablation.render_msic import plot_gate

        analysis = json.loads((RESULTS / "ablation_nudt_msic_unit_gain.json").read_text())
        return plot_gate(analysis["gate_histories"])

    return [
        ("show_images", lambda: viz.show_images([image, mask, image, mask], ["a frame", "its mask", "once more",
                                                                           "and its mask"], colorbar=[True, False] * 2)),
        ("show_images, probability maps", lambda: viz.show_images(
            [image, np.clip(image / 60, 0, 1)] * 2, ["Misc_12", "probability", "Misc_40", "probability"], ncols=4,
            cmap=["gray", "magma"] * 2, vrange=[viz.DISPLAY_RANGE, (0.0, 1.0)] * 2, colorbar=[False, True] * 2)),
        ("show_images + add_orientation_key", orientation),
        ("plot_quiver", quiver),
        ("plot_kernels", lambda: viz.plot_kernels({"Kx before": np.arange(9.0).reshape(3, 3) - 4,
                                                   "Kx after": -np.arange(9.0).reshape(3, 3) / 3,
                                                   "Ky before": np.eye(3), "Ky after": np.zeros((3, 3))})),
        ("plot_level_maps", level_maps),
        ("plot_detections", lambda: viz.plot_detections(image, prediction, mask, title="Misc_12, p > 0.5")),
        ("plot_detections, off-screen", lambda: viz.plot_detections(image, prediction, mask, crop=12,
                                                                    figure=Figure(layout="constrained"))),
        ("plot_detections, as the threshold widget draws it", lambda: viz.plot_detections(
            image, prediction, mask, title="image 3, p > 0.50, min size 0", panel=1.6,
            figure=Figure(figsize=(7.2, 3.6), layout="constrained"))),
        ("plot_detections, three targets a few pixels apart on a large frame", close_targets),
        ("plot_roc", roc),
        ("plot_pixel_roc", pixel_roc),
        ("draw_architecture", lambda: draw_architecture(build_model("gcflnet").config).figure),
        ("draw_architecture, U-Net", lambda: draw_architecture(build_model("unet", channels=(8, 16, 32)).config).figure),
        *[(f"draw_architecture, highlight={key}",
           lambda key=key: draw_architecture(build_model("gcflnet").config, highlight=key).figure)
          for key in ("efeu", "cdc", "eem", "glfi", "msic", "head")],
        ("ablation.render.plot_report", report),
        ("ablation.render_msic.plot_gate", gate),
    ]


# Collisions found in code this change may not edit (gcflnet_lib/ablation/ has its own owner): strict, so the mark
# has to go once the plot is fixed.
KNOWN: dict[str, str] = {}  # figure -> why it overlaps, for a strict xfail; none now


def _cases():
    return [pytest.param(name, make, id=name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN[name])]
                         if name in KNOWN else []) for name, make in _figures()]


@pytest.mark.parametrize("name, make", _cases())
def test_no_text_overlaps(name, make):
    figure = make()
    assert viz.drawn_texts(figure), f"{name}: no text drawn at all"
    assert viz.overlapping_texts(figure) == [], name


class TestTheCheck:
    def test_finds_two_texts_on_one_spot_and_a_title_under_a_neighbour(self):
        figure, (left, right) = plt.subplots(1, 2, figsize=(4, 2))
        left.text(0.5, 0.5, "one", ha="center")
        left.text(0.5, 0.5, "two", ha="center")
        right.set_title("a title far wider than its own panel, reaching over the next one")
        right.set_position([0.55, 0.1, 0.4, 0.7])
        left.set_position([0.05, 0.1, 0.4, 0.88])  # as tall as the title is high
        found = viz.overlapping_texts(figure)
        assert ("'one'", "'two'") in found
        assert any(a.startswith("'a title far wider") for a, _ in found)

    def test_rotated_neighbours_do_not_collide_where_their_boxes_would(self):
        figure, ax = plt.subplots(figsize=(4, 3), layout="constrained")
        ax.bar(range(6), range(6))
        ax.set_xticks(range(6), [f"variant number {i}" for i in range(6)], rotation=60, ha="right")
        assert viz.overlapping_texts(figure) == []
        extents = [t.get_window_extent() for t in ax.get_xticklabels()]
        assert extents[0].overlaps(extents[1])  # the upright boxes would have counted as a collision

    def test_a_legend_inside_a_twin_axes_is_not_a_collision_but_two_legends_on_one_spot_are(self):
        figure, ax = plt.subplots(figsize=(5, 3), layout="constrained")
        ax.plot([0, 1], [0, 1], label="miou")
        twin = ax.twinx()
        twin.plot([0, 1], [1, 0], label="Fa")
        ax.legend(loc="center left")
        twin.legend(loc="center right")
        assert viz.overlapping_texts(figure) == []  # each legend lies inside both axes: they share one area
        twin.legend(loc="center left")
        assert ("'miou'", "'Fa'") in viz.overlapping_texts(figure) or ("'Fa'", "'miou'") in viz.overlapping_texts(figure)


def test_close_boxes_share_one_label():
    figure = close_targets()
    assert [d["kind"] for d in figure.detections] == ["miss", "miss", "false alarm"]
    assert [text.get_text() for text in figure.axes[0].texts] == ["1,2,3"]
