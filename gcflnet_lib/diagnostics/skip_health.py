"""Skip health: does the decoder of a U-shaped model still use each skip connection?

A skip connection carries the encoder's features at level ``l`` (0 = full resolution) to the decoder block that
rebuilds that level. A module on the skip (MSIC's attention, for example) can learn to multiply those features
by almost zero; the network then still trains and scores, but its decoder sees nothing finer than the next
coarser level. Two measurements, on images the caller names, tell whether that happened:

- **kept ratio**: ``||skip_output|| / ||low||`` over all pixels and channels of the images, where ``low`` is the
  encoder features entering the decoder block and ``skip_output`` the same features as they enter the block's
  fusion, after any modulation (``MSIC.skip_output``; a plain U-Net skip keeps 1). Per pixel, the same ratio over
  the channels is the skip's **gain**; its mean on target pixels and on background pixels says where the skip is
  opened or shut (for the ``crossed`` MSIC it is exactly the spatial attention).
- **shuffle test**: the encoder features entering level ``l``'s decoder block are moved to random positions, with
  one permutation of the pixels shared by all channels. Each channel keeps its values, so its mean and maximum are
  unchanged, and any attention computed from global pooling of those features sees the same input; only the
  spatial detail is gone. Zeroing the skip instead would also change what such an attention sees, and so measure
  something else. The change of the output's probabilities (the largest, and the pixels that cross 0.5) and the
  IoU before and after (pooled over the images) say how much the decoder relies on that detail.

:func:`shuffle_test` shuffles several levels at once: the two finest together (``FINE_LEVELS``) is the test a
learner runs first, since a network that shut one of them may lean on the other.

A skip whose shuffle moves no probability by :data:`DEAD_PROBABILITY_CHANGE` or more is reported ``dead``.

Shapes: ``images`` (N, C, H, W) normalised as the model expects; ``masks`` (N, H, W) bool. The permutation of
image ``i`` comes from ``seed`` and ``i`` alone, and the model runs in eval mode, so no number depends on the batch
the image was computed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

# A shuffle that moves no pixel's probability by this much leaves the output as it was: the skip is not in use.
DEAD_PROBABILITY_CHANGE = 0.05
FINE_LEVELS = (0, 1)
_EPS = 1e-12


class PerturbedLevel:
    """What the per-level results of a perturbation test share (fields ``max_probability_change``, ``iou_before``,
    ``iou_after``): the IoU it costs, and ``UNUSED`` (the module's output could be replaced) when it moves no
    probability by :data:`DEAD_PROBABILITY_CHANGE`."""

    UNUSED: ClassVar[str] = "dead"

    @property
    def iou_cost(self) -> float:
        return self.iou_before - self.iou_after

    @property
    def status(self) -> str:
        return self.UNUSED if self.max_probability_change < DEAD_PROBABILITY_CHANGE else "in use"

    def to_dict(self) -> dict:
        return {**asdict(self), "iou_cost": self.iou_cost, "status": self.status}


@dataclass(frozen=True)
class SkipHealth(PerturbedLevel):
    """The health of one skip connection (see the module docstring); ``level`` 0 is full resolution."""

    level: int
    channels: int
    kept_ratio: float
    gain_target: float  # mean per-pixel gain on target pixels (NaN when the images hold no target)
    gain_background: float
    max_probability_change: float
    changed_pixels: int
    iou_before: float
    iou_after: float


def skip_blocks(model: nn.Module) -> list[tuple[int, nn.Module]]:
    """``(level, decoder block)`` for every skip connection of ``model``, finest level first.

    ``model.decoder[k]`` rebuilds level ``levels - 2 - k`` (``GCFLNet``'s layout). Raises ValueError when the model
    has no decoder of skip blocks (blocks offering ``skip_output``).
    """
    decoder = getattr(model, "decoder", None)
    if not isinstance(decoder, nn.ModuleList) or len(decoder) == 0:
        raise ValueError(f"{type(model).__name__} has no skip connections (no decoder of skip blocks)")
    if not all(callable(getattr(block, "skip_output", None)) for block in decoder):
        raise ValueError(f"{type(model).__name__}'s decoder blocks do not expose skip_output()")
    levels = len(decoder) + 1
    return sorted(((levels - 2 - k, block) for k, block in enumerate(decoder)), key=lambda pair: pair[0])


def shuffle_pixels(features: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """(B, C, H, W) with each image's pixels permuted, one permutation for all channels (``generators[b]``)."""
    batch, channels, height, width = features.shape
    out = torch.empty_like(features)
    for b in range(batch):
        order = torch.randperm(height * width, generator=generators[b]).to(features.device)
        out[b] = features[b].reshape(channels, height * width)[:, order].reshape(channels, height, width)
    return out


def _generators(seed: int, first: int, count: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed * 1_000_003 + first + i) for i in range(count)]


def _probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return torch.sigmoid(out[-1] if isinstance(out, (list, tuple)) else out)


def _mask_at(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, H, W) bool -> (B, h, w) bool at a level of the padded input: a cell is target if any pixel it covers is."""
    height, width = mask.shape[-2:]
    scale = max(1, round(max(height, width) / max(size)))
    padded = F.pad(mask[:, None].float(), (0, size[1] * scale - width, 0, size[0] * scale - height))
    return F.max_pool2d(padded, scale)[:, 0] > 0 if scale > 1 else padded[:, 0] > 0


@dataclass(frozen=True)
class ShuffleResult:
    """The shuffle test of the skips at ``levels`` together (see the module docstring)."""

    levels: tuple[int, ...]
    max_probability_change: float
    changed_pixels: int
    iou_before: float
    iou_after: float

    @property
    def iou_cost(self) -> float:
        return self.iou_before - self.iou_after

    def to_dict(self) -> dict:
        return {**asdict(self), "levels": list(self.levels), "iou_cost": self.iou_cost}


def _check_inputs(images: torch.Tensor, masks: torch.Tensor) -> None:
    if images.dim() != 4 or masks.dim() != 3 or images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"images (N, C, H, W) and masks (N, H, W) must match, got {tuple(images.shape)} "
                         f"and {tuple(masks.shape)}")
    if images.shape[0] == 0:
        raise ValueError("no images to measure skip health on")


def _pooled_iou(intersection: float, union: float) -> float:
    return intersection / union if union > 0 else 1.0


@contextmanager
def _eval_no_grad(model: nn.Module) -> Iterator[torch.device]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield next(model.parameters()).device
    finally:
        model.train(was_training)


def shuffle_test(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, levels: Sequence[int],
                 batch_size: int = 4, seed: int = 0, threshold: float = 0.5) -> ShuffleResult:
    """Shuffle the encoder features entering the skip blocks of ``levels`` (all at once), predict again, and
    compare with the unshuffled prediction. Shapes and arguments as :func:`skip_health`.

    Raises:
        ValueError: no skip connections, a level the model lacks, or images and masks that do not match.
    """
    blocks = dict(skip_blocks(model))
    unknown = sorted(set(levels) - set(blocks))
    if unknown or not levels:
        raise ValueError(f"levels {list(levels)}: the model's skip levels are {sorted(blocks)}")

    def shuffle(start: int, count: int) -> list:
        # Each level gets its own permutations, the same whatever the batch (seeded by level and index).
        return [blocks[level].register_forward_pre_hook(
            lambda module, args, generators=_generators(seed * 31 + level, start, count):
            (shuffle_pixels(args[0], generators), *args[1:])) for level in levels]

    return perturbation_test(model, images, masks, levels, shuffle, batch_size, threshold)


def perturbation_test(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, levels: Sequence[int],
                      install: Callable[[int, int], list], batch_size: int = 4, threshold: float = 0.5) -> ShuffleResult:
    """Predict each batch as the model is, then with the hooks ``install(first index, batch size)`` registers (and
    this function removes), and compare: the largest probability change, the pixels that cross ``threshold``, the
    IoU before and after pooled over the images. The skip shuffle test and GLFI's flatten test are two ``install``s.
    """
    _check_inputs(images, masks)
    before_inter = before_union = after_inter = after_union = 0.0
    largest, changed = 0.0, 0
    with _eval_no_grad(model) as device:
        for start in range(0, images.shape[0], batch_size):
            x = images[start:start + batch_size].to(device)
            y = masks[start:start + batch_size].to(device).bool()
            before = _probabilities(model, x)[:, 0]
            handles = install(start, x.shape[0])
            try:
                after = _probabilities(model, x)[:, 0]
            finally:
                for handle in handles:
                    handle.remove()
            hit, after_hit = before > threshold, after > threshold
            before_inter += float((hit & y).sum())
            before_union += float((hit | y).sum())
            after_inter += float((after_hit & y).sum())
            after_union += float((after_hit | y).sum())
            largest = max(largest, float((after - before).abs().max()))
            changed += int((after_hit != hit).sum())
    return ShuffleResult(tuple(int(level) for level in levels), largest, changed,
                         _pooled_iou(before_inter, before_union), _pooled_iou(after_inter, after_union))


def skip_health(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, batch_size: int = 4,
                seed: int = 0, threshold: float = 0.5) -> list[SkipHealth]:
    """Per-level skip health of ``model`` on ``images`` (see the module docstring), finest level first.

    Args:
        model: a U-shaped model whose ``decoder`` blocks offer ``skip_output`` (GCFLNet, every ablation variant
            and MSIC reading, the U-Net).
        images: (N, C, H, W) float, normalised as the model expects.
        masks: (N, H, W) bool ground truth, for the IoU and for the gain on target pixels.
        batch_size: images per forward pass (the numbers do not depend on it).
        seed: the permutations' seed.
        threshold: probability above which a pixel counts as target.

    Raises:
        ValueError: no skip connections, or images and masks that do not match.
    """
    blocks = skip_blocks(model)
    _check_inputs(images, masks)
    count = len(blocks)
    kept_sq, low_sq, widths = np.zeros(count), np.zeros(count), np.zeros(count, dtype=np.int64)
    gain_sum, gain_n = np.zeros((count, 2)), np.zeros((count, 2))  # columns: target, background
    with _eval_no_grad(model) as device:
        for start in range(0, images.shape[0], batch_size):
            x = images[start:start + batch_size].to(device)
            y = masks[start:start + batch_size].to(device).bool()
            captured: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
            handles = [block.register_forward_pre_hook(
                lambda module, args, index=index: captured.__setitem__(index, (args[0], args[1])))
                for index, (_, block) in enumerate(blocks)]
            try:
                _probabilities(model, x)
            finally:
                for handle in handles:
                    handle.remove()
            for index, (_, block) in enumerate(blocks):
                low, high = captured[index]
                widths[index] = low.shape[1]
                kept = block.skip_output(low, high).double()
                low = low.double()
                kept_sq[index] += float(kept.square().sum())
                low_sq[index] += float(low.square().sum())
                gain = kept.square().sum(1).sqrt() / (low.square().sum(1).sqrt() + _EPS)
                target = _mask_at(y, tuple(gain.shape[-2:]))
                for column, where in enumerate((target, ~target)):
                    gain_sum[index, column] += float(gain[where].sum())
                    gain_n[index, column] += float(where.sum())
    shuffles = [shuffle_test(model, images, masks, (level,), batch_size, seed, threshold) for level, _ in blocks]

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b > 0 else float("nan")

    return [
        SkipHealth(level=level, channels=int(widths[i]), kept_ratio=float(np.sqrt(ratio(kept_sq[i], low_sq[i]))),
                   gain_target=ratio(gain_sum[i, 0], gain_n[i, 0]), gain_background=ratio(gain_sum[i, 1], gain_n[i, 1]),
                   max_probability_change=shuffles[i].max_probability_change,
                   changed_pixels=shuffles[i].changed_pixels, iou_before=shuffles[i].iou_before,
                   iou_after=shuffles[i].iou_after)
        for i, (level, _) in enumerate(blocks)
    ]


def health_row(health: Sequence[SkipHealth], fine: ShuffleResult | None = None) -> dict[str, float | None]:
    """The flat columns a training history keeps at each evaluation: per level L ``skipL_kept``,
    ``skipL_gain_target``, ``skipL_dprob`` (largest probability change under the shuffle) and ``skipL_iou_cost``;
    with ``fine``, ``fine_dprob`` and ``fine_iou_cost`` (the finest levels shuffled together)."""

    def number(value: float) -> float | None:
        return None if value != value else round(float(value), 6)  # NaN (no target pixels) -> empty

    row: dict[str, float | None] = {}
    for item in health:
        row[f"skip{item.level}_kept"] = number(item.kept_ratio)
        row[f"skip{item.level}_gain_target"] = number(item.gain_target)
        row[f"skip{item.level}_dprob"] = number(item.max_probability_change)
        row[f"skip{item.level}_iou_cost"] = number(item.iou_cost)
    if fine is not None:
        row["fine_dprob"] = number(fine.max_probability_change)
        row["fine_iou_cost"] = number(fine.iou_cost)
    return row


def target_crops(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], count: int = 10,
                 size: int = 128) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``(index, image crop, mask crop)`` for the first ``count`` images that hold a target, each ``size`` x
    ``size`` (or the whole side where the image is smaller), centred on its largest target and kept inside."""
    crops = []
    for index, (image, mask) in enumerate(zip(images, masks)):
        if len(crops) == count:
            break
        labels, found = ndimage.label(mask)
        if found == 0:
            continue
        largest = 1 + int(np.argmax(ndimage.sum_labels(mask, labels, range(1, found + 1))))
        centre_y, centre_x = (int(round(c)) for c in ndimage.center_of_mass(labels == largest))
        height, width = mask.shape
        top = min(max(0, centre_y - size // 2), max(0, height - size))
        left = min(max(0, centre_x - size // 2), max(0, width - size))
        window = (slice(top, top + size), slice(left, left + size))
        crops.append((index, image[window], mask[window]))
    return crops
