"""``build_model(name, **kw)``: the registry of GCFLNet, its ablation variants and the U-Net baselines.

Names: "gcflnet" (EEM + GLFI + MSIC), "unet" (none), the six partial variants "gcflnet_eem",
"gcflnet_glfi", "gcflnet_msic", "gcflnet_eem_glfi", "gcflnet_eem_msic", "gcflnet_glfi_msic", and the
size-matched baseline "unet_wide" (the U-Net widened to GCFLNet's parameter count, see
``gcflnet_lib.models.unet_wide``). A name fixes the switches; every other keyword goes to :class:`GCFLNet`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from gcflnet_lib.models.gcflnet import SWITCHES, GCFLNet, UNet, variant_name
from gcflnet_lib.models.readings import LEGACY_KEYS, READINGS, check_readings_apply, rename_legacy_keys, upgrade_config
from gcflnet_lib.models.unet_wide import WideUNet

# The order of the paper's ablation table: baseline, one module, two modules, the full model.
_ORDER = ((), ("eem",), ("glfi",), ("msic",), ("eem", "glfi"), ("eem", "msic"), ("glfi", "msic"), SWITCHES)
VARIANTS: dict[str, dict[str, bool]] = {
    variant_name(*(s in on for s in SWITCHES)): {s: s in on for s in SWITCHES} for on in _ORDER
}
# Baselines outside the paper's ablation table.
BASELINES: dict[str, dict[str, bool]] = {"unet_wide": dict.fromkeys(SWITCHES, False)}
MODELS: dict[str, dict[str, bool]] = {**VARIANTS, **BASELINES}

_ACCEPTED = tuple(name for name in inspect.signature(GCFLNet).parameters if name not in SWITCHES)


def list_models(baselines: bool = False) -> list[str]:
    """The paper's 8 ablation variants: "unet", the six partial variants, then "gcflnet".

    With ``baselines=True`` also the baselines outside the paper's table ("unet_wide"), after them.
    """
    return list(MODELS if baselines else VARIANTS)


def build_model(name: str = "gcflnet", **kwargs) -> nn.Module:
    """Build a registered model; ``build_model(**model.config)`` rebuilds ``model``'s architecture.

    Args:
        name: one of ``list_models(baselines=True)``.
        **kwargs: :class:`GCFLNet` arguments (in_channels, channels, deep_supervision, theta, dilations,
            and the readings glfi_attention, glfi_fc, eem_fusion, msic_reading, pad_mode; ``attention``
            is accepted as the old name of ``glfi_attention``). ``eem``, ``glfi`` and ``msic`` may be
            given only with the values the name implies.

    Raises:
        ValueError: unknown name (the message lists the known ones), unknown keyword or reading (the
            message lists the known ones), a switch that contradicts the name, or a reading other than
            the default for a module the model does not have.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    switches = MODELS[name]
    for switch, value in switches.items():
        if switch in kwargs and bool(kwargs.pop(switch)) != value:
            raise ValueError(
                f"model {name!r} has {switch}={value}; pick the variant by name instead "
                f"(known models: {', '.join(MODELS)})"
            )
    unknown = sorted(set(kwargs) - set(_ACCEPTED) - set(LEGACY_KEYS))
    if unknown:
        raise ValueError(
            f"unknown argument(s) for model {name!r}: {', '.join(unknown)}; accepted: {', '.join(_ACCEPTED)}"
        )
    kwargs = rename_legacy_keys(kwargs)
    check_readings_apply(name, switches, kwargs)
    if name == "unet_wide":
        return WideUNet(**kwargs)
    if name == "unet":
        return UNet(**kwargs)
    return GCFLNet(**switches, **kwargs)


def reading_of_weights(config: Mapping[str, Any], weights: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
    """The reading, different from ``config``'s, whose models have exactly the state_dict ``weights``, with every
    value of it that fits.

    For a message when a checkpoint's weights do not fit its (or the asked) config: ``("msic_reading",
    ("crossed", "unit_gain"))`` means the weights were saved by a model with the crossed or the unit_gain MSIC
    (their parameters have the same shapes, so the weights cannot tell them apart). None when no reading explains
    the difference (or only ``pad_mode`` could, which has no weights).
    """
    config = upgrade_config(config)
    shapes = {key: tuple(value.shape) for key, value in weights.items() if hasattr(value, "shape")}
    for key, (known, _, _) in READINGS.items():
        fitting = []
        for value in known:
            if value == config.get(key):
                continue
            try:
                candidate = build_model(**{**config, key: value})
            except (TypeError, ValueError):
                continue
            if {k: tuple(v.shape) for k, v in candidate.state_dict().items()} == shapes:
                fitting.append(value)
        if fitting:
            return key, tuple(fitting)
    return None
