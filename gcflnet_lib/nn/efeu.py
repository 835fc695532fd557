"""EFEU, the edge feature extraction unit of GCFLNet's EEM.

A depthwise pair of 3x3 kernels ``Kx``, ``Ky`` per channel, initialised to Sobel. As in the paper, the
centre column of ``Kx`` and the centre row of ``Ky`` stay zero for ever: they are multiplied by a fixed
mask in every forward pass, so neither an optimizer step, weight decay nor a loaded state dict can make
them count. The other six entries of each kernel learn. The output is the gradient magnitude
``sqrt(gx^2 + gy^2 + eps)`` per channel (``eps`` keeps its derivative finite on flat input).
"""

from __future__ import annotations

import torch
from torch import nn

from gcflnet_lib.ops import BORDERS, directional_gradients, directional_magnitude, gradient_kernels
from gcflnet_lib.ops._checks import check_choice


def efeu_masks() -> tuple[torch.Tensor, torch.Tensor]:
    """The (3, 3) masks of learnable entries: ``Kx`` without its centre column, ``Ky`` without its centre row."""
    mask_x = torch.ones(3, 3)
    mask_x[:, 1] = 0.0
    return mask_x, mask_x.t().contiguous()


class EFEU(nn.Module):
    """Learnable, Sobel-initialised depthwise gradient magnitude.

    Args:
        channels: number of input (and output) channels C.
        eps: added under the square root.
        border: padding of the 3x3 correlation, ``"replicate"`` (default), ``"reflect"`` or ``"zeros"``.

    Shapes: (B, C, H, W) -> (B, C, H, W), non-negative.
    """

    def __init__(self, channels: int, eps: float = 1e-6, border: str = "replicate"):
        super().__init__()
        check_choice(border, BORDERS, "border")
        if eps <= 0:
            raise ValueError(f"eps must be > 0 so the magnitude stays differentiable, got {eps}")
        sobel = gradient_kernels("sobel")
        self.kx = nn.Parameter(sobel[0].repeat(channels, 1, 1))
        self.ky = nn.Parameter(sobel[1].repeat(channels, 1, 1))
        mask_x, mask_y = efeu_masks()
        self.register_buffer("mask_x", mask_x, persistent=False)
        self.register_buffer("mask_y", mask_y, persistent=False)
        self.channels = channels
        self.eps = eps
        self.border = border

    def effective_kernels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The kernels actually applied, each (C, 3, 3), with the fixed zeros enforced."""
        return self.kx * self.mask_x, self.ky * self.mask_y

    def gradients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The learned directional responses ``(gx, gy)``, each (B, C, H, W)."""
        kx, ky = self.effective_kernels()
        return directional_gradients(x, kx, ky, self.border)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kx, ky = self.effective_kernels()
        return directional_magnitude(x, kx, ky, self.border, self.eps)  # = gradient_magnitude(*self.gradients(x))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, eps={self.eps}, border={self.border!r}"
