"""AdamW parameter groups: which parameters weight decay reaches.

By default (``exclude=False``) one group holds every parameter and AdamW decays them all, as this
project always did. With ``exclude=True`` (``TrainConfig.decay_exclude``, ``gcflnet train
--decay-exclude``) weight decay skips

- the scale and shift of normalisation layers (BatchNorm & co.): decaying them pulls every feature
  towards zero and fights the normalisation rather than limiting capacity;
- biases: an offset does not make a function more complex;
- the EFEU kernels ``kx``, ``ky``: they start as Sobel operators and are meant to stay gradient
  operators; decay would shrink the edge response towards zero whatever the data say.

The paper says only "The AdamW optimizer is adopted" (Section 4.1); this split is common practice
(e.g. timm's ``param_groups_weight_decay``), not the paper's.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from gcflnet_lib.nn.efeu import EFEU

NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
NO_DECAY = "no_decay"


def excluded_from_decay(module: nn.Module, name: str) -> bool:
    """True for parameter ``name`` (as registered directly on ``module``) that ``exclude=True`` leaves undecayed."""
    return isinstance(module, NORM_TYPES + (EFEU,)) or name == "bias"


def split_parameters(model: nn.Module) -> tuple[list[str], list[str]]:
    """Names of the trainable parameters of ``model`` that decay, and of those excluded (shared ones once)."""
    seen: set[int] = set()
    decay, no_decay = [], []
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            full = f"{module_name}.{name}" if module_name else name
            (no_decay if excluded_from_decay(module, name) else decay).append(full)
    return decay, no_decay


def parameter_groups(model: nn.Module, weight_decay: float, exclude: bool = False) -> list[dict[str, Any]]:
    """Parameter groups for ``torch.optim.AdamW(groups, ...)``.

    ``exclude=False``: ``[{"params": every parameter, "weight_decay": weight_decay}]``, the optimizer
    the trainer always built. ``exclude=True``: a ``"decay"`` group with ``weight_decay`` and a
    ``"no_decay"`` group with 0 (norm, bias and EFEU parameters); each group names itself under ``"name"``.
    """
    if not exclude:
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    decay, no_decay = split_parameters(model)
    params = dict(model.named_parameters())
    groups = [
        {"params": [params[n] for n in decay], "weight_decay": weight_decay, "name": "decay"},
        {"params": [params[n] for n in no_decay], "weight_decay": 0.0, "name": NO_DECAY},
    ]
    return [group for group in groups if group["params"]]


def group_weight_decay(group: dict[str, Any], weight_decay: float) -> float:
    """The weight decay a (possibly restored) group should have under ``weight_decay``: 0 for ``"no_decay"``."""
    return 0.0 if group.get("name") == NO_DECAY else weight_decay
