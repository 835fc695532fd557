"""gcflnet_lib.workbook.architecture: the architecture figure follows the model's real configuration."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from gcflnet_lib.workbook.architecture import (  # noqa: E402
    HALF_W, KINDS, architecture_layout, arrow_kind, draw_architecture,
)
from gcflnet_lib.models import build_model  # noqa: E402


def _kinds(config):
    boxes, _ = architecture_layout(config)
    return [box.kind for box in boxes]


class TestArchitecture:
    def test_one_encoder_eem_glfi_per_level_and_a_skip_decoder_head_per_upper_level(self):
        config = build_model("gcflnet").config
        kinds = _kinds(config)
        levels = len(config["channels"])
        assert kinds.count("encoder") == kinds.count("eem") == kinds.count("glfi") == levels
        assert kinds.count("skip") == kinds.count("decoder") == kinds.count("head") == levels - 1
        boxes, arrows = architecture_layout(config)
        names = {box.name for box in boxes}
        assert all(start in names and end in names for start, end in arrows)
        assert all("MSIC" in box.text for box in boxes if box.kind == "skip")

    def test_widths_and_switches_change_the_figure(self):
        narrow = architecture_layout(build_model("gcflnet", channels=(8, 16, 32)).config)[0]
        assert [b.text.split("\n")[1] for b in narrow if b.kind == "encoder"] == ["8 ch, H x W", "16 ch, H/2 x W/2",
                                                                                "32 ch, H/4 x W/4"]
        unet = _kinds(build_model("unet", channels=(8, 16, 32)).config)
        assert "eem" not in unet and "glfi" not in unet
        skips = [b.text for b in architecture_layout(build_model("unet", channels=(8, 16)).config)[0] if b.kind == "skip"]
        assert skips == ["concat skip\n8 + 16 ch"]

    def test_draw_highlights_one_kind(self):
        config = build_model("gcflnet", channels=(8, 16, 32)).config
        ax = draw_architecture(config, highlight="efeu")
        texts = [t.get_text() for t in ax.texts]
        assert "EEM\nEFEU + CDC\n32 ch" in texts and "highlighted: EFEU, one of the two branches" in ax.get_title()
        greyed = {t.get_gid(): t.get_color() for t in ax.texts if t.get_gid()}
        assert greyed["text-eem0"] == "black" and greyed["text-glfi0"] != "black"
        plt.close(ax.figure)

    def test_the_image_feeds_every_eem_and_each_level_feeds_the_next(self):
        boxes, arrows = architecture_layout(build_model("gcflnet", channels=(8, 16, 32)).config)
        by_name = {box.name: box for box in boxes}
        assert {("input", "eem0"), ("input", "image1"), ("image1", "eem1"), ("image1", "image2"), ("image2", "eem2")} <= set(arrows)
        # The GLFI's output is the skip and, pooled, the next block's input; EEM takes the block's features.
        assert {("glfi0", "enc1"), ("glfi1", "enc2"), ("glfi0", "skip0"), ("enc1", "eem1"), ("eem1", "glfi1")} <= set(arrows)
        # The decoder runs up: the bottleneck into the coarsest MSIC, each decoder block into the next finer MSIC.
        assert {("glfi2", "skip1"), ("dec1", "skip0")} <= set(arrows)
        kinds = {arrow: arrow_kind(by_name[arrow[0]], by_name[arrow[1]]) for arrow in arrows}
        assert kinds[("glfi0", "enc1")] == kinds[("image1", "image2")] == "down"
        assert kinds[("dec1", "skip0")] == kinds[("glfi2", "skip1")] == "up"
        assert kinds[("head0", "loss")] == "loss" and kinds[("enc0", "eem0")] == "same"

    def test_boxes_do_not_overlap(self):
        for name in ("gcflnet", "unet", "gcflnet_glfi", "gcflnet_eem_msic"):
            boxes, _ = architecture_layout(build_model(name, channels=(8, 16, 32, 64)).config)
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    apart = abs(a.x - b.x) >= 2 * HALF_W or abs(a.y - b.y) >= a.half_h + b.half_h
                    assert apart, (name, a.name, b.name)

    def test_full_drawing_has_a_key_and_a_highlighted_one_is_smaller(self):
        config = build_model("gcflnet", channels=(8, 16, 32)).config
        full = draw_architecture(config)
        (legend,) = full.figure.legends
        labels = [text.get_text() for text in legend.get_texts()]
        assert any(label.startswith("EEM") for label in labels) and any("upsampled" in label for label in labels)
        part = draw_architecture(config, highlight="glfi")
        assert part.figure.get_figwidth() < full.figure.get_figwidth()
        assert "notebook 00" in part.get_title()
        plt.close("all")

    def test_bad_highlight_and_config(self):
        with pytest.raises(ValueError, match="highlight 'bogus'"):
            draw_architecture(build_model("gcflnet", channels=(8, 16)).config, highlight="bogus")
        with pytest.raises(ValueError, match="at least two levels"):
            architecture_layout({"channels": [8]})
        assert "head" in KINDS
