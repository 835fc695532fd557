"""Plots, overlays and widgets for the workbook.

Pure functions first (``display_stretch``, ``normalize_image``, ``orientation_rgb``, ``overlay_prediction``,
``classify_detections``), ``plot_detections`` (a frame with zoomed crops of every target and false alarm under a
colour key), then matplotlib helpers that draw them, then :class:`ThresholdExplorer`, an ipywidgets panel over
:func:`gcflnet_lib.metrics.threshold_stats` (the metric protocol lives there) for choosing the probability
threshold and the minimum component size by eye while Pd, Fa and IoU update live.

Images are NumPy arrays (H, W); torch tensors of shape (H, W), (1, H, W) or (1, 1, H, W) are accepted.
"""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import numpy as np
import torch
from matplotlib.colors import hsv_to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from scipy import ndimage

from gcflnet_lib.metrics import FA_RANGE


# RGB colours of the overlay: hit (predicted and true), false alarm, missed target pixel.
HIT_COLOUR = (255, 215, 0)
FALSE_ALARM_COLOUR = (255, 40, 40)
MISS_COLOUR = (0, 200, 255)
DETECTION_COLOURS = {"hit": HIT_COLOUR, "miss": MISS_COLOUR, "false alarm": FALSE_ALARM_COLOUR}

# The display stretch of infrared frames under an overlay: fixed, linear over the 8-bit range the datasets store
# (0 black, 255 white), the same for every image. A per-image percentile stretch inflates a dark frame's few grey
# levels, and its JPEG blocks, into a mosaic, and makes two frames' brightness incomparable.
DISPLAY_RANGE = (0.0, 255.0)


def as_image(array, name: str = "image") -> np.ndarray:
    """A 2-D NumPy array from a NumPy array or torch tensor of shape (H, W), (1, H, W) or (1, 1, H, W)."""
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"{name}: expected an (H, W) image, got shape {array.shape}")
    return array


