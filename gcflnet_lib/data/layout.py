"""The standard IRSTD folder layout (used by BasicIRSTD, DNANet, MSHNet and this project's synthetic sets)::

    ROOT/images/NAME.png                 image (also .bmp, .jpg, .jpeg, .tif, .tiff)
    ROOT/masks/NAME.png                  binary mask, same size as the image
    ROOT/img_idx/train_<DATASET>.txt     one NAME per line (no extension)
    ROOT/img_idx/test_<DATASET>.txt

Masks named ``NAME_pixels0.png`` (the original SIRST release) are accepted too.
Every lookup failure raises :class:`gcflnet_lib.errors.DataError` whose message starts with the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from gcflnet_lib.errors import DataError

IMAGE_DIR = "images"
MASK_DIR = "masks"
SPLIT_DIR = "img_idx"
IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
_MASK_SUFFIXES = (".png", "_pixels0.png")


def split_file(root: str | os.PathLike, dataset: str, split: str) -> Path:
    """Path of the split list: ``ROOT/img_idx/{split}_{dataset}.txt``."""
    return Path(root) / SPLIT_DIR / f"{split}_{dataset}.txt"


def _strip_extension(name: str) -> str:
    lowered = name.lower()
    for extension in IMAGE_EXTENSIONS:
        if lowered.endswith(extension):
            return name[: -len(extension)]
    return name


def read_split(root: str | os.PathLike, dataset: str, split: str) -> list[str]:
    """Image names (no extension) listed in ``ROOT/img_idx/{split}_{dataset}.txt``, in file order.

    Blank lines are skipped and a trailing image extension is dropped. A missing file, a file that
    lists no name, or a name listed twice raises :class:`DataError` naming the split file.
    """
    path = split_file(root, dataset, split)
    if not Path(root).is_dir():
        raise DataError(f"{root}: dataset folder not found")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a split file (one image name per line)")
    if not path.is_file():
        found = sorted(p.name for p in (Path(root) / SPLIT_DIR).glob("*.txt")) if path.parent.is_dir() else []
        hint = f" (found: {', '.join(found[:6])})" if found else f" (no split files in {path.parent})"
        raise DataError(f"{path}: split file not found{hint}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read split file ({exc})") from None
    names = [_strip_extension(line.strip()) for line in text.splitlines() if line.strip()]
    if not names:
        raise DataError(f"{path}: split file is empty, expected one image name per line")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"{path}: image name {name!r} is listed twice")
        seen.add(name)
    return names


def _first_existing(folder: Path, name: str, suffixes) -> Path | None:
    """``folder/NAME+suffix`` for the first suffix whose file exists, else None."""
    for suffix in suffixes:
        candidate = folder / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def find_image(root: str | os.PathLike, name: str) -> Path:
    """``ROOT/images/NAME.png`` (or the first of .bmp, .jpg, .jpeg, .tif, .tiff that exists)."""
    folder = Path(root) / IMAGE_DIR
    found = _first_existing(folder, name, IMAGE_EXTENSIONS)
    if found is not None:
        return found
    raise DataError(f"{folder / name}.png: image not found (also tried {', '.join(IMAGE_EXTENSIONS[1:])})")


def find_mask(root: str | os.PathLike, name: str) -> Path:
    """``ROOT/masks/NAME.png`` (or ``NAME_pixels0.png``); missing -> :class:`DataError` naming mask and image."""
    folder = Path(root) / MASK_DIR
    found = _first_existing(folder, name, _MASK_SUFFIXES)
    if found is not None:
        return found
    try:
        image = str(find_image(root, name))
    except DataError:
        image = name
    raise DataError(f"{folder / name}.png: mask missing for image {image}")
