"""Recognising a ``--pred`` folder that holds pictures rather than probability maps, before scoring it.

``gcflnet predict`` writes ``OUT/prob/NAME.png`` (8-bit gray probability maps) and ``OUT/overlay/NAME.png``
(RGB: the image in gray with detections in red). Scored as maps, overlays give plausible-looking
numbers (mIoU 0.25) that mean nothing. Gray maps stored as RGB or RGBA, or as a gray palette, stay
accepted: only maps whose colour channels differ are refused, and predict's overlay folder by its layout
(an overlay without detections is gray).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from gcflnet_lib.data.io import _decode, png_header
from gcflnet_lib.errors import DataError

_GRAY_COLOUR_TYPES = (0, 4)  # PNG colour types: gray, gray + alpha
# A gray map saved through a colour codec (JPEG) can differ by a level or two between channels; an
# overlay's red pixels differ by 255.
COLOUR_TOLERANCE = 16 / 255


def is_colour_picture(array: np.ndarray) -> bool:
    """True when an (H, W, 3|4) image's colour channels differ by more than :data:`COLOUR_TOLERANCE`."""
    if array.ndim != 3 or array.shape[2] < 3:
        return False
    full_scale = 1.0 if array.dtype.kind == "f" else float(np.iinfo(array.dtype).max)
    colour = array[..., :3].astype(np.float64)
    return float((colour.max(axis=-1) - colour.min(axis=-1)).max(initial=0.0)) > COLOUR_TOLERANCE * full_scale


def check_probability_maps(pred_dir: str | os.PathLike, names: Iterable[str]) -> None:
    """Refuse predict's overlay folder, or any ``NAME.png`` that is a colour picture; name the maps' folder.

    Only PNGs whose header says colour (and files that are not PNGs) are decoded, so a folder of gray
    maps costs one header read per file. Missing maps are left to the scorer, which lists them.

    Raises:
        DataError: naming the folder or the first colour map, and where probability maps are found.
    """
    pred = Path(pred_dir)
    prob = pred.parent / "prob"
    hint = f"; the probability maps of this predict output are in {prob}" if prob.is_dir() and pred.name != "prob" else ""
    if pred.name == "overlay" and hint:
        raise DataError(f"{pred}: --pred is predict's overlay folder (pictures in RGB, not probability maps){hint}")
    for name in names:
        path = pred / f"{name}.png"
        header = png_header(path) if path.is_file() else None
        if not path.is_file() or (header is not None and header[3] in _GRAY_COLOUR_TYPES):
            continue
        if is_colour_picture(_decode(path)):
            advice = hint or "; --pred needs gray maps, such as predict writes to OUT/prob and evaluate to --save-maps"
            raise DataError(f"{path}: a colour picture (its RGB channels differ), not a probability map{advice}")
