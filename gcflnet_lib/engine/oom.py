"""Out of memory as one line: how much was asked for, and which flag to lower.

torch's CPU allocator raises a ``RuntimeError`` ("DefaultCPUAllocator: can't allocate memory: you
tried to allocate 10000000000 bytes"), CUDA an ``OutOfMemoryError`` ("Tried to allocate 20.00 GiB")
and numpy a ``MemoryError`` ("Unable to allocate 298. GiB for an array ..."). The CLI turns each into
``out of memory (tried to allocate 9.31 GiB) ...; lower --size``, the advice coming from the command
(its ``oom_advice(args)``). Nothing here imports torch, so the CLI can use it for every command.
"""

from __future__ import annotations

import re

_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}
_PATTERNS = (
    re.compile(r"tried to allocate (?P<number>\d+) bytes", re.IGNORECASE),
    re.compile(r"(?:tried|unable) to allocate (?P<number>[\d.]+) ?(?P<unit>[KMGTP]iB)", re.IGNORECASE),
)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the out-of-memory errors of numpy, torch's CPU allocator and CUDA."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text.lower())


def format_bytes(count: float) -> str:
    """``10000000000`` -> ``"9.31 GiB"`` (binary units, two decimals)."""
    unit = next((name for name, size in reversed(_UNITS.items()) if count >= size), "B")
    return f"{count / _UNITS[unit]:.2f} {unit}" if unit != "B" else f"{int(count)} B"


def requested_bytes(exc: BaseException) -> float | None:
    """The size of the allocation that failed, read from the error's message; None where it gives none."""
    text = str(exc)
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            return float(match["number"]) * _UNITS.get(match.groupdict().get("unit") or "B", 1)
    return None


def describe_oom(exc: BaseException, advice: str | None = None) -> str:
    """``out of memory (tried to allocate 9.31 GiB) for model-info --size 50000; lower --size``."""
    size = requested_bytes(exc)
    head = "out of memory" + (f" (tried to allocate {format_bytes(size)})" if size is not None else "")
    return f"{head} {advice}" if advice else f"{head}; lower the batch size or the image size"
