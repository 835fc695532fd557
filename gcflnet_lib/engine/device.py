"""Device choice and seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from gcflnet_lib.errors import UserError


def resolve_device(name: str | torch.device = "auto", label: str = "--device") -> torch.device:
    """``"auto"`` -> ``cuda`` when a GPU is visible, else ``cpu``; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` as given.

    ``label`` names the setting in messages: ``--device`` for the CLI, ``DEVICE`` in a notebook.

    Raises:
        UserError: a CUDA device was asked for but none is visible, or the name is not a device.
    """
    name = (str(name) if name is not None else "auto").strip().lower() or "auto"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise UserError(f"{label} {name}: not a device name (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"{label} {name}: no CUDA GPU is visible to PyTorch; use cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"{label} {name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    elif device.type != "cpu":
        raise UserError(f"{label} {name}: unsupported device type (use auto, cpu, cuda or cuda:N)")
    return device


def seed_everything(seed: int) -> None:
    """Seed python, numpy's global generator, torch CPU and every CUDA device."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def make_generator(device: torch.device, seed: int) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` (crops and flips are drawn where the data lives)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator
