"""gcflnet_lib.ops: gradients against OpenCV and kornia, gradient convergence, central difference convolution."""

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from kornia.filters import spatial_gradient as kornia_spatial_gradient

from gcflnet_lib.ops import (
    central_difference_conv2d,
    convergence_kernels,
    directional_gradients,
    directional_magnitude,
    gradient_convergence,
    gradient_kernels,
    gradient_magnitude,
    gradient_orientation,
    spatial_gradient,
)
from gcflnet_lib.ops.layout import is_channels_last, match_layout


def _image(seed: int = 0, height: int = 23, width: int = 31) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, size=(height, width))


def _blob(size: int = 31, sigma: float = 2.0, centre: tuple[float, float] | None = None) -> torch.Tensor:
    cy, cx = centre or ((size - 1) / 2, (size - 1) / 2)
    axis = torch.arange(size, dtype=torch.float64)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))[None, None]


class TestGradientKernels:
    def test_sobel_values_and_transpose(self):
        kx, ky = gradient_kernels("sobel")
        assert kx.tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
        assert torch.equal(ky, kx.t())

    @pytest.mark.parametrize("mode", ["sobel", "central"])
    def test_normalized_kernels_estimate_a_unit_slope(self, mode):
        ramp = torch.arange(7.0).repeat(7, 1)[None, None] * 3.0  # slope 3 along x
        gx, gy = spatial_gradient(ramp, mode=mode, normalized=True)
        torch.testing.assert_close(gx[..., 1:-1, 1:-1], torch.full_like(gx[..., 1:-1, 1:-1], 3.0))
        torch.testing.assert_close(gy, torch.zeros_like(gy))

    def test_unknown_mode_is_rejected(self):
        with pytest.raises(ValueError, match="mode must be one of"):
            gradient_kernels("prewitt")


