"""Synthetic infrared small target data, NUDT-SIRST style: small targets rendered on procedural clutter.

Each image is drawn from its own generator ``np.random.default_rng([seed, index])``, so image ``i`` is
the same whatever ``n`` is and images can be made in any order or in parallel; the same seed gives
byte-identical files.

**Clutter** (``_render_clutter``; every piece vectorised with numpy/OpenCV): a base level, an optional
tilted horizon with sky and ground gradients, cloud fractal noise (random grids of growing resolution
resized with ``cv2.resize`` and summed), sea glint (sparse specks stretched along the horizon), building
edges (a skyline of flat blocks), then column/row stripe noise and Gaussian sensor noise.

**Targets** (``_render_target``): 0 to ``max_targets`` per image, area drawn log-uniformly from
``area_range`` (1-80 px), each a Gaussian point, a rotated flat-topped ellipse or an irregular blob.
Each is added with amplitude set by the **signal-to-clutter ratio**
``SCR = (mean target intensity - mean local background) / std of local background``, drawn uniformly from
``scr_range``; the local background is a window around the target. The **mask** marks the pixels where the
rendered target exceeds ``mask_fraction`` of its peak, so, as in NUDT-SIRST, it covers what is visible.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from gcflnet_lib.data.dataset import Sample
from gcflnet_lib.data.io import write_png
from gcflnet_lib.data.layout import IMAGE_DIR, MASK_DIR, SPLIT_DIR
from gcflnet_lib.errors import UserError
from gcflnet_lib.files import make_stage, naming_target

GENERATOR_VERSION = 1  # bump when the rendering changes, so old folders can be told apart
TARGET_COUNT_PROBS = (0.10, 0.35, 0.25, 0.18, 0.12)  # P(0 targets), ..., P(4 targets)
_MIN_BACKGROUND_STD = 1.5 / 255  # floor for the SCR denominator, so targets on flat sky stay visible


def sample_name(index: int) -> str:
    """File name (no extension) of synthetic image ``index``: zero-padded to 6 digits, like NUDT-SIRST."""
    return f"{index:06d}"


def _sample_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index)])


# ----------------------------------------------------------------------------- clutter


def _fractal_noise(rng: np.random.Generator, shape: tuple[int, int], coarsest: int, octaves: int, persistence: float) -> np.ndarray:
    """Zero-mean, unit-std fractal noise (H, W): random grids of ``coarsest * 2**k`` cells, upsampled and summed."""
    height, width = shape
    longest = max(height, width)
    total = np.zeros(shape, dtype=np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        cells = coarsest * 2**octave  # along the longer side
        grid_shape = (max(2, cells * height // longest + 1), max(2, cells * width // longest + 1))
        grid = rng.standard_normal(grid_shape, dtype=np.float32)
        total += np.float32(amplitude) * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        amplitude *= persistence
    total -= total.mean()
    return total / max(float(total.std()), 1e-6)


def _horizon_weight(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray, height: int) -> np.ndarray:
    """0 above a tilted horizon, 1 below it, with a soft 1-3 px transition."""
    row = rng.uniform(0.3, 0.8) * height
    slope = rng.normal(0.0, 0.05)
    softness = rng.uniform(0.5, 2.0)
    distance = np.clip((rows - row - slope * cols) / softness, -30.0, 30.0)
    return (1.0 / (1.0 + np.exp(-distance))).astype(np.float32)


def _sea_glint(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Sparse specks stretched horizontally, grouped in patches; peak about 1."""
    specks = (rng.random(shape, dtype=np.float32) < rng.uniform(0.002, 0.01)) * rng.random(shape, dtype=np.float32)
    glint = cv2.GaussianBlur(specks, (0, 0), sigmaX=rng.uniform(1.0, 3.0), sigmaY=rng.uniform(0.3, 0.7))
    glint /= max(float(glint.max()), 1e-6)
    patches = np.clip(_fractal_noise(rng, shape, 3, 3, 0.5) * 0.5 + 0.5, 0.0, 1.0)
    return glint * patches


