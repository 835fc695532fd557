"""Checkpoints: atomic save, safe load (``weights_only=True``), RNG state capture.

A checkpoint is a plain dict that ``torch.load(weights_only=True)`` can read, so it holds only
tensors, numbers, strings, lists, tuples and dicts:

    format          "gcflnet-checkpoint/1"
    model           model.state_dict() (of the bare model, never the DDP/compiled wrapper)
    model_config    model.config, enough for ``build_model(**model_config)``
    optimizer, scheduler, scaler   their state_dicts
    rng             ``capture_rng_state()``: python, numpy, torch CPU, every CUDA device, crop generator
    epoch           number of finished epochs
    train_config    TrainConfig as a dict
    norm            {"mean": float, "std": float} on the 0..255 scale
    dataset         dataset name
    history         list of per-epoch dicts
    finished        True only in ``final.pt``
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from gcflnet_lib.engine.files import atomic_write
from gcflnet_lib.errors import CheckpointError

FORMAT = "gcflnet-checkpoint/1"
REQUIRED_KEYS = ("format", "model", "model_config", "epoch", "norm")


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` to a temporary sibling, then ``os.replace`` it over ``path``."""
    state = {"format": FORMAT, **state}
    return atomic_write(path, lambda handle: torch.save(state, handle))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint`` (``weights_only=True``, tensors moved to ``map_location``).

    Raises:
        CheckpointError: missing file, unreadable/corrupt file, or a file that is not a gcflnet checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file (zip, pickle, EOF, runtime)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first_line})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gcflnet checkpoint (expected format {FORMAT!r})")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return state


def load_model_from_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu", expect: Mapping[str, Any] | None = None
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint describes, load its weights, put it in eval mode on ``device``.

    ``path`` may also be a released checkpoint's short name (``gcflnet_lib.released``).
    A ``model_config`` written before a reading keyword existed rebuilds with that reading's default,
    the behaviour it was trained with (``gcflnet_lib.models.readings.upgrade_config``).

    Args:
        expect: model-config values the caller needs, e.g. ``{"msic_reading": "literal"}``; a checkpoint
            saved with other values is refused, naming both.

    Returns:
        (model, meta) where meta is the checkpoint without the model/optimizer/scheduler/scaler/rng states:
        ``model_config`` (as stored), ``train_config``, ``norm``, ``dataset``, ``epoch``, ``history``, ``finished``.
    """
    from gcflnet_lib.models import build_model, config_differences, upgrade_config
    from gcflnet_lib.released import resolve_checkpoint
    from gcflnet_lib.models.readings import reading_of_weights

    path = resolve_checkpoint(path)  # a released name (gcflnet-cpu-nuaa-sirst) or a path
    state = load_checkpoint(path, map_location="cpu")
    config = upgrade_config(state["model_config"])
    if expect:
        differences = config_differences(config, {**config, **expect})
        if differences:
            raise CheckpointError(f"{path}: checkpoint was saved as another model than asked: {'; '.join(differences)}")
    try:
        model = build_model(**config)
        model.load_state_dict(state["model"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        first_line = str(exc).strip().splitlines()[0]
        found = reading_of_weights(config, state["model"]) if isinstance(exc, RuntimeError) else None
        if found is not None:
            key, value = found
            raise CheckpointError(f"{path}: the weights were saved with {key}={value!r}, but the checkpoint's "
                                  f"model_config says {key}={config.get(key)!r}") from exc
        raise CheckpointError(f"{path}: weights do not fit model {config.get('name')!r} ({first_line})") from exc
    model.to(device).eval()
    heavy = {"model", "optimizer", "scheduler", "scaler", "rng"}
    meta = {key: value for key, value in state.items() if key not in heavy}
    return model, meta


# ----------------------------------------------------------------------------------------------
# RNG state, stored as tensors and plain types so that weights_only loading accepts it.


def capture_rng_state(crop_generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every random state a run draws from: python, numpy (legacy global), torch CPU, CUDA, the crop generator."""
    version, python_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(python_state), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss), float(np_gauss)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if crop_generator is not None:
        state["crop_generator"] = crop_generator.get_state()
        state["crop_generator_device"] = str(crop_generator.device.type)
    return state


def restore_rng_state(state: dict[str, Any], crop_generator: torch.Generator | None = None) -> bool:
    """Restore what ``capture_rng_state`` stored.

    Returns:
        True when the crop generator state was restored; False when it was made on another device type
        (e.g. a GPU checkpoint resumed on a CPU), in which case the caller should reseed it.
    """
    version, python_state, gauss = state["python"]
    random.setstate((version, tuple(python_state), gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_name, np.asarray(np_keys, dtype=np.int64).astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"].cpu())
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
        else:
            warnings.warn("checkpoint CUDA RNG states are for another number of GPUs; not restored", stacklevel=2)
    if crop_generator is None or "crop_generator" not in state:
        return crop_generator is None
    if state.get("crop_generator_device") != crop_generator.device.type:
        return False
    crop_generator.set_state(state["crop_generator"].cpu())
    return True
