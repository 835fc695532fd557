"""Batched tensor transforms for training and testing; they run on whatever device the tensors are on.

The training engine keeps the decoded dataset on the GPU and crops there, so nothing here goes
through numpy. Random choices are drawn from a CPU ``torch.Generator`` (or torch's global RNG when
``generator`` is None), which makes a seeded run repeat exactly on any device.

- Testing (BasicIRSTD protocol): zero-pad bottom/right to a multiple of the network's stride
  (:func:`pad_to_multiple`), predict, crop back (:func:`crop_to`).
- Training: square crops, centred on a target pixel with probability ``p_target``
  (:func:`random_crops`), then random horizontal flips, vertical flips and transposes
  (:func:`random_flips_transposes`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gcflnet_lib.ops.padding import pad_bottom_right

Size = tuple[int, int]


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "zeros") -> tuple[torch.Tensor, Size]:
    """Pad ``x`` (B, C, H, W) at the bottom and right so H and W become multiples of ``multiple``.

    ``mode``: ``"zeros"`` (default, the BasicIRSTD protocol), ``"reflect"`` or ``"replicate"``
    (see ``gcflnet_lib.ops.padding``).

    Returns ``(padded (B, C, H', W'), (H, W))``; pass the original size to :func:`crop_to` afterwards.
    """
    if x.ndim != 4:
        raise ValueError(f"x: expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    if int(multiple) != multiple or multiple < 1:
        raise ValueError(f"multiple: expected a positive integer, got {multiple!r}")
    height, width = x.shape[-2:]
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    if pad_h or pad_w:
        x = pad_bottom_right(x, pad_h, pad_w, mode)
    return x, (int(height), int(width))


def crop_to(x: torch.Tensor, size: Size) -> torch.Tensor:
    """Top-left ``size = (H, W)`` of ``x`` (..., H', W'), the inverse of :func:`pad_to_multiple`."""
    height, width = int(size[0]), int(size[1])
    if x.ndim < 2 or height > x.shape[-2] or width > x.shape[-1] or height < 1 or width < 1:
        raise ValueError(f"size: cannot crop {tuple(x.shape)} to {(height, width)}")
    return x[..., :height, :width]


def _randint(high: int, generator: torch.Generator | None) -> int:
    return int(torch.randint(high, (1,), generator=generator).item()) if high > 1 else 0


def _crop_origin(
    mask: torch.Tensor,
    size: int,
    p_target: float,
    generator: torch.Generator | None,
    target_pixels: torch.Tensor | None = None,
) -> tuple[int, int]:
    """Top-left corner of a ``size`` crop inside a (H, W) plane padded to at least ``size``.

    ``target_pixels`` (N, 2) are the mask's (row, col) target coordinates when the caller has them on the
    CPU already; looking them up in a GPU mask would stall the GPU once per image.
    """
    height, width = mask.shape
    centre_on_target = p_target > 0 and float(torch.rand((), generator=generator)) < p_target
    if centre_on_target:
        if target_pixels is None:
            target_pixels = torch.nonzero(mask)
        if len(target_pixels):
            row, col = target_pixels[_randint(len(target_pixels), generator)].tolist()
            top = min(max(row - size // 2, 0), height - size)
            left = min(max(col - size // 2, 0), width - size)
            return top, left
    return _randint(height - size + 1, generator), _randint(width - size + 1, generator)


def random_crops(
    images: list[torch.Tensor],
    masks: list[torch.Tensor],
    size: int,
    p_target: float = 0.5,
    generator: torch.Generator | None = None,
    target_pixels: list[torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random ``size`` x ``size`` crop from each (H, W) image and its mask.

    With probability ``p_target`` the crop is centred on a target pixel chosen at random (then shifted
    to stay inside the image); otherwise its position is uniform. Images smaller than ``size`` are
    zero-padded bottom/right first, as BasicIRSTD does. Sizes may differ between images.

    ``target_pixels``, optional, holds per image the (N, 2) CPU tensor ``torch.nonzero(mask)`` of the
    padded mask, precomputed once so that crops from GPU-resident images need no device sync.

    Returns ``(images (B, 1, S, S), masks (B, 1, S, S))``; masks come back as 0/1 in the images' dtype.
    """
    if len(images) != len(masks):
        raise ValueError(f"images, masks: got {len(images)} images but {len(masks)} masks")
    if not images:
        raise ValueError("images: expected at least one image")
    if int(size) != size or size < 1:
        raise ValueError(f"size: expected a positive integer, got {size!r}")
    if not 0.0 <= p_target <= 1.0:
        raise ValueError(f"p_target: expected a probability in [0, 1], got {p_target!r}")
    if target_pixels is not None and len(target_pixels) != len(images):
        raise ValueError(f"target_pixels: got {len(target_pixels)} entries for {len(images)} images")
    image_crops, mask_crops = [], []
    for index, (image, mask) in enumerate(zip(images, masks)):
        if image.ndim != 2 or image.shape != mask.shape:
            raise ValueError(
                f"images[{index}], masks[{index}]: expected two (H, W) tensors of one size, "
                f"got {tuple(image.shape)} and {tuple(mask.shape)}"
            )
        pad_h = max(size - image.shape[0], 0)
        pad_w = max(size - image.shape[1], 0)
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h))
            mask = F.pad(mask, (0, pad_w, 0, pad_h))
        targets = None if target_pixels is None else target_pixels[index]
        top, left = _crop_origin(mask, size, p_target, generator, targets)
        image_crops.append(image[top : top + size, left : left + size])
        mask_crops.append(mask[top : top + size, left : left + size])
    batch_images = torch.stack(image_crops)[:, None]
    batch_masks = torch.stack(mask_crops)[:, None]
    return batch_images, (batch_masks > 0).to(batch_images.dtype)


def random_flips_transposes(
    x: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator | None = None,
    transpose: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample random horizontal flip, vertical flip and (square inputs) H/W transpose, each with p = 0.5.

    ``x`` and ``y`` are (B, C, H, W) (their C may differ) and get the same transform per sample, so the
    mask stays aligned with its image. ``transpose=True`` needs H == W.
    """
    if x.ndim != 4 or y.ndim != 4 or x.shape[0] != y.shape[0] or x.shape[-2:] != y.shape[-2:]:
        raise ValueError(f"x, y: expected (B, C, H, W) tensors of one batch and size, got {tuple(x.shape)} and {tuple(y.shape)}")
    if transpose and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"x: transpose needs square inputs, got {tuple(x.shape[-2:])}; pass transpose=False")
    choices = torch.rand((3, x.shape[0]), generator=generator) < 0.5
    choices = choices.to(x.device)

    def apply(t: torch.Tensor, chosen: torch.Tensor, op) -> torch.Tensor:
        return torch.where(chosen.view(-1, 1, 1, 1), op(t), t)

    for index, op in enumerate((lambda t: t.flip(-1), lambda t: t.flip(-2), lambda t: t.transpose(-1, -2))):
        if index == 2 and not transpose:
            break
        x = apply(x, choices[index], op)
        y = apply(y, choices[index].to(y.device), op)
    return x, y
