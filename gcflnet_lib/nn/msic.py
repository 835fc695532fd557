"""MSIC, the multi-scale information compensation module of GCFLNet (one per skip connection).

The paper (Section 3.3): "For high-level features, a spatial attention mechanism is introduced to
reweight spatial dimensions [...] For low-level features, a channel attention mechanism is employed
[...] In MSIC, information compensation is implemented through attention-based feature modulation
rather than direct concatenation or residual addition." It does not say which features each
attention is computed from, nor how the two results are joined. Two readings (``reading=``), both
starting from the high-level decoder features projected to the low level's width (1x1 conv-BN-ReLU)
and upsampled, with CBAM's spatial attention (channel mean and max -> 7x7 conv -> sigmoid) and
channel attention (global average and max pool -> shared MLP -> sigmoid):

- ``"crossed"`` (default, the reading of the design notes): the spatial map computed from the
  high-level features re-weights the *low-level* features (the decoder's sense of where the target
  is); the channel vector computed from the low-level features re-weights the *high-level* ones. The
  two modulated maps are concatenated and fused by a residual block (2C -> C).
- ``"literal"``: each attention is computed from and applied to its own level, as the sentence
  reads: ``high' = high * SA(high)``, ``low' = low * CA(low)``. They are joined by an attention
  gate, not by concatenation or addition of features: ``g = sigmoid(conv1x1([low', high']))``
  (per pixel and channel), ``fused = g * low' + (1 - g) * high'``, then the decoder's basic residual
  block (C -> C), the same block every decoder level and the U-Net use.
"""

from __future__ import annotations

import torch
from torch import nn

from gcflnet_lib.nn.blocks import ConvBNReLU, ResidualBlock, upsample_to
from gcflnet_lib.ops._checks import check_choice
from gcflnet_lib.ops.layout import match_layout

MSIC_READINGS = ("crossed", "literal")


class SpatialAttention(nn.Module):
    """(B, C, H, W) -> (B, 1, H, W) in (0, 1): sigmoid(conv_k([mean_c(x), max_c(x)]))."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        pooled = match_layout(pooled, x)  # 1-channel maps count as NCHW: keep a channels-last network's layout
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
        reading: ``"crossed"`` or ``"literal"`` (see the module docstring).

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
        reading: str = "crossed",
    ):
        super().__init__()
        check_choice(reading, MSIC_READINGS, "msic_reading")
        self.reading = reading
        self.high_proj = ConvBNReLU(high_channels, low_channels, kernel_size=1)
        self.spatial = SpatialAttention(spatial_kernel)
        self.channel = ChannelAttention(low_channels, reduction)
        if reading == "crossed":
            self.fuse = ResidualBlock(2 * low_channels, out_channels or low_channels)
        else:
            self.gate = nn.Conv2d(2 * low_channels, low_channels, kernel_size=1)
            self.fuse = ResidualBlock(low_channels, out_channels or low_channels)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        high = upsample_to(self.high_proj(high), low)
        if self.reading == "crossed":
            low_compensated = low * self.spatial(high)
            high_compensated = high * self.channel(low)
            return self.fuse(torch.cat([low_compensated, high_compensated], dim=1))
        high_refined = high * self.spatial(high)
        low_refined = low * self.channel(low)
        gate = torch.sigmoid(self.gate(torch.cat([low_refined, high_refined], dim=1)))
        return self.fuse(gate * low_refined + (1.0 - gate) * high_refined)

    def extra_repr(self) -> str:
        return f"reading={self.reading!r}"
