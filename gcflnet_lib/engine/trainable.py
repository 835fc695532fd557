"""Shapes a model cannot train on, refused before a run folder is made.

BatchNorm in training mode needs more than one value per channel. Each level halves the crop, so at the
bottleneck of an ``L``-level model a ``C x C`` crop is ``ceil(C / 2**(L - 1))`` pixels wide (the model
pads its input to a multiple of ``2**(L - 1)``); with ``--channels 4,8,16,32,64,128 --crop-size 32`` that
is 1x1, and a batch of one leaves a single value: torch's ``ValueError`` after the first forward pass.
Under torchrun BatchNorm is synchronised, so the global batch counts.
"""

from __future__ import annotations

import math

from gcflnet_lib.errors import UserError
from gcflnet_lib.models import DEFAULT_CHANNELS


def bottleneck_side(crop_size: int, levels: int) -> int:
    """Side in pixels of a ``crop_size`` crop at the coarsest of ``levels`` levels."""
    return math.ceil(crop_size / 2 ** (levels - 1))


def check_batchnorm_batch(config) -> None:
    """Refuse a ``TrainConfig`` whose bottleneck would give BatchNorm one value per channel, naming the flags."""
    channels = config.channels or DEFAULT_CHANNELS
    side = bottleneck_side(config.crop_size, len(channels))
    if config.batch_size * side * side >= 2:
        return
    widths = ",".join(map(str, channels))
    raise UserError(f"--batch-size {config.batch_size} with --crop-size {config.crop_size} leaves BatchNorm one value "
                    f"per channel at the {side}x{side} bottleneck of the {len(channels)}-level model (--channels {widths}), "
                    "which it cannot train on; raise --batch-size or --crop-size, or use fewer levels")
