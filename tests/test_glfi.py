"""gcflnet_lib.nn.GLFI: dilated local branch, edge fusion, outer-product or channel attention, residual."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gcflnet_lib.nn import GLFI, PointwiseFusion, channel_attention_map, outer_attention


class TestAttentionFunctions:
    def test_outer_attention_is_the_sigmoid_of_the_pooled_matrix_product(self):
        x = torch.randn(2, 3, 5, 7)
        row = F.adaptive_max_pool2d(x, (5, 1))  # max over the width -> (B, C, H, 1)
        column = F.adaptive_avg_pool2d(x, (1, 7))  # mean over the height -> (B, C, 1, W)
        expected = torch.sigmoid(torch.einsum("bchi,bciw->bchw", row, column))
        torch.testing.assert_close(outer_attention(x), expected)

    def test_channel_attention_map_rows_are_distributions(self):
        x = torch.randn(2, 6, 4, 5)
        attention = channel_attention_map(x)
        assert attention.shape == (2, 6, 6)
        torch.testing.assert_close(attention.sum(dim=-1), torch.ones(2, 6))
        peak, mean = x.amax(dim=(2, 3)), x.mean(dim=(2, 3))
        torch.testing.assert_close(attention[1, 2], torch.softmax(peak[1, 2] * mean[1], dim=0))


class TestGLFI:
    @pytest.mark.parametrize("attention", ["outer", "channel"])
    @pytest.mark.parametrize("edge_channels", [0, 6])
    def test_shape(self, attention, edge_channels):
        glfi = GLFI(6, edge_channels=edge_channels, attention=attention)
        edges = torch.rand(2, 6, 9, 11) if edge_channels else None
        assert glfi(torch.rand(2, 6, 9, 11), edges).shape == (2, 6, 9, 11)

    def test_parallel_branches_use_the_dilation_rates(self):
        glfi = GLFI(4, dilations=(2, 3, 5))
        convs = [branch[0] for branch in glfi.branches]
        assert [conv.dilation for conv in convs] == [(1, 1), (2, 2), (3, 3), (5, 5)]
        assert glfi.reduce[0].in_channels == 16

    def test_edge_fusion_only_with_edges(self):
        assert GLFI(4).edge_fusion is None
        assert isinstance(GLFI(4, edge_channels=3).edge_fusion, PointwiseFusion)

    def test_residual_path_returns_the_input_when_the_local_branch_is_silent(self):
        glfi = GLFI(4).eval()
        nn.init.zeros_(glfi.reduce[1].weight)  # BN scale 0 and bias 0: the local features become 0
        nn.init.zeros_(glfi.reduce[1].bias)
        x = torch.randn(1, 4, 6, 6)
        torch.testing.assert_close(glfi(x), x)

    def test_edges_change_the_output(self):
        glfi = GLFI(4, edge_channels=4).eval()
        x, edges = torch.rand(1, 4, 8, 8), torch.rand(1, 4, 8, 8)
        assert not torch.allclose(glfi(x, edges), glfi(x, edges + 1.0))

    def test_every_parameter_gets_a_gradient(self):
        torch.manual_seed(0)
        glfi = GLFI(4, edge_channels=4, attention="channel")
        glfi(torch.rand(2, 4, 8, 8), torch.rand(2, 4, 8, 8)).square().sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in glfi.parameters())

    def test_edges_must_match_the_construction(self):
        with pytest.raises(ValueError, match="called without edge features"):
            GLFI(4, edge_channels=4)(torch.rand(1, 4, 8, 8))
        with pytest.raises(ValueError, match="called with edge features"):
            GLFI(4)(torch.rand(1, 4, 8, 8), torch.rand(1, 4, 8, 8))

    def test_unknown_attention_is_rejected(self):
        with pytest.raises(ValueError, match="attention must be one of"):
            GLFI(4, attention="global")
