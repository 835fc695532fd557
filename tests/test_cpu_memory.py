"""engine.cpu_memory: freed buffers stay in the process, so a training step does not fault its pages in again."""

import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Allocate, touch and free a 64 MiB buffer 20 times; print the minor page faults this took.
FAULTS = """
import resource, sys, torch
if sys.argv[1] == "keep":
    from gcflnet_lib.engine.cpu_memory import keep_freed_memory
    assert keep_freed_memory() and keep_freed_memory()  # idempotent
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    buffer = torch.ones(16 * 1024 * 1024)
    del buffer
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    return int(done.stdout.strip())


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_buffers_are_reused_instead_of_faulted_in_again():
    plain, kept = faults("plain"), faults("keep")
    pages = 64 * 1024 * 1024 // 4096
    assert plain > 15 * pages  # each round maps fresh pages: about one fault per 4 KiB page
    assert kept < plain / 2  # most rounds reuse pages already mapped (seen: 2 to 7 rounds of faults of 20)


def test_training_on_the_cpu_applies_it(monkeypatch, tmp_path):
    from gcflnet_lib.data.synthetic import write_dataset
    from gcflnet_lib.engine import trainer
    from gcflnet_lib.engine.config import TrainConfig

    calls = []
    monkeypatch.setattr(trainer, "keep_freed_memory", lambda: calls.append(1) or True)
    write_dataset(tmp_path / "data", 8, size=32, seed=0, name="Toy")
    config = TrainConfig(data_root=str(tmp_path / "data"), dataset="Toy", out_dir=str(tmp_path / "run"), model="unet",
                         channels=(4, 8), epochs=1, batch_size=2, crop_size=32, eval_every=0, device="cpu", progress=False)
    trainer.train(config)
    assert calls == [1]
