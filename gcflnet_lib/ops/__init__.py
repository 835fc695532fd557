"""Pure functions on tensors (B, C, H, W): the gradient vector field, its convergence, central differences, padding,
memory layout."""

from gcflnet_lib.ops.central_difference import cdc_kernel, central_difference_conv2d
from gcflnet_lib.ops.convergence import convergence_kernels, gradient_convergence
from gcflnet_lib.ops.gradients import (
    BORDERS,
    GRADIENT_MODES,
    directional_gradients,
    directional_magnitude,
    gradient_kernels,
    gradient_magnitude,
    gradient_orientation,
    spatial_gradient,
)
from gcflnet_lib.ops.layout import cat_channels, is_channels_last, match_layout
from gcflnet_lib.ops.padding import PAD_MODES, pad_bottom_right, pad_to_multiple_of

__all__ = [
    "BORDERS",
    "GRADIENT_MODES",
    "PAD_MODES",
    "cat_channels",
    "cdc_kernel",
    "central_difference_conv2d",
    "convergence_kernels",
    "directional_gradients",
    "directional_magnitude",
    "gradient_convergence",
    "gradient_kernels",
    "gradient_magnitude",
    "gradient_orientation",
    "is_channels_last",
    "match_layout",
    "pad_bottom_right",
    "pad_to_multiple_of",
    "spatial_gradient",
]
