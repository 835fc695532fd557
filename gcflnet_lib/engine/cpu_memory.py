"""Keep freed memory in the process during CPU training, instead of handing it back to the system.

A training step on the CPU allocates and frees the same large activation buffers every step. glibc's
``malloc`` serves blocks above its mmap threshold with fresh ``mmap`` calls and returns them with
``munmap`` (and trims the heap top above its trim threshold), so every step faults the same pages in
again: on the 2-core machine about 5 million page faults and 20 s of system time per full-width
step at batch 16. Two ``mallopt`` settings stop it, the in-process form of
``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736``:

- ``M_MMAP_MAX = 0``: never serve a block with its own mmap, so freed blocks stay in the heap for reuse;
- ``M_TRIM_THRESHOLD`` at its largest (2 GiB; ``mallopt`` takes an int): keep the heap top unless more
  than that lies free at its end.

The arithmetic does not change (same kernels, same order), so results are bitwise identical; the cost is
that the process keeps its peak memory until it exits. ``benchmarks/bench_malloc.py`` measures the
speed and the page faults with and without it. Other C libraries (musl, macOS) have no ``mallopt``; there it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# glibc's malloc.h parameter numbers
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
KEEP_THRESHOLD = 2**31 - 1

_applied = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed buffers for reuse (idempotent).

    Returns:
        True when both settings were applied (glibc), False where the C library has no ``mallopt``.
    """
    global _applied
    if _applied:
        return True
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, KEEP_THRESHOLD) == 1
    _applied = applied
    return applied
