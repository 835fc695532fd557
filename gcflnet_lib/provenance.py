"""Where a number came from: the exact command, the git commit and the device, stored with every result.

``results/*.json`` files (``gcflnet train --record``, ``gcflnet bench --json``) carry these fields so the
README's table (``scripts/results_table.py``) can name the command and device behind each number.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from gcflnet_lib.files import atomic_write_text


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed (``gcflnet train ...``), quoted so it can be pasted back into a shell."""
    argv = sys.argv if argv is None else argv
    program = Path(argv[0]).name if argv else "gcflnet"
    if program in ("__main__.py", "-m"):
        program = "python -m gcflnet_lib"
    return " ".join([program, *map(shlex.quote, argv[1:])])


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """HEAD of the repository holding ``cwd`` (default: this package), with ``-dirty`` when files changed.

    A copy of the tree without ``.git`` (the GPU machine gets one) names its commit in ``GCFLNET_GIT_COMMIT``.
    """
    if os.environ.get("GCFLNET_GIT_COMMIT"):
        return os.environ["GCFLNET_GIT_COMMIT"]
    cwd = cwd or Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_description(device: torch.device | str) -> str:
    """``"NVIDIA H100 80GB HBM3"`` for a GPU, ``"cpu (x86_64, 2 cores)"`` for the CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def provenance(device: torch.device | str, command: str | None = None) -> dict[str, Any]:
    """``command`` defaults to this process's ``sys.argv``; the CLI passes the exact ``gcflnet ...`` line."""
    return {
        "command": command or command_line(),
        "git_commit": git_commit(),
        "device": device_description(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex): which checkpoint a score belongs to, even after a name is re-pointed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def replace_generated_block(path: str | os.PathLike, begin: str, end: str, block: str) -> None:
    """Put ``block`` between the markers ``begin`` and ``end`` of the text file ``path`` (README tables, model card).

    The generated tables of the docs live between such markers, so a script can rewrite its table from the
    records without touching the prose around it. The file is replaced atomically.

    Raises:
        ValueError: a marker is missing or the end comes before the begin; the message names the file.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"{path}: needs the markers {begin} and {end}, in that order, around its generated block")
    atomic_write_text(path, text[: start + len(begin)] + "\n" + block + "\n" + text[stop:])
