"""Engine parts: config, device-side batches, evaluation protocol, atomic files, devices, sync BN, bench helpers."""

import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from gcflnet_lib.data.dataset import Sample
from gcflnet_lib.data.io import write_png
from gcflnet_lib.data.synthetic import write_dataset
from gcflnet_lib.engine import bench, distributed, trainer
from gcflnet_lib.engine.checkpoint import load_checkpoint
from gcflnet_lib.engine.config import TrainConfig, multistep_factor
from gcflnet_lib.engine.device import resolve_device
from gcflnet_lib.engine.evaluation import (
    dequantize_probability,
    evaluate_model,
    predict_probabilities,
    quantize_probability,
)
from gcflnet_lib.files import atomic_write, atomic_write_json, atomic_write_text, staged_directory
from gcflnet_lib.engine.pipeline import DeviceTrainSet
from gcflnet_lib.errors import UserError
from gcflnet_lib.metrics import IRSTDMetrics, score_folder


def _config(**overrides):
    return TrainConfig(data_root="d", dataset="D", out_dir="o", **overrides)


class TestTrainConfig:
    def test_defaults_follow_the_paper(self):
        config = _config()
        assert (config.batch_size, config.epochs, config.crop_size, config.model) == (16, 1500, 256, "gcflnet")
        assert config.resolved_milestones == (750, 1125)

    @pytest.mark.parametrize(
        ("overrides", "flag"),
        [
            ({"epochs": 0}, "--epochs"),
            ({"batch_size": 0}, "--batch-size"),
            ({"crop_size": 100}, "--crop-size"),
            ({"lr": 0.0}, "--lr"),
            ({"gamma": 2.0}, "--gamma"),
            ({"p_target": 1.5}, "--p-target"),
            ({"channels": (8,)}, "--channels"),
            ({"milestones": (0,)}, "--milestones"),
            ({"amp_dtype": "fp8"}, "--amp-dtype"),
        ],
    )
    def test_bad_values_name_the_flag(self, overrides, flag):
        with pytest.raises(UserError, match=flag):
            _config(**overrides)

    def test_dict_round_trip_uses_plain_types(self):
        config = _config(channels=(4, 8), milestones=(3, 5), lr=0.01)
        data = config.to_dict()
        assert data["channels"] == [4, 8] and json.loads(json.dumps(data)) == data
        assert TrainConfig.from_dict({**data, "from_a_newer_version": 1}) == config

    def test_multistep_factor(self):
        assert [multistep_factor(e, (2, 4), 0.1) for e in range(6)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
        assert _config(epochs=10).resolved_milestones == (5, 8)


def _samples(sizes, seed=0):
    rng = np.random.default_rng(seed)
    samples = []
    for index, (height, width) in enumerate(sizes):
        image = rng.uniform(0, 60, (height, width)).astype(np.float32)
        mask = np.zeros((height, width), bool)
        row, col = rng.integers(2, height - 4), rng.integers(2, width - 4)
        mask[row : row + 3, col : col + 3] = True
        image[mask] = 250.0
        samples.append(Sample(f"s{index:02d}", image, mask))
    return samples


class TestDeviceTrainSet:
    def test_batches_shapes_values_and_padding(self):
        samples = _samples([(40, 40), (80, 96), (64, 64)])
        data = DeviceTrainSet(samples, mean=30.0, std=10.0, device=torch.device("cpu"), crop_size=64)
        # The 40x40 image is zero-padded (after normalising) to the crop size.
        assert data.images[0].shape == (64, 64) and data.images[0][50, 50] == 0
        assert torch.allclose(data.images[1], (torch.from_numpy(samples[1].image) - 30.0) / 10.0)
        x, y = data.batch([0, 1, 2], torch.Generator().manual_seed(0))
        assert x.shape == y.shape == (3, 1, 64, 64)
        assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
        # Every target pixel of a crop is bright, every bright pixel of a crop is target.
        assert torch.equal(y > 0, x > (200 - 30) / 10)

    def test_epoch_is_seeded_and_drops_the_partial_batch(self):
        data = DeviceTrainSet(_samples([(64, 64)] * 7), 30.0, 10.0, torch.device("cpu"), 32)
        assert data.steps_per_epoch(3) == 2
        first = list(data.epoch(3, torch.Generator().manual_seed(1)))
        again = list(data.epoch(3, torch.Generator().manual_seed(1)))
        other = list(data.epoch(3, torch.Generator().manual_seed(2)))
        assert len(first) == 2
        assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again))
        assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other))

    def test_rank_parts_tile_the_global_batch(self):
        data = DeviceTrainSet(_samples([(64, 64)] * 8), 30.0, 10.0, torch.device("cpu"), 32)
        whole = list(data.epoch(4, torch.Generator().manual_seed(3)))
        parts = [
            list(data.epoch(4, torch.Generator().manual_seed(3), distributed.shard_slice(4, distributed.DistContext(2, rank, rank))))
            for rank in range(2)
        ]
        for step, (x, _) in enumerate(whole):
            assert torch.equal(torch.cat([parts[0][step][0], parts[1][step][0]]), x)

    def test_batch_larger_than_the_split(self):
        data = DeviceTrainSet(_samples([(64, 64)] * 3), 30.0, 10.0, torch.device("cpu"), 32)
        with pytest.raises(UserError, match="--batch-size 4 is larger than the train split"):
            data.steps_per_epoch(4)


