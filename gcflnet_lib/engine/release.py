"""Released checkpoints: weights-only files, optionally stored in fp16, that carry their own score.

A training checkpoint (``final.pt``) holds the optimizer, scheduler and RNG states and the fp32
weights: 69 MB for the full-width GCFLNet. A release keeps what inference needs - the weights, the
model configuration, the normalisation, the dataset and the training history - in the same
``gcflnet-checkpoint/1`` format, so every command that takes a checkpoint reads it.

fp16 storage halves the size. The recorded score must be the score of the weights as stored, so
``export_release`` scores the fp16-rounded weights before writing them (``round_weights``), never the
fp32 weights they came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from gcflnet_lib.engine.checkpoint import load_checkpoint, save_checkpoint
from gcflnet_lib.engine.evaluation import scalar_metrics
from gcflnet_lib.errors import UserError
from gcflnet_lib.models import build_model, upgrade_config

STORE_DTYPES = {"fp16": torch.float16, "fp32": torch.float32}
KEPT_KEYS = ("model_config", "train_config", "norm", "dataset", "epoch", "history", "finished", "world_size")


def round_weights(state_dict: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Floating-point tensors cast to ``dtype`` (integer buffers such as BatchNorm's counters kept)."""
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state_dict.items()}


def export_release(
    source: str | os.PathLike,
    target: str | os.PathLike,
    store: str = "fp16",
    score: Any = None,
) -> dict[str, Any]:
    """Write a weights-only release of the training checkpoint ``source`` to ``target``.

    Args:
        source: a checkpoint written by ``gcflnet train`` (``final.pt``).
        target: the release file (written atomically).
        store: ``"fp16"`` or ``"fp32"``, the dtype of the stored floating-point weights.
        score: optional ``callable(model) -> metrics dict``; it is called on the model holding the
            weights exactly as stored (rounded to ``store``, then back to fp32, the way they load), and
            its scalar results are written into the release as ``metrics``.

    Returns:
        The release's metadata (everything but the weights), ``metrics`` included when scored.
    """
    if store not in STORE_DTYPES:
        raise UserError(f"store: {store!r} is not one of {', '.join(STORE_DTYPES)}")
    state = load_checkpoint(source, map_location="cpu")
    weights = round_weights(state["model"], STORE_DTYPES[store])
    release: dict[str, Any] = {key: state[key] for key in KEPT_KEYS if key in state}
    release.update(model=weights, weights_dtype=store, source_epoch=int(state["epoch"]))
    if score is not None:
        model = build_model(**upgrade_config(state["model_config"]))
        model.load_state_dict(weights)  # copies into the fp32 parameters: the values a user loads
        model.eval()
        release["metrics"] = scalar_metrics(score(model))
    save_checkpoint(target, release)
    return {key: value for key, value in release.items() if key != "model"}


def release_size_mb(path: str | os.PathLike) -> float:
    return Path(path).stat().st_size / 2**20
