"""MSIC, the multi-scale information compensation module of GCFLNet (one per skip connection).

The paper (Section 3.3): "For high-level features, a spatial attention mechanism is introduced to
reweight spatial dimensions [...] For low-level features, a channel attention mechanism is employed
[...] In MSIC, information compensation is implemented through attention-based feature modulation
rather than direct concatenation or residual addition." It does not say which features each
attention is computed from, nor how the two results are joined. Two readings (``reading=``), both
starting from the high-level decoder features projected to the low level's width (1x1 conv-BN-ReLU)
and upsampled, with CBAM's spatial attention (channel mean and max -> 7x7 conv -> sigmoid) and
channel attention (global average and max pool -> shared MLP -> sigmoid):

- ``"crossed"`` (the reading of the design notes, and of every GCFLNet released so far; the default until the
  pre-registered rule of ``docs/ABLATION.md`` chose ``"unit_gain"``): the spatial map computed from the
  high-level features re-weights the *low-level* features (the decoder's sense of where the target
  is); the channel vector computed from the low-level features re-weights the *high-level* ones. The
  two modulated maps are concatenated and fused by a residual block (2C -> C).
- ``"literal"``: each attention is computed from and applied to its own level, as the sentence
  reads: ``high' = high * SA(high)``, ``low' = low * CA(low)``. They are joined by an attention
  gate, not by concatenation or addition of features: ``g = sigmoid(conv1x1([low', high']))``
  (per pixel and channel), ``fused = g * low' + (1 - g) * high'``, then the decoder's basic residual
  block (C -> C), the same block every decoder level and the U-Net use.
- ``"unit_gain"`` (default): the paper's assignment (spatial attention re-weights the high-level features, channel
  attention the low-level ones, each computed from the features it re-weights), with every modulation at
  unit gain when training starts: ``high' = 2 * high * SA(high)``, ``low' = 2 * low * CA(low)``, and the
  last layer of each attention (SA's 7x7 convolution, CA's second MLP layer) zero-initialised, so that
  ``sigmoid(0) = 0.5`` and ``2 * 0.5 = 1``. At step 0 MSIC passes both inputs through unchanged and the
  fusion (concatenation -> residual block, 2C -> C) sees what a U-Net skip sees. A gate can still learn to
  close, but it does not start half shut, and a gain of 2 lets it amplify as well as suppress. Why: under
  ``"crossed"`` a sigmoid map computed from the decoder's BatchNorm-standardised features saturates at a
  small bright target (inputs of -42 to -85 on target pixels in the released models), so the two finest
  skips are multiplied by ~1e-20 and no gradient reopens them (issue 32, notebook 06). The same
  ``2 * x * sigmoid(z)`` form is UIU-Net's; DNANet keeps its attention inside a residual branch.

:meth:`MSIC.skip_output` returns the encoder (skip) features as they enter the fusion, after their
modulation; ``gcflnet_lib.diagnostics.skip_health`` compares them with the input to say how much of the
skip survives.
"""

from __future__ import annotations

import torch
from torch import nn

from gcflnet_lib.nn.blocks import ConvBNReLU, ResidualBlock, upsample_to
from gcflnet_lib.ops._checks import check_choice
from gcflnet_lib.ops.layout import cat_channels

MSIC_READINGS = ("crossed", "literal", "unit_gain")
DEFAULT_MSIC_READING = "unit_gain"  # chosen by the pre-registered rule (docs/ABLATION.md); models.readings uses it


class SpatialAttention(nn.Module):
    """(B, C, H, W) -> (B, 1, H, W) in (0, 1): sigmoid(conv_k([mean_c(x), max_c(x)]))."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def start_neutral(self) -> None:
        """Zero the last layer: the attention is 0.5 everywhere until training moves it."""
        nn.init.zeros_(self.conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 1-channel maps count as NCHW: cat_channels keeps a channels-last network's layout.
        pooled = cat_channels([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], like=x)
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

    def start_neutral(self) -> None:
        """Zero the MLP's last layer: the attention is 0.5 for every channel until training moves it."""
        nn.init.zeros_(self.mlp[2].weight)

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
        reading: ``"crossed"``, ``"literal"`` or ``"unit_gain"`` (see the module docstring).

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
        reading: str = DEFAULT_MSIC_READING,
    ):
        super().__init__()
        check_choice(reading, MSIC_READINGS, "msic_reading")
        self.reading = reading
        self.high_proj = ConvBNReLU(high_channels, low_channels, kernel_size=1)
        self.spatial = SpatialAttention(spatial_kernel)
        self.channel = ChannelAttention(low_channels, reduction)
        if reading == "literal":
            self.gate = nn.Conv2d(2 * low_channels, low_channels, kernel_size=1)
            self.fuse = ResidualBlock(low_channels, out_channels or low_channels)
        else:
            self.fuse = ResidualBlock(2 * low_channels, out_channels or low_channels)
        if reading == "unit_gain":
            self.spatial.start_neutral()
            self.channel.start_neutral()

    def _modulate(self, low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(low', high', gate): the two maps after their attention, and the literal reading's fusion gate."""
        high = upsample_to(self.high_proj(high), low)
        if self.reading == "crossed":
            return low * self.spatial(high), high * self.channel(low), None
        if self.reading == "unit_gain":
            return 2.0 * low * self.channel(low), 2.0 * high * self.spatial(high), None
        high_refined = high * self.spatial(high)
        low_refined = low * self.channel(low)
        gate = torch.sigmoid(self.gate(cat_channels([low_refined, high_refined])))
        return low_refined, high_refined, gate

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        low_modulated, high_modulated, gate = self._modulate(low, high)
        if gate is None:
            return self.fuse(cat_channels([low_modulated, high_modulated]))
        return self.fuse(gate * low_modulated + (1.0 - gate) * high_modulated)

    def skip_output(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """The skip's share of what enters the fusion, (B, low_channels, H, W): ``low'`` (times the literal
        reading's gate ``g``). Equal to ``low`` where the skip passes unchanged."""
        low_modulated, _, gate = self._modulate(low, high)
        return low_modulated if gate is None else gate * low_modulated

    def extra_repr(self) -> str:
        return f"reading={self.reading!r}"
