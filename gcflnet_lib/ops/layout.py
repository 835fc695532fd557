"""Memory layout: keep a channels-last (NHWC) network in channels-last where an op would fall back to NCHW.

A 4-D tensor's layout is a stride order, not a shape: (B, C, H, W) stored channels-last has strides
(H*W*C, 1, W*C, C). Convolutions on a CPU run faster that way (oneDNN's native layout), but an op whose
inputs disagree (a ``torch.cat`` of a channels-last map with a 1-channel image, which is both layouts and
so counts as NCHW) writes NCHW, and every op after it follows, with a copy back at the next convolution.
"""

from __future__ import annotations

import torch


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether 4-D ``x`` is stored channels-last and not also plain contiguous (C > 1 and H * W > 1)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def match_layout(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` in ``like``'s layout: a channels-last copy when ``like`` is channels-last and ``x`` is not, else ``x``."""
    if is_channels_last(like) and not is_channels_last(x):
        return x.contiguous(memory_format=torch.channels_last)
    return x
