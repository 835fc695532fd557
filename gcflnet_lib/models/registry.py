"""``build_model(name, **kw)``: the registry of GCFLNet, its ablation variants and the U-Net baseline.

Names: "gcflnet" (EEM + GLFI + MSIC), "unet" (none), and the six partial variants
"gcflnet_eem", "gcflnet_glfi", "gcflnet_msic", "gcflnet_eem_glfi", "gcflnet_eem_msic", "gcflnet_glfi_msic".
A name fixes the switches; every other keyword goes to :class:`GCFLNet`.
"""

from __future__ import annotations

import inspect

from torch import nn

from gcflnet_lib.models.gcflnet import SWITCHES, GCFLNet, UNet, variant_name

# The order of the paper's ablation table: baseline, one module, two modules, the full model.
_ORDER = ((), ("eem",), ("glfi",), ("msic",), ("eem", "glfi"), ("eem", "msic"), ("glfi", "msic"), SWITCHES)
VARIANTS: dict[str, dict[str, bool]] = {
    variant_name(*(s in on for s in SWITCHES)): {s: s in on for s in SWITCHES} for on in _ORDER
}

_ACCEPTED = tuple(name for name in inspect.signature(GCFLNet).parameters if name not in SWITCHES)


def list_models() -> list[str]:
    """Registered names: "unet", the six partial variants, then "gcflnet"."""
    return list(VARIANTS)


def build_model(name: str = "gcflnet", **kwargs) -> nn.Module:
    """Build a registered model; ``build_model(**model.config)`` rebuilds ``model``'s architecture.

    Args:
        name: one of :func:`list_models`.
        **kwargs: :class:`GCFLNet` arguments (in_channels, channels, deep_supervision, theta, dilations,
            attention, eem_fusion). ``eem``, ``glfi`` and ``msic`` may be given only with the values the
            name implies.

    Raises:
        ValueError: unknown name (the message lists the known ones), unknown keyword, or a switch that
            contradicts the name.
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(VARIANTS)}")
    switches = VARIANTS[name]
    for switch, value in switches.items():
        if switch in kwargs and bool(kwargs.pop(switch)) != value:
            raise ValueError(
                f"model {name!r} has {switch}={value}; pick the variant by name instead "
                f"(known models: {', '.join(VARIANTS)})"
            )
    unknown = sorted(set(kwargs) - set(_ACCEPTED))
    if unknown:
        raise ValueError(
            f"unknown argument(s) for model {name!r}: {', '.join(unknown)}; accepted: {', '.join(_ACCEPTED)}"
        )
    if name == "unet":
        return UNet(**kwargs)
    return GCFLNet(**switches, **kwargs)
