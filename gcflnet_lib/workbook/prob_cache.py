"""Probability maps of a checkpoint on a set of images, computed once and kept on disk.

On a CPU the workbook's default path scores the released models on the whole NUAA-SIRST test split in five
notebooks (00, 07, 08, 09, 10). A forward pass over the 214 images takes a minute or more on two cores, so each
release's maps are computed once and reused: the file is keyed by the checkpoint file's SHA-256 (a retrained or
re-pointed checkpoint misses), by the images' bytes (another split or a changed image misses) and by the device
type (a GPU's convolutions round differently from a CPU's). The maps are kept as float32, the precision
``gcflnet evaluate`` scores its ROC curves from, so a cached score equals the model card's exactly.

    probs = cached_probabilities("gcflnet-cpu-nuaa-sirst", samples)          # float32 (H, W) maps, input order
    metrics = evaluate_cached("gcflnet-cpu-nuaa-sirst", samples)            # == engine.evaluate_model(...)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from gcflnet_lib.engine import evaluation  # a module, so that a test can replace its predict_probabilities
from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint
from gcflnet_lib.metrics import IRSTDMetrics
from gcflnet_lib.provenance import file_sha256
from gcflnet_lib.released import resolve_checkpoint
from gcflnet_lib.workbook.context import REPO_ROOT

# Git-ignored (build/), so the maps never reach a commit; delete the folder to recompute everything.
CACHE_DIR = REPO_ROOT / "build" / "cache"
CACHE_VERSION = 1  # bump when the file layout or the prediction protocol changes: old files then miss


def images_digest(images: Sequence[np.ndarray]) -> str:
    """SHA-256 (hex) over every image's shape and float32 bytes, in order: which inputs a set of maps belongs to."""
    digest = hashlib.sha256()
    for image in images:
        array = np.ascontiguousarray(image, dtype=np.float32)
        digest.update(repr(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def cache_file(checkpoint_sha256: str, images: Sequence[np.ndarray], device: str | torch.device = "cpu",
               cache_dir: str | os.PathLike = CACHE_DIR) -> Path:
    """Where the maps of the checkpoint with ``checkpoint_sha256`` on ``images`` (on ``device``'s type) are kept."""
    device_type = torch.device(device).type
    key = f"v{CACHE_VERSION}-{device_type}-{checkpoint_sha256[:20]}-{images_digest(images)[:20]}"
    return Path(cache_dir) / f"probs-{key}.npz"


def _save_maps(path: Path, maps: Sequence[np.ndarray], checkpoint_sha256: str) -> None:
    """Write the maps (float32) to ``path`` through a temporary file, so a killed run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"map_{index:05d}": np.asarray(prob, dtype=np.float32) for index, prob in enumerate(maps)}
    handle, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(stream, checkpoint_sha256=np.array(checkpoint_sha256), count=np.array(len(arrays)), **arrays)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _load_maps(path: Path, checkpoint_sha256: str, count: int) -> list[np.ndarray] | None:
    """The maps stored at ``path``, or None when the file is unreadable or belongs to something else."""
    try:
        with np.load(path) as stored:
            if str(stored["checkpoint_sha256"]) != checkpoint_sha256 or int(stored["count"]) != count:
                return None
            return [stored[f"map_{index:05d}"] for index in range(count)]
    except (OSError, ValueError, KeyError, EOFError):
        return None  # a damaged file is recomputed and overwritten


def cached_probabilities(
    checkpoint: str | os.PathLike,
    images: Sequence[np.ndarray],
    device: str | torch.device = "cpu",
    cache_dir: str | os.PathLike = CACHE_DIR,
    batch_size: int = 8,
) -> list[np.ndarray]:
    """Probability maps of ``checkpoint`` on ``images``, from the cache when this exact file saw these images.

    Args:
        checkpoint: a released name (``gcflnet-cpu-nuaa-sirst``) or a ``.pt`` path; its bytes key the cache.
        images: float32 (H, W) images on the 0..255 scale, any sizes (a split's ``sample.image``).
        device: where to run the model on a miss; its type is part of the key.
        batch_size: images of one padded size per forward pass on a miss.

    Returns:
        float32 (H, W) maps in [0, 1], in input order: ``engine.predict_probabilities`` with the checkpoint's
        normalisation, bit for bit (a hit returns the maps a miss computed).
    """
    path = resolve_checkpoint(checkpoint)
    sha = file_sha256(path)
    target = cache_file(sha, images, device, cache_dir)
    if target.is_file():
        maps = _load_maps(target, sha, len(images))
        if maps is not None:
            return maps
    model, meta = load_model_from_checkpoint(path, device=device)
    norm = meta["norm"]
    maps = []
    # In chunks of 64, as engine.evaluate_model predicts: the same batches, so the same maps to the last bit.
    chunk = max(64, int(batch_size))
    for start in range(0, len(images), chunk):
        maps += evaluation.predict_probabilities(model, images[start : start + chunk], device, float(norm["mean"]),
                                                 float(norm["std"]), batch_size)
    _save_maps(target, maps, sha)
    return [np.asarray(prob, dtype=np.float32) for prob in maps]


def evaluate_probabilities(probs: Sequence[np.ndarray], samples: Sequence, threshold: float = 0.5) -> dict[str, Any]:
    """The metrics ``engine.evaluate_model`` reports, from float maps already computed.

    As ``gcflnet evaluate`` does: the numbers at ``threshold`` from the maps rounded to 8 bits (the PNGs it saves),
    the ROC curves and their AUCs from the float maps.

    Args:
        probs: float (H, W) maps in [0, 1], one per sample, in order.
        samples: the split's samples, masks bool (H, W).

    Returns:
        ``IRSTDMetrics.compute()``: ``miou, niou, pd, fa, n_images, n_targets, auc_pd_fa, auc_pixel, ..., roc``.
    """
    if len(probs) != len(samples):
        raise ValueError(f"{len(probs)} probability maps for {len(samples)} samples")
    metrics = IRSTDMetrics(threshold=threshold)
    for prob, sample in zip(probs, samples):
        evaluation.add_evaluated_map(metrics, prob, sample.mask)
    return metrics.compute()


def evaluate_cached(checkpoint: str | os.PathLike, samples: Sequence, device: str | torch.device = "cpu",
                    threshold: float = 0.5, cache_dir: str | os.PathLike = CACHE_DIR) -> dict[str, Any]:
    """``engine.evaluate_model`` of ``checkpoint`` on ``samples``, its maps taken from (or put in) the cache."""
    probs = cached_probabilities(checkpoint, [sample.image for sample in samples], device, cache_dir)
    return evaluate_probabilities(probs, samples, threshold)