def _skyline(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Flat blocks rising from the bottom edge (building edges); values in [-1, 1] on the blocks, 0 elsewhere."""
    height, width = shape
    layer = np.zeros(shape, dtype=np.float32)
    left = int(rng.integers(0, max(1, width // 4)))
    while left < width:
        block_width = int(rng.uniform(0.05, 0.2) * width) + 1
        top = int(height * (1.0 - rng.uniform(0.1, 0.45)))
        layer[top:, left : left + block_width] = rng.uniform(-1.0, 1.0)
        left += block_width + int(rng.integers(0, max(1, width // 10)))
    return layer


def _render_clutter(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Background scene float32 (H, W) on the 0..1 scale, sensor noise included."""
    height, width = shape
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    scene = np.zeros(shape, dtype=np.float32)
    scene += np.float32(rng.uniform(0.0, 0.3)) * rows / height  # vertical gradient (atmosphere)
    scene += np.float32(0.15) * _fractal_noise(rng, shape, 2, 2, 0.5)  # large, smooth variation

    below = _horizon_weight(rng, rows, cols, height) if rng.random() < 0.5 else np.zeros(shape, dtype=np.float32)
    scene += np.float32(rng.uniform(-0.4, 0.4)) * below
    if rng.random() < 0.7:
        cover = rng.uniform(-0.5, 1.0)
        clouds = np.clip(_fractal_noise(rng, shape, 3, 5, rng.uniform(0.45, 0.65)) - cover, 0.0, None)
        scene += np.float32(rng.uniform(0.1, 0.5)) * clouds * (1.0 - below)
    if below.any() and rng.random() < 0.5:
        scene += np.float32(rng.uniform(0.2, 0.6)) * _sea_glint(rng, shape) * below
    if rng.random() < 0.3:
        scene += np.float32(rng.uniform(0.2, 0.5)) * _skyline(rng, shape)

    # Scale the scene into a random window of the sensor range, leaving headroom for bright targets.
    low = rng.uniform(0.05, 0.35)
    high = low + rng.uniform(0.15, 0.45)
    span = float(scene.max() - scene.min())
    scene = low + (scene - scene.min()) * np.float32((high - low) / span if span > 0 else 0.0)

    if rng.random() < 0.5:
        scene += rng.normal(0.0, rng.uniform(0.002, 0.012), size=(1, width)).astype(np.float32)  # column stripes
    if rng.random() < 0.3:
        scene += rng.normal(0.0, rng.uniform(0.002, 0.008), size=(height, 1)).astype(np.float32)  # row stripes
    scene += rng.standard_normal(shape, dtype=np.float32) * np.float32(rng.uniform(0.004, 0.02))
    return scene


# ----------------------------------------------------------------------------- targets


def _render_target(rng: np.random.Generator, area: float, mask_fraction: float) -> np.ndarray:
    """A target profile on its own square patch, float32 with peak 1 at the centre region.

    The profile equals ``mask_fraction`` on the boundary of a shape of about ``area`` pixels, so the
    mask ``profile >= mask_fraction * peak`` has about that area.
    """
    log_inverse = math.log(1.0 / mask_fraction)
    kind = rng.choice(3, p=(0.4, 0.3, 0.3))  # Gaussian point, ellipse, irregular blob
    aspect = 1.0 if kind == 0 else rng.uniform(1.0, 2.5)
    radius = math.sqrt(area / math.pi)
    half = int(math.ceil(2.5 * radius * math.sqrt(aspect))) + 2
    offset = rng.uniform(-0.5, 0.5, size=2)  # sub-pixel centre
    grid = np.arange(-half, half + 1, dtype=np.float32)
    dy = grid[:, None] - np.float32(offset[0])
    dx = grid[None, :] - np.float32(offset[1])
    if kind == 0:
        sigma_squared = area / (2.0 * math.pi * log_inverse)
        return np.exp(-(dx * dx + dy * dy) / np.float32(2.0 * sigma_squared)).astype(np.float32)
    angle = rng.uniform(0.0, math.pi)
    along = dx * np.float32(math.cos(angle)) + dy * np.float32(math.sin(angle))
    across = -dx * np.float32(math.sin(angle)) + dy * np.float32(math.cos(angle))
    semi_major, semi_minor = radius * math.sqrt(aspect), radius / math.sqrt(aspect)
    r = np.sqrt((along / np.float32(semi_major)) ** 2 + (across / np.float32(semi_minor)) ** 2)
    if kind == 2:
        phase = np.arctan2(across, along)
        wobble = sum(rng.uniform(0.0, 0.22) * np.cos(k * phase + rng.uniform(0.0, 2 * math.pi)) for k in (2, 3, 4))
        r = r / (1.0 + wobble)
    sharpness = rng.uniform(2.0, 5.0)  # 2: soft Gaussian-like edge, 5: flat top with a crisp edge
    profile = np.exp(-np.float32(log_inverse) * r**sharpness).astype(np.float32)
    return cv2.GaussianBlur(profile, (0, 0), 0.5)


def _place(rng: np.random.Generator, shape: tuple[int, int], footprint: np.ndarray, taken: list[tuple[int, int, float]]):
    """A centre that keeps the whole mask ``footprint`` inside the image and clear of earlier targets, or None.

    Returns ``(row, col, reach)``, ``reach`` being the footprint's largest extent from the patch centre.
    """
    height, width = shape
    half = footprint.shape[0] // 2
    rows, cols = np.flatnonzero(footprint.any(axis=1)) - half, np.flatnonzero(footprint.any(axis=0)) - half
    reach = float(max(-rows[0], rows[-1], -cols[0], cols[-1]))
    row_range = (-rows[0], height - rows[-1])  # [low, high) for the centre row
    col_range = (-cols[0], width - cols[-1])
    if row_range[0] >= row_range[1] or col_range[0] >= col_range[1]:
        return None
    for _ in range(20):
        row, col = int(rng.integers(*row_range)), int(rng.integers(*col_range))
        if all(math.hypot(row - r, col - c) > reach + other + 3 for r, c, other in taken):
            return row, col, reach
    return None


def _patch_slices(centre: tuple[int, int], half: int, shape: tuple[int, int]):
    """Image and patch slices of a (2*half+1)-square patch centred at ``centre``, clipped to the image."""
    slices = []
    for position, length in zip(centre, shape):
        start, stop = position - half, position + half + 1
        slices.append((slice(max(start, 0), min(stop, length)), slice(max(start, 0) - start, 2 * half + 1 - (stop - min(stop, length)))))
    (image_rows, patch_rows), (image_cols, patch_cols) = slices
    return (image_rows, image_cols), (patch_rows, patch_cols)


def render_sample(
    rng: np.random.Generator,
    size: int | tuple[int, int] = 256,
    *,
    scr_range: tuple[float, float] = (3.0, 15.0),
    area_range: tuple[float, float] = (1.0, 80.0),
    max_targets: int = 4,
    mask_fraction: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one image and its mask: ``(image uint8 (H, W), mask uint8 (H, W) with values 0/255)``.

    ``size``: side length, or ``(H, W)``. ``scr_range``: signal-to-clutter ratios drawn uniformly per target.
    ``area_range``: target areas in px (log-uniform). ``max_targets``: 0..max targets per image
    (the default 4 uses :data:`TARGET_COUNT_PROBS`). ``mask_fraction``: mask = rendered target above this
    fraction of its peak.
    """
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if height < 8 or width < 8:
        raise ValueError(f"size: expected at least 8 x 8 pixels, got {height} x {width}")
    if not 0 < scr_range[0] <= scr_range[1]:
        raise ValueError(f"scr_range: expected 0 < low <= high, got {scr_range}")
    if not 1 <= area_range[0] <= area_range[1]:
        raise ValueError(f"area_range: expected 1 <= low <= high px, got {area_range}")
    if not 0 < mask_fraction < 1:
        raise ValueError(f"mask_fraction: expected a fraction in (0, 1), got {mask_fraction}")
    if max_targets < 0:
        raise ValueError(f"max_targets: expected 0 or more, got {max_targets}")
    shape = (height, width)
    image = _render_clutter(rng, shape)
    background = image.copy()  # SCR is measured on the clutter alone
    mask = np.zeros(shape, dtype=bool)

    probs = TARGET_COUNT_PROBS if max_targets == len(TARGET_COUNT_PROBS) - 1 else np.full(max_targets + 1, 1 / (max_targets + 1))
    n_targets = int(rng.choice(max_targets + 1, p=probs))
    taken: list[tuple[int, int, float]] = []
    for _ in range(n_targets):
        area = math.exp(rng.uniform(math.log(area_range[0]), math.log(area_range[1])))
        profile = _render_target(rng, area, mask_fraction)
        footprint = profile >= np.float32(mask_fraction) * profile.max()
        placed = _place(rng, shape, footprint, taken)
        if placed is None:
            continue
        taken.append(placed)
        half = profile.shape[0] // 2
        inside, part = _patch_slices(placed[:2], half, shape)
        rows, cols = inside
        window = background[max(0, rows.start - 8) : rows.stop + 8, max(0, cols.start - 8) : cols.stop + 8]
        clutter_std = max(float(window.std()), _MIN_BACKGROUND_STD)
        scr = rng.uniform(*scr_range)
        amplitude = scr * clutter_std / float(profile[footprint].mean())
        image[inside] += np.float32(amplitude) * profile[part]
        mask[inside] |= footprint[part]

    image_u8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    return image_u8, mask.astype(np.uint8) * np.uint8(255)


def _render_index(seed: int, index: int, size, options: dict) -> tuple[np.ndarray, np.ndarray]:
    return render_sample(_sample_rng(seed, index), size, **options)


def make_samples(n: int, size: int | tuple[int, int] = 256, seed: int = 0, **render_options) -> list[Sample]:
    """``n`` synthetic samples in memory, the same images :func:`write_dataset` writes for this seed.

    Images come back as float32 on the 0..255 scale and masks as bool, like :func:`load_split`.
    ``render_options`` go to :func:`render_sample`.
    """
    if n < 0:
        raise ValueError(f"n: expected 0 or more images, got {n}")
    if seed < 0:
        raise ValueError(f"seed: expected 0 or more, got {seed}")
    samples = []
    for index in range(n):
        image, mask = _render_index(seed, index, size, render_options)
        samples.append(Sample(sample_name(index), image.astype(np.float32), mask > 0))
    return samples


def _write_indices(stage: str, seed: int, size, options: dict, indices: Iterable[int], in_worker: bool = False) -> None:
    if in_worker:
        cv2.setNumThreads(1)  # parallelism comes from the worker processes
    for index in indices:
        image, mask = _render_index(seed, index, size, options)
        write_png(Path(stage) / IMAGE_DIR / f"{sample_name(index)}.png", image)
        write_png(Path(stage) / MASK_DIR / f"{sample_name(index)}.png", mask)


def _split_sizes(n: int, test_fraction: float) -> tuple[int, int]:
    if not 0 < test_fraction < 1:
        raise UserError(f"--test-fraction must be a fraction in (0, 1) (got {test_fraction})")
    if n < 2:
        raise UserError(f"--n must be at least 2, one image per split (got {n})")
    n_test = min(max(1, round(n * test_fraction)), n - 1)
    return n - n_test, n_test


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: --out exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out}: --out folder exists and is not empty; pass --overwrite to replace it")


def _swap_into_place(stage: Path, out: Path) -> None:
    """Move the finished ``stage`` folder to ``out``; an existing ``out`` is replaced only once ``stage`` is complete."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        os.replace(stage, out)
        return
    backup = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
    os.replace(out, backup / "previous")
    try:
        os.replace(stage, out)
    except BaseException:
        os.replace(backup / "previous", out)
        raise
    finally:
        shutil.rmtree(backup, ignore_errors=True)


def write_dataset(
    out: str | os.PathLike,
    n: int,
    size: int | tuple[int, int] = 256,
    seed: int = 0,
    name: str = "Synthetic",
    test_fraction: float = 0.5,
    *,
    overwrite: bool = False,
    workers: int = 1,
    progress: bool = False,
    **render_options,
) -> Path:
    """Write ``n`` synthetic images in the standard layout under ``out`` and return ``out``.

    ``out/images/NAME.png`` (8-bit gray), ``out/masks/NAME.png`` (0/255), ``out/img_idx/train_{name}.txt``
    (the first ``n - n_test`` names) and ``test_{name}.txt`` (the rest, ``n_test = round(n * test_fraction)``),
    plus ``out/synthetic.json`` recording the parameters. The files are made in a temporary sibling folder
    that replaces ``out`` only when complete; a non-empty ``out`` is refused unless ``overwrite``.
    ``workers`` > 1 renders in that many processes (same bytes). ``render_options`` go to :func:`render_sample`.
    """
    out = Path(out)
    n_train, n_test = _split_sizes(n, test_fraction)
    if not name or any(char in name for char in "/\\") or name != name.strip():
        raise UserError(f"--name must be a dataset name without slashes or surrounding spaces (got {name!r})")
    if workers < 1:
        raise UserError(f"--workers must be at least 1 (got {workers})")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more (got {seed})")
    render_sample(np.random.default_rng(0), 16, **render_options)  # reject bad options before any file is made
    _check_out(out, overwrite)
    # Locked while filled, so the next run can remove one left by a killed synth (remove_stale_stages).
    stage, stage_lock = make_stage(out)
    try:
        with naming_target(stage, out):  # a failed write names out/..., not the staging folder
            for folder in (IMAGE_DIR, MASK_DIR, SPLIT_DIR):
                (stage / folder).mkdir()
            _render_all(stage, n, size, seed, render_options, workers, progress)
            names = [sample_name(index) for index in range(n)]
            (stage / SPLIT_DIR / f"train_{name}.txt").write_text("\n".join(names[:n_train]) + "\n", encoding="utf-8")
            (stage / SPLIT_DIR / f"test_{name}.txt").write_text("\n".join(names[n_train:]) + "\n", encoding="utf-8")
            meta = {
                "generator": "gcflnet_lib.data.synthetic",
                "version": GENERATOR_VERSION,
                "dataset": name,
                "n": n,
                "n_train": n_train,
                "n_test": n_test,
                "size": list(size) if not isinstance(size, int) else size,
                "seed": seed,
                "render_options": {key: list(value) if isinstance(value, tuple) else value for key, value in sorted(render_options.items())},
            }
            (stage / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            _check_out(out, overwrite)  # another process may have filled it meanwhile
            _swap_into_place(stage, out)
    finally:
        os.close(stage_lock)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(stage)
    return out


def _render_all(stage: Path, n: int, size, seed: int, options: dict, workers: int, progress: bool) -> None:
    chunks = [range(start, min(start + 50, n)) for start in range(0, n, 50)]
    bar = tqdm(total=n, desc="synth", unit="img", disable=not progress)
    try:
        if workers == 1:
            for chunk in chunks:
                _write_indices(str(stage), seed, size, options, chunk)
                bar.update(len(chunk))
            return

        # "spawn", not fork: a forked child inherits OpenCV's and torch's thread pools mid-use and can deadlock.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_write_indices, str(stage), seed, size, options, chunk, True) for chunk in chunks]
            for future, chunk in zip(futures, chunks):
                future.result()
                bar.update(len(chunk))
    finally:
        bar.close()

