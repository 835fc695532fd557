"""Plain building blocks shared by the paper's modules and the U-Net: conv-BN-ReLU, residual block,
pointwise fusion, concatenation skip."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gcflnet_lib.ops.layout import cat_channels


class ConvBNReLU(nn.Sequential):
    """``k x k`` convolution (bias-free, 'same' padding, optional dilation) -> BatchNorm -> ReLU.

    Shapes: (B, in_channels, H, W) -> (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1):
        padding = dilation * (kernel_size // 2)
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN projection) shortcut, then ReLU.

    The encoder and decoder "basic convolutional block" of GCFLNet and of the U-Net baseline.
    Shapes: (B, in_channels, H, W) -> (B, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        if in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.body(x) + self.shortcut(x))


class PointwiseFusion(nn.Module):
    """The paper's PWConv fusion of features with edge features: 1x1 conv on the concatenation -> BN -> ReLU.

    The paper places it inside GLFI (Section 3.2). The EEM variants without GLFI use it on its own to let
    the edges in at all; that use is this project's choice (docs/PAPER_READING.md).

    Shapes: features (B, C, H, W) and edges (B, E, H, W) -> (B, out_channels, H, W).
    """

    def __init__(self, channels: int, edge_channels: int, out_channels: int | None = None):
        super().__init__()
        self.fuse = ConvBNReLU(channels + edge_channels, out_channels or channels, kernel_size=1)

    def forward(self, features: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        return self.fuse(cat_channels([features, edges]))


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of ``x`` (B, C, h, w) to the spatial size of ``like`` (B, *, H, W); identity when equal."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class ConcatSkip(nn.Module):
    """The U-Net skip connection: upsample the decoder features, concatenate the encoder features,
    fuse with a residual block.

    Shapes: low (B, low_channels, H, W) from the encoder, high (B, high_channels, H/2, W/2) from the
    decoder -> (B, out_channels or low_channels, H, W).
    """

    def __init__(self, low_channels: int, high_channels: int, out_channels: int | None = None):
        super().__init__()
        self.fuse = ResidualBlock(low_channels + high_channels, out_channels or low_channels)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return self.fuse(cat_channels([low, upsample_to(high, low)]))

    def skip_output(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """The skip's share of what enters the fusion: the encoder features, unchanged."""
        return low