class TestSpatialGradient:
    @pytest.mark.parametrize(
        "border, cv_border", [("reflect", cv2.BORDER_REFLECT_101), ("replicate", cv2.BORDER_REPLICATE)]
    )
    def test_sobel_matches_opencv(self, border, cv_border):
        image = _image()
        gx, gy = spatial_gradient(torch.from_numpy(image)[None, None], border=border)
        expected_x = cv2.Sobel(image, cv2.CV_64F, 1, 0, ksize=3, borderType=cv_border)
        expected_y = cv2.Sobel(image, cv2.CV_64F, 0, 1, ksize=3, borderType=cv_border)
        np.testing.assert_allclose(gx[0, 0].numpy(), expected_x, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(gy[0, 0].numpy(), expected_y, rtol=1e-10, atol=1e-9)

    @pytest.mark.parametrize("mode, kornia_mode", [("sobel", "sobel"), ("central", "diff")])
    @pytest.mark.parametrize("normalized", [False, True])
    def test_matches_kornia(self, mode, kornia_mode, normalized):
        x = torch.rand(2, 3, 9, 13, generator=torch.Generator().manual_seed(1))
        gx, gy = spatial_gradient(x, mode=mode, normalized=normalized, border="replicate")
        expected = kornia_spatial_gradient(x, mode=kornia_mode, normalized=normalized)
        torch.testing.assert_close(gx, expected[:, :, 0])
        torch.testing.assert_close(gy, expected[:, :, 1])

    def test_central_differences_match_numpy_gradient_inside(self):
        image = _image(2)
        gx, gy = spatial_gradient(torch.from_numpy(image)[None, None], mode="central", normalized=True)
        np_gy, np_gx = np.gradient(image)
        np.testing.assert_allclose(gx[0, 0, :, 1:-1].numpy(), np_gx[:, 1:-1], rtol=1e-12)
        np.testing.assert_allclose(gy[0, 0, 1:-1, :].numpy(), np_gy[1:-1, :], rtol=1e-12)

    def test_zeros_border_sees_a_step_at_the_edge(self):
        gx, _ = spatial_gradient(torch.ones(1, 1, 5, 5), border="zeros")
        assert gx[0, 0, 2, 0] == 4.0 and gx[0, 0, 2, -1] == -4.0 and gx[0, 0, 2, 2] == 0.0

    def test_gradcheck_float64(self):
        x = torch.rand(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: spatial_gradient(t), (x,))

    @pytest.mark.parametrize(
        "bad, message",
        [
            (torch.rand(3, 8, 8), r"expected \(B, C, H, W\)"),
            (torch.zeros(1, 1, 8, 8, dtype=torch.uint8), "floating-point"),
        ],
    )
    def test_bad_input(self, bad, message):
        with pytest.raises(ValueError, match=message):
            spatial_gradient(bad)

    def test_unknown_border_is_rejected(self):
        with pytest.raises(ValueError, match="border must be one of"):
            spatial_gradient(torch.rand(1, 1, 4, 4), border="wrap")


class TestDirectionalGradients:
    def test_per_channel_kernels_equal_separate_convolutions(self):
        generator = torch.Generator().manual_seed(3)
        x = torch.rand(2, 3, 8, 9, generator=generator)
        kx, ky = torch.randn(3, 3, 3, generator=generator), torch.randn(3, 3, 3, generator=generator)
        gx, gy = directional_gradients(x, kx, ky, border="zeros")
        for c in range(3):
            channel = x[:, c : c + 1]
            torch.testing.assert_close(gx[:, c : c + 1], F.conv2d(channel, kx[c][None, None], padding=1))
            torch.testing.assert_close(gy[:, c : c + 1], F.conv2d(channel, ky[c][None, None], padding=1))

    def test_channels_last_input_gives_the_same_result(self):
        x = torch.rand(2, 4, 10, 7)
        kx, ky = gradient_kernels()
        expected = directional_gradients(x, kx, ky)
        actual = directional_gradients(x.to(memory_format=torch.channels_last), kx, ky)
        torch.testing.assert_close(actual, expected)

    def test_kernel_count_must_match_channels(self):
        with pytest.raises(ValueError, match="hold 2 kernels but x has 3 channels"):
            directional_gradients(torch.rand(1, 3, 5, 5), torch.zeros(2, 3, 3), torch.zeros(2, 3, 3))


class TestMagnitudeAndOrientation:
    def test_match_opencv(self):
        image = _image(4)
        gx, gy = spatial_gradient(torch.from_numpy(image)[None, None], border="reflect")
        cv_gx = cv2.Sobel(image, cv2.CV_64F, 1, 0, ksize=3)
        cv_gy = cv2.Sobel(image, cv2.CV_64F, 0, 1, ksize=3)
        magnitude = gradient_magnitude(gx, gy)[0, 0].numpy()
        np.testing.assert_allclose(magnitude, cv2.magnitude(cv_gx, cv_gy), rtol=1e-10, atol=1e-9)
        theta = torch.remainder(gradient_orientation(gx, gy), 2 * math.pi)[0, 0].numpy()
        cv_theta = cv2.phase(cv_gx, cv_gy)  # [0, 2 pi), approximated by OpenCV to ~0.3 degrees
        difference = np.angle(np.exp(1j * (theta - cv_theta)))
        defined = cv2.magnitude(cv_gx, cv_gy) > 1e-6  # the corners of a reflected border have no direction
        assert np.abs(difference[defined]).max() < 0.01

    def test_orientation_points_down_for_a_vertical_ramp(self):
        ramp = torch.arange(6.0)[:, None].repeat(1, 6)[None, None]
        theta = gradient_orientation(*spatial_gradient(ramp))
        torch.testing.assert_close(theta[..., 1:-1, 1:-1], torch.full((1, 1, 4, 4), math.pi / 2))

    def test_eps_keeps_the_flat_gradient_finite(self):
        gx = torch.zeros(3, requires_grad=True)
        gradient_magnitude(gx, torch.zeros(3), eps=1e-6).sum().backward()
        assert torch.isfinite(gx.grad).all()
        assert gradient_magnitude(torch.tensor([3.0]), torch.tensor([4.0])).item() == 5.0

    def test_shape_mismatch_and_negative_eps(self):
        with pytest.raises(ValueError, match="same shape"):
            gradient_magnitude(torch.zeros(2), torch.zeros(3))
        with pytest.raises(ValueError, match="same shape"):
            gradient_orientation(torch.zeros(2), torch.zeros(3))
        with pytest.raises(ValueError, match="eps must be >= 0"):
            gradient_magnitude(torch.zeros(2), torch.zeros(2), eps=-1.0)


class TestDirectionalMagnitude:
    @pytest.mark.parametrize("border", ["replicate", "reflect", "zeros"])
    def test_equals_the_magnitude_of_the_split_gradients_bit_for_bit(self, border):
        x = torch.rand(2, 3, 9, 11, requires_grad=True)
        kx, ky = torch.randn(3, 3, 3), torch.randn(3, 3, 3)
        fused = directional_magnitude(x, kx, ky, border, eps=1e-6)
        split = gradient_magnitude(*directional_gradients(x, kx, ky, border), eps=1e-6)
        assert torch.equal(fused, split)
        (fused_grad,) = torch.autograd.grad(fused.square().sum(), x)
        (split_grad,) = torch.autograd.grad(split.square().sum(), x)
        torch.testing.assert_close(fused_grad, split_grad, rtol=1e-6, atol=1e-7)

    def test_keeps_a_channels_last_input_channels_last(self):
        x = torch.rand(2, 4, 8, 8).to(memory_format=torch.channels_last)
        kx, ky = gradient_kernels()
        out = directional_magnitude(x, kx, ky)
        assert is_channels_last(out)
        torch.testing.assert_close(out, directional_magnitude(x.contiguous(), kx, ky))

    def test_bad_arguments(self):
        kx, ky = gradient_kernels()
        with pytest.raises(ValueError, match="eps must be >= 0"):
            directional_magnitude(torch.rand(1, 1, 4, 4), kx, ky, eps=-1.0)
        with pytest.raises(ValueError, match="hold 2 kernels but x has 3 channels"):
            directional_magnitude(torch.rand(1, 3, 5, 5), torch.zeros(2, 3, 3), torch.zeros(2, 3, 3))


class TestLayout:
    def test_is_channels_last_needs_channels_and_pixels_to_tell(self):
        assert is_channels_last(torch.rand(2, 3, 4, 5).to(memory_format=torch.channels_last))
        assert not is_channels_last(torch.rand(2, 3, 4, 5))
        # One channel (or one pixel) is both layouts at once, so it cannot mark a channels-last network.
        assert not is_channels_last(torch.rand(2, 1, 4, 5).to(memory_format=torch.channels_last))
        assert not is_channels_last(torch.rand(2, 3, 1, 1).to(memory_format=torch.channels_last))
        assert not is_channels_last(torch.rand(3, 4, 5))

    def test_match_layout_copies_only_towards_channels_last(self):
        plain, nhwc = torch.rand(2, 3, 4, 5), torch.rand(2, 3, 4, 5).to(memory_format=torch.channels_last)
        moved = match_layout(plain, nhwc)
        assert is_channels_last(moved) and torch.equal(moved, plain)
        assert match_layout(plain, plain) is plain
        assert match_layout(nhwc, plain) is nhwc  # a plain network takes either layout as it comes
        assert match_layout(nhwc, nhwc) is nhwc


class TestGradientConvergence:
    def test_bright_blob_converges_dark_blob_diverges(self):
        blob = _blob()
        assert gradient_convergence(blob)[0, 0, 15, 15] > 0.99
        assert gradient_convergence(-blob)[0, 0, 15, 15] < -0.99

    def test_random_clutter_is_near_zero(self):
        noise = torch.randn(1, 1, 128, 128, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        convergence = gradient_convergence(noise)
        assert abs(convergence.mean().item()) < 0.01
        assert convergence.abs().mean() < 0.2

    def test_blob_centre_is_the_maximum(self):
        convergence = gradient_convergence(_blob(centre=(9.0, 20.0)))
        assert divmod(int(convergence.argmax()), 31) == (9, 20)

    def test_flat_image_is_zero_and_values_are_bounded(self):
        assert torch.equal(gradient_convergence(torch.full((1, 1, 9, 9), 7.0)), torch.zeros(1, 1, 9, 9))
        values = gradient_convergence(torch.rand(2, 3, 20, 20))
        assert values.shape == (2, 3, 20, 20)
        assert values.abs().max() <= 1.0

    def test_invariant_to_positive_scale_and_offset(self):
        image = torch.rand(1, 1, 16, 16, dtype=torch.float64)
        torch.testing.assert_close(gradient_convergence(image * 50 + 3), gradient_convergence(image))

    def test_equivariant_to_rotation_by_90_degrees(self):
        image = torch.rand(1, 1, 15, 15, dtype=torch.float64)
        rotated_first = gradient_convergence(torch.rot90(image, 1, dims=(2, 3)))
        torch.testing.assert_close(rotated_first, torch.rot90(gradient_convergence(image), 1, dims=(2, 3)))

    def test_kernels_are_unit_vectors_to_the_centre(self):
        kernels = convergence_kernels(5)
        assert kernels.shape == (2, 5, 5)
        torch.testing.assert_close(kernels[:, 2, 4], torch.tensor([-1.0, 0.0]))  # right of centre points left
        norms = kernels.norm(dim=0)
        norms[2, 2] = 1.0
        torch.testing.assert_close(norms, torch.ones(5, 5))
        assert kernels[:, 2, 2].abs().sum() == 0

    @pytest.mark.parametrize("window", [1, 4])
    def test_window_must_be_odd_and_at_least_3(self, window):
        with pytest.raises(ValueError, match="window must be an odd integer >= 3"):
            gradient_convergence(torch.rand(1, 1, 8, 8), window=window)


class TestCentralDifferenceConv2d:
    def test_theta_zero_is_a_plain_convolution(self):
        x, weight = torch.rand(2, 3, 9, 8), torch.randn(4, 3, 3, 3)
        torch.testing.assert_close(central_difference_conv2d(x, weight, theta=0.0), F.conv2d(x, weight, padding=1))

    def test_theta_one_cancels_a_constant_inside(self):
        out = central_difference_conv2d(torch.full((1, 2, 8, 8), 5.0), torch.randn(3, 2, 3, 3), theta=1.0)
        torch.testing.assert_close(out[..., 1:-1, 1:-1], torch.zeros(1, 3, 6, 6), atol=1e-5, rtol=0)

    def test_even_kernel_is_rejected(self):
        with pytest.raises(ValueError, match="odd k"):
            central_difference_conv2d(torch.rand(1, 1, 5, 5), torch.rand(1, 1, 2, 2))
