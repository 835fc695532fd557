"""GCFLNet with ablation switches and reading keywords, the U-Net baselines, and the ``build_model`` registry."""

from gcflnet_lib.models.gcflnet import DEFAULT_CHANNELS, SWITCHES, GCFLNet, UNet, variant_name
from gcflnet_lib.models.readings import READING_DEFAULTS, READINGS, config_differences, upgrade_config
from gcflnet_lib.models.registry import BASELINES, MODELS, VARIANTS, build_model, list_models
from gcflnet_lib.models.unet_wide import WideUNet, widen

__all__ = [
    "BASELINES",
    "DEFAULT_CHANNELS",
    "MODELS",
    "READINGS",
    "READING_DEFAULTS",
    "SWITCHES",
    "VARIANTS",
    "GCFLNet",
    "UNet",
    "WideUNet",
    "build_model",
    "config_differences",
    "list_models",
    "upgrade_config",
    "variant_name",
    "widen",
]
