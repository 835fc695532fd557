"""EEM, the edge enhancement module of GCFLNet (one per encoder level).

Reading taken (the paper gives no equations): at encoder level ``l`` the level's features ``F_l`` are
concatenated with the input image resized to that level (the "multi-scale gradient magnitude" cue), and
two branches look at the result:

- EFEU: learnable Sobel gradient magnitude per channel (fine edges), then BatchNorm;
- CDC: central difference convolution to ``C`` channels (robust contours), then BN and ReLU.

The paper (Section 3.1): "Within the EEM, fine-grained gradient features extracted by EFEU are
adaptively fused with robust contour features produced by CDC." It does not say how. Two readings
(``fusion=``, the model's ``eem_fusion``) fuse them into ``C`` edge channels:

- ``"concat"`` (default): concatenate, 1x1 conv, BN, ReLU - "adaptive" through the learned 1x1 weights,
  the same for every pixel;
- ``"gate"``: a learned per-pixel, per-channel sigmoid gate ``g = sigmoid(conv1x1([EFEU, CDC]))``,
  output ``ReLU(g * proj(EFEU) + (1 - g) * CDC)`` - "adaptive" to the content at every position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gcflnet_lib.nn.blocks import ConvBNReLU
from gcflnet_lib.nn.cdc import CDC
from gcflnet_lib.nn.efeu import EFEU
from gcflnet_lib.ops._checks import check_choice
from gcflnet_lib.ops.layout import cat_channels

EEM_FUSIONS = ("concat", "gate")


def resize_image_to(image: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Area-resize ``image`` (B, C_img, H0, W0) to the spatial size of ``features`` (identity when equal)."""
    if image.shape[-2:] == features.shape[-2:]:
        return image
    return F.interpolate(image, size=features.shape[-2:], mode="area")


class EEM(nn.Module):
    """Edge enhancement at one encoder level.

    Args:
        channels: C, the channels of the level's features (and of the edge output).
        image_channels: channels of the input image (1 for infrared).
        theta: CDC's theta (0.7).
        fusion: ``"concat"`` or ``"gate"`` (see the module docstring).

    Shapes: features (B, C, H, W) and image (B, image_channels, H0, W0) -> edges (B, C, H, W).
    """

    def __init__(self, channels: int, image_channels: int = 1, theta: float = 0.7, fusion: str = "concat"):
        super().__init__()
        check_choice(fusion, EEM_FUSIONS, "eem_fusion")
        joint = channels + image_channels
        self.fusion = fusion
        self.efeu = EFEU(joint)
        self.efeu_norm = nn.BatchNorm2d(joint)
        self.cdc = nn.Sequential(CDC(joint, channels, theta=theta), nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        if fusion == "concat":
            self.fuse = ConvBNReLU(joint + channels, channels, kernel_size=1)
        else:
            self.efeu_proj = nn.Sequential(nn.Conv2d(joint, channels, 1, bias=False), nn.BatchNorm2d(channels))
            self.gate = nn.Conv2d(joint + channels, channels, 1)

    def forward(self, features: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        # cat_channels: the 1-channel image counts as NCHW, so torch.cat would leave a channels-last network here.
        x = cat_channels([features, resize_image_to(image, features)])
        fine = self.efeu_norm(self.efeu(x))
        contour = self.cdc(x)
        both = cat_channels([fine, contour])
        if self.fusion == "concat":
            return self.fuse(both)
        gate = torch.sigmoid(self.gate(both))
        return F.relu(gate * self.efeu_proj(fine) + (1.0 - gate) * contour)
