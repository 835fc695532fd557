"""Device-agnostic tensor transforms (gcflnet_lib.data.transforms)."""

from __future__ import annotations

import pytest
import torch

from gcflnet_lib.data.transforms import crop_to, pad_to_multiple, random_crops, random_flips_transposes

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def coordinate_image(height: int, width: int) -> torch.Tensor:
    """Each pixel holds 1 + its raster index, so a crop reveals exactly where it came from."""
    return torch.arange(1, height * width + 1, dtype=torch.float32).reshape(height, width)


class TestPadCrop:
    @pytest.mark.parametrize("device", DEVICES)
    def test_pads_bottom_right_with_zeros_and_crops_back(self, device):
        x = torch.rand(2, 3, 13, 30, device=device) + 1
        padded, size = pad_to_multiple(x, 8)
        assert padded.shape == (2, 3, 16, 32) and size == (13, 30) and padded.device == x.device
        assert torch.equal(padded[..., :13, :30], x)
        assert padded[..., 13:, :].abs().sum() == 0 and padded[..., :, 30:].abs().sum() == 0
        assert torch.equal(crop_to(padded, size), x)

    def test_multiple_already_met_is_unchanged(self):
        x = torch.rand(1, 1, 32, 64)
        padded, size = pad_to_multiple(x, 32)
        assert padded.shape == x.shape and size == (32, 64)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="B, C, H, W"):
            pad_to_multiple(torch.zeros(3, 4), 2)
        with pytest.raises(ValueError, match="multiple"):
            pad_to_multiple(torch.zeros(1, 1, 3, 4), 0)
        with pytest.raises(ValueError, match="size"):
            crop_to(torch.zeros(1, 1, 3, 4), (4, 4))


class TestRandomCrops:
    def test_crops_are_windows_of_their_image_with_aligned_masks(self):
        images = [coordinate_image(40, 50), coordinate_image(33, 70)]
        masks = [image % 7 == 0 for image in images]
        crops, crop_masks = random_crops(images, masks, 16, p_target=0.0, generator=torch.Generator().manual_seed(0))
        assert crops.shape == (2, 1, 16, 16) and crop_masks.shape == (2, 1, 16, 16)
        assert crop_masks.dtype == crops.dtype
        for crop, crop_mask, image in zip(crops[:, 0], crop_masks[:, 0], images):
            top, left = divmod(int(crop[0, 0].item()) - 1, image.shape[1])
            assert torch.equal(crop, image[top : top + 16, left : left + 16])
            assert torch.equal(crop_mask.bool(), crop % 7 == 0)

    def test_p_target_one_always_holds_the_target(self):
        generator = torch.Generator().manual_seed(1)
        mask = torch.zeros(100, 120, dtype=torch.bool)
        mask[80:83, 7:9] = True
        image = coordinate_image(100, 120)
        for _ in range(20):
            _, crop_mask = random_crops([image], [mask], 12, p_target=1.0, generator=generator)
            assert crop_mask.sum() >= 1

    def test_p_target_zero_is_uniform_and_rarely_hits_a_small_target(self):
        generator = torch.Generator().manual_seed(2)
        mask = torch.zeros(100, 100, dtype=torch.bool)
        mask[50, 50] = True
        hits = sum(
            int(random_crops([mask.float()], [mask], 10, p_target=0.0, generator=generator)[1].sum() > 0) for _ in range(200)
        )
        assert hits < 20  # a 10x10 window of 91x91 positions covers the pixel with p ~ 1.2%

    def test_small_images_are_zero_padded(self):
        image = coordinate_image(5, 7)
        crops, masks = random_crops([image], [image > 30], 8, generator=torch.Generator().manual_seed(3))
        assert crops.shape == (1, 1, 8, 8)
        assert torch.equal(crops[0, 0, :5, :7], image) and crops[0, 0, 5:].sum() == 0
        assert masks.sum() == (image > 30).sum()

    def test_same_seed_same_crops(self):
        images = [torch.rand(50, 60) for _ in range(4)]
        masks = [image > 0.9 for image in images]
        first = random_crops(images, masks, 16, 0.5, torch.Generator().manual_seed(7))
        second = random_crops(images, masks, 16, 0.5, torch.Generator().manual_seed(7))
        assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])

    @pytest.mark.parametrize("device", DEVICES)
    def test_stays_on_the_device(self, device):
        image = torch.rand(30, 30, device=device)
        crops, masks = random_crops([image], [image > 0.5], 8, 0.5)
        assert crops.device == image.device and masks.device == image.device

    def test_bad_arguments(self):
        image = torch.zeros(8, 8)
        with pytest.raises(ValueError, match="masks"):
            random_crops([image], [], 4)
        with pytest.raises(ValueError, match=r"images\[0\], masks\[0\]"):
            random_crops([image], [torch.zeros(8, 9)], 4)
        with pytest.raises(ValueError, match="p_target"):
            random_crops([image], [image], 4, p_target=1.5)


    def test_precomputed_target_pixels_give_the_same_crops(self):
        g = torch.Generator().manual_seed(0)
        images = [torch.rand(40, 50, generator=g) for _ in range(4)]
        masks = [(torch.rand(40, 50, generator=g) > 0.97).float() for _ in range(4)]
        plain = random_crops(images, masks, 16, p_target=0.8, generator=torch.Generator().manual_seed(5))
        targets = [torch.nonzero(mask) for mask in masks]
        precomputed = random_crops(images, masks, 16, p_target=0.8, generator=torch.Generator().manual_seed(5),
                                   target_pixels=targets)
        assert torch.equal(plain[0], precomputed[0]) and torch.equal(plain[1], precomputed[1])
        with pytest.raises(ValueError, match="target_pixels"):
            random_crops(images, masks, 16, target_pixels=targets[:2])


class TestRandomFlipsTransposes:
    def test_image_and_mask_get_the_same_dihedral_transform(self):
        base = coordinate_image(6, 6)
        dihedral = [base, base.flip(-1), base.flip(-2), base.flip(-1).flip(-2)]
        dihedral += [t.transpose(0, 1) for t in dihedral]
        x = base.expand(64, 1, 6, 6).clone()
        y = torch.cat([x, 2 * x], dim=1)  # two channels that must follow the image
        out_x, out_y = random_flips_transposes(x, y, torch.Generator().manual_seed(0))
        seen = set()
        for sample_x, sample_y in zip(out_x, out_y):
            index = next(i for i, t in enumerate(dihedral) if torch.equal(sample_x[0], t))
            seen.add(index)
            assert torch.equal(sample_y[0], sample_x[0]) and torch.equal(sample_y[1], 2 * sample_x[0])
        assert seen == set(range(8))

    def test_without_transpose_non_square_inputs_work(self):
        x = coordinate_image(4, 6).expand(16, 1, 4, 6).clone()
        out_x, out_y = random_flips_transposes(x, x.clone(), torch.Generator().manual_seed(1), transpose=False)
        assert out_x.shape == x.shape and torch.equal(out_x, out_y)
        assert not torch.equal(out_x, x)  # 16 samples, p(no flip at all) = 0.25**16

    def test_errors(self):
        with pytest.raises(ValueError, match="square"):
            random_flips_transposes(torch.zeros(1, 1, 4, 6), torch.zeros(1, 1, 4, 6))
        with pytest.raises(ValueError, match="x, y"):
            random_flips_transposes(torch.zeros(2, 1, 4, 4), torch.zeros(3, 1, 4, 4))
