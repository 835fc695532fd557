"""gcflnet_lib.workbook.viz: pure image helpers and the matplotlib helpers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from gcflnet_lib.workbook.viz import (
    FALSE_ALARM_COLOUR,
    HIT_COLOUR,
    MISS_COLOUR,
    as_image,
    figure_to_png,
    normalize_image,
    orientation_rgb,
    overlay_prediction,
    plot_kernels,
    plot_quiver,
    plot_pixel_roc,
    plot_roc,
    show_images,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


class TestAsImage:
    def test_squeezes_leading_unit_axes_of_tensors(self):
        assert as_image(torch.zeros(1, 1, 5, 7)).shape == (5, 7)
        assert as_image(np.zeros((1, 4, 3))).shape == (4, 3)

    def test_refuses_multichannel(self):
        with pytest.raises(ValueError, match=r"prob: expected an \(H, W\) image"):
            as_image(np.zeros((3, 4, 4)), "prob")


class TestNormalizeImage:
    def test_stretches_to_unit_range(self):
        image = np.arange(100, dtype=np.float32).reshape(10, 10)
        out = normalize_image(image, percentiles=(0, 100))
        assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
        assert out[0, 1] == pytest.approx(1 / 99)

    def test_constant_image_is_black(self):
        assert not normalize_image(np.full((4, 4), 7.0)).any()


class TestOrientationRgb:
    def test_hue_encodes_direction_and_flat_is_black(self):
        gx = np.array([[1.0, 0.0, 0.0]])
        gy = np.array([[0.0, 1.0, 0.0]])
        rgb = orientation_rgb(gx, gy, max_magnitude=1.0)
        np.testing.assert_allclose(rgb[0, 0], [1, 0, 0], atol=1e-6)  # pointing right: hue 0, red
        np.testing.assert_allclose(rgb[0, 1], [0.5, 1, 0], atol=1e-6)  # pointing down: hue 1/4
        np.testing.assert_allclose(rgb[0, 2], [0, 0, 0])

    def test_brightness_follows_magnitude(self):
        rgb = orientation_rgb(np.array([[0.5, 2.0]]), np.zeros((1, 2)), max_magnitude=1.0)
        assert rgb[0, 0].max() == pytest.approx(0.5) and rgb[0, 1].max() == pytest.approx(1.0)

    def test_shape_mismatch(self):
        with pytest.raises(ValueError, match="same shape"):
            orientation_rgb(np.zeros((2, 2)), np.zeros((2, 3)))


class TestOverlayPrediction:
    def test_colours_hits_false_alarms_and_misses(self):
        image = np.zeros((2, 2))
        prediction = np.array([[1, 1], [0, 0]], bool)
        mask = np.array([[1, 0], [1, 0]], bool)
        rgb = overlay_prediction(image, prediction, mask, alpha=1.0)
        assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
        assert tuple(rgb[0, 0]) == HIT_COLOUR
        assert tuple(rgb[0, 1]) == FALSE_ALARM_COLOUR
        assert tuple(rgb[1, 0]) == MISS_COLOUR
        assert tuple(rgb[1, 1]) == (0, 0, 0)

    def test_shape_mismatch(self):
        with pytest.raises(ValueError, match="differ in shape"):
            overlay_prediction(np.zeros((3, 3)), np.zeros((3, 4), bool))


class TestPlots:
    def test_show_images_one_panel_per_image(self):
        figure = show_images([np.zeros((4, 4)), np.ones((4, 4, 3)), np.eye(4)], ["a", "b", "c"], ncols=2,
                             cmap=["gray", "gray", "magma"])
        shown = [ax for ax in figure.axes if ax.images]
        assert len(shown) == 3 and [ax.get_title() for ax in shown] == ["a", "b", "c"]
        assert shown[2].images[0].get_cmap().name == "magma"

    def test_show_images_symmetric_limits(self):
        figure = show_images([np.array([[-1.0, 3.0]])], symmetric=True)
        assert figure.axes[0].images[0].get_clim() == (-3.0, 3.0)
        figure = show_images([np.array([[-1.0, 3.0]])] * 2, symmetric=[False, True])
        assert figure.axes[0].images[0].get_clim() == (-1.0, 3.0)
        assert figure.axes[1].images[0].get_cmap().name == "RdBu_r"

    def test_show_images_value_ranges(self):
        image = np.array([[0.2, 0.4]])
        assert show_images([image], vrange=(0, 1)).axes[0].images[0].get_clim() == (0, 1)
        figure = show_images([image, image], vrange=[None, (0.0, 2.0)])
        assert figure.axes[0].images[0].get_clim() == pytest.approx((0.2, 0.4))
        assert figure.axes[1].images[0].get_clim() == (0.0, 2.0)
        with pytest.raises(ValueError, match="value ranges"):
            show_images([image], vrange=[None, None])

    def test_show_images_argument_errors(self):
        with pytest.raises(ValueError, match="titles"):
            show_images([np.zeros((2, 2))], ["a", "b"])
        with pytest.raises(ValueError, match="at least one"):
            show_images([])

    def test_plot_kernels_annotates_every_entry(self):
        figure = plot_kernels({"Kx": np.arange(9.0).reshape(3, 3), "Ky": torch.zeros(3, 3)})
        assert len(figure.axes) == 2
        assert [t.get_text() for t in figure.axes[0].texts][:3] == ["0.00", "1.00", "2.00"]

    def test_plot_quiver_draws_one_arrow_per_step(self):
        _, ax = plt.subplots()
        plot_quiver(ax, np.zeros((12, 12)), np.ones((12, 12)), np.zeros((12, 12)), step=3)
        (quiver,) = ax.collections
        assert quiver.N == 16

    def test_plot_roc_sorts_by_fa_and_labels_the_fixed_range_auc(self):
        ax = plot_roc({"m": {"fa": [3e-6, 1e-6], "pd": [0.9, 0.5], "auc_pd_fa": 0.7}})
        line, range_end = ax.get_lines()
        np.testing.assert_allclose(line.get_xdata(), [1.0, 3.0])
        np.testing.assert_allclose(range_end.get_xdata(), [100.0, 100.0])  # Fa 1e-4 in units of 1e-6
        assert "AUC 0.700" in ax.get_legend().get_texts()[0].get_text()
        assert ax.get_xscale() == "symlog" and ax.get_xlabel().startswith("Fa") and ax.get_ylabel().startswith("Pd")
        assert plot_roc({"m": {"fa": [1e-6], "pd": [0.5]}}, linthresh=None, fa_range=0).get_xscale() == "linear"

    def test_plot_roc_takes_a_metrics_dict(self):
        ax = plot_roc({"m": {"roc": {"fa": [2e-6], "pd": [0.4]}, "auc_pd_fa": 0.25}}, fa_range=0)
        (line,) = ax.get_lines()
        assert list(line.get_ydata()) == [0.4] and "AUC 0.250" in ax.get_legend().get_texts()[0].get_text()

    def test_plot_pixel_roc_is_closed_at_both_corners(self):
        ax = plot_pixel_roc({"m": {"roc": {"fpr": [0.5, 1e-3], "tpr": [0.9, 0.6]}, "auc_pixel": 0.91}})
        (line,) = ax.get_lines()
        np.testing.assert_allclose(line.get_xdata(), [0.0, 1e-3, 0.5, 1.0])
        np.testing.assert_allclose(line.get_ydata(), [0.0, 0.6, 0.9, 1.0])
        assert "AUC 0.9100" in ax.get_legend().get_texts()[0].get_text() and ax.get_xscale() == "log"

    def test_show_images_colorbar_per_panel(self):
        figure = show_images([np.zeros((4, 4)), np.ones((4, 4)), np.eye(4)], colorbar=[False, True, True])
        assert len(figure.axes) == 3 + 2
        with pytest.raises(ValueError, match="colorbar flags"):
            show_images([np.zeros((4, 4))], colorbar=[True, False])

    def test_figure_to_png(self):
        figure, _ = plt.subplots()
        assert figure_to_png(figure).startswith(b"\x89PNG")


class TestDisplayStretch:
    def test_fixed_range_not_the_image_content(self):
        from gcflnet_lib.workbook.viz import display_stretch

        dark = np.array([[0.0, 10.0], [20.0, 255.0]])
        assert np.allclose(display_stretch(dark), dark / 255.0)
        # A dark frame stays dark: a per-image stretch would have spread its 0..20 over the whole grey range.
        assert display_stretch(dark[:1]).max() == pytest.approx(10 / 255)
        assert np.allclose(display_stretch(np.array([[-5.0, 300.0]])), [[0.0, 1.0]])
        with pytest.raises(ValueError, match="high > low"):
            display_stretch(dark, (1.0, 1.0))

    def test_overlay_uses_the_fixed_stretch(self):
        image = np.full((3, 3), 51.0)  # 20 % grey, whatever else the frame holds
        rgb = overlay_prediction(image, np.zeros((3, 3), bool), np.zeros((3, 3), bool))
        assert (rgb == 51).all()


class TestDetections:
    @staticmethod
    def scene():
        """Two targets (one hit, one missed) and one false alarm on a 40x40 frame."""
        mask = np.zeros((40, 40), bool)
        mask[5:8, 5:8] = True  # hit
        mask[30:32, 30:32] = True  # missed
        prediction = np.zeros((40, 40), bool)
        prediction[5:8, 6:9] = True  # centroid 1 px from the target's
        prediction[20:22, 2:5] = True  # false alarm, 6 px
        return np.full((40, 40), 30.0), prediction, mask

    def test_kinds_follow_the_basicirstd_matching(self):
        from gcflnet_lib.metrics import pd_fa_image
        from gcflnet_lib.workbook.viz import classify_detections

        _, prediction, mask = self.scene()
        found = classify_detections(prediction, mask)
        assert [d["kind"] for d in found] == ["hit", "miss", "false alarm"]
        assert found[0]["box"] == (5, 5, 8, 8) and found[2]["pixels"] == 6
        matched, targets, false_pixels = pd_fa_image(prediction, mask)
        assert (matched, targets) == (1, 2)
        assert false_pixels == sum(d["pixels"] for d in found if d["kind"] == "false alarm")

    def test_far_prediction_is_a_false_alarm_and_its_target_a_miss(self):
        from gcflnet_lib.workbook.viz import classify_detections

        mask = np.zeros((20, 20), bool)
        mask[2, 2] = True
        prediction = np.zeros((20, 20), bool)
        prediction[2, 6] = True  # 4 px away: beyond the 3 px of the protocol
        assert [d["kind"] for d in classify_detections(prediction, mask)] == ["miss", "false alarm"]

    def test_figure_zooms_every_detection_under_a_colour_key(self):
        from matplotlib.figure import Figure

        from gcflnet_lib.workbook.viz import DETECTION_COLOURS, plot_detections

        image, prediction, mask = self.scene()
        figure = plot_detections(image, prediction, mask, title="scene", crop=12, figure=Figure(layout="constrained"))
        frame, *crops = figure.axes
        assert [ax.get_title() for ax in crops] == ["1: hit (9 px)", "2: miss (4 px)", "3: false alarm (6 px)"]
        assert all(ax.get_images()[0].get_array().shape[:2] == (12, 12) for ax in crops)
        (legend,) = figure.legends
        assert [text.get_text() for text in legend.get_texts()] == list(DETECTION_COLOURS)
        assert "1 of 2 targets hit\n1 false-alarm object, 6 px (what Fa counts)" in frame.get_title()
        assert "3 red px are parts of hits: not in Fa" in frame.get_title()  # the hit's column outside its target
        edge = crops[2].spines["top"].get_edgecolor()[:3]
        assert np.allclose(edge, np.asarray(DETECTION_COLOURS["false alarm"]) / 255)
        assert figure_to_png(figure)[:4] == b"\x89PNG"

    def test_beyond_max_crops_boxed_not_zoomed(self):
        from matplotlib.figure import Figure

        from gcflnet_lib.workbook.viz import plot_detections

        prediction = np.zeros((30, 30), bool)
        prediction[::6, ::6] = True  # 25 single-pixel false alarms
        figure = plot_detections(np.zeros((30, 30)), prediction, np.zeros((30, 30), bool), max_crops=4,
                                 figure=Figure(layout="constrained"))
        assert len(figure.axes) == 1 + 4 and "21 more boxed, not zoomed" in figure.axes[0].get_title()


class TestFigureHelpers:
    def test_cell_text_follows_luminance(self):
        from gcflnet_lib.workbook.viz import annotate_cells, cell_text_colour

        assert cell_text_colour((1.0, 1.0, 1.0, 1.0)) == "black" and cell_text_colour((0.0, 0.0, 0.3)) == "white"
        assert cell_text_colour((0.4, 0.0, 0.05)) == "white"  # dark red: 0.2126 * 0.4 + ... < 0.5
        _, ax = plt.subplots()
        values = np.array([[-1.0, 0.0, 1.0]])
        shown = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
        texts = annotate_cells(ax, values, shown, "{:.0f}")
        assert [t.get_text() for t in texts] == ["-1", "0", "1"]
        assert [t.get_color() for t in texts] == ["white", "black", "white"]  # navy, white, dark red

    def test_plot_kernels_numbers_readable_on_dark_cells(self):
        figure = plot_kernels({"Kx": np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])}, fmt="{:.0f}")
        colours = {t.get_text(): t.get_color() for t in figure.axes[0].texts}
        assert colours["-2"] == colours["2"] == "white" and colours["0"] == "black"

    def test_inside_shape_and_crop(self):
        from gcflnet_lib.workbook.viz import crop_to_image, inside_shape

        assert inside_shape((45, 61), 0) == (45, 61) and inside_shape((45, 61), 2) == (12, 16)
        padded = np.zeros((12, 16))  # level 2 of a 48 x 64 padded input
        assert crop_to_image(padded, (45, 61), 2).shape == (12, 16)
        assert crop_to_image(torch.zeros(1, 1, 24, 32), (45, 61), 1).shape == (23, 31)
        with pytest.raises(ValueError, match="smaller than the image's own area"):
            crop_to_image(np.zeros((10, 16)), (45, 61), 2)

    def test_level_maps_leave_the_padding_out_of_picture_and_scale(self):
        from gcflnet_lib.workbook.viz import plot_level_maps

        level0 = np.ones((48, 64))
        level0[45:, :] = level0[:, 61:] = 100.0  # a bright padding band
        level0[0, 0] = 2.0
        level1 = np.ones((24, 32))
        level1[:2, :2] = 3.0
        figure = plot_level_maps([{"edges": level0}, {"edges": level1}], (45, 61),
                                 [np.zeros((45, 61), bool), np.zeros((23, 31), bool)])
        shown = [ax for ax in figure.axes if ax.images and ax.get_title() == "edges"]
        assert shown[0].images[0].get_array().shape == (45, 61) and shown[0].images[0].get_clim() == (1.0, 2.0)
        assert shown[1].images[0].get_array().shape == (23, 31) and shown[1].images[0].get_clim() == (1.0, 3.0)
        assert shown[0].get_ylabel() == "level 0\n45 x 61"
        with pytest.raises(ValueError, match="every level must hold"):
            plot_level_maps([{"a": level0}, {"b": level1}], (45, 61))

    def test_orientation_key_is_orientation_rgb(self):
        from gcflnet_lib.workbook.viz import add_orientation_key, orientation_key_rgba

        key = orientation_key_rgba(5)
        assert np.allclose(key[2, 4, :3], [1, 0, 0])  # right of the centre: pointing right, red
        assert np.allclose(key[4, 2, :3], orientation_rgb(np.zeros((1, 1)), np.ones((1, 1)), 1.0)[0, 0])  # below: down
        assert key[2, 2, :3].max() == 0 and key[0, 0, 3] == 0  # black centre, transparent corner
        figure = show_images([np.zeros((4, 4, 3))])
        inset = add_orientation_key(figure.axes[0])
        assert inset in figure.axes[0].child_axes and "hue = direction" in inset.get_title()

    def test_detection_summary_counts_what_fa_counts(self):
        from gcflnet_lib.metrics import pd_fa_image
        from gcflnet_lib.workbook.viz import detection_summary

        mask = np.zeros((20, 20), bool)
        mask[5:7, 5:7] = True
        prediction = np.zeros((20, 20), bool)
        prediction[4:8, 4:8] = True  # a hit, 12 of its 16 px outside the mask
        assert pd_fa_image(prediction, mask)[2] == 0
        assert detection_summary(prediction, mask) == ("1 of 1 targets hit\n0 false-alarm objects, 0 px (what Fa "
                                                       "counts)\n12 red px are parts of hits: not in Fa")
        prediction[15:17, 15:18] = True  # and a false alarm of 6 px
        assert pd_fa_image(prediction, mask)[2] == 6
        assert "1 false-alarm object, 6 px (what Fa counts)" in detection_summary(prediction, mask)
