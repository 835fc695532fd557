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

import io
import json
import math
import os
import pickle
import random
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gcflnet_lib.errors import CheckpointError
from gcflnet_lib.files import atomic_write
from gcflnet_lib.models import build_model, config_differences, upgrade_config
from gcflnet_lib.models.registry import reading_of_weights
from gcflnet_lib.released import resolve_checkpoint

FORMAT = "gcflnet-checkpoint/1"
REQUIRED_KEYS = ("format", "model", "model_config", "epoch", "norm")
# What --resume needs besides the weights; a released checkpoint holds the weights only.
RUN_STATE_KEYS = ("optimizer", "scheduler", "rng")
# torch.save's legacy (non-zip) format starts with the pickled magic number 0x1950a86a20f9469cfc6c.
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."
_ZIP_MAGIC = b"PK\x03\x04"


def peek_run_state(path: str | os.PathLike) -> dict[str, Any] | None:
    """The state dict of a run checkpoint (``last.pt``), read lazily (mmap, ``weights_only``) to look at its
    bookkeeping (epoch, train_config) without loading it for use; None where there is none to read: missing, half
    written or damaged, or weights without the optimizer state a resume needs (a release copied in)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - any damage; load_checkpoint names it when the file is used
        return None
    if not isinstance(state, dict) or any(key not in state for key in RUN_STATE_KEYS):
        return None
    return state


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` to a temporary sibling, then ``os.replace`` it over ``path``.

    The bytes are made in memory first, so a failing disk shows up as a plain ``OSError`` from the
    file write (reported as one line naming ``path``), not as torch's zip writer ``RuntimeError``.
    """
    state = {"format": FORMAT, **state}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write(path, lambda handle: handle.write(buffer.getbuffer()))


def _load_failure(exc: Exception) -> str:
    """Why ``torch.load`` failed, in words, instead of torch's bare ``KeyError: 101`` or its pickle advice."""
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError) and "weights only load failed" in text.lower():
        return "it holds Python objects besides tensors and plain values, refused because loading them could run code"
    if "PytorchStreamReader" in text or "zip archive" in text:
        return "truncated or damaged: not a complete torch zip archive"
    if isinstance(exc, (KeyError, UnicodeDecodeError, pickle.UnpicklingError, EOFError)):
        return "not a torch checkpoint file"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return first_line[:200]


def _not_a_torch_file(path: Path) -> str | None:
    """Why ``path`` cannot be a torch checkpoint, judged from its first bytes; None when it may be one.

    Without this a JSON file reads as "holds Python objects ... could run code" (torch's unpickler
    stops at the first ``{``) and a plain pickle prints torch's protocol warning first.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return None  # torch.load reports it
    if head.startswith(_ZIP_MAGIC) or head.startswith(_LEGACY_TORCH_MAGIC):
        return None
    if head.lstrip()[:1] in (b"{", b"["):
        try:
            json.loads(path.read_bytes())
        except (OSError, ValueError):
            pass
        else:
            return "a JSON file, not a torch checkpoint written by gcflnet train"
    if head[:1] == b"\x80":
        return "a plain pickle file, not a torch checkpoint written by gcflnet train"
    return None


def _check_fields(state: dict[str, Any], path: Path) -> None:
    """Refuse fields of the wrong type (a damaged or hand-edited file) with one line, not a later traceback."""
    expected = {"model_config": dict, "model": dict, "norm": dict, "train_config": dict, "history": list,
                "dataset": str, "finished": bool}
    for key, kind in expected.items():
        if key in state and state[key] is not None and not isinstance(state[key], kind):
            raise CheckpointError(f"{path}: corrupt checkpoint: {key} is a {type(state[key]).__name__}, "
                                  f"expected a {kind.__name__}")
    epoch = state["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise CheckpointError(f"{path}: corrupt checkpoint: epoch is {epoch!r}, expected a whole number of epochs")
    if not isinstance(state["model_config"].get("name"), str):
        raise CheckpointError(f"{path}: corrupt checkpoint: model_config names no model")
    for name, value in state["model"].items():
        if not torch.is_tensor(value):
            raise CheckpointError(f"{path}: corrupt checkpoint: weight {name} is a {type(value).__name__}, not a tensor")


def _check_finite(state: dict[str, Any], path: Path) -> None:
    """Refuse weights or normalisation values that would silently turn every output into NaN or 0."""
    norm = state["norm"]
    try:
        mean, std = float(norm["mean"]), float(norm["std"])
    except (TypeError, KeyError, ValueError):
        raise CheckpointError(f"{path}: corrupt checkpoint: norm holds no numeric mean and std") from None
    for label, value in (("mean", mean), ("std", std)):
        if not math.isfinite(value):
            raise CheckpointError(f"{path}: corrupt checkpoint: normalisation {label} is {value}, not a finite number")
    if std <= 0:
        raise CheckpointError(f"{path}: corrupt checkpoint: normalisation std is {std}, must be positive")
    for name, value in state["model"].items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{path}: corrupt checkpoint: weight {name} holds NaN or infinite values")


def check_weight_types(weights: Mapping[str, torch.Tensor], model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Refuse integer (or bool) tensors where ``model`` holds floating point ones.

    ``load_state_dict`` casts them without a word, and a model of whole-number weights predicts
    nonsense (every pixel a target). Half precision is fine: released GPU weights are fp16.
    """
    own = model.state_dict()
    for name, value in weights.items():
        if name in own and own[name].is_floating_point() and not value.is_floating_point():
            raise CheckpointError(f"{path}: corrupt checkpoint: weight {name} is {str(value.dtype).replace('torch.', '')}, "
                                  "expected floating point")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by ``save_checkpoint`` (``weights_only=True``, tensors moved to ``map_location``).

    Raises:
        CheckpointError: missing file, unreadable/corrupt file, a file that is not a gcflnet checkpoint
            (a JSON file or plain pickle says so), a field of the wrong type, or weights or normalisation
            values that are not finite (or a std that is not positive).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, expected a checkpoint file (such as {path / 'final.pt'})")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    foreign = _not_a_torch_file(path)
    if foreign is not None:
        raise CheckpointError(f"{path}: not a readable checkpoint ({foreign})")
    try:
        # torch warns about pickle protocols and storages on odd files; the one line below says what is wrong.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file (zip, pickle, EOF, runtime)
        raise CheckpointError(f"{path}: not a readable checkpoint ({_load_failure(exc)})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gcflnet checkpoint (expected format {FORMAT!r})")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    _check_fields(state, path)
    _check_finite(state, path)
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
    path = resolve_checkpoint(path)  # a released name (gcflnet-cpu-nuaa-sirst) or a path
    state = load_checkpoint(path, map_location="cpu")
    config = upgrade_config(state["model_config"])
    if expect:
        differences = config_differences(config, {**config, **expect})
        if differences:
            raise CheckpointError(f"{path}: checkpoint was saved as another model than asked: {'; '.join(differences)}")
    try:
        model = build_model(**config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: weights do not fit model {config.get('name')!r} "
                              f"({str(exc).strip().splitlines()[0]})") from exc
    check_weight_types(state["model"], model, path)
    try:
        model.load_state_dict(state["model"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        first_line = str(exc).strip().splitlines()[0]
        found = reading_of_weights(config, state["model"]) if isinstance(exc, RuntimeError) else None
        if found is not None:
            key, values = found
            saved_with = " or ".join(f"{key}={value!r}" for value in values)
            raise CheckpointError(f"{path}: the weights were saved with {saved_with}, but the checkpoint's "
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
