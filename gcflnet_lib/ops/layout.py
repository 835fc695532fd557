"""Memory layout: keep a channels-last (NHWC) network in channels-last where an op would fall back to NCHW.

A 4-D tensor's layout is a stride order, not a shape: (B, C, H, W) stored channels-last has strides
(H*W*C, 1, W*C, C). Convolutions on a CPU run faster that way (oneDNN's native layout), but an op whose
inputs disagree (a ``torch.cat`` of a channels-last map with a 1-channel image, which is both layouts and
so counts as NCHW) writes NCHW, and every op after it follows, with a copy back at the next convolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether 4-D ``x`` is stored channels-last and not also plain contiguous (C > 1 and H * W > 1)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def match_layout(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` in ``like``'s layout: a channels-last copy when ``like`` is channels-last and ``x`` is not, else ``x``."""
    if is_channels_last(like) and not is_channels_last(x):
        return x.contiguous(memory_format=torch.channels_last)
    return x


def cat_channels(tensors: Sequence[torch.Tensor], like: torch.Tensor | None = None) -> torch.Tensor:
    """``torch.cat(tensors, dim=1)`` of (B, C_i, H, W) tensors, kept channels-last when ``like`` (by default the
    first tensor) is.

    The values are ``torch.cat``'s, bit for bit. Two things differ when ``like`` is channels-last:

    - the result is written channels-last directly, even beside a 1-channel image or map (which counts as NCHW,
      so ``torch.cat`` would write NCHW and a ``match_layout`` copy would follow);
    - the backward hands every input its gradient as a channels-last tensor of its own. ``torch.cat``'s backward
      hands out channel slices of the output's gradient, which are not dense in channels-last, and the CPU
      kernels behind them (BatchNorm's backward above all) run several times slower on such strides than the
      copy costs (docs/PERFORMANCE.md).
    """
    tensors = list(tensors)
    if not tensors or not is_channels_last(tensors[0] if like is None else like) or any(t.dim() != 4 for t in tensors):
        return torch.cat(tensors, dim=1)
    return _ChannelsLastCat.apply(*tensors)


class _ChannelsLastCat(torch.autograd.Function):
    @staticmethod
    def forward(ctx, *tensors: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.sizes = [t.shape[1] for t in tensors]
        # (B, H, W, C) views, concatenated along their last axis: a dense (B, H, W, sum C), channels-last seen
        # as (B, C, H, W).
        return torch.cat([t.permute(0, 2, 3, 1) for t in tensors], dim=3).permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        parts = grad.split(ctx.sizes, dim=1)
        return tuple(part.contiguous(memory_format=torch.channels_last) if needed else None
                     for part, needed in zip(parts, ctx.needs_input_grad))
