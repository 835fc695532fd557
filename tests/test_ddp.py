"""DistributedDataParallel on CPU (gloo): two processes train like one process given the same global batch.

Two ranks are spawned with torch.multiprocessing on a free 127.0.0.1 port; each checks the gloo
SyncBatchNorm against plain BatchNorm on the whole batch, then trains a few steps through
``engine.train``. The ranks must end with identical weights, and those weights must match a single
process within float-summation tolerance (BatchNorm statistics and the SoftIoU sums are synchronised,
so nothing but the order of additions differs). A last test runs the real CLI under torchrun.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from gcflnet_lib.data.synthetic import write_dataset
from gcflnet_lib.engine import TrainConfig, train
from gcflnet_lib.engine.checkpoint import load_checkpoint
from gcflnet_lib.engine.device import seed_everything
from gcflnet_lib.engine.distributed import GlooSyncBatchNorm, all_reduce_sum
from gcflnet_lib.losses import soft_iou_loss
from gcflnet_lib.models import build_model

WORLD = 2
GLOBAL_BATCH = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(root: Path, out: Path) -> TrainConfig:
    # MSIC as crossed, the model this comparison's tolerance was set on. Under unit_gain the two runs also agree
    # everywhere to ~1e-4, but the reduction-order noise between 2 ranks and 1 process grows to 2.2e-4 (5 %) on 2
    # of 576 small GLFI weights after 2 epochs of AdamW, past the 1e-4 bound; what this test checks, the gradient and
    # BatchNorm synchronisation, does not depend on MSIC's reading.
    return TrainConfig(
        data_root=str(root), dataset="Toy", out_dir=str(out), model="gcflnet", channels=(4, 8), epochs=2,
        batch_size=GLOBAL_BATCH, crop_size=32, eval_every=0, progress=False, device="cpu", seed=3,
        msic_reading="crossed",
    )


def _sync_bn_and_loss_checks(rank: int, out: Path) -> None:
    """Rank's half of a fixed batch through GlooSyncBatchNorm and the reduced SoftIoU; results saved for the parent."""
    generator = torch.Generator().manual_seed(0)
    x_all = torch.randn(WORLD * 2, 3, 5, 5, generator=generator) * 3 + 1
    weights_all = torch.randn(WORLD * 2, 3, 5, 5, generator=generator)
    part = slice(rank * 2, rank * 2 + 2)
    bn = GlooSyncBatchNorm(3)
    nn.init.uniform_(bn.weight, 0.5, 1.5, generator=torch.Generator().manual_seed(1))
    x = x_all[part].clone().requires_grad_(True)
    y = bn(x)
    (y * weights_all[part]).sum().backward()
    logits, target = x_all[part, :1] * 2, (weights_all[part, :1] > 1).float()
    loss = soft_iou_loss(logits, target, all_reduce=all_reduce_sum)
    torch.save({"y": y.detach(), "x_grad": x.grad, "weight_grad": bn.weight.grad, "running_var": bn.running_var,
                "loss": loss.detach()}, out / f"bn_rank{rank}.pt")


