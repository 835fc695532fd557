"""How strongly gradient vectors converge on a point: the paper's observation about small targets.

GCFLNet's EEM rests on the remark that around an infrared small target the gradient vectors point
towards the target centre, while in smooth background or clutter their directions are random. This
module turns that remark into a number per pixel ``p``::

    convergence(p) = mean over q in the window around p, q != p, of cos(angle(g(q), p - q))

the cosine between the gradient vector at ``q`` and the unit vector from ``q`` to ``p``. It is about +1 at
the centre of a bright blob (every gradient points uphill, to the centre), about -1 at the centre of a
dark blob, and near 0 in random clutter. Pixels with no gradient (flat regions, and the outside of the
image) contribute a cosine of 0, and the result does not change when the image is scaled by a
positive factor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gcflnet_lib.ops._checks import check_bchw
from gcflnet_lib.ops.gradients import gradient_magnitude, spatial_gradient


def convergence_kernels(
    window: int, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> torch.Tensor:
    """Unit vectors from each window offset to the window centre, shape (2, window, window).

    Entry ``[:, r + dy, r + dx]`` is ``(-dx, -dy) / sqrt(dx^2 + dy^2)`` (x first), 0 at the centre.
    """
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 3, got {window}")
    radius = window // 2
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    distance = torch.sqrt(dx * dx + dy * dy)
    distance[radius, radius] = 1.0  # the centre has no direction; its numerator is 0 anyway
    return torch.stack([-dx / distance, -dy / distance]).to(dtype=dtype or torch.get_default_dtype(), device=device)


def gradient_convergence(
    image: torch.Tensor,
    window: int = 7,
    mode: str = "sobel",
    border: str = "replicate",
    eps: float = 1e-6,
) -> torch.Tensor:
    """Mean cosine between gradient vectors in a window and the directions to its centre.

    Args:
        image: (B, C, H, W) floating point; each channel is treated on its own.
        window: odd side of the square window (>= 3).
        mode: gradient stencil, ``"sobel"`` or ``"central"`` (see :mod:`gcflnet_lib.ops.gradients`).
        border: border handling of the gradient (``"replicate"``, ``"reflect"``, ``"zeros"``).
        eps: gradients with a norm <= eps count as "no direction" (cosine 0).

    Returns:
        (B, C, H, W) values in [-1, 1].
    """
    check_bchw(image, "image")
    gx, gy = spatial_gradient(image, mode=mode, border=border)
    norm = gradient_magnitude(gx, gy)
    has_direction = norm > eps
    safe_norm = torch.where(has_direction, norm, torch.ones_like(norm))
    zero = torch.zeros_like(norm)
    unit_x = torch.where(has_direction, gx / safe_norm, zero)
    unit_y = torch.where(has_direction, gy / safe_norm, zero)

    batch, channels, height, width = image.shape
    kernels = convergence_kernels(window, dtype=image.dtype, device=image.device)
    # Sum over the window of unit(q) . direction(q -> p) is a correlation of (unit_x, unit_y) with the kernels.
    field = torch.stack([unit_x, unit_y], dim=2).reshape(batch * channels, 2, height, width)
    summed = F.conv2d(field, kernels.unsqueeze(0), padding=window // 2)
    return (summed / (window * window - 1)).reshape(batch, channels, height, width)
