"""``unet_wide``: the U-Net baseline widened to GCFLNet's parameter count.

GCFLNet has about 2.7x the parameters of the U-Net of the same widths, so "GCFLNet beats the U-Net"
could be "a bigger network beats a smaller one". ``unet_wide`` is the same U-Net (the all-off variant:
residual blocks, concatenation skips, deep supervision heads) with every width multiplied by 13/8:
the GCFLNet widths 16..256 become 26, 52, 104, 208, 416, within 5% of GCFLNet's parameter count (the
factor keeps each width twice the one before). Its ``channels`` argument (and ``config["channels"]``)
names the GCFLNet widths it is matched to, so ``--channels`` and presets mean the same for both models;
its own widths are ``model.channels`` (``widen(channels)``).
"""

from __future__ import annotations

import math
from typing import Sequence

from gcflnet_lib.models.gcflnet import DEFAULT_CHANNELS, UNet

WIDE_FACTOR = 13 / 8


def widen(channels: Sequence[int]) -> tuple[int, ...]:
    """The U-Net widths matched to GCFLNet widths ``channels``: each times 13/8, rounded half up."""
    return tuple(math.floor(int(c) * WIDE_FACTOR + 0.5) for c in channels)


class WideUNet(UNet):
    """The U-Net at ``widen(channels)``; ``config`` records ``name="unet_wide"`` and the matched ``channels``."""

    def __init__(self, channels: Sequence[int] = DEFAULT_CHANNELS, **kwargs):
        matched = tuple(int(c) for c in channels)
        super().__init__(channels=widen(matched), **kwargs)
        self.matched_channels = matched
        self._config["name"] = "unet_wide"
        self._config["channels"] = list(matched)