def _worker(rank: int, port: int, root: str, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(WORLD_SIZE=str(WORLD), RANK=str(rank), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        _sync_bn_and_loss_checks(rank, Path(out))
        result = train(_config(Path(root), Path(out) / "run"))
        torch.save(result["model"].state_dict(), Path(out) / f"weights_rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    root = write_dataset(base / "data", 16, size=48, seed=1, name="Toy")
    mp.spawn(_worker, args=(_free_port(), str(root), str(base)), nprocs=WORLD, join=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(_config(root, base / "single"))["model"].state_dict()
    finally:
        torch.set_num_threads(threads)
    ranks = [torch.load(base / f"weights_rank{r}.pt", weights_only=True) for r in range(WORLD)]
    return {"base": base, "root": root, "ranks": ranks, "single": single}


class TestDistributedTraining:
    def test_ranks_hold_identical_weights(self, runs):
        first, second = runs["ranks"]
        assert first.keys() == second.keys()
        assert all(torch.equal(first[k], second[k]) for k in first)

    def test_weights_match_one_process_with_the_same_global_batch(self, runs):
        ddp, single = runs["ranks"][0], runs["single"]
        assert ddp.keys() == single.keys()
        for key in single:
            torch.testing.assert_close(ddp[key], single[key], rtol=1e-3, atol=1e-4, msg=lambda m, k=key: f"{k}: {m}")
        # The tolerance is far below what training moved: AdamW steps are ~lr = 1e-3 per parameter per step,
        # so ranks with unsynchronised BatchNorm statistics or loss sums would fall outside it.
        seed_everything(3)
        initial = build_model("gcflnet", channels=(4, 8), msic_reading="crossed").state_dict()
        moved = max((single[k] - initial[k]).abs().max().item() for k in single if single[k].is_floating_point())
        assert moved > 2e-3

    def test_only_rank_zero_wrote_the_run(self, runs):
        run = runs["base"] / "run"
        state = load_checkpoint(run / "final.pt")
        assert state["world_size"] == WORLD and state["epoch"] == 2
        assert json.loads((run / "metrics.json").read_text())["world_size"] == WORLD
        # The checkpoint holds plain BatchNorm keys, so it loads into an ordinary model.
        assert state["model"].keys() == runs["single"].keys()


class TestGlooSyncBatchNorm:
    def test_matches_batchnorm_on_the_whole_batch(self, runs):
        parts = [torch.load(runs["base"] / f"bn_rank{r}.pt", weights_only=True) for r in range(WORLD)]
        generator = torch.Generator().manual_seed(0)
        x_all = torch.randn(WORLD * 2, 3, 5, 5, generator=generator) * 3 + 1
        weights_all = torch.randn(WORLD * 2, 3, 5, 5, generator=generator)
        bn = nn.BatchNorm2d(3)
        nn.init.uniform_(bn.weight, 0.5, 1.5, generator=torch.Generator().manual_seed(1))
        x = x_all.clone().requires_grad_(True)
        y = bn(x)
        (y * weights_all).sum().backward()
        torch.testing.assert_close(torch.cat([p["y"] for p in parts]), y.detach(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(torch.cat([p["x_grad"] for p in parts]), x.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(sum(p["weight_grad"] for p in parts), bn.weight.grad, rtol=1e-4, atol=1e-5)
        for part in parts:
            torch.testing.assert_close(part["running_var"], bn.running_var, rtol=1e-5, atol=1e-6)

    def test_reduced_loss_is_the_global_batch_loss(self, runs):
        parts = [torch.load(runs["base"] / f"bn_rank{r}.pt", weights_only=True) for r in range(WORLD)]
        generator = torch.Generator().manual_seed(0)
        x_all = torch.randn(WORLD * 2, 3, 5, 5, generator=generator) * 3 + 1
        weights_all = torch.randn(WORLD * 2, 3, 5, 5, generator=generator)
        expected = soft_iou_loss(x_all[:, :1] * 2, (weights_all[:, :1] > 1).float())
        for part in parts:
            torch.testing.assert_close(part["loss"], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="torchrun not installed")
def test_cli_under_torchrun_matches_the_spawned_run(runs, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    out = tmp_path / "cli_run"
    command = [
        torchrun, "--nnodes=1", f"--nproc_per_node={WORLD}", f"--master_port={_free_port()}", "--master_addr=127.0.0.1",
        "-m", "gcflnet_lib", "train", "--data", str(runs["root"]), "--dataset", "Toy", "--out", str(out),
        "--model", "gcflnet", "--channels", "4,8", "--epochs", "2", "--batch-size", str(GLOBAL_BATCH), "--crop-size", "32",
        "--eval-every", "0", "--device", "cpu", "--seed", "3", "--no-progress", "--msic-reading", "crossed",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    summaries = [line for line in done.stdout.splitlines() if "mIoU=" in line]
    assert len(summaries) == 1  # rank 0 alone reports
    state = load_checkpoint(out / "final.pt")
    assert state["world_size"] == WORLD
    for key, value in runs["ranks"][0].items():
        assert torch.equal(state["model"][key], value), key
