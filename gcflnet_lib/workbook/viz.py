"""Plots, overlays and widgets for the workbook.

Pure functions first (``display_stretch``, ``normalize_image``, ``orientation_rgb``, ``overlay_prediction``,
``classify_detections``, ``inside_shape`` / ``crop_to_image``, ``cell_text_colour``), ``plot_detections`` (a frame
with zoomed crops of every target and false alarm under a colour key), then matplotlib helpers that draw them:
``show_images``, ``add_orientation_key`` (the hue wheel of ``orientation_rgb``), ``annotate_cells`` (numbers on
heat-map cells, black or white by the cell's luminance), ``plot_kernels``, ``plot_level_maps`` (feature maps per
encoder level, cropped to the image's own area so the model's padding neither shows nor sets a colour scale),
``plot_quiver``, ``plot_roc`` and ``plot_pixel_roc``. The ipywidgets panels are in ``widgets``.

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
from matplotlib.text import Text
from scipy import ndimage

from gcflnet_lib.metrics import FA_RANGE, pd_fa_image


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


def inside_shape(image_shape: tuple[int, int], level: int) -> tuple[int, int]:
    """The image's own area at encoder level ``level``: ``(ceil(H / 2**level), ceil(W / 2**level))``.

    The models pad their input at the bottom and right to a multiple of ``2 ** (levels - 1)``, so a feature map of
    level ``l`` is ``padded / 2**l`` in size; its first ``inside_shape`` rows and columns hold the image (the last
    of them partly padding where ``H`` or ``W`` is not a multiple of ``2**l``), the rest is padding only.
    """
    if level < 0:
        raise ValueError(f"level: expected a level >= 0, got {level}")
    height, width = (int(n) for n in tuple(image_shape)[-2:])
    return -(-height // 2 ** level), -(-width // 2 ** level)


def crop_to_image(array, image_shape: tuple[int, int], level: int = 0) -> np.ndarray:
    """``array`` (an (h, w) map of encoder level ``level``; torch tensors of shape (1, h, w) or (1, 1, h, w) too)
    cut to :func:`inside_shape`: the padding band at the bottom and right dropped, so it is neither shown nor
    counted in a colour scale."""
    rows, cols = inside_shape(image_shape, level)
    array = as_image(array, "map")
    if array.shape[0] < rows or array.shape[1] < cols:
        raise ValueError(f"a level-{level} map of shape {array.shape} is smaller than the image's own area "
                         f"{(rows, cols)} (image {tuple(image_shape)[-2:]})")
    return array[:rows, :cols]


def luminance(rgba) -> np.ndarray:
    """Relative luminance ``0.2126 R + 0.7152 G + 0.0722 B`` of RGB(A) colours in [0, 1], shape (..., 3 or 4)."""
    rgba = np.asarray(rgba, dtype=np.float64)
    return 0.2126 * rgba[..., 0] + 0.7152 * rgba[..., 1] + 0.0722 * rgba[..., 2]


def cell_text_colour(rgba) -> str:
    """"black" on a light cell (luminance above 0.5), "white" on a dark one: text that can be read on ``rgba``."""
    return "black" if float(luminance(rgba)) > 0.5 else "white"


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


def detection_summary(prediction, mask, distance: float = 3, found: list[dict] | None = None) -> str:
    """The counts under a :func:`plot_detections` frame, from :func:`gcflnet_lib.metrics.pd_fa_image` (the
    computation behind Pd and Fa), one short line each: targets hit; false-alarm *objects* (predicted components no
    target took) and false-alarm *pixels* (their pixels: what Fa counts, per pixel of the image). Red pixels of the
    overlay that belong to a hit (predicted around a target, outside its mask) are not false alarms of the metric;
    when there are any, a third line says how many.
    """
    prediction = as_image(prediction, "prediction").astype(bool)
    mask = as_image(mask, "mask").astype(bool)
    found = classify_detections(prediction, mask, distance) if found is None else found
    matched, n_targets, false_pixels = pd_fa_image(prediction, mask, distance)
    objects = sum(d["kind"] == "false alarm" for d in found)
    text = (f"{matched} of {n_targets} targets hit\n{objects} false-alarm object{'s' * (objects != 1)}, "
            f"{false_pixels} px (what Fa counts)")
    labels, count = ndimage.label(prediction, structure=np.ones((3, 3), bool))  # classify_detections' components
    alarms = {(d["box"], d["centroid"]) for d in found if d["kind"] == "false alarm"}
    unmatched = np.zeros(count + 1, bool)
    if count:
        centroids = ndimage.center_of_mass(prediction, labels, range(1, count + 1))
        for index, (box, centroid) in enumerate(zip(ndimage.find_objects(labels), centroids), start=1):
            unmatched[index] = ((box[0].start, box[1].start, box[0].stop, box[1].stop),
                                (float(centroid[0]), float(centroid[1]))) in alarms
    beside_hits = int((prediction & ~mask & ~unmatched[labels]).sum())
    if beside_hits:
        text += (f"\n{beside_hits} red px are parts of hits: not in Fa" if beside_hits > 1
                 else "\n1 red px is part of a hit: not in Fa")
    return text


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
    labels = []
    for index, detection in enumerate(zoomed):
        rows_, cols_ = _crop_window(detection["box"], overlay.shape[:2], crop)
        frame.add_patch(Rectangle((cols_.start - 0.5, rows_.start - 0.5), cols_.stop - cols_.start,
                                  rows_.stop - rows_.start, fill=False, linewidth=1.2, edgecolor=colours[detection["kind"]]))
        labels.append((frame.text(cols_.start, rows_.start - 1.5, str(index + 1), color=colours[detection["kind"]],
                                  fontsize=7, va="bottom"), [index + 1]))
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
    summary = detection_summary(prediction, mask, distance, found)
    if len(found) > len(zoomed):
        summary += f"\n{len(found) - len(zoomed)} more boxed, not zoomed"
    frame.set_title(f"{title}\n{summary}" if title else summary, fontsize=8)
    figure.legend(handles=[Patch(facecolor=colours[kind], label=kind) for kind in DETECTION_COLOURS],
                  loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    _join_colliding_labels(figure, labels)
    figure.detections = found
    return figure


def _join_colliding_labels(figure: Figure, labels: list[tuple[Text, list[int]]], tolerance: float = 1.0) -> None:
    """Boxes a few pixels apart get their numbers on one spot: where two labels would overlap once the figure is laid
    out, the later one's number joins the earlier label ("1,3") and the later label is removed."""
    if len(labels) < 2:
        return
    joined = True
    while joined:  # a label that grew may now reach a third one: go again until nothing joins
        joined = False
        figure.draw_without_rendering()  # the final layout, so the extents are the drawn ones
        kept: list[tuple[Text, list[int]]] = []
        for text, numbers in labels:
            box = text.get_window_extent()
            host = next((k for k in kept if _boxes_overlap(k[0].get_window_extent(), box, tolerance)), None)
            if host is None:
                kept.append((text, numbers))
                continue
            host[1].extend(numbers)
            host[0].set_text(",".join(str(number) for number in sorted(host[1])))
            text.remove()
            joined = True
        labels = kept


