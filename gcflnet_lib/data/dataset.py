"""Loading a standard-layout split into memory, normalisation statistics, and a classic ``Dataset``.

``load_split`` decodes and validates a whole split once (IRSTD sets are small: NUAA-SIRST is 427
images), which is what the training engine wants: it keeps the arrays as tensors on its device.
``IRSTDFolder`` wraps the same samples for users who prefer a ``torch.utils.data.DataLoader``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np
import torch

from gcflnet_lib.data.io import read_image, read_mask
from gcflnet_lib.data.layout import find_image, find_mask, read_split, split_file
from gcflnet_lib.data.transforms import pad_to_multiple, random_crops, random_flips_transposes
from gcflnet_lib.errors import DataError


class Sample(NamedTuple):
    """One image of a split: ``image`` float32 (H, W) on the 0..255 scale, ``mask`` bool (H, W)."""

    name: str
    image: np.ndarray
    mask: np.ndarray


# Mean and std on the 0..255 scale as BasicIRSTD hard-codes them (utils.get_img_norm_cfg). Its recipe:
# the mean over images of each image's mean and of each image's std. The NUAA-SIRST release in
# ../shared/datasets gives 111.89 / 27.62 by that recipe (see tests/test_dataset.py), so BasicIRSTD's
# copy of NUAA-SIRST evidently differs; the values are kept as published for comparability.
NORM_STATS: dict[str, tuple[float, float]] = {
    "NUAA-SIRST": (101.06385040283203, 34.619606018066406),
    "NUDT-SIRST": (107.80905151367188, 33.02274703979492),
    "IRSTD-1K": (87.4661865234375, 39.71953201293945),
}


# Upstream defects that are fixed on load, each matched by name and both exact sizes so that no other
# mismatch slips through. SIRST's Misc_111 mask was drawn on an upscaled copy of the image
# (github.com/YimianDai/sirst/issues/8); resized back by nearest neighbour it sits on the target.
KNOWN_MASK_RESIZES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "Misc_111": ((220, 325), (400, 592)),  # image (H, W), mask (H, W)
}


class KnownDefectWarning(UserWarning):
    """A known defect of a public dataset release was fixed on load (an entry of :data:`KNOWN_MASK_RESIZES`).

    Its own category, so that a caller that states the fix once (the workbook's ``setup``) can silence exactly
    these, while the CLI keeps reporting every one.
    """


def resize_known_defect(name: str, array: np.ndarray, shape: tuple[int, int], path) -> np.ndarray | None:
    """``array`` resized (nearest) to ``shape`` with a warning if ``name`` and both sizes match an entry of
    :data:`KNOWN_MASK_RESIZES` (for the mask, or a map drawn on the mask's grid); else None."""
    if KNOWN_MASK_RESIZES.get(name) != (tuple(shape), tuple(array.shape)):
        return None
    warnings.warn(
        f"{path}: {array.shape[0]}x{array.shape[1]} resized to its image's {shape[0]}x{shape[1]} "
        "(known defect of the public release)",
        KnownDefectWarning,
        stacklevel=3,
    )
    source = array.astype(np.uint8) if array.dtype == np.bool_ else array
    resized = cv2.resize(source, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return resized > 0 if array.dtype == np.bool_ else resized


def _match_mask_to_image(name: str, image: np.ndarray, mask: np.ndarray, image_path, mask_path) -> np.ndarray:
    if image.shape == mask.shape:
        return mask
    resized = resize_known_defect(name, mask, image.shape, mask_path)
    if resized is not None:
        return resized
    raise DataError(
        f"{mask_path}: mask is {mask.shape[0]}x{mask.shape[1]} but image {image_path} "
        f"is {image.shape[0]}x{image.shape[1]} (H x W)"
    )


def load_split(root: str | os.PathLike, dataset: str, split: str) -> list[Sample]:
    """Read every image and mask listed in ``ROOT/img_idx/{split}_{dataset}.txt``.

    Raises :class:`DataError` naming the file for: a missing or empty split file, a listed image that
    does not exist, a missing mask, a corrupt image or mask, and an image and mask of different sizes
    (except the upstream defects listed in :data:`KNOWN_MASK_RESIZES`, fixed with a warning).
    """
    names = read_split(root, dataset, split)
    listed_in = split_file(root, dataset, split)
    samples = []
    for name in names:
        try:
            image_path = find_image(root, name)
        except DataError as exc:
            raise DataError(f"{exc}; listed in {listed_in}") from None
        mask_path = find_mask(root, name)
        image = read_image(image_path)
        mask = _match_mask_to_image(name, image, read_mask(mask_path), image_path, mask_path)
        samples.append(Sample(name, image, mask))
    return samples


def compute_norm_stats(samples: Sequence[Sample]) -> tuple[float, float]:
    """BasicIRSTD's recipe: (mean of the per-image means, mean of the per-image stds), 0..255 scale."""
    if not samples:
        raise ValueError("samples: need at least one sample to compute normalisation statistics")
    means = [float(sample.image.mean(dtype=np.float64)) for sample in samples]
    stds = [float(sample.image.std(dtype=np.float64)) for sample in samples]
    mean, std = float(np.mean(means)), float(np.mean(stds))
    # A constant split would divide by zero; 1.0 leaves such images centred but unscaled.
    return mean, std if std > 0 else 1.0


def norm_stats_for(dataset: str, train_samples: Sequence[Sample]) -> tuple[float, float]:
    """Mean/std for normalising ``dataset``: the built-in :data:`NORM_STATS` when known, else computed
    from ``train_samples`` (the train split, never the test split) by :func:`compute_norm_stats`."""
    if dataset in NORM_STATS:
        return NORM_STATS[dataset]
    return compute_norm_stats(train_samples)


class IRSTDFolder(torch.utils.data.Dataset):
    """A standard-layout split as a map-style ``Dataset`` (images normalised with ``mean``/``std``).

    Training (``train=True``, the default for ``split == "train"``): each item is a random
    ``crop_size`` crop, centred on a target with probability ``p_target``, randomly flipped and
    transposed: ``(image (1, S, S), mask (1, S, S))`` float32, mask 0/1.

    Testing: each item is the whole image zero-padded bottom/right to a multiple of ``pad_multiple``:
    ``(image (1, H', W'), mask (1, H', W'), (H, W), name)``; crop predictions back to ``(H, W)``.
    Sizes differ between test images, so use ``batch_size=1`` (BasicIRSTD's test loader does too).

    ``mean``/``std`` default to :func:`norm_stats_for` (built-in, else from the train split).
    Random choices use torch's global RNG, which ``DataLoader`` seeds per worker.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        dataset: str,
        split: str = "train",
        *,
        train: bool | None = None,
        crop_size: int = 256,
        p_target: float = 0.5,
        pad_multiple: int = 32,
        mean: float | None = None,
        std: float | None = None,
    ) -> None:
        self.samples = load_split(root, dataset, split)
        self.train = split == "train" if train is None else bool(train)
        self.crop_size = int(crop_size)
        self.p_target = float(p_target)
        self.pad_multiple = int(pad_multiple)
        if mean is None or std is None:
            train_samples = self.samples if split == "train" else []
            if dataset not in NORM_STATS and not train_samples:
                train_samples = load_split(root, dataset, "train")
            default_mean, default_std = norm_stats_for(dataset, train_samples)
            mean = default_mean if mean is None else mean
            std = default_std if std is None else std
        self.mean, self.std = float(mean), float(std)

    def __len__(self) -> int:
        return len(self.samples)

    def _tensors(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.samples[index]
        image = (torch.from_numpy(sample.image) - self.mean) / self.std
        return image, torch.from_numpy(sample.mask)

    def __getitem__(self, index: int):
        image, mask = self._tensors(index)
        if self.train:
            images, masks = random_crops([image], [mask], self.crop_size, self.p_target)
            images, masks = random_flips_transposes(images, masks)
            return images[0], masks[0]
        size = tuple(image.shape)
        padded_image, _ = pad_to_multiple(image[None, None], self.pad_multiple)
        padded_mask, _ = pad_to_multiple(mask[None, None].float(), self.pad_multiple)
        return padded_image[0], padded_mask[0], size, self.samples[index].name
