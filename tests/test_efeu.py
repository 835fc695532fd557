"""gcflnet_lib.nn.EFEU: Sobel initialisation, fixed zeros that no optimizer can move, gradient magnitude output."""

import pytest
import torch
from kornia.filters import sobel as kornia_sobel

from gcflnet_lib.nn import EFEU, efeu_masks
from gcflnet_lib.ops import gradient_kernels


def _train(efeu: EFEU, steps: int = 5, weight_decay: float = 0.1) -> None:
    optimizer = torch.optim.AdamW(efeu.parameters(), lr=0.05, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = torch.rand(2, efeu.channels, 12, 12, generator=generator)
        optimizer.zero_grad()
        (efeu(x) - 1.0).square().mean().backward()
        optimizer.step()


class TestEFEU:
    def test_initialised_to_sobel_in_every_channel(self):
        efeu = EFEU(4)
        sobel = gradient_kernels("sobel")
        assert efeu.kx.shape == efeu.ky.shape == (4, 3, 3)
        assert torch.equal(efeu.kx, sobel[0].expand(4, 3, 3))
        assert torch.equal(efeu.ky, sobel[1].expand(4, 3, 3))

    def test_output_at_initialisation_is_kornia_sobel_magnitude(self):
        x = torch.rand(2, 3, 11, 14)
        expected = kornia_sobel(x, normalized=False, eps=1e-6)
        torch.testing.assert_close(EFEU(3, eps=1e-6)(x), expected)

    def test_masks_remove_centre_column_of_kx_and_centre_row_of_ky(self):
        mask_x, mask_y = efeu_masks()
        assert mask_x[:, 1].abs().sum() == 0 and mask_x[:, [0, 2]].min() == 1
        assert mask_y[1, :].abs().sum() == 0 and mask_y[[0, 2], :].min() == 1

    @pytest.mark.parametrize("weight_decay", [0.0, 0.1])
    def test_adamw_steps_keep_fixed_entries_zero_and_move_the_others(self, weight_decay):
        efeu = EFEU(3)
        before_x, before_y = (k.detach().clone() for k in efeu.effective_kernels())
        _train(efeu, weight_decay=weight_decay)
        kx, ky = efeu.effective_kernels()
        assert torch.count_nonzero(kx[:, :, 1]) == 0
        assert torch.count_nonzero(ky[:, 1, :]) == 0
        assert (kx[:, :, [0, 2]] - before_x[:, :, [0, 2]]).abs().min() > 0
        assert (ky[:, [0, 2], :] - before_y[:, [0, 2], :]).abs().min() > 0

    def test_fixed_entries_do_not_count_even_when_loaded_nonzero(self):
        efeu = EFEU(2)
        x = torch.rand(1, 2, 9, 9)
        expected = efeu(x)
        state = efeu.state_dict()
        state["kx"][:, :, 1] = 5.0
        state["ky"][:, 1, :] = -3.0
        efeu.load_state_dict(state)
        torch.testing.assert_close(efeu(x), expected)
        assert set(state) == {"kx", "ky"}  # the masks are fixed by the code, not stored

    def test_gradcheck_float64_random_and_flat_input(self):
        efeu = EFEU(2).double()
        random_input = torch.rand(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
        flat_input = torch.full((1, 2, 5, 6), 0.5, dtype=torch.float64, requires_grad=True)
        for x in (random_input, flat_input):
            assert torch.autograd.gradcheck(efeu, (x,))
            assert torch.autograd.gradcheck(lambda kx, ky: _with_kernels(efeu, x, kx, ky), (efeu.kx, efeu.ky))

    def test_output_is_non_negative_and_shape_preserving(self):
        out = EFEU(5)(torch.randn(3, 5, 7, 13))
        assert out.shape == (3, 5, 7, 13)
        assert out.min() >= 1e-3  # at least sqrt(eps)

    def test_channels_last_gives_the_same_result_in_channels_last(self):
        efeu, x = EFEU(4), torch.rand(2, 4, 10, 10)
        out = efeu(x.to(memory_format=torch.channels_last))
        torch.testing.assert_close(out, efeu(x))
        assert out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()

    def test_forward_is_the_magnitude_of_its_gradients(self):
        efeu, x = EFEU(3), torch.rand(2, 3, 9, 7)
        with torch.no_grad():
            efeu.kx.add_(torch.randn_like(efeu.kx))
        gx, gy = efeu.gradients(x)
        assert torch.equal(efeu(x), torch.sqrt(gx * gx + gy * gy + efeu.eps))

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="eps must be > 0"):
            EFEU(2, eps=0.0)
        with pytest.raises(ValueError, match="border must be one of"):
            EFEU(2, border="circular")


def _with_kernels(efeu: EFEU, x: torch.Tensor, kx: torch.Tensor, ky: torch.Tensor) -> torch.Tensor:
    """EFEU's forward as a function of its kernels (for gradcheck on the parameters)."""
    return torch.func.functional_call(efeu, {"kx": kx, "ky": ky}, (x,))
