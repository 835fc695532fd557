"""SoftIoU over the whole batch, deep supervision averaging, the distributed reduction hook."""

import numpy as np
import pytest
import torch

from gcflnet_lib.losses import SoftIoULoss, deep_supervision_loss, soft_iou_from_terms, soft_iou_loss, soft_iou_terms


def _numpy_soft_iou(logits: np.ndarray, target: np.ndarray, smooth: float = 1.0) -> float:
    prob = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    inter = (prob * target).sum()
    return float(1.0 - (inter + smooth) / (prob.sum() + target.sum() - inter + smooth))


@pytest.fixture
def pair():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 1, 16, 16, generator=generator) * 3
    target = (torch.rand(3, 1, 16, 16, generator=generator) > 0.9).float()
    return logits, target


class TestSoftIoULoss:
    def test_matches_the_formula(self, pair):
        logits, target = pair
        expected = _numpy_soft_iou(logits.numpy(), target.numpy())
        assert soft_iou_loss(logits, target).item() == pytest.approx(expected, rel=1e-5)

    def test_is_taken_over_the_whole_batch_not_per_image(self):
        # Image 0 is predicted perfectly and holds a big target; image 1 has a tiny missed target.
        target = torch.zeros(2, 1, 8, 8)
        target[0, 0, :4, :4] = 1
        target[1, 0, 0, 0] = 1
        logits = torch.full((2, 1, 8, 8), -20.0)
        logits[0, 0, :4, :4] = 20.0
        batch_loss = soft_iou_loss(logits, target).item()
        per_image = np.mean([_numpy_soft_iou(logits[i].numpy(), target[i].numpy()) for i in range(2)])
        assert batch_loss == pytest.approx(_numpy_soft_iou(logits.numpy(), target.numpy()), rel=1e-5)
        assert abs(batch_loss - per_image) > 0.1

    def test_extremes(self):
        target = torch.zeros(1, 1, 8, 8)
        target[..., 2:5, 2:5] = 1
        perfect = (target * 2 - 1) * 30
        assert soft_iou_loss(perfect, target).item() < 1e-6
        assert soft_iou_loss(-perfect, target).item() > 0.85
        # smooth = 1 makes an empty mask with an empty prediction a (near) perfect score, not 0/0.
        empty = torch.zeros(1, 1, 8, 8)
        assert soft_iou_loss(torch.full((1, 1, 8, 8), -30.0), empty).item() == pytest.approx(0.0, abs=1e-6)

    def test_target_may_be_bool(self, pair):
        logits, target = pair
        assert torch.equal(soft_iou_loss(logits, target.bool()), soft_iou_loss(logits, target))

    def test_shape_mismatch_is_an_error(self, pair):
        logits, target = pair
        with pytest.raises(ValueError, match="must match"):
            soft_iou_loss(logits, target[:, :, :8])

    def test_bf16_logits_give_float32_terms(self, pair):
        logits, target = pair
        terms = soft_iou_terms(logits.bfloat16(), target)
        assert terms.dtype == torch.float32 and terms.shape == (3,)

    def test_gradcheck(self):
        generator = torch.Generator().manual_seed(1)
        logits = torch.randn(2, 1, 5, 5, dtype=torch.float64, generator=generator, requires_grad=True)
        target = (torch.rand(2, 1, 5, 5, generator=generator) > 0.7).double()
        assert torch.autograd.gradcheck(lambda x: soft_iou_from_terms(torch.stack((
            (torch.sigmoid(x) * target).sum(), torch.sigmoid(x).sum(), target.sum()))), (logits,))

    def test_all_reduce_hook_sees_summed_terms(self, pair):
        logits, target = pair
        # Two identical "ranks": summed terms equal those of the batch concatenated with itself.
        doubled = soft_iou_loss(logits, target, all_reduce=lambda t: t * 2)
        concatenated = soft_iou_loss(torch.cat([logits, logits]), torch.cat([target, target]))
        assert doubled.item() == pytest.approx(concatenated.item(), rel=1e-6)
        assert doubled.item() != pytest.approx(soft_iou_loss(logits, target).item(), rel=1e-3)


class TestDeepSupervisionLoss:
    def test_mean_over_outputs(self, pair):
        logits, target = pair
        outputs = [logits, logits * 0.5, -logits]
        expected = np.mean([soft_iou_loss(o, target).item() for o in outputs])
        assert deep_supervision_loss(outputs, target).item() == pytest.approx(expected, rel=1e-6)

    def test_tensor_is_one_output(self, pair):
        logits, target = pair
        assert torch.equal(deep_supervision_loss(logits, target), soft_iou_loss(logits, target))

    def test_reduces_once_for_all_outputs(self, pair):
        logits, target = pair
        calls = []

        def fake_all_reduce(terms):
            calls.append(terms.shape)
            return terms

        deep_supervision_loss([logits, logits], target, all_reduce=fake_all_reduce)
        assert calls == [torch.Size([2, 3])]

    def test_empty_list_is_an_error(self, pair):
        with pytest.raises(ValueError, match="at least one"):
            deep_supervision_loss([], pair[1])

    def test_module_equals_function(self, pair):
        logits, target = pair
        outputs = [logits, logits.flip(-1)]
        assert torch.equal(SoftIoULoss()(outputs, target), deep_supervision_loss(outputs, target))
        assert SoftIoULoss(smooth=0.5)(logits, target).item() == pytest.approx(
            _numpy_soft_iou(logits.numpy(), target.numpy(), smooth=0.5), rel=1e-5
        )
