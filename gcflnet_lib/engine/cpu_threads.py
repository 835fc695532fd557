"""How many CPU threads a training uses, on a machine that other processes share.

PyTorch's CPU kernels split each operation over an OpenMP team and wait at a barrier for all of its
threads. When another process holds one of the cores, one team member waits for the scheduler while
the others wait for it, and every operation pays that delay: a 2-thread training on a 2-core machine
next to one busy process went many times slower than the same training on 1 thread. So:

- ``threads="auto"`` takes the cores the others leave free: the machine's usable cores minus the threads
  of other processes that want a core now (``/proc/stat``'s ``procs_running``, sampled for 0.2 s), at
  least 1, and never more than ``OMP_NUM_THREADS`` when the environment sets it (a launcher such as
  torchrun sharing the cores between processes). A training re-checks it every epoch (``Retuner``), so it
  grows back when the neighbour finishes.
- OpenMP's wait policy is left alone: ``OMP_WAIT_POLICY=PASSIVE`` (idle team members sleep rather than
  spin) softened the collapse of a 2-thread run under load, but cost 20-50% on a quiet machine, while
  one thread under load avoids the barrier altogether (``benchmarks/bench_train_cpu.py``).

``benchmarks/bench_train_cpu.py`` measures both, quiet and under load.
"""

from __future__ import annotations

import os
import time

import torch


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def runnable_now(samples: int = 10, interval_s: float = 0.02) -> float | None:
    """Threads that want a core right now (``procs_running`` of ``/proc/stat``), averaged over a few samples.

    The caller counts as one while it samples. None where ``/proc/stat`` is absent (not Linux).
    """
    counts = []
    for index in range(samples):
        try:
            with open("/proc/stat") as stat:
                line = next((row for row in stat if row.startswith("procs_running")), None)
        except OSError:
            return None
        if line is None:
            return None
        counts.append(int(line.split()[1]))
        if index + 1 < samples:
            time.sleep(interval_s)
    return sum(counts) / len(counts)


def free_cores(load: float | None = None, own_threads: float = 0.0, cores: int | None = None) -> int:
    """Cores not busy with other processes: ``cores - (load - own_threads)``, rounded, within [1, cores].

    Args:
        load: threads wanting a core. By default measured now (``runnable_now``, between epochs, when only
            the calling thread of this process runs); the 1-minute load average where that is unavailable,
            which lags a minute behind a neighbour that started or finished.
        own_threads: how much of ``load`` is this process's own (1 for a measurement taken now).
        cores: usable cores (``usable_cores()`` by default).
    """
    cores = usable_cores() if cores is None else int(cores)
    if load is None:
        load = runnable_now()
        own_threads = 1.0 if load is not None else own_threads
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # no load figure on this platform: assume a quiet machine
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


def env_thread_cap() -> int | None:
    """``OMP_NUM_THREADS`` when the environment sets a positive count (torchrun sets 1 per process), else None."""
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def auto_threads() -> int:
    """The "auto" count: the free cores, at most ``OMP_NUM_THREADS`` when the environment sets it."""
    cap = env_thread_cap()
    free = free_cores()
    return min(free, cap) if cap else free


def configure_threads(value: str | int | None = "auto") -> int:
    """Set torch's intra-op thread count from ``value`` ("auto" or N); returns the count set."""
    choice = parse_threads(value)
    threads = auto_threads() if choice == "auto" else min(int(choice), 4 * usable_cores())
    torch.set_num_threads(threads)
    return threads


class Retuner:
    """Re-picks the thread count of an ``"auto"`` training between epochs; a fixed count never changes.

    It runs between epochs, when this process's compute threads are idle, so the measurement sees others only.
    """

    def __init__(self, value: str | int | None = "auto") -> None:
        self.auto = parse_threads(value) == "auto"
        self.threads = configure_threads(value)

    def __call__(self) -> int:
        if self.auto:
            wanted = auto_threads()
            if wanted != self.threads:
                torch.set_num_threads(wanted)
                self.threads = wanted
        return self.threads
