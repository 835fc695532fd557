"""Central difference convolution (CDC; Yu et al., "Searching Central Difference Convolutional
Networks for Face Anti-Spoofing", CVPR 2020).

A vanilla convolution aggregates intensities, ``sum_n w(p_n) x(p0 + p_n)``; a central difference
convolution aggregates intensity *differences* to the centre, ``sum_n w(p_n) (x(p0 + p_n) - x(p0))``.
CDC blends both with ``theta`` in [0, 1]::

    y = sum_n w(p_n) x(p0 + p_n)  -  theta * x(p0) * sum_n w(p_n)
      = conv(x, w)                -  theta * conv1x1(x, sum(w))

so it reacts to local intensity transitions (edges) rather than to the level itself; ``theta = 0`` is
a plain convolution and ``theta = 1`` a pure central difference.

Both terms read the same pixels through the same window, so they fold into one convolution whose centre
tap is reduced by ``theta * sum(w)`` (``cdc_kernel``): one pass over the input instead of two, the same
output within float rounding (the 1x1 pass is what the folded kernel saves on a CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gcflnet_lib.ops._checks import check_bchw


def cdc_kernel(weight: torch.Tensor, theta: float) -> torch.Tensor:
    """The single kernel of a central difference convolution: ``weight`` with ``theta * sum(w)`` taken off
    its centre tap, so ``conv(x, cdc_kernel(w, theta)) == conv(x, w) - theta * conv1x1(x, sum(w))``.

    Args:
        weight: (C_out, C_in / groups, k, k) with odd ``k``.
    Returns:
        A tensor of the same shape, differentiable with respect to ``weight``.
    """
    half = weight.shape[-1] // 2
    centre_shift = theta * weight.sum(dim=(2, 3), keepdim=True)  # (C_out, C_in / groups, 1, 1)
    return weight - F.pad(centre_shift, (half, half, half, half))


def central_difference_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    theta: float = 0.7,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Bias-free central difference convolution with 'same' padding.

    Args:
        x: (B, C_in, H, W) floating point.
        weight: (C_out, C_in / groups, k, k) with odd ``k``.
        theta: weight of the central difference term; 0 gives ``F.conv2d``.
        stride, dilation, groups: as in ``F.conv2d``; padding is ``dilation * (k // 2)``.

    Returns:
        (B, C_out, ceil(H / stride), ceil(W / stride)).
    """
    check_bchw(x, "x")
    if weight.dim() != 4 or weight.shape[-1] != weight.shape[-2] or weight.shape[-1] % 2 == 0:
        raise ValueError(f"weight must be (C_out, C_in / groups, k, k) with odd k, got {tuple(weight.shape)}")
    padding = dilation * (weight.shape[-1] // 2)
    # With 'same' padding the window's centre tap sits on x(p0) at every stride and dilation, so the
    # central difference term is a change of that one tap.
    kernel = cdc_kernel(weight, theta) if theta else weight
    return F.conv2d(x, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups)
