"""gcflnet_lib.nn.CDC: central difference convolution equals its formula, and a plain conv at theta = 0."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gcflnet_lib.nn import CDC
from gcflnet_lib.ops import cdc_kernel, central_difference_conv2d


def _explicit_cdc(x: torch.Tensor, weight: torch.Tensor, theta: float, stride: int, dilation: int) -> torch.Tensor:
    """sum_n w_n (x(p0 + p_n) - theta * x(p0)), written out with unfold (groups = 1)."""
    batch, _, height, width = x.shape
    out_channels, in_channels, k, _ = weight.shape
    padding = dilation * (k // 2)
    patches = F.unfold(x, k, dilation=dilation, padding=padding, stride=stride)  # (B, C_in * k * k, L)
    patches = patches.view(batch, in_channels, k * k, -1)
    centre = patches[:, :, (k * k) // 2 : (k * k) // 2 + 1]  # the window centre x(p0)
    differences = patches - theta * centre
    out = torch.einsum("oin,binl->bol", weight.reshape(out_channels, in_channels, k * k), differences)
    out_h = (height + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    out_w = (width + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    return out.view(batch, out_channels, out_h, out_w)


class TestCDC:
    def test_theta_zero_equals_nn_conv2d_with_the_same_weights(self):
        cdc = CDC(3, 5, theta=0.0)
        conv = nn.Conv2d(3, 5, 3, padding=1, bias=False)
        conv.load_state_dict(cdc.state_dict())
        x = torch.randn(2, 3, 12, 9)
        torch.testing.assert_close(cdc(x), conv(x))

    @pytest.mark.parametrize("stride, dilation, kernel_size", [(1, 1, 3), (2, 1, 3), (1, 2, 3), (2, 3, 5)])
    def test_matches_the_explicit_formula(self, stride, dilation, kernel_size):
        cdc = CDC(3, 4, kernel_size=kernel_size, stride=stride, dilation=dilation, theta=0.7)
        x = torch.randn(2, 3, 13, 10, generator=torch.Generator().manual_seed(0))
        expected = _explicit_cdc(x, cdc.weight, 0.7, stride, dilation)
        torch.testing.assert_close(cdc(x), expected, rtol=1e-5, atol=1e-5)

    def test_groups_equal_separate_convolutions_on_channel_halves(self):
        grouped = CDC(4, 6, groups=2)
        x = torch.randn(1, 4, 8, 8)
        halves = []
        for g in range(2):
            single = CDC(2, 3)
            single.weight.data.copy_(grouped.weight[3 * g : 3 * g + 3])
            halves.append(single(x[:, 2 * g : 2 * g + 2]))
        torch.testing.assert_close(grouped(x), torch.cat(halves, dim=1))

    def test_default_theta_and_no_bias(self):
        cdc = CDC(2, 2)
        assert cdc.theta == 0.7
        assert [name for name, _ in cdc.named_parameters()] == ["weight"]

    def test_reacts_to_edges_not_to_levels(self):
        cdc = CDC(1, 1, theta=1.0)
        step = torch.zeros(1, 1, 8, 8)
        step[..., 4:] = 1.0
        out = cdc(step + 10.0)  # the level offset must not matter inside the image
        torch.testing.assert_close(out[..., 1:-1, 1:-1], cdc(step)[..., 1:-1, 1:-1], rtol=1e-4, atol=1e-4)

    def test_gradcheck_float64(self):
        cdc = CDC(2, 3).double()
        x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(cdc, (x,))

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"theta": 1.5}, r"theta must be in \[0, 1\]"),
            ({"kernel_size": 4}, "kernel_size must be odd"),
            ({"groups": 4}, "divisible by groups"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            CDC(2, 6, **kwargs)


class TestFoldedKernel:
    """CDC runs as one convolution with a folded kernel; it must equal the two-pass form it replaces."""

    def test_only_the_centre_tap_changes_by_theta_times_the_kernel_sum(self):
        weight = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(1))
        folded = cdc_kernel(weight, 0.7)
        centre = weight[..., 2, 2] - 0.7 * weight.sum(dim=(2, 3))
        torch.testing.assert_close(folded[..., 2, 2], centre)
        off_centre = torch.ones(5, 5, dtype=torch.bool)
        off_centre[2, 2] = False
        assert torch.equal(folded[..., off_centre], weight[..., off_centre])

    @pytest.mark.parametrize("stride, dilation, groups, theta", [(1, 1, 1, 0.7), (2, 1, 1, 1.0), (1, 2, 2, 0.3), (2, 3, 1, 0.7)])
    def test_outputs_and_gradients_equal_the_two_pass_form(self, stride, dilation, groups, theta):
        generator = torch.Generator().manual_seed(2)
        x = torch.randn(2, 4, 17, 12, generator=generator, requires_grad=True)
        weight = torch.randn(6, 4 // groups, 3, 3, generator=generator, requires_grad=True)
        folded = central_difference_conv2d(x, weight, theta, stride, dilation, groups)
        two_pass = F.conv2d(x, weight, stride=stride, padding=dilation, dilation=dilation, groups=groups) - theta * F.conv2d(
            x, weight.sum(dim=(2, 3), keepdim=True), stride=stride, groups=groups
        )
        torch.testing.assert_close(folded, two_pass, rtol=1e-5, atol=1e-5)
        upstream = torch.randn(folded.shape, generator=generator)
        grads_folded = torch.autograd.grad(folded, (x, weight), upstream)
        grads_two_pass = torch.autograd.grad(two_pass, (x, weight), upstream)
        for got, expected in zip(grads_folded, grads_two_pass):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