def _boxes_overlap(first, second, tolerance: float) -> bool:
    return (min(first.x1, second.x1) - max(first.x0, second.x0) > tolerance
            and min(first.y1, second.y1) - max(first.y0, second.y0) > tolerance)


# ------------------------------------------------------------------------------------------ matplotlib


def figure_to_png(figure: Figure, dpi: int | None = None) -> bytes:
    """PNG bytes of a matplotlib figure (drawn with Agg, no pyplot state involved)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _text_corners(text, renderer) -> np.ndarray:
    """The four corners (display pixels) of ``text``'s box, rotated as it is drawn: the box of the unrotated text
    turned about the centre of its window extent (which, for a rotated box, is the extent's centre too)."""
    extent = text.get_window_extent(renderer)
    angle = float(text.get_rotation()) % 180.0
    if angle in (0.0, 90.0):
        return np.array([[extent.x0, extent.y0], [extent.x1, extent.y0], [extent.x1, extent.y1], [extent.x0, extent.y1]])
    text.set_rotation(0)
    try:
        flat = text.get_window_extent(renderer)
    finally:
        text.set_rotation(angle)
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.array([flat.width, flat.height]) / 2
    theta = np.deg2rad(angle)
    turn = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return half @ turn.T + np.array([(extent.x0 + extent.x1) / 2, (extent.y0 + extent.y1) / 2])


def _overlap(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    """Whether two convex quadrilaterals overlap by more than ``tolerance`` pixels (separating axis test)."""
    for corners in (a, b):
        for edge in np.diff(np.vstack([corners, corners[:1]]), axis=0)[:2]:
            axis = np.array([-edge[1], edge[0]]) / (np.hypot(*edge) or 1.0)
            pa, pb = a @ axis, b @ axis
            if min(pa.max(), pb.max()) - max(pa.min(), pb.min()) <= tolerance:
                return False
    return True


def drawn_texts(figure: Figure) -> list:
    """Every Text artist that drawing ``figure`` (Agg) puts on the canvas with some text: titles, axis labels, tick
    labels, annotations, legend entries, figure texts; (text, corners in display pixels) pairs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    drawn = []
    original = Text.draw

    def recording(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)

    Text.draw = recording
    try:
        figure.canvas.draw()
    finally:
        Text.draw = original
    renderer = figure.canvas.get_renderer()
    unique = list(dict.fromkeys(drawn))
    return [(text, _text_corners(text, renderer)) for text in unique]


def overlapping_texts(figure: Figure, tolerance: float = 1.0) -> list[tuple[str, str]]:
    """Texts of ``figure`` that collide, by matplotlib's own window extents after an Agg draw (rotated texts as
    rotated boxes): every pair of drawn texts whose boxes overlap by more than ``tolerance`` pixels, and every
    text that reaches more than ``tolerance`` pixels into the drawing area of an axes other than its own (a
    title under a neighbour's colour bar). Returns ``(text, what it overlaps)`` descriptions; empty when clean."""
    texts = drawn_texts(figure)
    if not texts:
        return []
    corners = np.stack([c for _, c in texts])
    low, high = corners.min(axis=1), corners.max(axis=1)  # upright bounds: a cheap first test
    near = ((np.minimum(high[:, None], high[None]) - np.maximum(low[:, None], low[None])) > tolerance).all(axis=-1)
    found = []
    for i, j in zip(*np.nonzero(np.triu(near, k=1))):
        if _overlap(corners[i], corners[j], tolerance):
            found.append((repr(texts[i][0].get_text()), repr(texts[j][0].get_text())))
    renderer = figure.canvas.get_renderer()
    tick_labels = {id(tick.label1): ax for ax in figure.axes for axis in (ax.xaxis, ax.yaxis)
                   for tick in axis.get_major_ticks() + axis.get_minor_ticks()}
    tick_labels.update({id(tick.label2): ax for ax in figure.axes for axis in (ax.xaxis, ax.yaxis)
                        for tick in axis.get_major_ticks() + axis.get_minor_ticks()})
    for ax in figure.axes:
        if not ax.get_visible() or not (ax.axison or ax.images or ax.collections or ax.patches or ax.lines):
            continue
        area = ax.get_window_extent(renderer)
        box = np.array([[area.x0, area.y0], [area.x1, area.y0], [area.x1, area.y1], [area.x0, area.y1]])
        for (text, text_corners), lo, hi in zip(texts, low, high):
            if not (min(hi[0], area.x1) - max(lo[0], area.x0) > tolerance
                    and min(hi[1], area.y1) - max(lo[1], area.y0) > tolerance):
                continue
            owner = text.axes or tick_labels.get(id(text))
            if owner is ax or owner in ax.child_axes or (owner is not None and ax in owner.child_axes):
                continue
            if owner is not None and owner.get_position().bounds == ax.get_position().bounds:
                continue  # a twin (twinx/twiny) shares its axes' area: a legend inside one lies inside both
            if _overlap(text_corners, box, tolerance):
                found.append((repr(text.get_text()), f"the axes titled {ax.get_title()!r}" if ax.get_title()
                              else f"an axes at {tuple(round(v) for v in area.bounds)}"))
    return found


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


def orientation_key_rgba(size: int = 101) -> np.ndarray:
    """RGBA (size, size, 4) of the key of :func:`orientation_rgb`: a disc whose pixel at offset (dx, dy) from the
    centre (y down, as in an image) has the colour of a gradient g = (dx, dy) / radius; hue is the direction,
    brightness the magnitude (black at the centre, full at the rim). Outside the disc is transparent."""
    axis = np.linspace(-1.0, 1.0, size)
    dx, dy = np.meshgrid(axis, axis)  # rows go down: dy > 0 is below the centre
    rgb = orientation_rgb(dx, dy, max_magnitude=1.0)
    alpha = (np.hypot(dx, dy) <= 1.0).astype(np.float32)
    return np.concatenate([rgb, alpha[..., None]], axis=-1)


def add_orientation_key(ax, size: float = 0.5, fontsize: float = 7):
    """Put the hue wheel of :func:`orientation_rgb` beside ``ax`` (an inset to its lower right, outside the image;
    constrained layout makes room for it): the colour of each direction of g, arrows for right, down, left and up
    (image coordinates), brightness growing with |g| from the centre. Returns the inset axes."""
    key = ax.inset_axes([1.04, 0.0, size, size])
    key.imshow(orientation_key_rgba(), extent=(-1, 1, 1, -1), interpolation="bilinear")
    for (x, y), arrow in {(1.3, 0.0): "\u2192", (0.0, 1.35): "\u2193", (-1.3, 0.0): "\u2190", (0.0, -1.35): "\u2191"}.items():
        key.text(x, y, arrow, ha="center", va="center", fontsize=fontsize)
    key.set_xlim(-1.6, 1.6)
    key.set_ylim(1.6, -1.6)
    key.set_axis_off()
    key.set_title("key: hue = direction\nof g, brightness |g|", fontsize=fontsize)
    return key


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


def annotate_cells(ax, values, image_artist, fmt: str = "{:.2f}", fontsize: float = 8) -> list:
    """Write each entry of ``values`` (k x l) on its cell of the heat map ``image_artist`` (what ``ax.imshow`` of
    the same array returned), in black on a light cell and white on a dark one: the colour comes from the cell's
    RGBA in the image's own colour map and limits (:func:`cell_text_colour`). Returns the Text artists."""
    values = as_image(values, "values").astype(np.float64)
    colours = image_artist.to_rgba(values)
    return [ax.text(col, row, fmt.format(value + 0.0), ha="center", va="center", fontsize=fontsize,  # no "-0.00"
                    color=cell_text_colour(colours[row, col]))
            for (row, col), value in np.ndenumerate(values)]


def plot_kernels(kernels: Mapping[str, object], size: float = 2.2, fmt: str = "{:.2f}"):
    """3x3 (or k x k) kernels as annotated heat maps (red positive, blue negative, white 0), one panel per name,
    the numbers black or white by each cell's luminance (:func:`annotate_cells`); returns the figure."""
    names = list(kernels)
    figure, axes = _new_figure(1, len(names), size)
    for ax, name in zip(axes.flat, names):
        kernel = as_image(kernels[name], name).astype(np.float64)
        bound = float(np.abs(kernel).max()) or 1.0
        shown = ax.imshow(kernel, cmap="RdBu_r", vmin=-bound, vmax=bound)
        annotate_cells(ax, kernel, shown, fmt)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return figure


def plot_level_maps(levels: Sequence[Mapping[str, object]], image_shape: tuple[int, int], targets: Sequence | None = None,
                    cmap: str | Mapping[str, str] = "magma", colorbar: bool | Mapping[str, bool] = True,
                    vrange: Mapping[str, tuple[float, float]] | None = None, size: float = 2.3,
                    target_colour: str = "red"):
    """Maps of every encoder level, one row per level (full resolution first), one column per name.

    Every map is cut to the image's own area at its level (:func:`crop_to_image`): the band of padding the model
    adds at the bottom and right is not drawn, and each panel's colour limits come from what is drawn (or from
    ``vrange[name]``), so a bright padding stripe cannot flatten the image's own contrast.

    Args:
        levels: per level, name -> (h, w) map (NumPy, or a tensor of shape (1, h, w) / (1, 1, h, w)); the same
            names in every row, in column order.
        image_shape: (H, W) of the image before padding.
        targets: per level, a bool mask of that level (cropped the same way), outlined in ``target_colour``.
        cmap: one colour map, or name -> colour map ("magma" for names not given).
        colorbar: a colour bar beside every panel, or name -> flag.
        vrange: name -> (vmin, vmax) for columns on a fixed scale.

    Returns:
        the figure. Each column is titled by its name; the first panel of each row says its level and size.
    """
    levels = list(levels)
    if not levels:
        raise ValueError("plot_level_maps needs at least one level")
    names = list(levels[0])
    if any(list(row) != names for row in levels):
        raise ValueError(f"every level must hold the maps {names}, in that order")
    if targets is not None and len(targets) != len(levels):
        raise ValueError(f"got {len(levels)} levels but {len(targets)} target masks")
    maps_of = {name: cmap if isinstance(cmap, str) else cmap.get(name, "magma") for name in names}
    bars = {name: colorbar if isinstance(colorbar, bool) else bool(colorbar.get(name, True)) for name in names}
    limits = dict(vrange or {})
    import matplotlib.pyplot as plt

    height, width = inside_shape(image_shape, 0)
    row_height = size * 0.8 * min(height / width, 1.5) + 0.45  # the image's aspect, and a title
    figure, axes = plt.subplots(len(levels), len(names), figsize=(size * len(names), row_height * len(levels)),
                                squeeze=False, layout="constrained")
    for level, row in enumerate(levels):
        for column, name in enumerate(names):
            ax = axes[level, column]
            value = crop_to_image(row[name], image_shape, level)
            low, high = limits.get(name, (float(np.min(value)), float(np.max(value))))
            shown = ax.imshow(value, cmap=maps_of[name], vmin=low, vmax=high, interpolation="nearest")
            if bars[name]:
                figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
            if targets is not None:
                target = crop_to_image(np.asarray(targets[level], dtype=np.float32), image_shape, level)
                if target.any():
                    ax.contour(target, levels=[0.5], colors=target_colour, linewidths=0.6)
            ax.set_title(name, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if column == 0:
                rows, cols = value.shape
                ax.set_ylabel(f"level {level}\n{rows} x {cols}", fontsize=8)
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
