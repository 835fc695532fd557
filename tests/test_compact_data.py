"""Compact dataset copies for a GPU lease (gcflnet_lib.data.compact, scripts/pack_campaign_data.py)."""

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from gcflnet_lib.data.compact import LUMA_ROUNDING, carried_test, even_subset, gray_plane, pack_dataset, verify_pack
from gcflnet_lib.data.dataset import load_split
from gcflnet_lib.data.io import read_image

ROOT = Path(__file__).resolve().parents[1]


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


class TestPartOfTheTestSplit:
    def test_the_part_is_spread_evenly_and_keeps_order(self):
        names = [f"{i:03d}" for i in range(10)]
        assert even_subset(names, 4) == ["000", "002", "005", "007"]
        assert even_subset(names, None) == even_subset(names, 10) == even_subset(names, 99) == names
        assert even_subset(names, 1) == ["000"]
        with pytest.raises(ValueError, match="at least 1"):
            even_subset(names, 0)

    def test_a_copy_carries_the_whole_train_split_and_part_of_the_test_split_and_says_so(self, tmp_path):
        source = _dataset(tmp_path / "src")
        (source / "img_idx" / "test_Toy.txt").write_text("alpha\ngray\nsame\n")  # a name may sit in both splits
        pack_dataset(source, tmp_path / "out", "Toy")  # a full pack first: its extra files must go
        report = pack_dataset(source, tmp_path / "out", "Toy", test_images=1)
        assert (report.test_images, report.test_total, report.images) == (1, 3, 3)
        assert "test split: 1 of 3 images carried" in report.line()
        assert (tmp_path / "out" / "img_idx" / "test_Toy.txt").read_text() == "alpha\n"
        assert sorted(p.stem for p in (tmp_path / "out" / "images").iterdir()) == ["alpha", "colour", "same"]
        assert sorted(p.stem for p in (tmp_path / "out" / "masks").iterdir()) == ["alpha", "colour", "same"]
        assert json.loads((tmp_path / "out" / "carried.json").read_text())["test_total"] == 3
        assert carried_test(tmp_path / "out", "Toy") == (1, 3) and carried_test(source, "Toy") == (3, 3)
        assert verify_pack(source, tmp_path / "out", "Toy") <= LUMA_ROUNDING
        assert [s.name for s in load_split(tmp_path / "out", "Toy", "test")] == ["alpha"]

    def test_a_test_part_that_is_not_the_even_one_is_refused(self, tmp_path):
        source = _dataset(tmp_path / "src")
        pack_dataset(source, tmp_path / "out", "Toy", test_images=1)
        (tmp_path / "out" / "img_idx" / "test_Toy.txt").write_text("gray\n")
        with pytest.raises(ValueError, match="the test split differs"):
            verify_pack(source, tmp_path / "out", "Toy")


def _git_tree(root: Path) -> Path:
    """A tiny checkout: a tracked file, an untracked one, an ignored folder (never travels) and a carried folder."""
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("/ignored/\n/.campaign/\n")  # 22 bytes
    (root / "tracked.bin").write_bytes(b"t" * 1000)
    (root / "untracked.bin").write_bytes(b"u" * 500)
    (root / "ignored").mkdir()
    (root / "ignored" / "big.bin").write_bytes(b"i" * 7000)
    (root / ".campaign" / "Toy" / "images").mkdir(parents=True)
    (root / ".campaign" / "Toy" / "images" / "a.png").write_bytes(b"c" * 300)
    (root / ".campaign" / "Toy" / "carried.json").write_bytes(b"{}" * 10)
    subprocess.run(["git", "-C", str(root), "add", "tracked.bin"], check=True)
    return root


class TestTravelMeasure:
    def test_the_tree_is_the_tracked_and_untracked_files_git_does_not_ignore_plus_the_carried_folder(self, tmp_path, script_module):
        script = script_module("pack_campaign_data")
        root = _git_tree(tmp_path / "repo")
        assert script.tree_bytes(root) == 1000 + 500 + 22
        assert script.travel_bytes(root, root / ".campaign") == (1522, 320)
        assert script.travel_bytes(root, root / "absent") == (1522, 0)
        (root / "tracked.bin").unlink()  # deleted, still in the index: nothing of it travels
        assert script.tree_bytes(root) == 522

    def test_the_line_says_what_is_left_and_warns_below_the_margin(self, script_module):
        script = script_module("pack_campaign_data")
        line, fits = script.travel_line(37 * 2**20, 17 * 2**20)
        assert fits and line == "travels: tree 37.0 MiB + carried 17.0 MiB = 54.0 MiB of 64 MiB, 10.0 MiB to spare"
        line, fits = script.travel_line(40 * 2**20, 20 * 2**20)
        assert fits and line.endswith("4.0 MiB to spare - less than the 8 MiB margin for new releases")
        assert script.travel_line(32 * 2**20, 32 * 2**20)[1] and not script.travel_line(32 * 2**20, 32 * 2**20 + 1)[1]

    @pytest.mark.slow
    def test_the_real_pack_travels_within_the_limit(self, nudt_root, tmp_path, script_module, capsys):
        """The packer's own measure on NUDT-SIRST as the campaign carries it (skips when the set is absent)."""
        script = script_module("pack_campaign_data")
        code = script.main(["--source", str(nudt_root.parent), "--out", str(tmp_path / "carry"), "--datasets", "NUDT-SIRST"])
        printed = capsys.readouterr().out
        tree, carried = script.travel_bytes(ROOT, tmp_path / "carry")
        assert tree is not None, "git could not list the tree"
        assert code == 0 and tree + carried <= script.TRAVEL_LIMIT, printed
        assert f"test split: {script.DEFAULT_TEST_IMAGES} of 664 images carried" in printed


class TestScript:
    def test_packs_checks_and_reports_what_travels(self, tmp_path, capsys, script_module):
        _dataset(tmp_path / "datasets" / "Toy")
        script = script_module("pack_campaign_data")
        assert script.main(["--source", str(tmp_path / "datasets"), "--out", str(tmp_path / "carry"), "--datasets", "Toy"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines[0].startswith("Toy: 4 images") and lines[1].startswith("travels: tree ")

    def test_the_limit_is_the_sum_of_tracked_and_carried(self, script_module):
        script = script_module("pack_campaign_data")
        assert script.travel_line(30 * 2**20, 30 * 2**20)[1]
        line, fits = script.travel_line(30 * 2**20, 40 * 2**20)
        assert not fits and line.endswith("OVER the limit: carry fewer datasets or fewer test images")

    def test_a_missing_source_is_one_line(self, tmp_path, capsys, script_module):
        assert script_module("pack_campaign_data").main(["--source", str(tmp_path), "--out", str(tmp_path / "c"), "--datasets", "NUDT-SIRST"]) == 2
        assert capsys.readouterr().err.strip().endswith("not a standard-layout NUDT-SIRST folder")
