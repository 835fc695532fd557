"""SoftIoU loss with deep supervision (the paper's training objective).

The paper trains GCFLNet with "SoftIoULoss" and deep supervision: every decoder level has a 1x1 head
whose full-resolution logits are supervised, and the losses are averaged. As in the field's toolboxes
(BasicIRSTD, DNANet), the soft IoU is computed over the *whole batch* (one intersection and one union
summed over all pixels of all images) with ``smooth = 1``:

    p = sigmoid(logits)
    loss = 1 - (sum(p * t) + smooth) / (sum(p) + sum(t) - sum(p * t) + smooth)

The sums are kept as a separate ``soft_iou_terms`` step so that a distributed run can add them up
across processes before the ratio is taken; the loss then equals the one a single process computes
on the global batch (``all_reduce`` must be autograd-aware, e.g. ``torch.distributed.nn.functional.all_reduce``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

AllReduce = Callable[[Tensor], Tensor]


def _check_pair(logits: Tensor, target: Tensor) -> None:
    if logits.shape != target.shape:
        raise ValueError(f"logits shape {tuple(logits.shape)} and target shape {tuple(target.shape)} must match")


def soft_iou_terms(logits: Tensor, target: Tensor) -> Tensor:
    """Sums the soft IoU needs, over the whole batch.

    Args:
        logits: (B, 1, H, W) raw scores.
        target: (B, 1, H, W) in {0, 1} (bool or float).

    Returns:
        (3,) float32 tensor ``[sum(p * t), sum(p), sum(t)]`` with ``p = sigmoid(logits)``.
    """
    _check_pair(logits, target)
    # float32 sums: under bf16 autocast the logits may be bf16, whose 8-bit mantissa cannot hold a pixel count.
    prob = torch.sigmoid(logits.float())
    target = target.to(prob.dtype)
    return torch.stack(((prob * target).sum(), prob.sum(), target.sum()))


def soft_iou_from_terms(terms: Tensor, smooth: float = 1.0) -> Tensor:
    """``1 - (I + smooth) / (P + T - I + smooth)`` from terms ``(..., 3)`` = ``[I, P, T]``; shape ``(...)``."""
    intersection, prob_sum, target_sum = terms.unbind(-1)
    return 1.0 - (intersection + smooth) / (prob_sum + target_sum - intersection + smooth)


def soft_iou_loss(logits: Tensor, target: Tensor, smooth: float = 1.0, all_reduce: AllReduce | None = None) -> Tensor:
    """SoftIoU loss over the whole batch; a scalar in [0, 1).

    Args:
        logits: (B, 1, H, W) raw scores.
        target: (B, 1, H, W) in {0, 1}.
        smooth: added to intersection and union (1 in the field's toolboxes), so an empty mask with an
            empty prediction gives a loss near 0 rather than 0/0.
        all_reduce: optional function that sums a tensor over processes (distributed training).
    """
    terms = soft_iou_terms(logits, target)
    if all_reduce is not None:
        terms = all_reduce(terms)
    return soft_iou_from_terms(terms, smooth)


def deep_supervision_loss(
    outputs: Sequence[Tensor] | Tensor,
    target: Tensor,
    smooth: float = 1.0,
    all_reduce: AllReduce | None = None,
) -> Tensor:
    """Mean SoftIoU over the deep-supervision outputs (a plain tensor counts as one output).

    Args:
        outputs: list of (B, 1, H, W) logits, all at the target's resolution, or one such tensor.
        target: (B, 1, H, W) in {0, 1}.
        smooth: see ``soft_iou_loss``.
        all_reduce: optional function that sums a tensor over processes; called once for all outputs.
    """
    if isinstance(outputs, Tensor):
        outputs = [outputs]
    if len(outputs) == 0:
        raise ValueError("deep_supervision_loss needs at least one output")
    terms = torch.stack([soft_iou_terms(logits, target) for logits in outputs])  # (K, 3)
    if all_reduce is not None:
        terms = all_reduce(terms)
    return soft_iou_from_terms(terms, smooth).mean()


class SoftIoULoss(nn.Module):
    """``nn.Module`` over ``deep_supervision_loss``: accepts one logits tensor or a list of them."""

    def __init__(self, smooth: float = 1.0, all_reduce: AllReduce | None = None) -> None:
        super().__init__()
        self.smooth = smooth
        self.all_reduce = all_reduce

    def forward(self, outputs: Sequence[Tensor] | Tensor, target: Tensor) -> Tensor:
        return deep_supervision_loss(outputs, target, self.smooth, self.all_reduce)

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}"
