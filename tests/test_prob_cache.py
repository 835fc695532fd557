"""The cache of probability maps: keyed by the checkpoint's bytes and the images, a hit gives the same maps."""

import numpy as np
import pytest
import torch

from gcflnet_lib.workbook import prob_cache
from gcflnet_lib.data.synthetic import make_samples
from gcflnet_lib.engine import evaluate_model, predict_probabilities
from gcflnet_lib.engine.checkpoint import save_checkpoint
from gcflnet_lib.models import build_model


def _checkpoint(path, seed):
    torch.manual_seed(seed)
    model = build_model("gcflnet", channels=(4, 8))
    return save_checkpoint(path, {"model": model.state_dict(), "model_config": model.config, "epoch": 1,
                                  "norm": {"mean": 90.0, "std": 20.0}})


@pytest.fixture
def samples():
    return list(make_samples(3, size=64, seed=0))


def test_miss_computes_the_models_maps_and_a_hit_returns_them(tmp_path, samples):
    checkpoint = _checkpoint(tmp_path / "a.pt", seed=0)
    images = [s.image for s in samples]
    first = prob_cache.cached_probabilities(checkpoint, images, cache_dir=tmp_path / "cache")
    files = list((tmp_path / "cache").glob("probs-*.npz"))
    assert len(files) == 1
    from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint

    model, _ = load_model_from_checkpoint(checkpoint)
    direct = predict_probabilities(model, images, "cpu", 90.0, 20.0)
    assert all(np.array_equal(a, b) for a, b in zip(first, direct))
    again = prob_cache.cached_probabilities(checkpoint, images, cache_dir=tmp_path / "cache")
    assert all(a.dtype == np.float32 and np.array_equal(a, b) for a, b in zip(again, first))
    assert list((tmp_path / "cache").glob("probs-*.npz")) == files


def test_a_hit_does_not_run_the_model(tmp_path, samples, monkeypatch):
    checkpoint = _checkpoint(tmp_path / "a.pt", seed=0)
    images = [s.image for s in samples]
    prob_cache.cached_probabilities(checkpoint, images, cache_dir=tmp_path)
    import gcflnet_lib.engine.evaluation as evaluation

    monkeypatch.setattr(evaluation, "predict_probabilities", lambda *a, **k: pytest.fail("the model ran on a hit"))
    prob_cache.cached_probabilities(checkpoint, images, cache_dir=tmp_path)


def test_a_changed_checkpoint_misses(tmp_path, samples):
    path = tmp_path / "model.pt"
    images = [s.image for s in samples]
    before = prob_cache.cached_probabilities(_checkpoint(path, seed=0), images, cache_dir=tmp_path / "cache")
    after = prob_cache.cached_probabilities(_checkpoint(path, seed=1), images, cache_dir=tmp_path / "cache")  # same path
    assert len(list((tmp_path / "cache").glob("probs-*.npz"))) == 2
    assert not all(np.array_equal(a, b) for a, b in zip(before, after))


def test_other_images_miss(tmp_path, samples):
    checkpoint = _checkpoint(tmp_path / "a.pt", seed=0)
    images = [s.image for s in samples]
    prob_cache.cached_probabilities(checkpoint, images, cache_dir=tmp_path)
    changed = [images[0] + 1.0, *images[1:]]
    prob_cache.cached_probabilities(checkpoint, changed, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("probs-*.npz"))) == 2


def test_a_damaged_file_is_recomputed(tmp_path, samples):
    checkpoint = _checkpoint(tmp_path / "a.pt", seed=0)
    images = [s.image for s in samples]
    first = prob_cache.cached_probabilities(checkpoint, images, cache_dir=tmp_path)
    (stored,) = tmp_path.glob("probs-*.npz")
    stored.write_bytes(b"not an npz")
    again = prob_cache.cached_probabilities(checkpoint, images, cache_dir=tmp_path)
    assert all(np.array_equal(a, b) for a, b in zip(again, first))


def test_cached_scores_equal_evaluate_model(tmp_path, samples):
    checkpoint = _checkpoint(tmp_path / "a.pt", seed=0)
    from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint

    model, _ = load_model_from_checkpoint(checkpoint)
    reference = evaluate_model(model, samples, "cpu", 90.0, 20.0)
    for _ in range(2):  # the miss, then the hit
        cached = prob_cache.evaluate_cached(checkpoint, samples, cache_dir=tmp_path)
        for key in ("miou", "niou", "pd", "fa", "auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05", "pd_at_fa_1e-04"):
            assert np.isclose(cached[key], reference[key], rtol=0, atol=0, equal_nan=True), key
