"""The gradient vector field of an image: gx, gy, magnitude and orientation.

Convention (the same as OpenCV's ``cv2.Sobel`` and kornia's ``spatial_gradient``): the kernels are
applied by cross-correlation, ``gx`` is positive where values grow with the column index (to the right)
and ``gy`` is positive where they grow with the row index (downwards). Orientation is therefore measured
in image coordinates, with the y axis pointing down.

Two stencils:

- ``"sobel"``: ``Kx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]``, ``Ky = Kx.T`` (a derivative smoothed across
  the other axis; the paper's EFEU is initialised with it). Raw response to a unit slope: 8.
- ``"central"``: central differences ``f(x+1) - f(x-1)``; raw response to a unit slope: 2.

``normalized=True`` divides by those factors so that the result estimates the derivative itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gcflnet_lib.ops._checks import check_bchw, check_choice
from gcflnet_lib.ops.layout import match_layout

GRADIENT_MODES = ("sobel", "central")
BORDERS = ("replicate", "reflect", "zeros")

_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
_CENTRAL_X = ((0.0, 0.0, 0.0), (-1.0, 0.0, 1.0), (0.0, 0.0, 0.0))
_UNIT_SLOPE_RESPONSE = {"sobel": 8.0, "central": 2.0}


def gradient_kernels(
    mode: str = "sobel",
    normalized: bool = False,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The 3x3 derivative kernels ``[Kx, Ky]`` as a tensor of shape (2, 3, 3).

    Args:
        mode: ``"sobel"`` or ``"central"``.
        normalized: divide by the response to a unit slope (8 for Sobel, 2 for central differences).
        dtype, device: of the returned tensor.
    """
    check_choice(mode, GRADIENT_MODES, "mode")
    kx = torch.tensor(_SOBEL_X if mode == "sobel" else _CENTRAL_X, dtype=dtype, device=device)
    kernels = torch.stack([kx, kx.t()])
    if normalized:
        kernels = kernels / _UNIT_SLOPE_RESPONSE[mode]
    return kernels


def _pad(x: torch.Tensor, border: str, amount: int) -> tuple[torch.Tensor, int]:
    """Pad for a 'same' 3x3 correlation; returns the tensor and the padding conv2d should add itself."""
    if border == "zeros":
        return x, amount
    if border == "reflect" and min(x.shape[-2:]) <= amount:
        raise ValueError(f"border='reflect' needs H and W > {amount}, got {tuple(x.shape[-2:])}")
    return F.pad(x, (amount, amount, amount, amount), mode=border), 0


def directional_gradients(
    x: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor, border: str = "replicate"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Correlate every channel of ``x`` with its own pair of 3x3 kernels (a depthwise convolution).

    Args:
        x: (B, C, H, W) floating point.
        kx, ky: (C, 3, 3) per-channel kernels, or (3, 3) shared by all channels.
        border: ``"replicate"`` (kornia), ``"reflect"`` (OpenCV's default ``BORDER_REFLECT_101``) or ``"zeros"``.

    Returns:
        ``(gx, gy)``, each (B, C, H, W).
    """
    both = _paired_responses(x, kx, ky, border)
    return both[:, :, 0], both[:, :, 1]


def directional_magnitude(
    x: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor, border: str = "replicate", eps: float = 0.0
) -> torch.Tensor:
    """``gradient_magnitude(*directional_gradients(x, kx, ky, border), eps)`` without splitting ``(gx, gy)``.

    The same values, bit for bit, in ``x``'s memory layout. In training it is cheaper: the backward of the
    two slices of :func:`directional_gradients` writes two zero-filled tensors of twice the input's size.

    Shapes: x (B, C, H, W), kx and ky (C, 3, 3) or (3, 3) -> (B, C, H, W).
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    squares = match_layout(_paired_responses(x, kx, ky, border).square().sum(dim=2), x)  # the sum writes NCHW
    return torch.sqrt(squares + eps)


def _paired_responses(x: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor, border: str) -> torch.Tensor:
    """(B, C, 2, H, W): ``[:, c, 0]`` is ``x[:, c]`` correlated with ``kx[c]``, ``[:, c, 1]`` with ``ky[c]``."""
    check_bchw(x, "x")
    check_choice(border, BORDERS, "border")
    channels = x.shape[1]
    if kx.shape != ky.shape or kx.shape[-2:] != (3, 3) or kx.dim() not in (2, 3):
        raise ValueError(f"kx and ky must both be (3, 3) or (C, 3, 3), got {tuple(kx.shape)} and {tuple(ky.shape)}")
    if kx.dim() == 2:
        kx, ky = kx.expand(channels, 3, 3), ky.expand(channels, 3, 3)
    elif kx.shape[0] != channels:
        raise ValueError(f"kx and ky hold {kx.shape[0]} kernels but x has {channels} channels")
    # One grouped conv for both directions: output channel 2c is gx of channel c, 2c + 1 is gy.
    weight = torch.stack([kx, ky], dim=1).reshape(2 * channels, 1, 3, 3).to(x.dtype)
    padded, conv_padding = _pad(x, border, 1)
    return F.conv2d(padded, weight, padding=conv_padding, groups=channels).unflatten(1, (channels, 2))


def spatial_gradient(
    x: torch.Tensor, mode: str = "sobel", normalized: bool = False, border: str = "replicate"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image gradients ``(gx, gy)`` of every channel by Sobel or central differences.

    Args:
        x: (B, C, H, W) floating point.
        mode: ``"sobel"`` or ``"central"``.
        normalized: see :func:`gradient_kernels`; ``False`` matches ``cv2.Sobel(img, cv2.CV_64F, 1, 0, ksize=3)``.
        border: ``"replicate"``, ``"reflect"`` or ``"zeros"`` (see :func:`directional_gradients`).

    Returns:
        ``(gx, gy)``, each (B, C, H, W).
    """
    check_bchw(x, "x")
    kernels = gradient_kernels(mode, normalized, dtype=x.dtype, device=x.device)
    return directional_gradients(x, kernels[0], kernels[1], border)


def gradient_magnitude(gx: torch.Tensor, gy: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Euclidean norm ``sqrt(gx^2 + gy^2 + eps)``, same shape as ``gx``.

    ``eps > 0`` keeps the derivative finite where both responses are 0 (the norm is not
    differentiable at the origin); ``eps = 0`` gives the exact norm.
    """
    if gx.shape != gy.shape:
        raise ValueError(f"gx and gy must have the same shape, got {tuple(gx.shape)} and {tuple(gy.shape)}")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    return torch.sqrt(gx * gx + gy * gy + eps)


def gradient_orientation(gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Direction of the gradient vector, ``atan2(gy, gx)`` in radians in (-pi, pi], same shape as ``gx``.

    Image coordinates: 0 points right, +pi/2 points down. Where ``gx = gy = 0`` it is 0.
    """
    if gx.shape != gy.shape:
        raise ValueError(f"gx and gy must have the same shape, got {tuple(gx.shape)} and {tuple(gy.shape)}")
    return torch.atan2(gy, gx)

