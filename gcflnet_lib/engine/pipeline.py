"""Training batches drawn from a dataset decoded once and kept on the training device.

IRSTD training sets are small (NUAA-SIRST: 213 images), so instead of a DataLoader with workers that
decode PNGs every epoch, the split is normalised once and stored as tensors where the model runs;
every step crops, flips and transposes there (``gcflnet_lib.data.transforms``). Random choices come
from one seeded CPU ``torch.Generator``, so a run repeats exactly on any device and its state fits in
a checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gcflnet_lib.data.dataset import Sample
from gcflnet_lib.data.transforms import random_crops, random_flips_transposes
from gcflnet_lib.errors import UserError


class DeviceTrainSet:
    """A normalised training split on ``device``; yields random (image, mask) crop batches.

    Args:
        samples: the train split (``load_split``), images on the 0..255 scale.
        mean, std: normalisation on the 0..255 scale; images become ``(image - mean) / std``.
        device: where the tensors live and the crops are cut.
        crop_size: side S of the square crops; images smaller than S are zero-padded (after normalising,
            as BasicIRSTD pads) once here, bottom/right.
        p_target: probability that a crop is centred on a target pixel.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        mean: float,
        std: float,
        device: torch.device,
        crop_size: int,
        p_target: float = 0.5,
    ) -> None:
        if not samples:
            raise UserError("the train split holds no images")
        self.crop_size = int(crop_size)
        self.p_target = float(p_target)
        self.device = device
        self.names = [sample.name for sample in samples]
        self.images: list[Tensor] = []
        self.masks: list[Tensor] = []
        # Target coordinates stay on the CPU: crops centred on targets then never wait for the GPU.
        self.target_pixels: list[Tensor] = []
        for sample in samples:
            image = (torch.from_numpy(sample.image).float() - mean) / std
            mask = torch.from_numpy(sample.mask).float()
            pad_h = max(self.crop_size - image.shape[0], 0)
            pad_w = max(self.crop_size - image.shape[1], 0)
            if pad_h or pad_w:
                image = F.pad(image, (0, pad_w, 0, pad_h))
                mask = F.pad(mask, (0, pad_w, 0, pad_h))
            self.target_pixels.append(torch.nonzero(mask))
            self.images.append(image.to(device))
            self.masks.append(mask.to(device))

    def __len__(self) -> int:
        return len(self.images)

    def steps_per_epoch(self, batch_size: int) -> int:
        """Full batches per epoch (the last partial batch is dropped, as the field's loaders do)."""
        if batch_size > len(self):
            raise UserError(f"--batch-size {batch_size} is larger than the train split ({len(self)} images)")
        return len(self) // batch_size

    def batch(self, indices: Sequence[int], generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Crops of the given images, randomly flipped and transposed: ``(x (B,1,S,S), y (B,1,S,S))``."""
        images = [self.images[i] for i in indices]
        masks = [self.masks[i] for i in indices]
        targets = [self.target_pixels[i] for i in indices]
        x, y = random_crops(images, masks, self.crop_size, self.p_target, generator, targets)
        return random_flips_transposes(x, y, generator)

    def epoch(self, batch_size: int, generator: torch.Generator, part: slice | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of global batches in a random order.

        ``part`` keeps a slice of every global batch (a rank's share under DDP). Every rank draws the
        whole global batch from its identically seeded generator, so all ranks stay in step and
        together see exactly what one process would.
        """
        steps = self.steps_per_epoch(batch_size)
        order = torch.randperm(len(self), generator=generator).tolist()
        for step in range(steps):
            x, y = self.batch(order[step * batch_size : (step + 1) * batch_size], generator)
            if part is not None:
                x, y = x[part], y[part]
            yield x, y
