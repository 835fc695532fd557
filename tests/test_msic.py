"""gcflnet_lib.nn.MSIC: spatial attention from the decoder, channel attention from the encoder, cross-modulated."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gcflnet_lib.nn import MSIC, ChannelAttention, SpatialAttention


class TestSpatialAttention:
    def test_equals_the_cbam_formula(self):
        attention = SpatialAttention(7)
        x = torch.randn(2, 5, 9, 10)
        pooled = torch.stack([x.mean(dim=1), x.max(dim=1).values], dim=1)
        expected = torch.sigmoid(F.conv2d(pooled, attention.conv.weight, padding=3))
        out = attention(x)
        assert out.shape == (2, 1, 9, 10)
        torch.testing.assert_close(out, expected)

    def test_even_kernel_is_rejected(self):
        with pytest.raises(ValueError, match="kernel_size must be odd"):
            SpatialAttention(4)


class TestChannelAttention:
    def test_equals_the_shared_mlp_formula(self):
        attention = ChannelAttention(8, reduction=2)
        x = torch.randn(2, 8, 6, 6)
        first, second = attention.mlp[0].weight.flatten(1), attention.mlp[2].weight.flatten(1)

        def mlp(v):
            return F.relu(v @ first.t()) @ second.t()

        expected = torch.sigmoid(mlp(x.mean(dim=(2, 3))) + mlp(x.amax(dim=(2, 3))))
        out = attention(x)
        assert out.shape == (2, 8, 1, 1)
        torch.testing.assert_close(out.flatten(1), expected)


class TestMSIC:
    @pytest.mark.parametrize("high_size", [(5, 6), (4, 4)])
    def test_shape_for_any_high_level_size(self, high_size):
        msic = MSIC(low_channels=8, high_channels=16)
        out = msic(torch.rand(2, 8, 10, 12), torch.rand(2, 16, *high_size))
        assert out.shape == (2, 8, 10, 12)
        assert MSIC(8, 16, out_channels=4)(torch.rand(1, 8, 6, 6), torch.rand(1, 16, 3, 3)).shape == (1, 4, 6, 6)

    def test_each_level_is_modulated_by_the_other(self):
        """Encoder half = low x spatial(high); decoder half = projected high x channel(low)."""
        msic = MSIC(4, 8, reading="crossed").eval()
        low, high = torch.rand(1, 4, 8, 8), torch.rand(1, 8, 4, 4)
        seen = {}
        msic.fuse.register_forward_pre_hook(lambda module, args: seen.setdefault("fused_input", args[0]))
        with torch.no_grad():
            nn.init.zeros_(msic.spatial.conv.weight)  # spatial attention = 0.5 everywhere
            msic(low, high)
        low_part, high_part = seen["fused_input"].split(4, dim=1)
        torch.testing.assert_close(low_part, low * 0.5)
        projected = F.interpolate(msic.high_proj(high), size=(8, 8), mode="bilinear", align_corners=False)
        torch.testing.assert_close(high_part, projected * msic.channel(low))

    def test_every_parameter_gets_a_gradient(self):
        torch.manual_seed(0)
        msic = MSIC(4, 8, reading="crossed")
        low = torch.rand(2, 4, 8, 8, requires_grad=True)
        high = torch.rand(2, 8, 4, 4, requires_grad=True)
        msic(low, high).square().sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in msic.parameters())
        assert low.grad.abs().sum() > 0 and high.grad.abs().sum() > 0
