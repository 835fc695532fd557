"""gcflnet_lib.workbook.architecture: the architecture figure follows the model's real configuration."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from gcflnet_lib.workbook.architecture import KINDS, architecture_layout, draw_architecture  # noqa: E402
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
        assert [b.text.split("\n")[1] for b in narrow if b.kind == "encoder"] == ["8 ch, H x W", "16 ch, H/2", "32 ch, H/4"]
        unet = _kinds(build_model("unet", channels=(8, 16, 32)).config)
        assert "eem" not in unet and "glfi" not in unet
        skips = [b.text for b in architecture_layout(build_model("unet", channels=(8, 16)).config)[0] if b.kind == "skip"]
        assert skips == ["concat skip\n8 + 16 ch"]

    def test_draw_highlights_one_kind(self):
        config = build_model("gcflnet", channels=(8, 16, 32)).config
        ax = draw_architecture(config, highlight="efeu")
        texts = [t.get_text() for t in ax.texts]
        assert "EEM\nEFEU + CDC\n32 ch" in texts and "highlighted: efeu" in ax.get_title()
        greyed = {t.get_gid(): t.get_color() for t in ax.texts if t.get_gid()}
        assert greyed["text-eem0"] == "black" and greyed["text-glfi0"] != "black"
        plt.close(ax.figure)

    def test_bad_highlight_and_config(self):
        with pytest.raises(ValueError, match="highlight 'bogus'"):
            draw_architecture(build_model("gcflnet", channels=(8, 16)).config, highlight="bogus")
        with pytest.raises(ValueError, match="at least two levels"):
            architecture_layout({"channels": [8]})
        assert "head" in KINDS
