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


@pytest.fixture(scope="session")
def sirst_root() -> Path:
    """The real NUAA-SIRST set (``GCFLNET_SIRST``, default ``../shared/datasets/NUAA-SIRST``); skip when absent."""
    root = Path(os.environ.get("GCFLNET_SIRST", ROOT.parent / "shared" / "datasets" / "NUAA-SIRST"))
    if not (root / "img_idx" / "test_NUAA-SIRST.txt").is_file():
        pytest.skip(f"NUAA-SIRST not found at {root} (set GCFLNET_SIRST to its folder)")
    return root


@pytest.fixture(scope="session")
def nudt_root() -> Path:
    """The real NUDT-SIRST set (``GCFLNET_NUDT``, default ``../shared/datasets/NUDT-SIRST``); skip when absent."""
    root = Path(os.environ.get("GCFLNET_NUDT", ROOT.parent / "shared" / "datasets" / "NUDT-SIRST"))
    if not (root / "img_idx" / "test_NUDT-SIRST.txt").is_file():
        pytest.skip(f"NUDT-SIRST not found at {root} (set GCFLNET_NUDT to its folder)")
    return root
