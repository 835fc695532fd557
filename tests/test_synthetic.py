"""The synthetic generator (gcflnet_lib.data.synthetic): rendering, determinism, layout on disk, atomic output."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from gcflnet_lib.data import synthetic
from gcflnet_lib.data.dataset import load_split
from gcflnet_lib.data.synthetic import make_samples, render_sample, write_dataset
from gcflnet_lib.errors import UserError


def folder_bytes(root):
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def measured_scr(image: np.ndarray, mask: np.ndarray, margin: int = 8) -> list[float]:
    """(mean target - mean local background) / std local background, per 8-connected target."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    ratios = []
    for index, window in enumerate(ndimage.find_objects(labels), start=1):
        rows = slice(max(window[0].start - margin, 0), window[0].stop + margin)
        cols = slice(max(window[1].start - margin, 0), window[1].stop + margin)
        local_image, local_labels = image[rows, cols].astype(np.float64), labels[rows, cols]
        background = local_image[local_labels == 0]
        ratios.append((local_image[local_labels == index].mean() - background.mean()) / max(background.std(), 1e-6))
    return ratios


class TestRenderSample:
    def test_types_shapes_and_mask_values(self):
        image, mask = render_sample(np.random.default_rng(0), 64)
        assert image.dtype == np.uint8 and mask.dtype == np.uint8 and image.shape == mask.shape == (64, 64)
        assert set(np.unique(mask).tolist()) <= {0, 255}
        image, mask = render_sample(np.random.default_rng(0), (40, 72))
        assert image.shape == (40, 72)

    def test_target_counts_and_areas_follow_the_settings(self):
        counts, areas = [], []
        for index in range(150):
            _, mask = render_sample(np.random.default_rng([5, index]), 128)
            labels, count = ndimage.label(mask > 0, structure=np.ones((3, 3)))
            counts.append(count)
            areas.extend(np.bincount(labels.ravel())[1:].tolist())
        assert max(counts) <= 4 and 0 < counts.count(0) < 40  # P(0 targets) = 0.10
        assert min(areas) >= 1 and max(areas) <= 120 and np.median(areas) < 40
        assert sum(a <= 4 for a in areas) > 10 and sum(a >= 40 for a in areas) > 10  # small and large both occur

    def test_targets_are_brighter_than_their_surroundings_as_the_scr_says(self):
        def median_scr(scr):
            ratios = []
            for index in range(60):
                image, mask = render_sample(np.random.default_rng([9, index]), 96, scr_range=(scr, scr))
                ratios += measured_scr(image, mask > 0)
            return float(np.median(ratios))

        low, high = median_scr(3.0), median_scr(12.0)
        assert 1.5 < low < 6.0 and 6.0 < high < 20.0 and high > 2.5 * low

    def test_no_targets_when_max_targets_is_zero(self):
        _, mask = render_sample(np.random.default_rng(1), 64, max_targets=0)
        assert mask.max() == 0

    @pytest.mark.parametrize(
        "options, match",
        [({"scr_range": (5, 2)}, "scr_range"), ({"area_range": (0, 5)}, "area_range"), ({"mask_fraction": 1.0}, "mask_fraction")],
    )
    def test_bad_options(self, options, match):
        with pytest.raises(ValueError, match=match):
            render_sample(np.random.default_rng(0), 32, **options)


class TestMakeSamples:
    def test_same_seed_same_images_and_independent_of_n(self):
        first, second = make_samples(3, 48, seed=4), make_samples(6, 48, seed=4)
        for a, b in zip(first, second):
            assert a.name == b.name and np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
        other = make_samples(3, 48, seed=5)
        assert not np.array_equal(first[0].image, other[0].image)

    def test_sample_types(self):
        (sample,) = make_samples(1, 32)
        assert sample.image.dtype == np.float32 and sample.mask.dtype == np.bool_ and sample.name == "000000"


class TestWriteDataset:
    def test_standard_layout_matching_make_samples(self, tmp_path):
        out = write_dataset(tmp_path / "synth", 7, size=40, seed=3, name="Toy", test_fraction=0.3)
        assert (out / "img_idx" / "train_Toy.txt").read_text().split() == [f"{i:06d}" for i in range(5)]
        assert (out / "img_idx" / "test_Toy.txt").read_text().split() == ["000005", "000006"]
        loaded = load_split(out, "Toy", "train") + load_split(out, "Toy", "test")
        for on_disk, in_memory in zip(loaded, make_samples(7, 40, seed=3)):
            assert np.array_equal(on_disk.image, in_memory.image) and np.array_equal(on_disk.mask, in_memory.mask)

    def test_same_seed_gives_byte_identical_files_also_in_parallel(self, tmp_path):
        one = folder_bytes(write_dataset(tmp_path / "a", 12, size=48, seed=11))
        two = folder_bytes(write_dataset(tmp_path / "b", 12, size=48, seed=11, workers=2))
        assert len(one) == 12 * 2 + 3 and one == two
        three = folder_bytes(write_dataset(tmp_path / "c", 12, size=48, seed=12))
        assert one["images/000000.png"] != three["images/000000.png"]

    def test_refuses_a_non_empty_folder_unless_overwrite(self, tmp_path):
        out = tmp_path / "synth"
        out.mkdir()
        (out / "keep.txt").write_text("precious")
        with pytest.raises(UserError, match="not empty"):
            write_dataset(out, 4, size=32)
        assert folder_bytes(out) == {"keep.txt": b"precious"}
        write_dataset(out, 4, size=32, overwrite=True)
        assert not (out / "keep.txt").exists() and (out / "img_idx" / "test_Synthetic.txt").is_file()
        assert [p.name for p in tmp_path.iterdir()] == ["synth"]  # no staging or backup folders left

    def test_failure_half_way_leaves_nothing(self, tmp_path, monkeypatch):
        calls = []

        def failing(seed, index, size, options):
            calls.append(index)
            if len(calls) == 3:
                raise RuntimeError("disk on fire")
            return render_sample(np.random.default_rng([seed, index]), size, **options)

        monkeypatch.setattr(synthetic, "_render_index", failing)
        with pytest.raises(RuntimeError, match="disk on fire"):
            write_dataset(tmp_path / "synth", 6, size=32)
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize(
        "kwargs, match",
        [({"n": 1}, "--n must be at least 2"), ({"test_fraction": 1.0}, "--test-fraction"), ({"name": "a/b"}, "--name"),
         ({"workers": 0}, "--workers"), ({"seed": -1}, "--seed")],
    )
    def test_bad_arguments_write_nothing(self, tmp_path, kwargs, match):
        arguments = {"out": tmp_path / "synth", "n": 4, "size": 32, **kwargs}
        with pytest.raises(UserError, match=match):
            write_dataset(**arguments)
        assert list(tmp_path.iterdir()) == []
