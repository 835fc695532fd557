"""Atomic file output: write to a temporary sibling, then ``os.replace``.

A crash or an error half-way leaves either the old file or the new one, never a truncated mix,
which is what lets ``last.pt`` survive a run that dies mid-save.

Output paths are checked before any work (:func:`check_output_dir`, :func:`check_output_file`), and a
write that fails on the way (no space left, read-only file system, permission denied) raises
:class:`gcflnet_lib.errors.OutputError` naming the file, which the CLI prints as one line. Files and
folders get the modes the umask gives (0644 / 0755 by default), not ``tempfile``'s private 0600 / 0700.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import fcntl
import io
import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from gcflnet_lib.errors import OutputError, UserError


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def describe_os_error(exc: OSError, path: str | os.PathLike | None = None) -> str:
    """``PATH: cannot write (No space left on device)``: one line, the path first, the system's reason."""
    where = path if path is not None else (exc.filename if exc.filename is not None else "output")
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{where}: cannot write ({reason})"


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    return probe


def _check_writable_folder(folder: Path, path: Path, flag: str) -> None:
    """Create (and at once drop) an unnamed file in ``folder``: the surest test that files can be made there."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"{path}: {flag} cannot be written in {folder} ({exc.strerror or exc})") from None


def check_output_dir(path: str | os.PathLike, flag: str) -> Path:
    """Refuse, before any work, an output folder that cannot be made or written; nothing is created.

    Raises:
        OutputError: ``path`` is a file, lies under a file, or its nearest existing folder is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: {flag} exists and is not a folder")
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise OutputError(f"{path}: {flag} cannot be created, {existing} is a file, not a folder")
    _check_writable_folder(existing, path, flag)
    return path


