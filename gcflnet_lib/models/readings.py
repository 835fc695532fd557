"""The choices the paper leaves open that GCFLNet exposes as keywords ("readings"), and their bookkeeping.

Each reading is a keyword of :class:`~gcflnet_lib.models.GCFLNet` (``docs/PAPER_READING.md`` quotes the
paper's words for each). Each default is the reading this project started with, except ``msic_reading``: the
pre-registered rule of ``docs/ABLATION.md`` moved it from ``crossed`` to ``unit_gain``. A ``model_config``
written before a keyword existed means the reading the code had then (:data:`LEGACY_MEANING`, not today's
default): :func:`upgrade_config` fills it in, and renames ``attention`` (the GLFI keyword's name before issue 14)
to ``glfi_attention``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gcflnet_lib.nn import EEM_FUSIONS, GLFI_ATTENTIONS, MSIC_READINGS
from gcflnet_lib.nn.msic import DEFAULT_MSIC_READING
from gcflnet_lib.ops import PAD_MODES

# keyword -> (known values, default, the ablation switch of the module it changes; None: every model)
READINGS: dict[str, tuple[tuple[Any, ...], Any, str | None]] = {
    "glfi_attention": (GLFI_ATTENTIONS, "outer", "glfi"),
    "glfi_fc": ((False, True), False, "glfi"),
    "eem_fusion": (EEM_FUSIONS, "concat", "eem"),
    "msic_reading": (MSIC_READINGS, DEFAULT_MSIC_READING, "msic"),
    "pad_mode": (PAD_MODES, "zeros", None),
}
READING_DEFAULTS: dict[str, Any] = {key: default for key, (_, default, _) in READINGS.items()}
# What a stored config that lacks a reading meant: the only behaviour the code had before that keyword existed.
# Kept apart from READING_DEFAULTS so that changing a default never changes how an old checkpoint rebuilds.
LEGACY_MEANING: dict[str, Any] = {"glfi_attention": "outer", "glfi_fc": False, "eem_fusion": "concat",
                                  "msic_reading": "crossed", "pad_mode": "zeros"}
LEGACY_KEYS = {"attention": "glfi_attention"}


def rename_legacy_keys(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``kwargs`` with old keyword names replaced by today's; both names at once is refused."""
    out = dict(kwargs)
    for old, new in LEGACY_KEYS.items():
        if old in out:
            if new in out:
                raise ValueError(f"{old!r} is the old name of {new!r}; give only {new!r}")
            out[new] = out.pop(old)
    return out


def upgrade_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored ``model_config`` as today's ``model.config`` would write it.

    Legacy keys are renamed and every reading the config does not record gets :data:`LEGACY_MEANING`, the
    only behaviour the code had when the config was written (not today's default, which may have moved). A
    reading of a module the config switches off changes nothing, so it takes today's default: a U-Net saved when
    the default MSIC reading was ``crossed`` rebuilds, and compares equal to a U-Net built today.
    """
    upgraded = {**LEGACY_MEANING, **rename_legacy_keys(config)}
    for key, (_, default, switch) in READINGS.items():
        if switch is not None and upgraded.get(switch) is False:
            upgraded[key] = default
    return upgraded


def check_readings_apply(name: str, switches: Mapping[str, bool], kwargs: Mapping[str, Any]) -> None:
    """Refuse a reading other than the default for a module the model ``name`` does not have.

    ``build_model("unet", msic_reading="literal")`` would build the plain U-Net under a config that
    claims a reading it does not contain; a results table would then list a difference that is not there.
    """
    for key, (_, default, switch) in READINGS.items():
        if switch is not None and not switches.get(switch, True) and key in kwargs and kwargs[key] != default:
            raise ValueError(
                f"model {name!r} has no {switch.upper()}, so {key}={kwargs[key]!r} would change nothing; "
                f"pick a variant with {switch.upper()} or leave {key} at {default!r}"
            )


def applicable_readings(switches: Mapping[str, bool], readings: Mapping[str, Any]) -> dict[str, Any]:
    """The items of ``readings`` that change a model with these ablation ``switches`` (for 'all models' loops)."""
    return {
        key: value
        for key, value in readings.items()
        if key not in READINGS or READINGS[key][2] is None or switches.get(READINGS[key][2], True)
    }


def config_differences(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """``"KEY: A (saved) vs B (wanted)"`` for every key where two model configs differ, after upgrading both."""
    saved, wanted = plain(upgrade_config(saved)), plain(upgrade_config(wanted))
    return [
        f"{key}={saved.get(key)!r} (saved) vs {key}={wanted.get(key)!r} (asked)"
        for key in sorted(set(saved) | set(wanted), key=_key_order)
        if saved.get(key) != wanted.get(key)
    ]


def _key_order(key: str) -> tuple[int, str]:
    # The name and the readings first: they are what a mismatch is usually about.
    return (0 if key == "name" else 1 if key in READINGS else 2, key)


def plain(value: Any) -> Any:
    """Tuples -> lists, mappings -> dicts, recursively, so configs compare equal however they were stored."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value
