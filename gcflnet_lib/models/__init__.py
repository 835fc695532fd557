"""GCFLNet with ablation switches, the U-Net baseline, and the ``build_model`` registry."""

from gcflnet_lib.models.gcflnet import DEFAULT_CHANNELS, SWITCHES, GCFLNet, UNet, variant_name
from gcflnet_lib.models.registry import VARIANTS, build_model, list_models

__all__ = [
    "DEFAULT_CHANNELS",
    "SWITCHES",
    "VARIANTS",
    "GCFLNet",
    "UNet",
    "build_model",
    "list_models",
    "variant_name",
]
