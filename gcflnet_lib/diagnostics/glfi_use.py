"""GLFI in use: does each GLFI's attention select, and does the network's output depend on that selection?

GLFI (the paper's global-local feature interaction) multiplies its local features by an attention map
``A = sigmoid(row profile @ column profile)`` of the fused features, then adds the fused features back:
``out = local * A + fused`` (``gcflnet_lib.nn.glfi``). A trained GLFI can carry an attention that is almost flat
(the same weight at every position, a plain channel gain) or one the decoder ignores; the network then trains and
scores, and nothing says the module does what the paper describes. Two measurements per encoder level, on images
the caller names, tell:

- **attention range**: the smallest and largest weight of ``A`` over the images, and its **mean spread**, each
  channel's largest minus smallest weight on one image, averaged over channels and images. 0 is a flat map; the
  ``"outer"`` reading lies in [0.5, 1) on rectified features, so its spread is at most 0.5.
- **flatten test**: ``A`` replaced, on each image and channel, by its spatial mean. The channel keeps its average
  gain and loses only where it looks; the largest change of an output probability and the IoU before and after
  (pooled over the images) say how much the output relies on the attention's spatial selection. A level whose
  flattening moves no probability by :data:`~gcflnet_lib.diagnostics.skip_health.DEAD_PROBABILITY_CHANGE` or
  more is reported ``flat``: its attention could be a constant. :func:`flatten_test` flattens several levels at
  once; every level together asks whether the output rests on GLFI's spatial selection at all.

Shapes: ``images`` (N, C, H, W) normalised as the model expects; ``masks`` (N, H, W) bool. The model runs in eval
mode, so no number depends on the batch an image was computed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from gcflnet_lib.diagnostics.skip_health import (
    PerturbedLevel,
    ShuffleResult,
    _check_inputs,
    _eval_no_grad,
    perturbation_test,
)


@dataclass(frozen=True)
class GLFIUse(PerturbedLevel):
    """How one GLFI's attention is used (see the module docstring); ``level`` 0 is full resolution."""

    UNUSED: ClassVar[str] = "flat"

    level: int
    attention_min: float
    attention_max: float
    mean_spread: float
    max_probability_change: float  # under the flatten test
    iou_before: float
    iou_after: float


def glfi_blocks(model: nn.Module) -> list[tuple[int, nn.Module]]:
    """``(level, GLFI)`` for every encoder level of ``model``, finest first.

    Raises ValueError when the model has no GLFI, or when its GLFIs read the attention as ``"channel"`` (a channel
    mix, with no spatial map to measure).
    """
    blocks = getattr(model, "glfi", None)
    if not isinstance(blocks, nn.ModuleList) or len(blocks) == 0:
        raise ValueError(f"{type(model).__name__} has no GLFI (the variant was built without it)")
    readings = {block.attention for block in blocks}
    if readings - {"outer", "signed"}:
        raise ValueError(f"GLFI attention {sorted(readings)}: only the 'outer' and 'signed' readings have a spatial "
                         "map to measure")
    return list(enumerate(blocks))


def _flattened(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Forward hook: the GLFI's output with its attention replaced by each channel's spatial mean."""
    local, fused = module.parts(*args)
    return local * module.spatial_attention(fused).mean(dim=(2, 3), keepdim=True) + fused


def flatten_test(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, levels: Sequence[int],
                 batch_size: int = 4, threshold: float = 0.5) -> ShuffleResult:
    """Flatten the GLFI attention at ``levels`` (all at once) and compare the prediction with the unflattened one:
    the largest probability change, the pixels that cross ``threshold``, the IoU before and after (pooled over the
    images). The result has the form of the skip shuffle test's.

    Raises:
        ValueError: a model without a spatial GLFI attention, a level it lacks, or images and masks that do not match.
    """
    blocks = dict(glfi_blocks(model))
    unknown = sorted(set(levels) - set(blocks))
    if unknown or not levels:
        raise ValueError(f"levels {list(levels)}: the model's GLFI levels are {sorted(blocks)}")
    return perturbation_test(model, images, masks, levels,
                             lambda start, count: [blocks[level].register_forward_hook(_flattened) for level in levels],
                             batch_size, threshold)


def glfi_use(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, batch_size: int = 4,
             threshold: float = 0.5) -> list[GLFIUse]:
    """Per-level use of the GLFI attention of ``model`` on ``images`` (see the module docstring), finest first.

    Raises:
        ValueError: a model without a spatial GLFI attention, or images and masks that do not match.
    """
    blocks = glfi_blocks(model)
    _check_inputs(images, masks)
    count = len(blocks)
    low, high = [float("inf")] * count, [float("-inf")] * count
    spread_sum = [0.0] * count
    with _eval_no_grad(model) as device:
        for start in range(0, images.shape[0], batch_size):
            seen: dict[int, torch.Tensor] = {}
            handles = [block.register_forward_hook(
                lambda module, args, output, level=level: seen.__setitem__(
                    level, module.spatial_attention(module.parts(*args)[1]).double()))
                for level, block in blocks]
            try:
                model(images[start:start + batch_size].to(device))
            finally:
                for handle in handles:
                    handle.remove()
            for level, attention in seen.items():
                low[level] = min(low[level], float(attention.min()))
                high[level] = max(high[level], float(attention.max()))
                spread = attention.amax(dim=(2, 3)) - attention.amin(dim=(2, 3))  # (B, C)
                spread_sum[level] += float(spread.mean(dim=1).sum())
    tests = [flatten_test(model, images, masks, (level,), batch_size, threshold) for level, _ in blocks]
    return [GLFIUse(level=level, attention_min=low[level], attention_max=high[level],
                    mean_spread=spread_sum[level] / images.shape[0],
                    max_probability_change=tests[level].max_probability_change,
                    iou_before=tests[level].iou_before, iou_after=tests[level].iou_after)
            for level, _ in blocks]


def glfi_table(uses: Sequence[GLFIUse]) -> str:
    """The per-level table ``gcflnet inspect`` prints under the skip table."""
    lines = [f"{'level':>5} {'A min':>6} {'A max':>6} {'spread':>6} {'max dprob':>9} {'IoU before':>10} "
             f"{'IoU flat':>8}  status"]
    for item in uses:
        lines.append(f"{item.level:>5} {item.attention_min:>6.3f} {item.attention_max:>6.3f} {item.mean_spread:>6.3f} "
                     f"{item.max_probability_change:>9.2e} {item.iou_before:>10.4f} {item.iou_after:>8.4f}  {item.status}")
    return "\n".join(lines)
