"""Image, mask and prediction reading (gcflnet_lib.data.io) and split/file lookup (gcflnet_lib.data.layout)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gcflnet_lib.data.io import encode_png, read_image, read_mask, read_prediction, write_png
from gcflnet_lib.data.layout import find_image, find_mask, read_split, split_file
from gcflnet_lib.errors import DataError


def _write_raw(path, array):
    """Write with cv2 directly (channels in B, G, R order), bypassing write_png's checks."""
    assert cv2.imwrite(str(path), array)
    return path


class TestReadImage:
    def test_gray_8bit_values_kept(self, tmp_path):
        array = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
        image = read_image(_write_raw(tmp_path / "a.png", array))
        assert image.dtype == np.float32 and image.shape == (6, 10)
        np.testing.assert_array_equal(image, array.astype(np.float32))

    def test_rgb_becomes_itu601_luma(self, tmp_path):
        rng = np.random.default_rng(0)
        bgr = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
        image = read_image(_write_raw(tmp_path / "c.png", bgr))
        blue, green, red = (bgr[..., i].astype(np.float64) for i in range(3))
        np.testing.assert_allclose(image, 0.299 * red + 0.587 * green + 0.114 * blue, atol=1e-3)

    def test_gray_stored_as_rgb_reads_as_the_gray_values(self, tmp_path):
        gray = np.random.default_rng(1).integers(0, 256, size=(4, 4), dtype=np.uint8)
        image = read_image(_write_raw(tmp_path / "g.png", np.dstack([gray] * 3)))
        np.testing.assert_allclose(image, gray.astype(np.float32), atol=1e-3)

    def test_rgba_alpha_is_dropped(self, tmp_path):
        rng = np.random.default_rng(2)
        bgr = rng.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
        opaque = np.dstack([bgr, np.full((5, 6), 255, np.uint8)])
        see_through = np.dstack([bgr, rng.integers(0, 256, size=(5, 6), dtype=np.uint8)])
        np.testing.assert_array_equal(
            read_image(_write_raw(tmp_path / "a.png", opaque)), read_image(_write_raw(tmp_path / "b.png", see_through))
        )
        np.testing.assert_array_equal(read_image(tmp_path / "a.png"), read_image(_write_raw(tmp_path / "c.png", bgr)))

    def test_16bit_is_divided_by_257(self, tmp_path):
        array = np.array([[0, 257, 65535], [25700, 514, 1285]], dtype=np.uint16)
        image = read_image(_write_raw(tmp_path / "d.png", array))
        np.testing.assert_allclose(image, [[0, 1, 255], [100, 2, 5]], atol=1e-4)

    def test_missing_file_names_the_path(self, tmp_path):
        with pytest.raises(DataError, match=r"^.*nope\.png: file not found"):
            read_image(tmp_path / "nope.png")

    @pytest.mark.parametrize("content", [b"", b"not a png at all", None], ids=["empty", "garbage", "truncated"])
    def test_unreadable_file_names_the_path(self, tmp_path, content):
        path = tmp_path / "bad.png"
        if content is None:  # a real PNG cut in half
            content = encode_png(np.random.default_rng(3).integers(0, 256, (64, 64), dtype=np.uint8))[:200]
        path.write_bytes(content)
        with pytest.raises(DataError) as info:
            read_image(path)
        assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


class TestReadMask:
    @pytest.mark.parametrize("on", [1, 255, 17])
    def test_any_positive_value_is_target(self, tmp_path, on):
        truth = np.zeros((5, 6), dtype=bool)
        truth[1:3, 2:5] = True
        mask = read_mask(_write_raw(tmp_path / "m.png", truth.astype(np.uint8) * on))
        assert mask.dtype == np.bool_
        np.testing.assert_array_equal(mask, truth)

    def test_colour_mask_counts_any_channel(self, tmp_path):
        bgr = np.zeros((3, 3, 3), dtype=np.uint8)
        bgr[0, 0, 2] = 255  # red only
        bgr[2, 1, 0] = 1  # blue only
        mask = read_mask(_write_raw(tmp_path / "m.png", bgr))
        assert mask.sum() == 2 and mask[0, 0] and mask[2, 1]