class BrightIsTarget(nn.Module):
    """logits = (normalised image - 1) * 8, elementwise; records the shapes it is called with."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(8.0))
        self.shapes = []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return (x - 1.0) * self.scale


class TestEvaluation:
    sizes = [(40, 50), (70, 33), (64, 64), (40, 50)]

    def test_full_images_padded_to_32_and_cropped_back_in_order(self):
        samples = _samples(self.sizes)
        model = BrightIsTarget()
        probs = predict_probabilities(model, [s.image for s in samples], "cpu", mean=0.0, std=100.0, batch_size=8)
        assert [p.shape for p in probs] == self.sizes
        assert all(h % 32 == 0 and w % 32 == 0 for _, _, h, w in model.shapes)
        assert sorted(b for b, *_ in model.shapes) == [1, 3]  # (40,50),(64,64),(40,50) share the 64x64 padding
        for sample, prob in zip(samples, probs):
            expected = torch.sigmoid((torch.from_numpy(sample.image) / 100.0 - 1.0) * 8.0).numpy()
            np.testing.assert_allclose(prob, expected, rtol=1e-6, atol=1e-7)
        assert model.training  # mode restored

    def test_batching_does_not_change_the_maps(self):
        images = [s.image for s in _samples(self.sizes)]
        one = predict_probabilities(BrightIsTarget(), images, "cpu", 0.0, 100.0, batch_size=1)
        many = predict_probabilities(BrightIsTarget(), images, "cpu", 0.0, 100.0, batch_size=8)
        assert all(np.array_equal(a, b) for a, b in zip(one, many))

    def test_a_perfect_model_scores_perfectly(self):
        result = evaluate_model(BrightIsTarget(), _samples(self.sizes), "cpu", 0.0, 100.0)
        assert result["miou"] == pytest.approx(1.0) and result["pd"] == 1.0 and result["fa"] == 0.0
        assert result["n_images"] == len(self.sizes)

    def test_a_shifted_normalisation_changes_the_score(self):
        result = evaluate_model(BrightIsTarget(), _samples(self.sizes), "cpu", -150.0, 100.0)
        assert result["miou"] < 0.5

    def test_saved_maps_score_the_same_with_score_folder(self, tmp_path):
        samples = _samples(self.sizes + [(48, 48)] * 3, seed=4)
        root = tmp_path / "data"
        for folder in ("images", "masks", "img_idx"):
            (root / folder).mkdir(parents=True)
        for sample in samples:
            write_png(root / "images" / f"{sample.name}.png", np.clip(sample.image, 0, 255).astype(np.uint8))
            write_png(root / "masks" / f"{sample.name}.png", sample.mask.astype(np.uint8) * 255)
        (root / "img_idx" / "test_T.txt").write_text("\n".join(s.name for s in samples) + "\n")
        # A softer model so that probabilities fall on both sides of 0.5 and across the ROC thresholds.
        model = BrightIsTarget()
        model.scale.data.fill_(1.5)
        ours = evaluate_model(model, samples, "cpu", 0.0, 100.0, save_maps=tmp_path / "maps")
        theirs = score_folder(root, "T", "test", tmp_path / "maps")
        for key in ("miou", "niou", "pd", "fa"):
            assert ours[key] == theirs[key], key
        # The curves come from the float probabilities, which the 8-bit maps round.
        floats = IRSTDMetrics()
        for sample, prob in zip(samples, predict_probabilities(model, [s.image for s in samples], "cpu", 0.0, 100.0)):
            floats.update(prob, sample.mask)
        expected = floats.compute()
        for key in ("auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05", "pd_at_fa_1e-04", "roc"):
            assert ours[key] == expected[key], key
        assert not evaluate_model(model, samples, "cpu", 0.0, 100.0, curves=False)["roc"]["pd"]
        assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == [f"{s.name}.png" for s in samples]

    def test_quantisation_never_writes_one(self):
        prob = np.array([0.0, 0.5 / 255, 1.2 / 255, 1.6 / 255, 0.5, 1.0], np.float32)
        assert quantize_probability(prob).tolist() == [0, 0, 0, 2, 128, 255]
        assert dequantize_probability(np.array([255], np.uint8))[0] == 1.0


class TestFiles:
    def test_failed_write_keeps_the_old_file(self, tmp_path):
        path = atomic_write_text(tmp_path / "f.txt", "old")

        def write_then_fail(handle):
            handle.write(b"new but unfinished")
            raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            atomic_write(path, write_then_fail)
        assert path.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]

    def test_json_is_strict(self, tmp_path):
        path = atomic_write_json(tmp_path / "m.json", {"a": float("nan"), "b": (1, np.float32(2.5))})
        assert json.loads(path.read_text()) == {"a": None, "b": [1, 2.5]}

    def test_staged_directory(self, tmp_path):
        out = tmp_path / "out"
        with pytest.raises(RuntimeError):
            with staged_directory(out) as stage:
                (stage / "x.txt").write_text("x")
                raise RuntimeError("boom")
        assert os.listdir(tmp_path) == []
        with staged_directory(out) as stage:
            (stage / "x.txt").write_text("x")
        (out / "keep.txt").write_text("k")
        with staged_directory(out) as stage:
            (stage / "y.txt").write_text("y")
        assert sorted(os.listdir(out)) == ["keep.txt", "x.txt", "y.txt"] and os.listdir(tmp_path) == ["out"]


class TestDevice:
    @pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
    def test_cuda_without_a_gpu(self):
        with pytest.raises(UserError, match="--device cuda: no CUDA GPU"):
            resolve_device("cuda")

    def test_bad_names(self):
        assert resolve_device("cpu") == torch.device("cpu")
        with pytest.raises(UserError, match="--device bogus"):
            resolve_device("bogus")


class TestDistributedHelpers:
    def test_context_from_env(self):
        assert not distributed.context_from_env({}).enabled
        ctx = distributed.context_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
        assert (ctx.world_size, ctx.rank, ctx.local_rank, ctx.is_main) == (4, 3, 1, False)
        with pytest.raises(UserError, match="RANK=4"):
            distributed.context_from_env({"WORLD_SIZE": "2", "RANK": "4"})

    def test_shard_slice(self):
        assert distributed.shard_slice(16, distributed.DistContext(4, 2, 2)) == slice(8, 12)
        with pytest.raises(UserError, match="--batch-size 6 must be a multiple"):
            distributed.shard_slice(6, distributed.DistContext(4, 0, 0))

    def test_sync_batchnorm_without_a_group_is_batchnorm(self):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Sequential(nn.BatchNorm2d(3)))
        model[1].running_mean.fill_(0.3)
        reference = {k: v.clone() for k, v in model.state_dict().items()}
        x = torch.randn(4, 1, 8, 8)
        expected = model(x)
        model.load_state_dict(reference)
        distributed.convert_sync_batchnorm(model, torch.device("cpu"))
        assert isinstance(model[1], distributed.GlooSyncBatchNorm) and isinstance(model[2][0], distributed.GlooSyncBatchNorm)
        assert model.state_dict().keys() == reference.keys() and torch.equal(model[1].running_mean, reference["1.running_mean"])
        assert torch.allclose(model(x), expected)


class TestNonFiniteLoss:
    def test_stops_naming_epoch_and_step_and_keeps_last_good_checkpoint(self, tmp_path, monkeypatch):
        root = write_dataset(tmp_path / "data", 12, size=64, seed=0, name="Toy")
        real_loss = trainer.deep_supervision_loss
        calls = []

        def poisoned(outputs, target, **kw):
            calls.append(1)
            loss = real_loss(outputs, target, **kw)
            return loss * float("nan") if len(calls) == 5 else loss  # epoch 2 (3 steps each), step 2

        monkeypatch.setattr(trainer, "deep_supervision_loss", poisoned)
        config = TrainConfig(data_root=str(root), dataset="Toy", out_dir=str(tmp_path / "run"), model="unet",
                             channels=(4, 8), epochs=3, batch_size=2, crop_size=32, eval_every=0, progress=False)
        with pytest.raises(trainer.NonFiniteLossError, match="epoch 2, step 2") as info:
            trainer.train(config)
        assert "last.pt is kept" in str(info.value)
        state = load_checkpoint(tmp_path / "run" / "last.pt")
        assert state["epoch"] == 1 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
        assert not (tmp_path / "run" / "metrics.json").exists() and not (tmp_path / "run" / "final.pt").exists()


class TestBenchHelpers:
    def test_flops_scale_with_pixels_and_training_costs_more(self):
        from gcflnet_lib.models import build_model

        model = build_model("unet", channels=(4, 8))
        small = bench.forward_flops(model, torch.randn(1, 1, 32, 32))
        large = bench.forward_flops(model, torch.randn(1, 1, 64, 64))
        assert small > 0 and large == pytest.approx(4 * small, rel=0.05)
        x, y = bench.random_batch(1, 32, torch.device("cpu"))
        assert bench.training_flops(model, x, y) > 2 * small
        assert all(p.grad is None for p in model.parameters())

    def test_rates_are_positive(self):
        assert bench.matmul_flops_per_s(torch.device("cpu"), torch.float32, size=64, iters=2) > 0
        from gcflnet_lib.models import build_model

        model = build_model("unet", channels=(4, 8))
        assert bench.inference_images_per_s(model, torch.device("cpu"), "fp32", 2, 32, 0, 1) > 0
        assert bench.train_images_per_s(model, torch.device("cpu"), "fp32", 2, 32, 0, 1) > 0


class TestRealData:
    @pytest.mark.filterwarnings("ignore:.*known defect")
    def test_nuaa_sirst_through_the_pipeline_and_the_protocol(self, sirst_root):
        from gcflnet_lib.data.dataset import load_split, norm_stats_for

        train, test = load_split(sirst_root, "NUAA-SIRST", "train"), load_split(sirst_root, "NUAA-SIRST", "test")
        mean, std = norm_stats_for("NUAA-SIRST", train)
        data = DeviceTrainSet(train, mean, std, torch.device("cpu"), crop_size=256)
        assert len(data) == 213 and data.steps_per_epoch(16) == 13
        x, y = next(data.epoch(16, torch.Generator().manual_seed(0)))
        assert x.shape == y.shape == (16, 1, 256, 256)
        assert int((y.flatten(1).amax(1) > 0).sum()) >= 6  # about half the crops are centred on a target
        images = [s.image for s in test[:48]]
        probs = predict_probabilities(BrightIsTarget(), images, "cpu", mean, std, batch_size=8)
        assert [p.shape for p in probs] == [i.shape for i in images]
        assert len({i.shape for i in images}) > 1  # the real split mixes sizes
