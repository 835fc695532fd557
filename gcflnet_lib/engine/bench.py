"""Throughput, FLOPs and model FLOP utilisation, for ``gcflnet bench``.

Every figure is measured in the run that reports it: training images/s (AdamW step on SoftIoU with
deep supervision, like ``train``), inference images/s, FLOPs from ``torch.utils.flop_counter``, and
the device's matmul rate (bf16 on CUDA, fp32 on CPU) as the denominator of the utilisation
``MFU = model FLOP/s / matmul FLOP/s``. MFU here is relative to a *measured* rate, not a datasheet
peak, so it says how well the model's kernels use what this device actually sustains on a GEMM.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gcflnet_lib.losses import deep_supervision_loss

TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], device: torch.device, warmup: int, iters: int) -> float:
    """Seconds per call of ``fn`` (mean over ``iters`` after ``warmup`` calls), device work included."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / max(1, iters)


def matmul_flops_per_s(device: torch.device, dtype: torch.dtype, size: int | None = None, iters: int = 10) -> float:
    """Sustained FLOP/s of a square ``size`` x ``size`` matmul (2 * size**3 FLOPs each)."""
    size = size or (8192 if device.type == "cuda" else 1024)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    seconds = time_calls(lambda: a @ b, device, warmup=2, iters=iters)
    return 2.0 * size**3 / seconds


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_flops(model: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one eval-mode forward pass on ``x`` (convolutions and matmuls, as flop_counter counts)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def training_flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one training step's forward and backward (deep-supervision SoftIoU) on ``x``."""
    was_training = model.training
    model.train()
    try:
        with FlopCounterMode(display=False) as counter:
            deep_supervision_loss(model(x), y).backward()
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return int(counter.get_total_flops())


def random_batch(batch: int, size: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A normalised-looking image batch (B,1,S,S) and a sparse 0/1 mask batch, deterministic from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, size, size, generator=generator)
    y = (torch.rand(batch, 1, size, size, generator=generator) > 0.995).float()
    return x.to(device), y.to(device)


def make_train_step(
    model: nn.Module, device: torch.device, dtype: str, channels_last: bool = True
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A closure doing what one ``train`` step does: forward (autocast for bf16), SoftIoU, backward, AdamW.

    With ``channels_last`` (``gcflnet train``'s default, on a CPU too) the model is moved to that layout here.
    """
    on_gpu = device.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, **({"fused": True} if on_gpu else {}))
    autocast = torch.autocast(device.type, dtype=TORCH_DTYPES[dtype]) if dtype != "fp32" else nullcontext()
    model.train()

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast:
            outputs = model(x)
        loss = deep_supervision_loss(outputs, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def train_images_per_s(
    model: nn.Module, device: torch.device, dtype: str, batch: int, size: int, warmup: int, iters: int
) -> float:
    """Training throughput on random data (the model's weights change; build a fresh one per figure)."""
    x, y = random_batch(batch, size, device)
    step = make_train_step(model, device, dtype)
    return batch / time_calls(lambda: step(x, y), device, warmup, iters)


def inference_images_per_s(
    model: nn.Module, device: torch.device, dtype: str, batch: int, size: int, warmup: int, iters: int
) -> float:
    """Eval-mode forward throughput under ``inference_mode`` (autocast for bf16)."""
    x, _ = random_batch(batch, size, device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast(device.type, dtype=TORCH_DTYPES[dtype]) if dtype != "fp32" else nullcontext()
    model.eval()

    @torch.inference_mode()
    def forward() -> None:
        with autocast:
            model(x)

    return batch / time_calls(forward, device, warmup, iters)
