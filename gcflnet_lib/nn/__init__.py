"""One ``nn.Module`` per concept of the GCFLNet paper, each a thin layer over ``gcflnet_lib.ops``."""

from gcflnet_lib.nn.blocks import ConcatSkip, ConvBNReLU, PointwiseFusion, ResidualBlock, upsample_to
from gcflnet_lib.nn.cdc import CDC
from gcflnet_lib.nn.eem import EEM, EEM_FUSIONS
from gcflnet_lib.nn.efeu import EFEU, efeu_masks
from gcflnet_lib.nn.glfi import GLFI, GLFI_ATTENTIONS, along_channels, channel_attention_map, outer_attention
from gcflnet_lib.nn.msic import MSIC, MSIC_READINGS, ChannelAttention, SpatialAttention

__all__ = [
    "CDC",
    "EEM",
    "EEM_FUSIONS",
    "EFEU",
    "GLFI",
    "GLFI_ATTENTIONS",
    "MSIC",
    "MSIC_READINGS",
    "ChannelAttention",
    "ConcatSkip",
    "ConvBNReLU",
    "PointwiseFusion",
    "ResidualBlock",
    "SpatialAttention",
    "along_channels",
    "channel_attention_map",
    "efeu_masks",
    "outer_attention",
    "upsample_to",
]
