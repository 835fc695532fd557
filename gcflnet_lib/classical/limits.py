"""Parameters of a classical detector, checked before any image is processed.

Two kinds of bad values: ones the method refuses (found by running it once on a small image, so every
method's own checks apply), and patch sizes whose memory the machine lacks. IPI and RIPT hold the
patch matrix several times over and put patches back through ``ceil(patch / stride)**2`` overlap
layers: ``--param patch=1000`` on 256x256 images asks for about 300 GiB.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import numpy as np

from gcflnet_lib.classical.patches import _padded_length
from gcflnet_lib.engine.oom import format_bytes
from gcflnet_lib.errors import UserError

PATCH_METHODS = ("ipi", "ript")
# The solvers keep about six arrays the size of the patch matrix (data, low-rank, sparse, dual, work, SVD).
_PATCH_COPIES = 6


def patch_method_bytes(shape: tuple[int, int], patch: int, stride: int) -> int:
    """Bytes IPI/RIPT hold at their peak for one ``(H, W)`` image (float64 patch arrays and overlap layers)."""
    height, width = (_padded_length(length, patch, stride) for length in shape)
    positions = ((height - patch) // stride + 1) * ((width - patch) // stride + 1)
    patches = positions * patch * patch * 8
    layers_per_side = math.ceil(patch / stride)
    tile = layers_per_side * stride
    layers = layers_per_side**2 * (height + tile) * (width + tile) * 8
    return _PATCH_COPIES * patches + layers


def available_memory() -> int | None:
    """Bytes the kernel says new allocations can get (``MemAvailable``); None where it does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _is_count(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def check_memory(name: str, method: Callable, params: dict, largest: tuple[int, int]) -> None:
    """Refuse patch settings whose estimated memory on the ``largest`` image exceeds what is available."""
    if name not in PATCH_METHODS:
        return
    defaults = {key: p.default for key, p in inspect.signature(method).parameters.items()}
    patch, stride = params.get("patch", defaults["patch"]), params.get("stride", defaults["stride"])
    if not (_is_count(patch) and _is_count(stride)) or stride > patch:
        return  # the method's own check names the bad value (check_params)
    need, have = patch_method_bytes(largest, int(patch), int(stride)), available_memory()
    if have is not None and need > have:
        raise UserError(f"--param patch={patch} stride={stride}: {name} on the largest image ({largest[0]}x{largest[1]}) "
                        f"needs about {format_bytes(need)} of memory, more than this machine has free; "
                        "lower patch or raise stride")


def check_params(name: str, method: Callable, params: dict, largest: tuple[int, int]) -> None:
    """Refuse, before any work, parameters ``method`` rejects or cannot fit in memory.

    The method runs once on a small noise image (at most 32x32, never larger than ``largest``), so a
    bad value fails here rather than on the first image of the split.
    """
    check_memory(name, method, params, largest)
    small = (min(32, largest[0]), min(32, largest[1]))
    image = np.random.default_rng(0).uniform(0, 255, small).astype(np.float32)
    try:
        method(image, **params)
    except (ValueError, TypeError) as exc:
        raise UserError(f"--param: {name} refuses these parameters: {str(exc).strip().splitlines()[0]}") from None
