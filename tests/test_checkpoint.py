"""Atomic checkpoint writes, safe loading, RNG state round trips, rebuilding a model from a checkpoint."""

import random

import numpy as np
import pytest
import torch

from gcflnet_lib.engine import checkpoint as ckpt
from gcflnet_lib.errors import CheckpointError
from gcflnet_lib.models import build_model


def _tiny_state(model):
    return {
        "model": model.state_dict(),
        "model_config": model.config,
        "epoch": 3,
        "norm": {"mean": 100.0, "std": 30.0},
        "dataset": "Toy",
        "history": [{"epoch": 1, "loss": 0.9}],
    }


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("unet", channels=(4, 8))


class TestSaveLoad:
    def test_round_trip_with_weights_only(self, tmp_path, model):
        path = ckpt.save_checkpoint(tmp_path / "a.pt", _tiny_state(model))
        # The file must load with the strict unpickler, whatever load_checkpoint does.
        raw = torch.load(path, weights_only=True)
        assert raw["format"] == ckpt.FORMAT
        state = ckpt.load_checkpoint(path)
        assert state["epoch"] == 3 and state["history"] == [{"epoch": 1, "loss": 0.9}]
        for key, value in model.state_dict().items():
            assert torch.equal(state["model"][key], value)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]  # no temporary file left

    def test_failed_save_keeps_the_previous_file(self, tmp_path, model, monkeypatch):
        path = ckpt.save_checkpoint(tmp_path / "last.pt", _tiny_state(model))
        before = path.read_bytes()

        def broken_save(obj, handle):
            handle.write(b"half a checkpoint")
            raise RuntimeError("disk full")

        monkeypatch.setattr(ckpt.torch, "save", broken_save)
        with pytest.raises(RuntimeError, match="disk full"):
            ckpt.save_checkpoint(path, _tiny_state(model))
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]

    def test_missing_file(self, tmp_path):
        with pytest.raises(CheckpointError, match="no such checkpoint") as info:
            ckpt.load_checkpoint(tmp_path / "nope.pt")
        assert str(tmp_path / "nope.pt") in str(info.value)

    @pytest.mark.parametrize("damage", ["garbage", "truncated"])
    def test_corrupt_file(self, tmp_path, model, damage):
        path = tmp_path / "bad.pt"
        if damage == "garbage":
            path.write_bytes(b"\x00not a checkpoint" * 10)
        else:
            ckpt.save_checkpoint(path, _tiny_state(model))
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        with pytest.raises(CheckpointError, match="not a readable checkpoint") as info:
            ckpt.load_checkpoint(path)
        assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)

    def test_foreign_file(self, tmp_path):
        path = tmp_path / "other.pt"
        torch.save({"state_dict": {}}, path)
        with pytest.raises(CheckpointError, match="not a gcflnet checkpoint"):
            ckpt.load_checkpoint(path)

    def test_arbitrary_objects_are_refused(self, tmp_path):
        path = tmp_path / "pickle.pt"
        torch.save({"format": ckpt.FORMAT, "payload": object()}, path)
        with pytest.raises(CheckpointError, match="not a readable checkpoint"):
            ckpt.load_checkpoint(path)

    def test_lacking_keys(self, tmp_path):
        path = tmp_path / "partial.pt"
        torch.save({"format": ckpt.FORMAT, "model": {}}, path)
        with pytest.raises(CheckpointError, match="lacks model_config"):
            ckpt.load_checkpoint(path)


class TestLoadModel:
    def test_rebuilds_the_same_function(self, tmp_path, model):
        path = ckpt.save_checkpoint(tmp_path / "m.pt", _tiny_state(model))
        rebuilt, meta = ckpt.load_model_from_checkpoint(path)
        assert not rebuilt.training
        assert meta["norm"] == {"mean": 100.0, "std": 30.0} and meta["epoch"] == 3
        assert "model" not in meta and "optimizer" not in meta
        x = torch.randn(2, 1, 24, 40)
        model.eval()
        with torch.no_grad():
            assert torch.equal(rebuilt(x), model(x))

    def test_weights_of_another_shape(self, tmp_path, model):
        state = _tiny_state(model)
        state["model_config"] = {**model.config, "channels": [8, 16]}
        path = ckpt.save_checkpoint(tmp_path / "m.pt", state)
        with pytest.raises(CheckpointError, match="do not fit model"):
            ckpt.load_model_from_checkpoint(path)


class TestRngState:
    def test_every_stream_repeats_after_restore(self):
        generator = torch.Generator().manual_seed(5)
        torch.manual_seed(1), np.random.seed(2), random.seed(3)
        state = ckpt.capture_rng_state(generator)

        def draw():
            return (random.random(), float(np.random.rand()), float(torch.rand(1)), float(torch.rand(1, generator=generator)))

        first = draw()
        assert ckpt.restore_rng_state(state, generator)
        assert draw() == first

    def test_state_survives_weights_only_loading(self, tmp_path):
        generator = torch.Generator().manual_seed(7)
        path = tmp_path / "rng.pt"
        torch.save(ckpt.capture_rng_state(generator), path)
        state = torch.load(path, weights_only=True)
        expected = torch.rand(3, generator=generator)
        fresh = torch.Generator()
        ckpt.restore_rng_state(state, fresh)
        assert torch.equal(torch.rand(3, generator=fresh), expected)

    def test_generator_from_another_device_type_is_reported(self):
        state = ckpt.capture_rng_state(torch.Generator())
        state["crop_generator_device"] = "cuda"
        assert ckpt.restore_rng_state(state, torch.Generator()) is False
