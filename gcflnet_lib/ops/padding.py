"""Padding an image at the bottom and right to a multiple of a stride, with zeros, a mirror or the edge.

GCFLNet halves the resolution ``levels - 1`` times, so it pads its input to a multiple of
``2 ** (levels - 1)``; the evaluation protocol pads to 32. Zeros are the BasicIRSTD convention, but a
zero band after a normalised image is a step edge along the bottom and right borders, exactly what
EFEU and CDC are built to respond to. ``"reflect"`` (mirror without repeating the border pixel) and
``"replicate"`` (repeat the border pixel) continue the image instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gcflnet_lib.ops._checks import check_choice

PAD_MODES = ("zeros", "reflect", "replicate")


def pad_bottom_right(x: torch.Tensor, pad_h: int, pad_w: int, mode: str = "zeros") -> torch.Tensor:
    """Pad (..., H, W) with ``pad_h`` rows at the bottom and ``pad_w`` columns at the right.

    Args:
        x: (B, C, H, W) tensor.
        pad_h, pad_w: non-negative amounts.
        mode: ``"zeros"``, ``"reflect"`` or ``"replicate"``.

    A mirror needs a pad smaller than the side it mirrors; a larger ``"reflect"`` pad is done in
    several mirror steps (each mirrors what is there so far), and a side of 1 pixel is replicated.

    Returns: (B, C, H + pad_h, W + pad_w).
    """
    check_choice(mode, PAD_MODES, "pad_mode")
    if pad_h < 0 or pad_w < 0:
        raise ValueError(f"pads must be >= 0, got pad_h={pad_h}, pad_w={pad_w}")
    if mode == "zeros":
        return F.pad(x, (0, pad_w, 0, pad_h))
    if mode == "replicate":
        return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    for axis, amount in ((-2, pad_h), (-1, pad_w)):
        while amount > 0:
            side = x.shape[axis]
            how = "reflect" if side > 1 else "replicate"  # a 1-pixel side has nothing to mirror
            step = min(amount, side - 1) if side > 1 else amount
            x = F.pad(x, (0, step, 0, 0) if axis == -1 else (0, 0, 0, step), mode=how)
            amount -= step
    return x


def pad_to_multiple_of(x: torch.Tensor, multiple: int, mode: str = "zeros") -> torch.Tensor:
    """Pad (B, C, H, W) at the bottom and right so H and W become multiples of ``multiple``."""
    height, width = x.shape[-2:]
    return pad_bottom_right(x, -height % multiple, -width % multiple, mode)
