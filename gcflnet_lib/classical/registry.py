"""Name -> detector registry, so the CLI and notebooks can pick a method by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gcflnet_lib.classical.filters import max_median, tophat
from gcflnet_lib.classical.local_contrast import tllcm, wslcm
from gcflnet_lib.classical.low_rank import ipi, ript

# Grouped as in the paper's comparison: filter-based, local contrast, low-rank.
METHODS: dict[str, Callable[..., np.ndarray]] = {
    "tophat": tophat,
    "max_median": max_median,
    "tllcm": tllcm,
    "wslcm": wslcm,
    "ipi": ipi,
    "ript": ript,
}


def get_method(name: str) -> Callable[..., np.ndarray]:
    """The detector called ``name``; an unknown name raises ``ValueError`` listing the known ones."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown classical method {name!r}; choose one of: {', '.join(METHODS)}") from None


def run_method(name: str, image, **params) -> np.ndarray:
    """Run detector ``name`` on ``image`` with keyword ``params``; returns its ``float32 (H, W)`` saliency."""
    return get_method(name)(image, **params)
