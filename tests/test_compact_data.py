"""Compact dataset copies for a GPU lease (gcflnet_lib.data.compact, scripts/pack_campaign_data.py)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from gcflnet_lib.data.compact import LUMA_ROUNDING, gray_plane, pack_dataset, verify_pack
from gcflnet_lib.data.dataset import load_split
from gcflnet_lib.data.io import read_image


def _dataset(root: Path) -> Path:
    """Four images of the kinds real sets mix: equal-channel RGB (NUDT-SIRST), RGB, RGBA with equal colours, gray."""
    rng = np.random.default_rng(0)
    plane = rng.integers(0, 256, (40, 48), dtype=np.uint8)
    images = {"same": np.dstack([plane] * 3), "colour": rng.integers(0, 256, (40, 48, 3), dtype=np.uint8),
              "alpha": np.dstack([plane] * 3 + [rng.integers(0, 256, (40, 48), dtype=np.uint8)]), "gray": plane}
    for folder in ("images", "masks", "img_idx"):
        (root / folder).mkdir(parents=True)
    for name, image in images.items():
        cv2.imwrite(str(root / "images" / f"{name}.png"), image)
        mask = np.zeros((40, 48), np.uint8)
        mask[10:12, 20:23] = 255
        cv2.imwrite(str(root / "masks" / f"{name}.png"), mask)
    (root / "img_idx" / "train_Toy.txt").write_text("same\ncolour\n")
    (root / "img_idx" / "test_Toy.txt").write_text("alpha\ngray\n")
    return root


class TestGrayPlane:
    def test_only_equal_colour_channels_collapse(self):
        plane = np.arange(12, dtype=np.uint8).reshape(3, 4)
        assert np.array_equal(gray_plane(np.dstack([plane] * 3)), plane)
        assert np.array_equal(gray_plane(np.dstack([plane] * 3 + [plane * 0])), plane)  # alpha is not read anyway
        assert gray_plane(np.dstack([plane, plane, plane + 1])) is None
        assert gray_plane(plane) is None and gray_plane(np.dstack([plane.astype(np.uint16)] * 3)) is None

    def test_the_luma_of_equal_channels_is_the_gray_value_within_the_bound(self, tmp_path):
        values = np.arange(256, dtype=np.uint8).reshape(16, 16)
        cv2.imwrite(str(tmp_path / "rgb.png"), np.dstack([values] * 3))
        assert 0 < np.abs(read_image(tmp_path / "rgb.png") - values).max() <= LUMA_ROUNDING


class TestPack:
    def test_copy_reads_back_as_the_original_and_is_smaller(self, tmp_path):
        source = _dataset(tmp_path / "src")
        report = pack_dataset(source, tmp_path / "out", "Toy")
        assert (report.images, report.gray, report.copied) == (4, 2, ["colour", "gray"])
        assert report.packed_bytes < report.source_bytes
        assert (tmp_path / "out" / "images" / "colour.png").read_bytes() == (source / "images" / "colour.png").read_bytes()
        assert cv2.imread(str(tmp_path / "out" / "images" / "same.png"), cv2.IMREAD_UNCHANGED).ndim == 2
        assert verify_pack(source, tmp_path / "out", "Toy", report) <= LUMA_ROUNDING
        assert "4 images (2 as one gray plane, 2 copied)" in report.line() and "read back within" in report.line()
        for split in ("train", "test"):
            a, b = load_split(source, "Toy", split), load_split(tmp_path / "out", "Toy", split)
            assert [s.name for s in a] == [s.name for s in b]
            assert all(np.array_equal(x.mask, y.mask) for x, y in zip(a, b))

    def test_a_copy_that_differs_is_refused_naming_the_image(self, tmp_path):
        source = _dataset(tmp_path / "src")
        pack_dataset(source, tmp_path / "out", "Toy")
        cv2.imwrite(str(tmp_path / "out" / "images" / "same.png"), np.zeros((40, 48), np.uint8))
        with pytest.raises(ValueError, match="image same reads"):
            verify_pack(source, tmp_path / "out", "Toy")


class TestScript:
    def test_packs_checks_and_reports_what_travels(self, tmp_path, capsys, script_module):
        _dataset(tmp_path / "datasets" / "Toy")
        script = script_module("pack_campaign_data")
        assert script.main(["--source", str(tmp_path / "datasets"), "--out", str(tmp_path / "carry"), "--datasets", "Toy"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines[0].startswith("Toy: 4 images") and lines[1].startswith("travels: tracked ")

    def test_the_limit_is_the_sum_of_tracked_and_carried(self, script_module):
        script = script_module("pack_campaign_data")
        assert script.travel_line(30 * 2**20, 30 * 2**20)[1]
        line, fits = script.travel_line(30 * 2**20, 40 * 2**20)
        assert not fits and line.endswith("OVER the limit: carry fewer datasets")

    def test_a_missing_source_is_one_line(self, tmp_path, capsys, script_module):
        assert script_module("pack_campaign_data").main(["--source", str(tmp_path), "--out", str(tmp_path / "c"), "--datasets", "NUDT-SIRST"]) == 2
        assert capsys.readouterr().err.strip().endswith("not a standard-layout NUDT-SIRST folder")
