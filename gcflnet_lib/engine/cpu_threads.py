"""How many CPU threads a training uses, on a machine that other processes share.

PyTorch's CPU kernels split each operation over an OpenMP team and wait at a barrier for all of its
threads. When another process holds one of the cores, one team member waits for the scheduler while
the others wait for it, and every operation pays that delay: a 2-thread training on a 2-core machine
next to one busy process went many times slower than the same training on 1 thread. So:

- ``threads="auto"`` takes the cores the others leave free: the machine's usable cores minus the load
  (1-minute load average) that is not this process's own, at least 1. A training re-checks it every
  epoch (``Retuner``), so it grows back when the neighbour finishes.
- The ``gcflnet`` command starts with ``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it: idle
  team members sleep instead of spinning, so they do not steal the time slice of the one they wait for.

``benchmarks/bench_train_cpu.py`` measures both, quiet and under load.
"""

from __future__ import annotations

import os

import torch


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def free_cores(load: float | None = None, own_threads: float = 0.0, cores: int | None = None) -> int:
    """Cores not busy with other processes: ``cores - (load - own_threads)``, rounded, within [1, cores].

    Args:
        load: runnable processes averaged over a minute (``os.getloadavg()[0]`` by default).
        own_threads: how much of that load is this process's own (its threads while it has been busy).
        cores: usable cores (``usable_cores()`` by default).
    """
    cores = usable_cores() if cores is None else int(cores)
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # no load average on this platform: assume a quiet machine
            return cores
    others = max(0.0, float(load) - float(own_threads))
    return int(min(cores, max(1, round(cores - others))))


def parse_threads(value: str | int | None) -> str | int:
    """``"auto"``/None -> ``"auto"``; a positive integer (or its text) -> that integer; else ValueError."""
    if value is None or str(value).strip().lower() == "auto":
        return "auto"
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"expected 'auto' or a positive integer, got {value!r}") from None
    if number < 1:
        raise ValueError(f"expected 'auto' or a positive integer, got {value!r}")
    return number


def configure_threads(value: str | int | None = "auto", own_threads: float = 0.0) -> int:
    """Set torch's intra-op thread count from ``value`` ("auto" or N); returns the count set."""
    choice = parse_threads(value)
    threads = free_cores(own_threads=own_threads) if choice == "auto" else min(int(choice), 4 * usable_cores())
    torch.set_num_threads(threads)
    return threads


class Retuner:
    """Re-picks the thread count of an ``"auto"`` training between epochs; a fixed count never changes.

    ``own_threads`` passed to :func:`free_cores` is the current count: while the training ran, the load
    average counted about that many of its threads.
    """

    def __init__(self, value: str | int | None = "auto") -> None:
        self.auto = parse_threads(value) == "auto"
        self.threads = configure_threads(value)

    def __call__(self) -> int:
        if self.auto:
            wanted = free_cores(own_threads=self.threads)
            if wanted != self.threads:
                torch.set_num_threads(wanted)
                self.threads = wanted
        return self.threads
