"""Skip health of a model on a split: crops centred on targets, normalised as the model was trained, then
``gcflnet_lib.diagnostics`` (per-level kept ratio and shuffle test, and the two finest levels shuffled together).
Used by ``gcflnet inspect``, by training (history columns at every evaluation) and by the notebooks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gcflnet_lib.data.dataset import Sample
from gcflnet_lib.diagnostics import FINE_LEVELS, ShuffleResult, SkipHealth, health_row, shuffle_test, skip_health
from gcflnet_lib.diagnostics import target_crops
from gcflnet_lib.errors import DataError

HEALTH_CROPS = 10  # ten test crops of 128x128 centred on targets, as the shuffle test was first run (issue 32)
HEALTH_CROP_SIZE = 128


@dataclass(frozen=True)
class HealthReport:
    """Per-level health (finest first), the finest levels shuffled together, and the crops' image names."""

    levels: list[SkipHealth]
    fine: ShuffleResult
    names: list[str]

    def to_dict(self) -> dict:
        return {"levels": [item.to_dict() for item in self.levels], "fine": self.fine.to_dict(), "images": self.names}

    def row(self) -> dict:
        return health_row(self.levels, self.fine)

    @property
    def dead_levels(self) -> list[int]:
        return [item.level for item in self.levels if item.status == "dead"]


def health_inputs(samples: Sequence[Sample], mean: float, std: float, count: int = HEALTH_CROPS,
                  size: int = HEALTH_CROP_SIZE, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(images (N, 1, size, size) normalised, masks (N, size, size) bool, names): the first ``count`` samples
    that hold a target, each cropped around its largest target.

    Raises:
        DataError: an image smaller than the network's ``stride`` or than ``size`` (naming it), or no target.
    """
    for sample in samples:
        smallest = min(sample.image.shape[:2])
        if smallest < stride:
            raise DataError(f"{sample.name}: image {sample.image.shape[0]}x{sample.image.shape[1]} is smaller than "
                            f"the network's stride {stride}")
    crops = target_crops([s.image for s in samples], [s.mask for s in samples], count, size)
    if not crops:
        raise DataError(f"none of the {len(samples)} images holds a target: skip health needs target pixels")
    for index, image, _ in crops:
        if image.shape != (size, size):
            raise DataError(f"{samples[index].name}: image {samples[index].image.shape[0]}x"
                            f"{samples[index].image.shape[1]} is smaller than the {size}x{size} crop; pass a smaller crop")
    images = torch.from_numpy(np.stack([(np.asarray(image, np.float32) - mean) / std for _, image, _ in crops]))[:, None]
    masks = torch.from_numpy(np.stack([np.asarray(mask, bool) for _, _, mask in crops]))
    return images, masks, [samples[index].name for index, _, _ in crops]


def health_of_samples(model: nn.Module, samples: Sequence[Sample], mean: float, std: float,
                      count: int = HEALTH_CROPS, size: int = HEALTH_CROP_SIZE, seed: int = 0,
                      batch_size: int = 4) -> HealthReport:
    """Skip health of ``model`` on crops of ``samples`` (see :func:`health_inputs`)."""
    images, masks, names = health_inputs(samples, mean, std, count, size, int(getattr(model, "size_multiple", 1)))
    levels = skip_health(model, images, masks, batch_size=batch_size, seed=seed)
    fine = [level for level in FINE_LEVELS if level in {item.level for item in levels}]
    return HealthReport(levels, shuffle_test(model, images, masks, fine, batch_size, seed), names)
