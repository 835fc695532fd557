"""CDC, central difference convolution (Yu et al., CVPR 2020), the contour branch of GCFLNet's EEM."""

from __future__ import annotations

import math

import torch
from torch import nn

from gcflnet_lib.ops import central_difference_conv2d


class CDC(nn.Module):
    """Bias-free central difference convolution ``y = conv(x, w) - theta * conv1x1(x, sum(w))``.

    Args:
        in_channels, out_channels: C_in and C_out.
        kernel_size: odd k (3 by default); padding keeps the size ('same').
        stride, dilation, groups: as in ``nn.Conv2d``.
        theta: blend of the central difference term, in [0, 1]; 0.7 as in Yu et al. (0 = ``nn.Conv2d``).

    Shapes: (B, C_in, H, W) -> (B, C_out, ceil(H / stride), ceil(W / stride)).
    The weight has the layout and the default initialisation of ``nn.Conv2d``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        theta: float = 0.7,
    ):
        super().__init__()
        if not 0.0 <= theta <= 1.0:
            raise ValueError(f"theta must be in [0, 1], got {theta}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible by groups ({groups})"
            )
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's default
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation, self.groups = kernel_size, stride, dilation, groups
        self.theta = theta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return central_difference_conv2d(x, self.weight, self.theta, self.stride, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"dilation={self.dilation}, groups={self.groups}, theta={self.theta}"
        )