class TestReadPrediction:
    def test_8bit_probability_divided_by_255(self, tmp_path):
        array = np.array([[0, 51, 128, 255]], dtype=np.uint8)
        np.testing.assert_allclose(read_prediction(_write_raw(tmp_path / "p.png", array)), array / 255.0, atol=1e-7)

    def test_binary_01_and_0255_masks_give_01(self, tmp_path):
        binary = np.array([[0, 1, 1, 0]], dtype=np.uint8)
        np.testing.assert_array_equal(read_prediction(_write_raw(tmp_path / "a.png", binary)), binary)
        np.testing.assert_array_equal(read_prediction(_write_raw(tmp_path / "b.png", binary * 255)), binary)

    def test_reading_can_be_forced(self, tmp_path):
        path = _write_raw(tmp_path / "p.png", np.array([[0, 1, 128]], dtype=np.uint8))
        np.testing.assert_array_equal(read_prediction(path, binary=True), [[0, 1, 1]])
        np.testing.assert_allclose(read_prediction(path, binary=False), [[0, 1 / 255, 128 / 255]], atol=1e-7)
        zero_one = _write_raw(tmp_path / "z.png", np.array([[0, 1]], dtype=np.uint8))
        np.testing.assert_allclose(read_prediction(zero_one, binary=False), [[0, 1 / 255]], atol=1e-7)

    def test_16bit_divided_by_65535(self, tmp_path):
        array = np.array([[0, 65535, 32768]], dtype=np.uint16)
        np.testing.assert_allclose(read_prediction(_write_raw(tmp_path / "p.png", array)), array / 65535.0, atol=1e-7)


class TestWritePng:
    def test_round_trip_and_same_bytes(self, tmp_path):
        array = np.random.default_rng(4).integers(0, 256, size=(9, 11), dtype=np.uint8)
        write_png(tmp_path / "a.png", array)
        write_png(tmp_path / "b.png", array.copy())
        assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
        np.testing.assert_array_equal(read_image(tmp_path / "a.png"), array)

    def test_rejects_float_arrays(self, tmp_path):
        with pytest.raises(ValueError, match="uint8"):
            write_png(tmp_path / "a.png", np.zeros((3, 3), dtype=np.float32))
        assert not (tmp_path / "a.png").exists()


def _layout(root, names=("a", "b"), split_text=None):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "img_idx").mkdir()
    for name in names:
        write_png(root / "images" / f"{name}.png", np.zeros((4, 4), np.uint8))
        write_png(root / "masks" / f"{name}.png", np.zeros((4, 4), np.uint8))
    text = "\n".join(names) + "\n" if split_text is None else split_text
    (root / "img_idx" / "test_Toy.txt").write_text(text)
    return root


class TestLayout:
    def test_split_file_path(self, tmp_path):
        assert split_file(tmp_path, "NUAA-SIRST", "train") == tmp_path / "img_idx" / "train_NUAA-SIRST.txt"

    def test_read_split_skips_blanks_and_extensions(self, tmp_path):
        _layout(tmp_path, split_text="a\n\n  b.png  \r\nc\n")
        assert read_split(tmp_path, "Toy", "test") == ["a", "b", "c"]

    def test_missing_split_file_names_it(self, tmp_path):
        _layout(tmp_path)
        with pytest.raises(DataError) as info:
            read_split(tmp_path, "Toy", "train")
        message = str(info.value)
        assert message.startswith(str(split_file(tmp_path, "Toy", "train"))) and "test_Toy.txt" in message

    @pytest.mark.parametrize("text", ["", "\n  \n"])
    def test_empty_split_file(self, tmp_path, text):
        _layout(tmp_path, split_text=text)
        with pytest.raises(DataError, match="split file is empty"):
            read_split(tmp_path, "Toy", "test")

    def test_name_listed_twice(self, tmp_path):
        _layout(tmp_path, split_text="a\nb\na\n")
        with pytest.raises(DataError, match="'a' is listed twice"):
            read_split(tmp_path, "Toy", "test")

    def test_find_image_other_extensions(self, tmp_path):
        _layout(tmp_path)
        assert cv2.imwrite(str(tmp_path / "images" / "c.bmp"), np.zeros((2, 2), np.uint8))
        assert find_image(tmp_path, "a") == tmp_path / "images" / "a.png"
        assert find_image(tmp_path, "c") == tmp_path / "images" / "c.bmp"
        with pytest.raises(DataError, match=r"images/zz\.png: image not found"):
            find_image(tmp_path, "zz")

    def test_find_mask_sirst_suffix_and_missing(self, tmp_path):
        _layout(tmp_path)
        write_png(tmp_path / "images" / "c.png", np.zeros((2, 2), np.uint8))
        with pytest.raises(DataError) as info:
            find_mask(tmp_path, "c")
        assert str(info.value) == f"{tmp_path / 'masks' / 'c.png'}: mask missing for image {tmp_path / 'images' / 'c.png'}"
        write_png(tmp_path / "masks" / "c_pixels0.png", np.zeros((2, 2), np.uint8))
        assert find_mask(tmp_path, "c") == tmp_path / "masks" / "c_pixels0.png"