def normalize_image(image, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Stretch ``image`` (H, W) to float32 [0, 1] between two percentiles (robust to a few hot pixels)."""
    image = as_image(image).astype(np.float32)
    low, high = np.percentile(image, percentiles)
    if high <= low:
        return np.zeros_like(image)
    return np.clip((image - low) / np.float32(high - low), 0.0, 1.0).astype(np.float32)


def display_stretch(image, display_range: tuple[float, float] = DISPLAY_RANGE) -> np.ndarray:
    """float32 (H, W) in [0, 1]: ``image`` mapped linearly from the fixed ``display_range`` (default the 8-bit range,
    :data:`DISPLAY_RANGE`) and clipped; unlike :func:`normalize_image` it does not depend on the image's content."""
    low, high = (float(v) for v in display_range)
    if not high > low:
        raise ValueError(f"display_range: expected (low, high) with high > low, got {display_range}")
    image = as_image(image).astype(np.float32)
    return np.clip((image - low) / np.float32(high - low), 0.0, 1.0).astype(np.float32)


def orientation_rgb(gx, gy, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a gradient field: hue = direction ``atan2(gy, gx)``, brightness = magnitude.

    Args:
        gx, gy: (H, W) gradient components (image coordinates, y down).
        max_magnitude: magnitude shown at full brightness; default the 99th percentile.

    Returns:
        float32 RGB (H, W, 3) in [0, 1]; flat regions are black whatever their (undefined) direction.
    """
    gx, gy = as_image(gx, "gx").astype(np.float64), as_image(gy, "gy").astype(np.float64)
    if gx.shape != gy.shape:
        raise ValueError(f"gx and gy must have the same shape, got {gx.shape} and {gy.shape}")
    magnitude = np.hypot(gx, gy)
    scale = float(np.percentile(magnitude, 99)) if max_magnitude is None else float(max_magnitude)
    value = np.clip(magnitude / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(magnitude)
    hue = (np.arctan2(gy, gx) % (2 * np.pi)) / (2 * np.pi)
    hsv = np.stack([hue, np.ones_like(hue), value], axis=-1)
    return hsv_to_rgb(hsv).astype(np.float32)


def overlay_prediction(image, prediction, mask=None, alpha: float = 0.65,
                       display_range: tuple[float, float] = DISPLAY_RANGE) -> np.ndarray:
    """Draw a binary prediction over a grey image: hits gold, false alarms red, missed target pixels cyan.

    Args:
        image: (H, W), shown with the fixed :func:`display_stretch` over ``display_range`` (the 8-bit range).
        prediction: (H, W) bool.
        mask: (H, W) bool ground truth, or None to draw every predicted pixel as a hit.
        alpha: opacity of the colours.

    Returns:
        uint8 RGB (H, W, 3).
    """
    grey = display_stretch(image, display_range)
    prediction = as_image(prediction, "prediction").astype(bool)
    truth = prediction if mask is None else as_image(mask, "mask").astype(bool)
    if prediction.shape != grey.shape or truth.shape != grey.shape:
        raise ValueError(f"image {grey.shape}, prediction {prediction.shape} and mask {truth.shape} differ in shape")
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    for region, colour in (
        (prediction & truth, HIT_COLOUR),
        (prediction & ~truth, FALSE_ALARM_COLOUR),
        (~prediction & truth, MISS_COLOUR),
    ):
        rgb[region] = (1 - alpha) * rgb[region] + alpha * np.asarray(colour, np.float32) / 255.0
    return np.round(rgb * 255).astype(np.uint8)


def classify_detections(prediction, mask, distance: float = 3) -> list[dict]:
    """Every target and every false alarm of one image, as the BasicIRSTD matching counts them.

    Targets (8-connected components of ``mask``) in raster order each take the first remaining predicted component
    (raster order) whose centroid lies closer than ``distance`` px: a hit; a target left without one is a miss; a
    predicted component no target took is a false alarm (``gcflnet_lib.metrics.pd_fa_image`` counts the same).

    Args:
        prediction, mask: (H, W) bool.

    Returns:
        list of dicts, targets first (raster order) then false alarms: ``kind`` ("hit", "miss", "false alarm"),
        ``box`` (top, left, bottom, right) with bottom and right exclusive, ``centroid`` (row, col), ``pixels``.
    """
    prediction = as_image(prediction, "prediction").astype(bool)
    mask = as_image(mask, "mask").astype(bool)
    if prediction.shape != mask.shape:
        raise ValueError(f"prediction {prediction.shape} and mask {mask.shape} differ in shape")
    eight = np.ones((3, 3), bool)

    def components(binary):
        labels, count = ndimage.label(binary, structure=eight)  # labels in raster order of each first pixel
        boxes = ndimage.find_objects(labels)
        centroids = ndimage.center_of_mass(binary, labels, range(1, count + 1)) if count else []
        sizes = ndimage.sum_labels(binary, labels, range(1, count + 1)) if count else []
        return [{"box": (b[0].start, b[1].start, b[0].stop, b[1].stop), "centroid": (float(c[0]), float(c[1])),
                 "pixels": int(n)} for b, c, n in zip(boxes, centroids, sizes)]

    targets, predicted = components(mask), components(prediction)
    free = [True] * len(predicted)
    found = []
    for target in targets:
        match = next((j for j, component in enumerate(predicted) if free[j]
                      and np.hypot(*np.subtract(target["centroid"], component["centroid"])) < distance), None)
        if match is not None:
            free[match] = False
        found.append({**target, "kind": "miss" if match is None else "hit"})
    return found + [{**component, "kind": "false alarm"} for j, component in enumerate(predicted) if free[j]]


def _crop_window(box: tuple[int, int, int, int], shape: tuple[int, int], size: int) -> tuple[slice, slice]:
    """A ``size`` x ``size`` window (or larger, to hold the whole box) centred on ``box``, kept inside ``shape``."""
    top, left, bottom, right = box
    windows = []
    for start, stop, extent in ((top, bottom, shape[0]), (left, right, shape[1])):
        side = min(max(size, stop - start + 4), extent)
        first = int(np.clip((start + stop) // 2 - side // 2, 0, extent - side))
        windows.append(slice(first, first + side))
    return windows[0], windows[1]


def plot_detections(image, prediction, mask, title: str = "", crop: int = 24, max_crops: int = 6,
                    display_range: tuple[float, float] = DISPLAY_RANGE, distance: float = 3,
                    figure: Figure | None = None, panel: float = 2.2) -> Figure:
    """One image's decision, readable: the whole frame with a box around every target and every false alarm, then a
    zoomed crop (``crop`` x ``crop`` px, pixels drawn as blocks) of each, under one colour key (hit gold, miss cyan,
    false alarm red, as :func:`overlay_prediction` colours their pixels).

    The frame uses the fixed :func:`display_stretch` (``display_range``), never a per-image stretch. Targets come
    first, then false alarms by size; beyond ``max_crops`` the rest are boxed in the frame but not zoomed (the title
    says how many). Matching is :func:`classify_detections`'s (BasicIRSTD, ``distance`` px).

    Args:
        image: (H, W) on the 0..255 scale; prediction, mask: (H, W) bool.
        figure: a matplotlib ``Figure`` to draw into (widgets draw off-screen); None makes a pyplot figure, shown
            inline in a notebook.

    Returns:
        the figure; ``figure.detections`` holds :func:`classify_detections`'s list.
    """
    overlay = overlay_prediction(image, prediction, mask, display_range=display_range)
    found = classify_detections(prediction, mask, distance)
    targets = [d for d in found if d["kind"] != "false alarm"]
    alarms = sorted((d for d in found if d["kind"] == "false alarm"), key=lambda d: -d["pixels"])
    zoomed = (targets + alarms)[:max_crops]
    columns = max(1, min(len(zoomed), 3))
    rows = max(1, -(-len(zoomed) // columns))
    if figure is None:
        import matplotlib.pyplot as plt

        figure = plt.figure(figsize=(panel * (2 + columns), panel * max(2, rows) + 0.5), layout="constrained")
    grid = figure.add_gridspec(max(2, rows), 2 + columns)
    frame = figure.add_subplot(grid[:, :2])
    frame.imshow(overlay, interpolation="nearest")
    colours = {kind: np.asarray(colour) / 255.0 for kind, colour in DETECTION_COLOURS.items()}
    for index, detection in enumerate(zoomed):
        rows_, cols_ = _crop_window(detection["box"], overlay.shape[:2], crop)
        frame.add_patch(Rectangle((cols_.start - 0.5, rows_.start - 0.5), cols_.stop - cols_.start,
                                  rows_.stop - rows_.start, fill=False, linewidth=1.2, edgecolor=colours[detection["kind"]]))
        frame.text(cols_.start, rows_.start - 1.5, str(index + 1), color=colours[detection["kind"]], fontsize=7,
                   va="bottom")
        ax = figure.add_subplot(grid[index // columns, 2 + index % columns])
        ax.imshow(overlay[rows_, cols_], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(colours[detection["kind"]])
            spine.set_linewidth(2.5)
        ax.set_title(f"{index + 1}: {detection['kind']} ({detection['pixels']} px)", fontsize=7)
    for detection in (targets + alarms)[max_crops:]:  # boxed, not zoomed
        top, left, bottom, right = detection["box"]
        frame.add_patch(Rectangle((left - 1.5, top - 1.5), right - left + 2, bottom - top + 2, fill=False,
                                  linewidth=0.8, linestyle=":", edgecolor=colours[detection["kind"]]))
    frame.set_axis_off()
    counts = {kind: sum(d["kind"] == kind for d in found) for kind in DETECTION_COLOURS}
    summary = (f"{counts['hit']} of {len(targets)} targets hit, {counts['false alarm']} false alarm(s)"
               + (f"; {len(found) - len(zoomed)} more boxed, not zoomed" if len(found) > len(zoomed) else ""))
    frame.set_title(f"{title}\n{summary}" if title else summary, fontsize=8)
    figure.legend(handles=[Patch(facecolor=colours[kind], label=kind) for kind in DETECTION_COLOURS],
                  loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    figure.detections = found
    return figure


# ------------------------------------------------------------------------------------------ matplotlib


def figure_to_png(figure: Figure, dpi: int | None = None) -> bytes:
    """PNG bytes of a matplotlib figure (drawn with Agg, no pyplot state involved)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _new_figure(nrows: int, ncols: int, size: float):
    """A pyplot figure (so a notebook shows it inline) with an (nrows, ncols) array of axes."""
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False, layout="constrained")


def show_images(
    images: Sequence,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    cmap: str | Sequence[str] = "gray",
    size: float = 2.6,
    colorbar: bool | Sequence[bool] = False,
    symmetric: bool | Sequence[bool] = False,
    vrange: tuple[float, float] | Sequence[tuple[float, float] | None] | None = None,
):
    """A grid of images (grey arrays, or RGB (H, W, 3)), one title each; returns the figure.

    ``cmap`` is one colour map for all or one per image. ``symmetric=True`` (for all, or one flag per image)
    centres the colour map on zero, for signed responses such as gx, gy or CDC outputs (a grey map then
    becomes red-blue); ``vrange=(vmin, vmax)`` fixes the colour limits of every image, a list of such pairs
    (or None) one image each. ``colorbar`` adds a colour bar to every grey-level panel, or (a list of flags)
    to those flagged, e.g. only the probability maps of a row.
    """
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    cmaps = [cmap] * len(images) if isinstance(cmap, str) else list(cmap)
    if len(cmaps) != len(images):
        raise ValueError(f"got {len(images)} images but {len(cmaps)} colour maps")
    centred = [symmetric] * len(images) if isinstance(symmetric, bool) else [bool(flag) for flag in symmetric]
    if len(centred) != len(images):
        raise ValueError(f"got {len(images)} images but {len(centred)} symmetric flags")
    one_range = vrange is None or (len(vrange) == 2 and all(isinstance(v, (int, float)) for v in vrange))
    ranges = [vrange] * len(images) if one_range else list(vrange)
    if len(ranges) != len(images):
        raise ValueError(f"got {len(images)} images but {len(ranges)} value ranges")
    bars = [colorbar] * len(images) if isinstance(colorbar, bool) else [bool(flag) for flag in colorbar]
    if len(bars) != len(images):
        raise ValueError(f"got {len(images)} images but {len(bars)} colorbar flags")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    figure, axes = _new_figure(nrows, ncols, size)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= len(images):
            continue
        image = images[index]
        if isinstance(image, torch.Tensor):
            image = image.detach().cpu().numpy()
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[-1] in (3, 4):
            ax.imshow(image)
        else:
            image = as_image(image)
            limits, image_cmap = {}, cmaps[index]
            if centred[index]:
                bound = float(np.abs(image).max()) or 1.0
                limits = {"vmin": -bound, "vmax": bound}
                image_cmap = "RdBu_r" if image_cmap == "gray" else image_cmap
            if ranges[index] is not None:
                limits = {"vmin": ranges[index][0], "vmax": ranges[index][1]}
            shown = ax.imshow(image, cmap=image_cmap, **limits)
            if bars[index]:
                figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
        if titles is not None:
            ax.set_title(titles[index], fontsize=9)
    return figure


def plot_quiver(ax, image, gx, gy, step: int = 3, box: tuple[int, int, int, int] | None = None, color: str = "tab:red"):
    """Grey image with its gradient vectors (every ``step`` pixels) drawn as arrows, y pointing down.

    Args:
        ax: a matplotlib Axes.
        image, gx, gy: (H, W).
        step: draw one arrow every ``step`` pixels.
        box: optional ``(top, left, height, width)`` window to zoom into.
    """
    image, gx, gy = as_image(image), as_image(gx, "gx"), as_image(gy, "gy")
    top, left, height, width = box if box is not None else (0, 0, *image.shape)
    window = (slice(top, top + height), slice(left, left + width))
    ax.imshow(image[window], cmap="gray", extent=(left - 0.5, left + width - 0.5, top + height - 0.5, top - 0.5))
    rows, cols = np.mgrid[top : top + height : step, left : left + width : step]
    u, v = gx[rows, cols], gy[rows, cols]
    # angles="xy" with an inverted y axis draws (u, v) in image coordinates: +v points down the rows.
    ax.quiver(cols, rows, u, v, color=color, angles="xy", scale_units="xy", pivot="mid",
              scale=float(np.hypot(u, v).max() or 1.0) / (0.9 * step), width=0.006)
    ax.set_xlim(left - 0.5, left + width - 0.5)
    ax.set_ylim(top + height - 0.5, top - 0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def plot_kernels(kernels: Mapping[str, object], size: float = 2.2, fmt: str = "{:.2f}"):
    """3x3 (or k x k) kernels as annotated heat maps, one panel per name; returns the figure."""
    names = list(kernels)
    figure, axes = _new_figure(1, len(names), size)
    for ax, name in zip(axes.flat, names):
        kernel = as_image(kernels[name], name).astype(np.float64)
        bound = float(np.abs(kernel).max()) or 1.0
        ax.imshow(kernel, cmap="RdBu_r", vmin=-bound, vmax=bound)
        for (row, col), value in np.ndenumerate(kernel):
            ax.text(col, row, fmt.format(value), ha="center", va="center", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return figure


def plot_roc(curves: Mapping[str, Mapping], ax=None, fa_scale: float = 1e-6, linthresh: float | None = 10.0,
             fa_range: float | None = None):
    """Pd against Fa (in units of ``fa_scale``) for each named ROC dict ``{"fa": [...], "pd": [...]}``, or each
    named metrics dict of ``IRSTDMetrics.compute()`` (its ``"roc"`` is drawn).

    Each curve's ``"auc_pd_fa"`` (the AUC over the shared range Fa in [0, 1e-4], ``gcflnet_lib.metrics``) is put
    in the legend when present. The Fa axis is symlog (linear up to ``linthresh``, logarithmic beyond), since
    false alarms span several decades; ``linthresh=None`` keeps it linear. ``fa_range`` (a fraction; default
    ``metrics.FA_RANGE``, 0 to leave out) is drawn as the end of the shared AUC range. Points are joined in order
    of Fa: a curve need not be monotonic (Pd counts matched components).
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.5, 3.5), layout="constrained")
    for name, curve in curves.items():
        points = curve.get("roc", curve)
        fa = np.asarray(points["fa"], dtype=np.float64) / fa_scale
        pd = np.asarray(points["pd"], dtype=np.float64)
        order = np.argsort(fa, kind="stable")
        label = f"{name} (AUC {curve['auc_pd_fa']:.3f})" if "auc_pd_fa" in curve else name
        ax.plot(fa[order], pd[order], marker=".", markersize=3, label=label)
    fa_range = FA_RANGE if fa_range is None else fa_range
    if fa_range:
        ax.axvline(fa_range / fa_scale, color="gray", linestyle=":", linewidth=1, label=f"AUC range ends (Fa {fa_range:g})")
    if linthresh is not None:
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xlim(left=0)
    ax.set_xlabel(f"Fa (x{fa_scale:g})" + (f", symlog: linear below {linthresh:g}" if linthresh is not None else ""))
    ax.set_ylabel("Pd (fraction of targets found)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_pixel_roc(curves: Mapping[str, Mapping], ax=None, log_fpr: bool = True):
    """The pixel-level ROC (DNANet, ACM): true positive rate against false positive rate over all pixels, for
    each named ROC dict ``{"tpr": [...], "fpr": [...]}`` or metrics dict (its ``"roc"``); ``"auc_pixel"`` goes in
    the legend when present.

    The curve is closed at (0, 0) and (1, 1), the thresholds above and below every score. ``log_fpr`` puts FPR
    on a log axis: background pixels outnumber targets about 1000 to 1, so the part that matters is at small FPR.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.5, 3.5), layout="constrained")
    for name, curve in curves.items():
        points = curve.get("roc", curve)
        fpr = np.asarray(points["fpr"], dtype=np.float64)
        tpr = np.asarray(points["tpr"], dtype=np.float64)
        order = np.lexsort((tpr, fpr))
        fpr, tpr = np.concatenate([[0.0], fpr[order], [1.0]]), np.concatenate([[0.0], tpr[order], [1.0]])
        label = f"{name} (AUC {curve['auc_pixel']:.4f})" if "auc_pixel" in curve else name
        ax.plot(fpr, tpr, label=label)
    if log_fpr:
        ax.set_xscale("log")
        ax.set_xlim(1e-7, 1.0)
    ax.set_xlabel("false positive rate (background pixels above threshold)" + (", log" if log_fpr else ""))
    ax.set_ylabel("true positive rate (target pixels)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax
