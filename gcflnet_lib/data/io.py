"""Reading and writing the image files of an IRSTD dataset.

Real datasets mix formats: NUAA-SIRST holds L, RGB and RGBA PNGs, other sets hold 16-bit images,
and masks come as 0/255 or 0/1. These functions turn all of them into one convention:

- images: ``float32 (H, W)`` on the 0..255 scale (16-bit values divided by 257, colour to luma);
- masks: ``bool (H, W)``, any value above 0 is target;
- predictions: ``float32 (H, W)`` probabilities in [0, 1].

Every failure raises :class:`gcflnet_lib.errors.DataError` whose message starts with the path.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path

import cv2
import numpy as np

from gcflnet_lib.errors import DataError

# ITU-R BT.601 luma, the weights PIL's convert("L") uses; cv2 decodes colour as B, G, R.
_LUMA_BGR = np.array([0.114, 0.587, 0.299], dtype=np.float32)
_PNG_COMPRESSION = 3  # fixed so the same array always gives the same bytes
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send what C code writes to file descriptor 2 to /dev/null for the duration.

    libpng prints its warnings (``libpng warning: iCCP: ...``) and OpenCV its decoder notes
    (``[ WARN:0] ... PNG input buffer is incomplete``) straight to the process's stderr, ahead of
    the project's own one-line error; ``cv2``'s log level reaches only the second. Python-level
    ``sys.stderr`` is untouched; the lock keeps threads from restoring each other's descriptor.
    """
    with _STDERR_LOCK:
        try:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            saved = os.dup(2)
        except OSError:  # no descriptor 2 at all: nothing to silence
            yield
            return
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, 2)
            finally:
                os.close(devnull)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _decode(path: str | os.PathLike) -> np.ndarray:
    """Decode any image file as stored (bit depth and channels kept)."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected an image file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise DataError(f"{path}: empty file, expected an image")
    with _native_stderr_silenced():
        array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None or array.size == 0:
        raise DataError(f"{path}: cannot decode image (corrupt or not an image file)")
    return array


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header(path: str | os.PathLike) -> tuple[int, int, int, int] | None:
    """``(height, width, bit depth, colour type)`` from a PNG's IHDR chunk, without decoding; None if not a PNG.

    Colour types: 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
    except OSError:
        return None
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big"), head[24], head[25]


def image_shape(path: str | os.PathLike) -> tuple[int, int]:
    """``(H, W)`` of an image file: read from the header of a PNG, by decoding anything else."""
    header = png_header(path)
    if header is not None:
        return header[0], header[1]
    return tuple(_decode(path).shape[:2])  # type: ignore[return-value]


def _to_gray(array: np.ndarray, path: Path) -> np.ndarray:
    """(H, W) or (H, W, C) as decoded by cv2 -> (H, W), colour by luma, alpha dropped."""
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[2] == 1:
        return array[:, :, 0]
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return array[:, :, :3].astype(np.float32) @ _LUMA_BGR
    raise DataError(f"{path}: unsupported image layout {array.shape}, expected gray, RGB or RGBA")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image as ``float32 (H, W)`` on the 0..255 scale.

    L, RGB and RGBA (alpha dropped; colour -> gray by ITU-R 601 luma ``0.299 R + 0.587 G + 0.114 B``);
    8-bit as is, 16-bit divided by 257 (so 65535 -> 255), float images taken as already on 0..255.
    Missing, empty or corrupt files, and float images holding NaN or infinite pixels (which would
    silently turn every prediction or loss into NaN), raise :class:`DataError` naming ``path``.
    """
    path = Path(path)
    raw = _decode(path)
    depth = raw.dtype
    if depth.kind == "f" and not np.isfinite(raw).all():
        bad = int(np.size(raw) - np.count_nonzero(np.isfinite(raw)))
        raise DataError(f"{path}: image holds {bad} non-finite pixel value(s) (NaN or infinity)")
    gray = _to_gray(raw, path).astype(np.float32, copy=False)
    if depth == np.uint16:
        gray = gray / np.float32(257.0)
    elif depth not in (np.uint8, np.float32):
        raise DataError(f"{path}: unsupported pixel type {depth}, expected 8-bit or 16-bit")
    return np.ascontiguousarray(gray, dtype=np.float32)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a ground-truth mask as ``bool (H, W)``: any value above 0 is target (0/255 and 0/1 both work).

    Colour masks count a pixel as target when any colour channel is above 0 (alpha ignored).
    """
    path = Path(path)
    raw = _decode(path)
    if raw.ndim == 3:
        raw = raw[:, :, :3].max(axis=2) if raw.shape[2] >= 3 else raw[:, :, 0]
    return np.ascontiguousarray(raw > 0)


def read_prediction_map(path: str | os.PathLike) -> np.ndarray:
    """A predicted map as stored: ``(H, W)`` uint8, uint16 or float32 (colour maps through luma, kept in their depth)."""
    path = Path(path)
    raw = _decode(path)
    gray = _to_gray(raw, path)
    if raw.dtype in (np.uint8, np.uint16) and gray.dtype != raw.dtype:
        gray = np.rint(gray).astype(raw.dtype)
    if gray.dtype not in (np.uint8, np.uint16, np.float32):
        raise DataError(f"{path}: unsupported pixel type {gray.dtype}, expected an 8-bit or 16-bit map")
    return np.ascontiguousarray(gray)


def is_binary_map(stored: np.ndarray) -> bool:
    """True for an 8-bit map that holds only 0 and 1 (a 0/1 mask rather than a probability map)."""
    return stored.dtype == np.uint8 and int(stored.max(initial=0)) <= 1


def prediction_to_probability(stored: np.ndarray, binary: bool | None = None, path: str | os.PathLike = "prediction") -> np.ndarray:
    """``float32 (H, W)`` in [0, 1] from a map of :func:`read_prediction_map`.

    ``binary=True``: any value above 0 is 1. ``binary=False``: 8-bit value/255, 16-bit value/65535, float as is.
    ``binary=None``: binary when :func:`is_binary_map`, else as ``False``.
    """
    if binary is None:
        binary = is_binary_map(stored)
    if binary:
        return (stored > 0).astype(np.float32)
    if stored.dtype == np.uint8:
        return stored.astype(np.float32) / np.float32(255.0)
    if stored.dtype == np.uint16:
        return stored.astype(np.float32) / np.float32(65535.0)
    if not (np.isfinite(stored).all() and stored.min(initial=0.0) >= 0.0 and stored.max(initial=0.0) <= 1.0):
        raise DataError(f"{path}: float prediction must hold probabilities in [0, 1]")
    return stored.astype(np.float32)


def read_prediction(path: str | os.PathLike, binary: bool | None = None) -> np.ndarray:
    """Read a predicted map as ``float32 (H, W)`` probabilities in [0, 1].

    By default (``binary=None``) 8-bit maps are probabilities scaled by 255, except maps holding only
    0 and 1, which are taken as a 0/1 mask; 16-bit maps are divided by 65535; colour maps go through luma.
    That per-file guess cannot tell a 0/1 mask from a probability map whose values are all below 2/255;
    :func:`gcflnet_lib.metrics.score_folder` therefore decides once per folder. ``binary=True`` / ``False``
    force one reading (see :func:`prediction_to_probability`).
    """
    return prediction_to_probability(read_prediction_map(path), binary, path)


def encode_png(array: np.ndarray, name: str = "array") -> bytes:
    """PNG bytes of a ``uint8`` or ``uint16`` array (H, W) or (H, W, 3|4); deterministic for equal input."""
    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{name}: expected a uint8 or uint16 array, got {array.dtype}")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(f"{name}: expected shape (H, W) or (H, W, 1|3|4), got {array.shape}")
    ok, buffer = cv2.imencode(".png", np.ascontiguousarray(array), [cv2.IMWRITE_PNG_COMPRESSION, _PNG_COMPRESSION])
    if not ok:
        raise ValueError(f"{name}: PNG encoding failed for an array of shape {array.shape}")
    return buffer.tobytes()


def write_png(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a ``uint8`` (or ``uint16``) array as a PNG at ``path``; the same array always gives the same bytes.

    The file is written directly; callers that need atomic output write into a staging folder
    (see :func:`gcflnet_lib.data.synthetic.write_dataset`).
    """
    path = Path(path)
    data = encode_png(array, name=str(path))
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise DataError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path
