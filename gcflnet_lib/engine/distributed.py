"""DistributedDataParallel plumbing for ``gcflnet train`` under ``torchrun``.

``torchrun --nproc_per_node=N`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; a run with
``WORLD_SIZE > 1`` joins a process group (NCCL on GPUs, gloo on CPUs). Every rank draws the same
global batch from the same seeded generator and keeps its own slice of it, and batch statistics are
synchronised (``SyncBatchNorm``; a gloo equivalent on CPU, where PyTorch's only runs on GPUs), and the
SoftIoU sums are added across ranks before the ratio is taken. So N processes follow the same
trajectory as one process given the same global batch, up to float summation order.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gcflnet_lib.errors import UserError


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a (possibly single-process) run."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env(environ: dict[str, str] | None = None) -> DistContext:
    """Read ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` (torchrun's variables); absent means one process."""
    env = os.environ if environ is None else environ
    try:
        world_size = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local_rank = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError as exc:
        raise UserError(f"WORLD_SIZE/RANK/LOCAL_RANK must be integers ({exc})") from exc
    if world_size < 1 or not 0 <= rank < world_size:
        raise UserError(f"RANK={rank} does not fit WORLD_SIZE={world_size}")
    return DistContext(world_size, rank, local_rank)


def init_process_group(ctx: DistContext, device: torch.device) -> torch.device:
    """Join the process group (if ``ctx.enabled``) and return this rank's device (``cuda:LOCAL_RANK`` on GPUs)."""
    if not ctx.enabled:
        return device
    if device.type == "cuda":
        if ctx.local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK={ctx.local_rank} but only {torch.cuda.device_count()} GPU(s) are visible")
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend,
            rank=ctx.rank,
            world_size=ctx.world_size,
            timeout=datetime.timedelta(minutes=30),
            **({"device_id": device} if backend == "nccl" else {}),
        )
    return device


def destroy_process_group(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.barrier()


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        tensor = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        # Every rank holds the same output, so its gradient is the sum of theirs; DDP later divides by N.
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Autograd-aware sum over all ranks (its backward sums the gradients, which DDP then averages)."""
    return _AllReduceSum.apply(tensor)


def broadcast_flag(ctx: DistContext, value: bool, device: torch.device) -> bool:
    """Rank 0's boolean, on every rank (e.g. "stop: the loss went non-finite")."""
    if not ctx.enabled:
        return value
    flag = torch.tensor([1.0 if value else 0.0], device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def shard_slice(global_batch: int, ctx: DistContext) -> slice:
    """This rank's part of a global batch; the batch must split evenly."""
    if global_batch % ctx.world_size:
        raise UserError(f"--batch-size {global_batch} must be a multiple of the number of processes ({ctx.world_size})")
    per_rank = global_batch // ctx.world_size
    return slice(ctx.rank * per_rank, (ctx.rank + 1) * per_rank)


class GlooSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are taken over every rank's batch (works on CPU with gloo).

    Same parameters and buffers as ``nn.BatchNorm2d``, so its state_dict loads into a plain model.
    Outside a process group, or in eval mode, it is exactly ``nn.BatchNorm2d``.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        count = torch.tensor(float(x.numel() // x.shape[1]), device=x.device, dtype=x.dtype)
        local_mean = x.mean(dim=(0, 2, 3))
        local_m2 = ((x - local_mean[None, :, None, None]) ** 2).sum(dim=(0, 2, 3))
        # One autograd-aware reduction: [n, n*mean, M2 + n*mean^2] per channel -> global mean and M2 (Chan et al.).
        stats = torch.stack((count.expand_as(local_mean), count * local_mean, local_m2 + count * local_mean**2))
        stats = all_reduce_sum(stats)
        total = stats[0]
        mean = stats[1] / total
        var = stats[2] / total - mean**2
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * total / (total - 1).clamp_min(1)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        # Written out (not F.batch_norm) so that gradients flow through the synchronised mean and variance.
        scale = torch.rsqrt(var + self.eps)
        shift = -mean * scale
        if self.affine:
            scale = scale * self.weight
            shift = shift * self.weight + self.bias
        return x * scale[None, :, None, None] + shift[None, :, None, None]


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm2d by a synchronised one: ``nn.SyncBatchNorm`` on GPU, ``GlooSyncBatchNorm`` on CPU."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            replacement = GlooSyncBatchNorm(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            ).to(device=next(iter(child.buffers()), torch.empty(0)).device)
            replacement.load_state_dict(child.state_dict())
            replacement.train(child.training)
            setattr(module, name, replacement)
        else:
            convert_sync_batchnorm(child, device)
    return module