def check_output_file(path: str | os.PathLike, flag: str) -> Path:
    """Refuse, before any work, an output file path that names a folder or whose folder cannot be made."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: {flag} is a folder, expected a file name")
    if str(path).endswith(os.sep):
        raise OutputError(f"{path}: {flag} ends with {os.sep}, expected a file name")
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():
        raise OutputError(f"{path}: {flag} cannot be created, {existing} is a file, not a folder")
    _check_writable_folder(existing, path, flag)
    return path


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(describe_os_error(exc, path.parent)) from None


def stage_pattern(out: Path) -> str:
    """Glob of the hidden staging folders made beside ``out`` (``.NAME.*.tmp``)."""
    return f".{glob.escape(out.name)}.*.tmp"


def make_stage(out: Path) -> tuple[Path, int]:
    """A hidden staging folder beside ``out``, mode from the umask, held by an exclusive lock.

    The lock (``flock`` on the folder itself) lives as long as the returned descriptor or the process,
    so :func:`remove_stale_stages` can tell a folder left by a killed run from one still being filled.
    """
    _make_parent(out)
    remove_stale_stages(out)
    try:
        stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    except OSError as exc:
        raise OutputError(describe_os_error(exc, out.parent)) from None
    os.chmod(stage, 0o777 & ~current_umask())
    fd = os.open(stage, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return stage, fd


def _remove_abandoned(paths: Sequence[Path], remove: Callable[[Path], Any], what: str) -> list[Path]:
    """``remove`` each of ``paths`` that no process holds an ``flock`` on (its writer died); warn for each.

    The lock is taken before removing, so a process that is still writing is never disturbed.
    """
    removed = []
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a running process holds it
        else:
            remove(path)
            removed.append(path)
            warnings.warn(f"{path}: removed {what}", stacklevel=3)
        finally:
            os.close(fd)
    return removed


def remove_stale_stages(out: str | os.PathLike) -> list[Path]:
    """Remove staging folders beside ``out`` left by a killed run (no process holds their lock); warn for each."""
    out = Path(out)
    if not out.parent.is_dir():
        return []
    stages = [p for p in sorted(out.parent.glob(stage_pattern(out))) if p.is_dir() and not p.is_symlink()]
    return _remove_abandoned(stages, lambda stage: shutil.rmtree(stage, ignore_errors=True),
                             "a staging folder left by an interrupted run")


def temp_pattern(path: Path) -> str:
    """Glob of the temporary siblings :func:`atomic_write` makes for ``path`` (``.NAME.*.tmp``)."""
    return f".{glob.escape(path.name)}.*.tmp"


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temporary siblings of ``path`` left by a killed write (no process holds their lock); warn for each.

    A ``kill -9`` during :func:`atomic_write` leaves ``.NAME.<random>.tmp`` behind, as big as the file it was
    writing (a checkpoint). A live write holds an ``flock`` on its temporary file, so only dead ones go.
    Staging folders share the pattern; :func:`remove_stale_stages` owns them.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    temps = [p for p in sorted(path.parent.glob(temp_pattern(path))) if p.is_file() and not p.is_symlink()]
    return _remove_abandoned(temps, lambda temp: temp.unlink(missing_ok=True),
                             "a temporary file left by an interrupted write")


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(binary_file)`` on a temporary sibling of ``path``, fsync it, then move it over ``path``.

    The temporary file is locked (``flock``) until it has replaced ``path``, so that
    :func:`remove_stale_temps`, run first here, removes only what killed writes left behind.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, expected a file name")
    _make_parent(path)
    remove_stale_temps(path)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(describe_os_error(exc, path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp_name, path)  # still locked: never taken for a dead write's leftover
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError) and not isinstance(exc, UserError):
            raise OutputError(describe_os_error(exc, path)) from exc
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
def naming_target(stage: Path, out: Path) -> Iterator[None]:
    """Errors raised inside name ``out`` where they would name its hidden staging folder ``stage``.

    The user asked for ``out``; ``.out.<random>.tmp/prob/a.png: cannot write (No space left on device)``
    names a folder that is gone by the time the message is read.
    """
    try:
        yield
    except UserError as exc:
        text = str(exc)
        if str(stage) not in text:
            raise
        raise type(exc)(text.replace(str(stage), str(out))) from exc
    except OSError as exc:
        name = os.fspath(exc.filename) if exc.filename is not None else str(out)
        if name.startswith(str(stage)):
            name = str(out) + name[len(str(stage)):]
        raise OutputError(describe_os_error(exc, name)) from exc


def refuse_filled(out: str | os.PathLike, flag: str, overwrite: bool, what: str = "files") -> None:
    """Refuse an existing ``out`` folder that holds anything, unless ``overwrite`` (files of other names stay).

    Raises:
        OutputError: naming ``out`` and ``--overwrite``.
    """
    out = Path(out)
    if not overwrite and out.is_dir() and any(out.iterdir()):
        raise OutputError(f"{out}: {flag} already holds files; pass --overwrite to replace {what} of the same names")


@contextlib.contextmanager
def staged_directory(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``out``; on success its files are moved into ``out``.

    If ``out`` does not exist the whole folder is renamed in one step; otherwise each file is moved
    with ``os.replace`` (files already in ``out`` with other names are kept). On error the staging
    folder is removed and ``out`` is untouched. A staging folder left by a killed run is removed by the
    next one (see :func:`remove_stale_stages`). Failed writes raise ``OutputError`` naming the path in
    ``out`` (never the staging folder's).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    stage, lock_fd = make_stage(out)
    try:
        with naming_target(stage, out):
            yield stage
        try:
            if not out.exists():
                os.replace(stage, out)
                return
            if not out.is_dir():
                raise OutputError(f"{out}: exists and is not a folder")
            for item in sorted(stage.rglob("*")):
                if item.is_file():
                    target = out / item.relative_to(stage)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(item, target)
        except OSError as exc:
            if isinstance(exc, UserError):
                raise
            raise OutputError(describe_os_error(exc, out)) from exc
    finally:
        os.close(lock_fd)
        shutil.rmtree(stage, ignore_errors=True)
