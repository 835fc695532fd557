"""gcflnet_lib.nn.EEM: EFEU + CDC on a level's features and the resized image, fused adaptively."""

import pytest
import torch
import torch.nn.functional as F

from gcflnet_lib.nn import CDC, EEM, EFEU
from gcflnet_lib.nn.eem import resize_image_to


class TestResizeImageTo:
    def test_identity_when_sizes_match(self):
        image = torch.rand(1, 1, 8, 8)
        assert resize_image_to(image, torch.rand(1, 4, 8, 8)) is image

    def test_area_resize_is_block_average_for_a_power_of_two(self):
        image = torch.rand(2, 1, 16, 12)
        resized = resize_image_to(image, torch.rand(2, 5, 4, 3))
        torch.testing.assert_close(resized, F.avg_pool2d(image, 4))


class TestEEM:
    @pytest.mark.parametrize("fusion", ["concat", "gate"])
    def test_shape_and_branches(self, fusion):
        eem = EEM(8, image_channels=1, fusion=fusion)
        edges = eem(torch.rand(2, 8, 10, 12), torch.rand(2, 1, 20, 24))
        assert edges.shape == (2, 8, 10, 12)
        assert isinstance(eem.efeu, EFEU) and eem.efeu.channels == 9  # features + image channel
        assert any(isinstance(m, CDC) and m.theta == 0.7 for m in eem.modules())

    @pytest.mark.parametrize("fusion", ["concat", "gate"])
    def test_uses_both_the_features_and_the_image(self, fusion):
        eem = EEM(4, fusion=fusion).eval()
        generator = torch.Generator().manual_seed(0)
        features, image = torch.rand(1, 4, 8, 8, generator=generator), torch.rand(1, 1, 16, 16, generator=generator)
        edges = eem(features, image)
        assert not torch.allclose(eem(features, image + torch.rand(1, 1, 16, 16, generator=generator)), edges)
        assert not torch.allclose(eem(features * 2.0, image), edges)

    def test_theta_reaches_cdc(self):
        eem = EEM(4, theta=0.3)
        assert [m.theta for m in eem.modules() if isinstance(m, CDC)] == [0.3]

    def test_every_parameter_gets_a_gradient(self):
        torch.manual_seed(0)
        eem = EEM(4, fusion="gate")
        eem(torch.rand(2, 4, 8, 8), torch.rand(2, 1, 8, 8)).square().sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in eem.parameters())

    def test_unknown_fusion_is_rejected(self):
        with pytest.raises(ValueError, match="fusion must be one of"):
            EEM(4, fusion="sum")
