"""Outputs never overwrite inputs: each command checks its output paths against the files it reads.

``gcflnet evaluate --save-maps D/masks`` once replaced a dataset's ground truth with probability maps,
and ``--json R/final.pt`` the checkpoint just read, both with exit status 0. Every command now lists
its inputs (the checkpoint, the dataset's ``images/``, ``masks/`` and ``img_idx/``, the ``--pred`` or
``--input`` folder, a run's own files) and refuses, before any work, an output that is one of them or
lies inside one, naming both paths. Paths are compared after resolving links (``os.path.realpath``),
so a link to the masks folder is the masks folder. ``--overwrite`` never lifts this refusal.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from gcflnet_lib.data.layout import IMAGE_DIR, MASK_DIR, SPLIT_DIR
from gcflnet_lib.errors import OutputError


class Input(NamedTuple):
    """A path a command reads, and how a message names it (``"the dataset's masks folder"``)."""

    what: str
    path: Path


def resolved(path: str | os.PathLike) -> Path:
    """``path`` with every link followed; a path that does not exist yet resolves through its existing part."""
    return Path(os.path.realpath(os.fspath(path)))


def within(path: Path, folder: Path) -> bool:
    """True when the resolved ``path`` is ``folder`` or lies inside it (both already resolved)."""
    return path == folder or folder in path.parents


def first_overlap(output: str | os.PathLike, inputs: Iterable[Input]) -> Input | None:
    """The first input that ``output`` is or lies inside, else None."""
    target = resolved(output)
    return next((item for item in inputs if within(target, resolved(item.path))), None)


def refuse_overlap(output: str | os.PathLike | None, flag: str, inputs: Sequence[Input], kind: str = "file") -> None:
    """Refuse an output path that is, or lies inside, one of ``inputs``; ``None`` (flag not given) passes.

    Raises:
        OutputError: ``PATH: --json is the checkpoint run/final.pt; choose another file``.
    """
    if output is None:
        return
    hit = first_overlap(output, inputs)
    if hit is not None:
        relation = "is" if resolved(output) == resolved(hit.path) else "lies inside"
        raise OutputError(f"{output}: {flag} {relation} {hit.what} {hit.path}; choose another {kind}")


def refuse_written_inputs(out: str | os.PathLike, flag: str, targets: Iterable[Path], inputs: Sequence[Input]) -> None:
    """Refuse when a file the command will write into ``out`` would land on an input.

    This catches what :func:`refuse_overlap` cannot see from the folder alone, e.g. ``predict --input
    P/prob --out P``, whose maps ``P/prob/NAME.png`` are the input images. A target is resolved through
    its folder only: ``os.replace`` replaces a link, never the file it points to.
    """
    folders = [(item, resolved(item.path)) for item in inputs]
    for target in targets:
        where = resolved(target.parent) / target.name
        for item, folder in folders:
            if within(where, folder):
                raise OutputError(f"{out}: {flag} would write {target} over {item.what} {item.path}; choose another folder")


def dataset_inputs(root: str | os.PathLike) -> list[Input]:
    """The folders of a standard-layout dataset that commands read: images, masks and split lists."""
    root = Path(root)
    return [Input("the dataset's images folder", root / IMAGE_DIR), Input("the dataset's masks folder", root / MASK_DIR),
            Input("the dataset's split folder", root / SPLIT_DIR)]
