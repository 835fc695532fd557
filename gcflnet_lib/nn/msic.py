"""MSIC, the multi-scale information compensation module of GCFLNet (one per skip connection).

Reading taken: the high-level decoder features are projected to the low level's width and upsampled.
A spatial attention map computed on them (channel mean and max -> 7x7 conv -> sigmoid, as in CBAM)
re-weights the *low-level* encoder features, giving them the decoder's sense of where the target is;
a channel attention vector computed on the low-level features (global average and max pool -> shared
MLP -> sigmoid) re-weights the *high-level* features. The two modulated maps are then fused by a
residual conv block. There is no plain concatenation of the raw skip.
"""

from __future__ import annotations

import torch
from torch import nn

from gcflnet_lib.nn.blocks import ConvBNReLU, ResidualBlock, upsample_to


class SpatialAttention(nn.Module):
    """(B, C, H, W) -> (B, 1, H, W) in (0, 1): sigmoid(conv_k([mean_c(x), max_c(x)]))."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class ChannelAttention(nn.Module):
    """(B, C, H, W) -> (B, C, 1, 1) in (0, 1): sigmoid(MLP(avgpool(x)) + MLP(maxpool(x))), one shared MLP."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(channels // reduction, 8)  # narrow MLPs on ReLU features can start with every unit dead
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        average = x.mean(dim=(2, 3), keepdim=True)
        peak = x.amax(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.mlp(average) + self.mlp(peak))


class MSIC(nn.Module):
    """Multi-scale information compensation on one skip connection.

    Args:
        low_channels: channels of the encoder (skip) features.
        high_channels: channels of the coarser decoder features.
        out_channels: output channels (default ``low_channels``).
        reduction: channel attention MLP reduction.
        spatial_kernel: spatial attention kernel size (7).

    Shapes: low (B, low_channels, H, W), high (B, high_channels, h, w) with any h, w (upsampled to H, W)
    -> (B, out_channels, H, W).
    """

    def __init__(
        self,
        low_channels: int,
        high_channels: int,
        out_channels: int | None = None,
        reduction: int = 4,
        spatial_kernel: int = 7,
    ):
        super().__init__()
        self.high_proj = ConvBNReLU(high_channels, low_channels, kernel_size=1)
        self.spatial = SpatialAttention(spatial_kernel)
        self.channel = ChannelAttention(low_channels, reduction)
        self.fuse = ResidualBlock(2 * low_channels, out_channels or low_channels)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        high = upsample_to(self.high_proj(high), low)
        low_compensated = low * self.spatial(high)
        high_compensated = high * self.channel(low)
        return self.fuse(torch.cat([low_compensated, high_compensated], dim=1))
