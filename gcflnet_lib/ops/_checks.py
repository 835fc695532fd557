"""Argument checks shared by the pure functions (one clear ``ValueError`` per misuse)."""

from __future__ import annotations

import torch


def check_bchw(x: torch.Tensor, name: str = "input") -> None:
    """Raise ``ValueError`` unless ``x`` is a floating-point tensor of shape (B, C, H, W)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name}: expected (B, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, got {x.dtype}")


def check_choice(value: str, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
