"""Atomic file output: write to a temporary sibling, then ``os.replace``.

A crash or an error half-way leaves either the old file or the new one, never a truncated mix,
which is what lets ``last.pt`` survive a run that dies mid-save.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(binary_file)`` on a temporary sibling of ``path``, fsync it, then move it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def json_safe(value: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python numbers, tuples -> lists, recursively (strict JSON)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """``data`` as strict JSON (NaN/inf written as null)."""
    return atomic_write_text(path, json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")


def atomic_write_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> Path:
    """Rows of dicts as CSV; the header is the union of keys in first-seen order."""
    fieldnames: list[str] = []
    for row in rows:
        fieldnames.extend(key for key in row if key not in fieldnames)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


@contextlib.contextmanager
def staged_directory(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``out``; on success its files are moved into ``out``.

    If ``out`` does not exist the whole folder is renamed in one step; otherwise each file is moved
    with ``os.replace`` (files already in ``out`` with other names are kept). On error the staging
    folder is removed and ``out`` is untouched.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        yield stage
        if not out.exists():
            os.replace(stage, out)
            return
        if not out.is_dir():
            raise NotADirectoryError(f"{out}: exists and is not a folder")
        for item in sorted(stage.rglob("*")):
            if item.is_file():
                target = out / item.relative_to(stage)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
