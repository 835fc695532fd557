"""Compact copies of a dataset for a GPU lease, read back as the original within float32 rounding.

The device machine receives the working tree and the carried folders, 64 MiB in all. NUDT-SIRST is 42 MiB
of 8-bit RGB PNGs whose three channels are equal, which is the tree's whole margin. Such an image holds
one gray plane three times; stored as a one-channel PNG it takes about 30 % less. :func:`read_image`
reads the original as ``0.114 B + 0.587 G + 0.299 R`` in float32, which for equal channels is the gray
value to within 1.53e-5 (the weights' float32 sum is not exactly 1), and the copy as the gray value
itself. Images whose channels differ (159 of NUAA-SIRST's) and all masks are copied byte for byte.

``pack_dataset`` writes the copy of the images and masks that the split files list, and ``verify_pack``
reads every pair back through the project's own readers (``scripts/pack_campaign_data.py`` runs both).

Even so, NUDT-SIRST's two splits (14 MiB each) and the tracked tree do not fit the 64 MiB together. With
``test_images=N`` the copy keeps the whole training split and only N test images, spread evenly over the
test split (:func:`even_subset`); its ``img_idx/test_*.txt`` lists those N, and ``carried.json`` says how many
of how many were carried (:func:`carried_test`), so that whatever scores on the copy can say its test
metrics are on part of the split. The full test split is then scored on the CPU from the returned weights.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from gcflnet_lib.data.io import _decode, read_image, read_mask
from gcflnet_lib.data.layout import find_image, find_mask, read_split

# |read_image(RGB with equal channels) - gray| over 0..255: the float32 luma weights sum to 1 - 6e-8.
LUMA_ROUNDING = 2e-5
CARRIED_NOTE = "carried.json"  # in a copy: how many of the test split's images it holds
_PNG_BEST = [cv2.IMWRITE_PNG_COMPRESSION, 9]


def gray_plane(raw: np.ndarray) -> np.ndarray | None:
    """The one plane of a decoded 8-bit colour image whose colour channels are all equal, else None.

    Gray images (nothing to gain) and 16-bit or differing colour images give None: they are copied as they are.
    """
    if raw.dtype != np.uint8 or raw.ndim != 3 or raw.shape[2] not in (3, 4):
        return None
    b, g, r = raw[:, :, 0], raw[:, :, 1], raw[:, :, 2]
    return np.ascontiguousarray(b) if np.array_equal(b, g) and np.array_equal(g, r) else None


@dataclass
class PackReport:
    """What ``pack_dataset`` wrote: file counts and byte totals of the source and the copy."""

    dataset: str
    images: int = 0
    gray: int = 0  # images stored as one plane
    source_bytes: int = 0
    packed_bytes: int = 0
    test_images: int = 0  # test images carried
    test_total: int = 0  # test images in the source's split
    max_difference: float | None = None  # filled by ``verify_pack``
    copied: list[str] = field(default_factory=list)  # images kept byte for byte

    def line(self) -> str:
        checked = "" if self.max_difference is None else f"; read back within {self.max_difference:.3g} of the original"
        part = ("" if self.test_images >= self.test_total else
                f"; test split: {self.test_images} of {self.test_total} images carried")
        return (f"{self.dataset}: {self.images} images ({self.gray} as one gray plane, {len(self.copied)} copied), "
                f"{self.source_bytes / 2**20:.1f} MiB -> {self.packed_bytes / 2**20:.1f} MiB{part}{checked}")


def even_subset(names: list[str], count: int | None) -> list[str]:
    """``count`` of ``names`` spread evenly over the list (the first always), in list order; all for None or more."""
    if count is None or count >= len(names):
        return list(names)
    if count < 1:
        raise ValueError(f"test_images must be at least 1, got {count}")
    step = len(names) / count
    return [names[int(i * step)] for i in range(count)]


def carried_test(root: str | Path, dataset: str) -> tuple[int, int]:
    """``(test images in the copy at root, test images of the original split)``: equal unless the copy was packed
    with ``test_images`` (``carried.json``), and for a folder that is no copy."""
    carried = len(read_split(root, dataset, "test"))
    note = Path(root) / CARRIED_NOTE
    if note.is_file():
        return carried, int(json.loads(note.read_text())["test_total"])
    return carried, carried


def _names(root: Path, dataset: str, test_images: int | None = None) -> list[str]:
    test = even_subset(read_split(root, dataset, "test"), test_images)
    return list(dict.fromkeys(read_split(root, dataset, "train") + test))


def pack_dataset(source: str | Path, target: str | Path, dataset: str, test_images: int | None = None) -> PackReport:
    """Write the compact copy of ``source`` (standard layout) to ``target``; returns what was written.

    ``test_images``: carry only that many of the test split (:func:`even_subset`), all by default. Image and
    mask files in ``target`` that the copy does not list (an earlier pack's) are removed.
    """
    source, target = Path(source), Path(target)
    report = PackReport(dataset)
    for folder in ("images", "masks", "img_idx"):
        (target / folder).mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        name = f"img_idx/{split}_{dataset}.txt"
        shutil.copyfile(source / name, target / name)
        report.source_bytes += (source / name).stat().st_size
    test = read_split(source, dataset, "test")
    carried = even_subset(test, test_images)
    report.test_images, report.test_total = len(carried), len(test)
    if len(carried) < len(test):
        (target / f"img_idx/test_{dataset}.txt").write_text("\n".join(carried) + "\n")
    note = {"dataset": dataset, "train_images": len(read_split(source, dataset, "train")), "test_images": len(carried),
            "test_total": len(test), "test_subset": "evenly spaced over the test split (compact.even_subset)"}
    (target / CARRIED_NOTE).write_text(json.dumps(note, indent=2) + "\n")
    kept: set[Path] = set()
    for name in _names(source, dataset, test_images):
        image, mask = find_image(source, name), find_mask(source, name)
        plane = gray_plane(_decode(image))
        if plane is not None:
            written = target / "images" / f"{name}.png"
            ok, encoded = cv2.imencode(".png", plane, _PNG_BEST)
            if not ok:
                raise OSError(f"{image}: could not encode the gray plane")
            written.write_bytes(encoded.tobytes())
            report.gray += 1
        else:
            written = target / "images" / image.name
            shutil.copyfile(image, written)
            report.copied.append(name)
        shutil.copyfile(mask, target / "masks" / mask.name)
        kept.update((written, target / "masks" / mask.name))
        report.images += 1
        report.source_bytes += image.stat().st_size + mask.stat().st_size
    for folder in ("images", "masks"):  # an earlier pack's files that this copy does not list would travel too
        for path in (target / folder).iterdir():
            if path.is_file() and path not in kept:
                path.unlink()
    report.packed_bytes = folder_bytes(target)
    return report


def verify_pack(source: str | Path, target: str | Path, dataset: str, report: PackReport | None = None) -> float:
    """The largest pixel difference between the original and the copy as the project reads them.

    A copy packed with ``test_images`` is checked against that part of the source's test split.

    Raises:
        ValueError: a split differs, a mask differs at all, or an image by more than ``LUMA_ROUNDING``.
    """
    source, target = Path(source), Path(target)
    worst = 0.0
    carried, total = carried_test(target, dataset)
    if total != len(read_split(source, dataset, "test")):
        raise ValueError(f"{target}: {CARRIED_NOTE} counts {total} test images, {source} lists "
                         f"{len(read_split(source, dataset, 'test'))}")
    expected = {"train": read_split(source, dataset, "train"),
                "test": even_subset(read_split(source, dataset, "test"), carried)}
    for split in ("train", "test"):
        if expected[split] != read_split(target, dataset, split):
            raise ValueError(f"{target}: the {split} split differs from {source}'s")
    for name in _names(source, dataset, carried):
        if not np.array_equal(read_mask(find_mask(source, name)), read_mask(find_mask(target, name))):
            raise ValueError(f"{target}: mask {name} differs from the original")
        original, packed = read_image(find_image(source, name)), read_image(find_image(target, name))
        difference = float(np.abs(original - packed).max()) if original.shape == packed.shape else float("inf")
        if difference > LUMA_ROUNDING:
            raise ValueError(f"{target}: image {name} reads {difference:.3g} away from the original")
        worst = max(worst, difference)
    if report is not None:
        report.max_difference = worst
    return worst


def folder_bytes(folder: str | Path) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())
