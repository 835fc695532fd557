"""One training at a time per run folder: an ``flock`` on ``RUN/.lock`` that names its holder's pid.

Two trainings into the same ``--out`` would overwrite each other's checkpoints and history with no
error. The lock is the kernel's (``fcntl.flock``), so it is released whenever the holding process
ends, ``kill -9`` included; the file itself stays behind and is simply taken again by the next run.
The holder writes its pid into the file, so the refusal can say which process to wait for.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from gcflnet_lib.files import describe_os_error
from gcflnet_lib.errors import OutputError, RunLockedError

LOCK_NAME = ".lock"


class RunLock:
    """Exclusive lock on the run folder ``out`` (created if missing) for as long as the object is held.

    Raises:
        RunLockedError: another live process holds the lock (the message names its pid).
        OutputError: the folder or the lock file cannot be created.
    """

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out)
        self.path = self.out / LOCK_NAME
        self.created = not self.out.exists()
        self.fd: int | None = None
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(describe_os_error(exc, self.out)) from None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as exc:
                raise OutputError(describe_os_error(exc, self.path)) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                who = f"pid {holder}" if holder else "another process"
                raise RunLockedError(
                    f"{self.out}: another training ({who}) is writing to this run folder; "
                    "wait for it to end or choose another --out"
                ) from None
            # The file may have been replaced between open and flock; then lock the one now in place.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        """Unlock; a folder this lock created and nobody wrote into is removed again."""
        if self.fd is None:
            return
        try:
            if self.created and {p.name for p in self.out.iterdir()} == {LOCK_NAME}:
                self.path.unlink(missing_ok=True)
                self.out.rmdir()
        except OSError:
            pass
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None
