"""GLFI, the global-local feature interaction module of GCFLNet (one per encoder level).

- Local branch: a 3x3 conv in parallel with dilated 3x3 convs (rates 2 and 3 by default), concatenated
  and reduced by a 1x1 conv (dense sampling keeps the detail that dilated sampling skips).
- Edge fusion: the paper's PWConv on ``[features, EEM edges]`` (skipped when there is no EEM).
- Attention from the fused features, two readings:

  * ``"outer"`` (default, the reading of the design notes): adaptive max pooling over the width gives
    (B, C, H, 1), adaptive average pooling over the height gives (B, C, 1, W); their matrix product is
    a (B, C, H, W) map, squashed by a sigmoid and multiplied with the local features. It is a rank-one,
    per-channel spatial map built from two global profiles, so every position sees its whole row and column.
  * ``"channel"``: global max and average pooling give (B, C, 1) and (B, 1, C); their product, softmax
    over the last axis, is a (B, C, C) map that mixes the channels of the local features.

- Output: attended local features plus the fused features (the residual).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from gcflnet_lib.nn.blocks import ConvBNReLU, PointwiseFusion
from gcflnet_lib.ops._checks import check_choice

GLFI_ATTENTIONS = ("outer", "channel")


def outer_attention(x: torch.Tensor) -> torch.Tensor:
    """Sigmoid of (max over W) @ (mean over H): (B, C, H, W) -> (B, C, H, W) in (0, 1)."""
    row_profile = x.amax(dim=3, keepdim=True)  # (B, C, H, 1)
    column_profile = x.mean(dim=2, keepdim=True)  # (B, C, 1, W)
    return torch.sigmoid(torch.matmul(row_profile, column_profile))


def channel_attention_map(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis of (global max) @ (global mean)^T: (B, C, H, W) -> (B, C, C), rows sum to 1."""
    peak = x.amax(dim=(2, 3)).unsqueeze(2)  # (B, C, 1)
    mean = x.mean(dim=(2, 3)).unsqueeze(1)  # (B, 1, C)
    return torch.softmax(torch.matmul(peak, mean), dim=-1)


class GLFI(nn.Module):
    """Global-local feature interaction at one encoder level.

    Args:
        channels: C.
        edge_channels: channels of the EEM edge features (0: no EEM, no edge fusion).
        dilations: rates of the dilated branches beside the plain 3x3 conv.
        attention: ``"outer"`` or ``"channel"`` (see the module docstring).

    Shapes: features (B, C, H, W), edges (B, edge_channels, H, W) or None -> (B, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        edge_channels: int = 0,
        dilations: Sequence[int] = (2, 3),
        attention: str = "outer",
    ):
        super().__init__()
        check_choice(attention, GLFI_ATTENTIONS, "attention")
        rates = (1, *tuple(dilations))
        self.branches = nn.ModuleList(ConvBNReLU(channels, channels, 3, dilation=rate) for rate in rates)
        self.reduce = ConvBNReLU(channels * len(rates), channels, kernel_size=1)
        self.edge_fusion = PointwiseFusion(channels, edge_channels) if edge_channels else None
        self.attention = attention
        self.edge_channels = edge_channels

    def forward(self, features: torch.Tensor, edges: torch.Tensor | None = None) -> torch.Tensor:
        if (edges is None) != (self.edge_fusion is None):
            raise ValueError(
                f"GLFI built with edge_channels={self.edge_channels} was called "
                f"{'without' if edges is None else 'with'} edge features"
            )
        local = self.reduce(torch.cat([branch(features) for branch in self.branches], dim=1))
        fused = features if self.edge_fusion is None else self.edge_fusion(features, edges)
        if self.attention == "outer":
            attended = local * outer_attention(fused)
        else:
            attended = torch.matmul(channel_attention_map(fused), local.flatten(2)).reshape(local.shape)
        return attended + fused
