"""GLFI, the global-local feature interaction module of GCFLNet (one per encoder level).

The paper (Section 3.2): "Its core architecture consists of convolution layers, dilated convolution
layers, and fully connected layers." [...] "adaptive max pooling and adaptive average pooling [...]
By performing matrix multiplication on the outputs of these two pooling operations, GLFI generates
context-aware attention weights" [...] "the refined local feature maps are multiplied with the
learned attention weights".

- Local branch: a 3x3 conv in parallel with dilated 3x3 convs (rates 2 and 3 by default), concatenated
  and reduced by a 1x1 conv (dense sampling keeps the detail that dilated sampling skips).
- Edge fusion: the paper's PWConv on ``[features, EEM edges]`` (skipped when there is no EEM).
- Attention from the fused features, three readings (``attention=``):

  * ``"outer"`` (default, the reading of the design notes): adaptive max pooling over the width gives
    (B, C, H, 1), adaptive average pooling over the height gives (B, C, 1, W); their matrix product is
    a (B, C, H, W) map, squashed by a sigmoid and multiplied with the local features. It is a rank-one,
    per-channel spatial map built from two global profiles, so every position sees its whole row and
    column. The fused features come out of a ReLU, so both profiles are >= 0 and the map is >= 0.5: it
    can pass a feature or halve it, never suppress it.
  * ``"signed"``: the same product computed from the fused features standardised per channel
    (BatchNorm, no ReLU). The profiles can then be negative, the map can fall towards 0 and the
    attention can suppress as well as pass.
  * ``"channel"``: global max and average pooling give (B, C, 1) and (B, 1, C); their product, softmax
    over the last axis, is a (B, C, C) map that mixes the channels of the local features.

- ``fc=True`` adds the fully connected layer the paper names: one ``Linear(C, C)`` applied to the
  channel vector of every pooled profile (both profiles share it) before the matrix product. Off by
  default, as before it existed.
- Output: attended local features plus the fused features (the residual).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from gcflnet_lib.nn.blocks import ConvBNReLU, PointwiseFusion
from gcflnet_lib.ops._checks import check_choice
from gcflnet_lib.ops.layout import cat_channels, is_channels_last

GLFI_ATTENTIONS = ("outer", "channel", "signed")

ChannelMap = Callable[[torch.Tensor], torch.Tensor]


def along_channels(fc: ChannelMap, x: torch.Tensor) -> torch.Tensor:
    """Apply ``fc`` (acting on a last axis of size C) to the channel axis of (B, C, ...) ``x``."""
    return fc(x.movedim(1, -1)).movedim(-1, 1)


def outer_attention(x: torch.Tensor, fc: ChannelMap | None = None) -> torch.Tensor:
    """Sigmoid of (max over W) @ (mean over H): (B, C, H, W) -> (B, C, H, W) in (0, 1).

    ``fc`` (optional, e.g. ``nn.Linear(C, C)``) maps the channels of both pooled profiles first.
    """
    row_profile = x.amax(dim=3, keepdim=True)  # (B, C, H, 1)
    column_profile = x.mean(dim=2, keepdim=True)  # (B, C, 1, W)
    if fc is not None:
        row_profile, column_profile = along_channels(fc, row_profile), along_channels(fc, column_profile)
    # The outer product of the two profiles (a matmul over an axis of length 1: one product per entry), written in
    # x's layout: for a channels-last x, dense (B, H, 1, C) * dense (B, 1, W, C) is a dense (B, H, W, C).
    if is_channels_last(x):
        rows, columns = (profile.permute(0, 2, 3, 1).contiguous() for profile in (row_profile, column_profile))
        product = (rows * columns).permute(0, 3, 1, 2)
    else:
        product = row_profile.contiguous() * column_profile.contiguous()
    return torch.sigmoid(product)


def channel_attention_map(x: torch.Tensor, fc: ChannelMap | None = None) -> torch.Tensor:
    """Softmax over the last axis of (global max) @ (global mean)^T: (B, C, H, W) -> (B, C, C), rows sum to 1.

    ``fc`` (optional, e.g. ``nn.Linear(C, C)``) maps both pooled C-vectors first.
    """
    peak = x.amax(dim=(2, 3))  # (B, C)
    mean = x.mean(dim=(2, 3))  # (B, C)
    if fc is not None:
        peak, mean = fc(peak), fc(mean)
    return torch.softmax(torch.matmul(peak.unsqueeze(2), mean.unsqueeze(1)), dim=-1)


class GLFI(nn.Module):
    """Global-local feature interaction at one encoder level.

    Args:
        channels: C.
        edge_channels: channels of the EEM edge features (0: no EEM, no edge fusion).
        dilations: rates of the dilated branches beside the plain 3x3 conv.
        attention: ``"outer"``, ``"signed"`` or ``"channel"`` (see the module docstring).
        fc: add the fully connected layer on the pooled profiles.

    Shapes: features (B, C, H, W), edges (B, edge_channels, H, W) or None -> (B, C, H, W).
    """

    def __init__(
        self,
        channels: int,
        edge_channels: int = 0,
        dilations: Sequence[int] = (2, 3),
        attention: str = "outer",
        fc: bool = False,
    ):
        super().__init__()
        check_choice(attention, GLFI_ATTENTIONS, "glfi_attention")
        rates = (1, *tuple(dilations))
        self.branches = nn.ModuleList(ConvBNReLU(channels, channels, 3, dilation=rate) for rate in rates)
        self.reduce = ConvBNReLU(channels * len(rates), channels, kernel_size=1)
        self.edge_fusion = PointwiseFusion(channels, edge_channels) if edge_channels else None
        # Registered only when used, so a default GLFI keeps the state_dict keys it always had.
        if attention == "signed":
            self.attention_norm = nn.BatchNorm2d(channels)
        if fc:
            self.fc = nn.Linear(channels, channels)
        self.attention = attention
        self.uses_fc = bool(fc)
        self.edge_channels = edge_channels

    def forward(self, features: torch.Tensor, edges: torch.Tensor | None = None) -> torch.Tensor:
        if (edges is None) != (self.edge_fusion is None):
            raise ValueError(
                f"GLFI built with edge_channels={self.edge_channels} was called "
                f"{'without' if edges is None else 'with'} edge features"
            )
        local, fused = self.parts(features, edges)
        if self.attention == "channel":
            attended = torch.matmul(channel_attention_map(fused, self.fc if self.uses_fc else None),
                                    local.flatten(2)).reshape(local.shape)
        else:
            attended = local * self.spatial_attention(fused)
        return attended + fused

    def parts(self, features: torch.Tensor, edges: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(local, fused), both (B, C, H, W): the dense and dilated branches reduced by the 1x1 conv, and the
        features fused with the edges (the residual, and what the attention is computed from)."""
        local = self.reduce(cat_channels([branch(features) for branch in self.branches]))
        fused = features if self.edge_fusion is None else self.edge_fusion(features, edges)
        return local, fused

    def spatial_attention(self, fused: torch.Tensor) -> torch.Tensor:
        """The attention A (B, C, H, W) that multiplies the local features, for the ``"outer"`` and ``"signed"``
        readings. Raises ValueError for ``"channel"``, whose attention is a (B, C, C) channel mix."""
        fc = self.fc if self.uses_fc else None
        if self.attention == "outer":
            return outer_attention(fused, fc)
        if self.attention == "signed":
            return outer_attention(self.attention_norm(fused), fc)
        raise ValueError(f"glfi_attention={self.attention!r} has no spatial attention map (a (B, C, C) channel mix)")

    def extra_repr(self) -> str:
        return f"attention={self.attention!r}, fc={self.uses_fc}"
