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
    return _depthwise_responses(x, kx, ky, border)


def directional_magnitude(
    x: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor, border: str = "replicate", eps: float = 0.0
) -> torch.Tensor:
    """``gradient_magnitude(*directional_gradients(x, kx, ky, border), eps)``: the same values, bit for bit.

    Shapes: x (B, C, H, W), kx and ky (C, 3, 3) or (3, 3) -> (B, C, H, W), in ``x``'s memory layout.
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    return gradient_magnitude(*_depthwise_responses(x, kx, ky, border), eps)


def _depthwise_responses(
    x: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor, border: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(gx, gy)``, each (B, C, H, W): channel ``c`` of ``x`` correlated with ``kx[c]`` and with ``ky[c]``."""
    check_bchw(x, "x")
    check_choice(border, BORDERS, "border")
    channels = x.shape[1]
    if kx.shape != ky.shape or kx.shape[-2:] != (3, 3) or kx.dim() not in (2, 3):
        raise ValueError(f"kx and ky must both be (3, 3) or (C, 3, 3), got {tuple(kx.shape)} and {tuple(ky.shape)}")
    if kx.dim() == 2:
        kx, ky = kx.expand(channels, 3, 3), ky.expand(channels, 3, 3)
    elif kx.shape[0] != channels:
        raise ValueError(f"kx and ky hold {kx.shape[0]} kernels but x has {channels} channels")
    padded, conv_padding = _pad(x, border, 1)
    # Two depthwise convolutions (one output per group), not one grouped convolution with two outputs per group
    # (gx and gy of a channel together): oneDNN's CPU kernel for the depthwise form is several times faster in a
    # training step, the grouped form falls to a slow path, forward and backward (docs/PERFORMANCE.md).
    return tuple(  # type: ignore[return-value]
        F.conv2d(padded, kernel.unsqueeze(1).to(x.dtype), padding=conv_padding, groups=channels)
        for kernel in (kx, ky)
    )


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
    return _Magnitude.apply(gx, gy, eps)


class _Magnitude(torch.autograd.Function):
    """``sqrt(gx^2 + gy^2 + eps)`` with a backward of three passes over memory (``d/dgx = grad * gx / m``) where
    autograd's chain of five ops takes about ten. The forward is ``torch.sqrt(gx * gx + gy * gy + eps)`` bit for
    bit (the same operations in the same order, in place where autograd would allocate)."""

    @staticmethod
    def forward(ctx, gx: torch.Tensor, gy: torch.Tensor, eps: float) -> torch.Tensor:  # type: ignore[override]
        magnitude = (gx * gx).add_(gy * gy).add_(eps).sqrt_()
        ctx.save_for_backward(gx, gy, magnitude)
        return magnitude

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:  # type: ignore[override]
        gx, gy, magnitude = ctx.saved_tensors
        scale = grad / magnitude
        return (scale * gx if ctx.needs_input_grad[0] else None,
                scale * gy if ctx.needs_input_grad[1] else None, None)


def gradient_orientation(gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Direction of the gradient vector, ``atan2(gy, gx)`` in radians in (-pi, pi], same shape as ``gx``.

    Image coordinates: 0 points right, +pi/2 points down. Where ``gx = gy = 0`` it is 0.
    """
    if gx.shape != gy.shape:
        raise ValueError(f"gx and gy must have the same shape, got {tuple(gx.shape)} and {tuple(gy.shape)}")
    return torch.atan2(gy, gx)

