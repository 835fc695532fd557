"""Shared test settings.

Tests use one torch thread: their tensors are small, and on a 2-core CI machine two threads
contending with the notebook kernels were many times slower than one.
"""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
# The same for every process a test starts (CLI runs, torchrun ranks, notebook kernels): `--threads auto`
# would otherwise follow the load of the moment, and runs that tests compare bit for bit must not differ in it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]


def _dataset_root(variable: str, name: str) -> Path:
    root = Path(os.environ.get(variable, ROOT.parent / "shared" / "datasets" / name))
    if not (root / "img_idx" / f"test_{name}.txt").is_file():
        pytest.skip(f"{name} not found at {root} (set {variable} to its folder)")
    return root


@pytest.fixture(scope="session")
def sirst_root() -> Path:
    """The real NUAA-SIRST set (``GCFLNET_SIRST``, default ``../shared/datasets/NUAA-SIRST``); skip when absent."""
    return _dataset_root("GCFLNET_SIRST", "NUAA-SIRST")


@pytest.fixture(scope="session")
def nudt_root() -> Path:
    """The real NUDT-SIRST set (``GCFLNET_NUDT``, default ``../shared/datasets/NUDT-SIRST``); skip when absent."""
    return _dataset_root("GCFLNET_NUDT", "NUDT-SIRST")


@pytest.fixture(scope="session")
def script_module():
    """``script_module("results_table")``: a module of ``scripts/`` (or of ``folder``, e.g. ``"benchmarks"``)
    loaded by its path (scripts are no package)."""
    import importlib.util
    import sys

    def load(name: str, folder: str = "scripts"):
        spec = importlib.util.spec_from_file_location(name, ROOT / folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while a class is built
        spec.loader.exec_module(module)
        return module

    return load
