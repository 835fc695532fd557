"""A drawing of GCFLNet's architecture made from a model's real configuration (``model.config``).

:func:`architecture_layout` is the pure part: the boxes and arrows of the figure, one encoder level per entry of
``config["channels"]`` (finest first). With EEM on, each level takes two rows: the residual block on top, and below
it the image at that level's resolution (the input average-pooled level by level) feeding the level's EEM, which
also takes the block's features; the GLFI to their right takes both, and its output is the level's skip and, max
pooled, the next level's input. The skip enters that level's MSIC (or the U-Net's concatenation skip), which also
takes the decoder features of the level below, upsampled; a decoder block fuses the two, and a 1x1 head on every
decoder level (deep supervision) feeds the loss. :func:`draw_architecture` draws it with matplotlib, with a key,
or with one kind of module highlighted and the rest greyed out, smaller, so notebooks 02-06 can point at the piece
they open. Widths in the boxes come from the configuration, so the figure changes with them.

    >>> from gcflnet_lib.models import build_model
    >>> ax = draw_architecture(build_model("gcflnet").config, highlight="glfi")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch, Rectangle

# Kinds of boxes; ``highlight`` takes one of these (or "efeu"/"cdc", which live inside the EEM).
KINDS = ("input", "encoder", "eem", "glfi", "skip", "decoder", "head", "loss")
COLOURS = {"input": "#d9d9d9", "encoder": "#9ecae1", "eem": "#fdae6b", "glfi": "#a1d99b", "skip": "#bcbddc",
           "decoder": "#6baed6", "head": "#fc9272", "loss": "#ececec"}
_ALIASES = {"efeu": "eem", "cdc": "eem", "msic": "skip", "heads": "head", "deep_supervision": "head"}
# What the highlighted boxes are, for the title of a highlighted drawing.
_HIGHLIGHTED = {
    "input": "the image, at every level's resolution", "encoder": "the encoder's residual blocks",
    "eem": "the EEM of every level (EFEU + CDC)", "efeu": "EFEU, one of the two branches of every level's EEM",
    "cdc": "CDC, one of the two branches of every level's EEM", "glfi": "the GLFI of every level",
    "skip": "the MSIC on every skip connection", "msic": "the MSIC on every skip connection",
    "decoder": "the decoder blocks", "head": "the 1x1 deep-supervision heads",
    "heads": "the 1x1 deep-supervision heads", "deep_supervision": "the 1x1 deep-supervision heads",
    "loss": "the loss and the output",
}
# Arrow styles: (line style, colour, key text).
ARROWS = {
    "same": ("-", "#333333", "features, same resolution"),
    "down": ("--", "#333333", "2x2 pooling to the next level (max: features, average: image)"),
    "up": ("-.", "#2171b5", "decoder features, upsampled x2 to the finer level"),
    "loss": (":", "#777777", "training only: each head's SoftIoU"),
}
# Columns (x) and box size, in figure units.
_X = {"input": 0.0, "encoder": 2.0, "eem": 2.0, "glfi": 4.0, "skip": 6.0, "decoder": 8.0, "head": 10.0, "loss": 12.0}
HALF_W, HALF_H = 0.8, 0.38


@dataclass(frozen=True)
class Box:
    """One box of the figure: ``kind`` (one of :data:`KINDS`), ``level`` (0 = full resolution), centre ``x, y``
    in figure units, its ``text`` and its half-height ``half_h`` (taller for the loss of several heads)."""

    name: str
    kind: str
    level: int
    x: float
    y: float
    text: str
    half_h: float = HALF_H


def _channels(config: Mapping[str, Any]) -> list[int]:
    channels = [int(c) for c in config.get("channels", (16, 32, 64, 128, 256))]
    if len(channels) < 2:
        raise ValueError(f"config channels {channels} must hold at least two levels")
    return channels


def architecture_layout(config: Mapping[str, Any]) -> tuple[list[Box], list[tuple[str, str]]]:
    """The boxes and arrows (``(from_name, to_name)``) of the architecture given by ``config``.

    Args:
        config: ``model.config`` of a ``gcflnet_lib.models`` model: ``channels`` (widths, finest first), the
            switches ``eem``, ``glfi``, ``msic``, ``deep_supervision`` (missing switches count as on) and
            ``pad_mode``.

    Returns:
        ``(boxes, arrows)``; level ``l`` is at resolution ``H / 2**l``. Columns: image x = 0, residual block and
        EEM x = 2, GLFI x = 4, MSIC x = 6, decoder x = 8, heads x = 10, loss x = 12. Level ``l``'s main row is at
        y = -2 l with EEM (its residual block one row up, at y = -2 l + 1), y = -1.2 l without.
    """
    channels = _channels(config)
    eem, glfi, msic = (bool(config.get(key, True)) for key in ("eem", "glfi", "msic"))
    supervised = bool(config.get("deep_supervision", True))
    levels = len(channels)
    step = 2.0 if eem else 1.2
    pad = config.get("pad_mode", "zeros")
    padded = f"{'zero-' if pad == 'zeros' else pad + '-'}padded to x{2 ** (levels - 1)}"
    boxes: list[Box] = []
    arrows: list[tuple[str, str]] = []
    source = "input"  # the output of the level above, max pooled into the next level's block

    def y(level: int) -> float:
        return -step * level

    for level, width in enumerate(channels):
        scale = "H x W" if level == 0 else f"H/{2 ** level} x W/{2 ** level}"
        if level == 0:
            boxes.append(Box("input", "input", 0, _X["input"], y(0), f"image (B,1,H,W)\n{padded}"))
        elif eem:  # the image at this level's resolution, for its EEM
            boxes.append(Box(f"image{level}", "input", level, _X["input"], y(level), f"image\n{scale}"))
            arrows.append(("input" if level == 1 else f"image{level - 1}", f"image{level}"))
        block_y = y(level) + 1.0 if eem else y(level)
        boxes.append(Box(f"enc{level}", "encoder", level, _X["encoder"], block_y, f"residual block\n{width} ch, {scale}"))
        if level == 0:
            arrows.append(("input", "enc0"))
        else:
            arrows.append((source, f"enc{level}"))
        source = f"enc{level}"
        if eem:
            boxes.append(Box(f"eem{level}", "eem", level, _X["eem"], y(level), f"EEM\nEFEU + CDC\n{width} ch"))
            arrows += [(f"enc{level}", f"eem{level}"), ("input" if level == 0 else f"image{level}", f"eem{level}")]
        if glfi or eem:
            name, kind = f"glfi{level}", "glfi"
            text = f"GLFI\n{width} ch" if glfi else f"1x1 fusion\nof edges, {width} ch"
            boxes.append(Box(name, kind, level, _X["glfi"], y(level), text))
            arrows.append((f"enc{level}", name))
            if eem:
                arrows.append((f"eem{level}", name))
            source = name
        if level < levels - 1:
            skip_text = f"MSIC\n{width} + {channels[level + 1]} ch" if msic else f"concat skip\n{width} + {channels[level + 1]} ch"
            boxes.append(Box(f"skip{level}", "skip", level, _X["skip"], y(level), skip_text))
            boxes.append(Box(f"dec{level}", "decoder", level, _X["decoder"], y(level), f"decoder block\n{width} ch"))
            arrows += [(source, f"skip{level}"), (f"skip{level}", f"dec{level}")]
            if supervised or level == 0:
                boxes.append(Box(f"head{level}", "head", level, _X["head"], y(level), "1x1 head"))
                arrows.append((f"dec{level}", f"head{level}"))
    # The decoder, from the bottleneck up: each MSIC takes the level below, upsampled.
    for level in range(levels - 2, -1, -1):
        below = source if level == levels - 2 else f"dec{level + 1}"
        arrows.append((below, f"skip{level}"))
    heads = [box for box in boxes if box.kind == "head"]
    top, bottom = heads[0].y, heads[-1].y
    label = "mean SoftIoU\nover the heads\n(training)" if len(heads) > 1 else "SoftIoU loss\n(training)"
    boxes.append(Box("loss", "loss", 0, _X["loss"], (top + bottom) / 2, label, half_h=HALF_H + (top - bottom) / 2))
    boxes.append(Box("output", "loss", 0, _X["head"], y(0) + (1.0 if eem else 1.1),
                     "output: sigmoid,\ncropped to H x W"))
    arrows += [(box.name, "loss") for box in heads] + [("head0", "output")]
    return boxes, arrows


def arrow_kind(start: Box, end: Box) -> str:
    """The kind of the arrow from ``start`` to ``end`` (a key of :data:`ARROWS`): "loss" into the loss, "down" to
    a coarser level (2x2 pooling), "up" to a finer one (upsampling), "same" otherwise."""
    if end.kind == "loss" and end.name == "loss":
        return "loss"
    if end.level > start.level:
        return "down"
    if end.level < start.level:
        return "up"
    return "same"


def _edge_point(box: Box, toward_x: float, toward_y: float) -> tuple[float, float]:
    """Where the ray from ``box``'s centre toward a point leaves the box."""
    dx, dy = toward_x - box.x, toward_y - box.y
    scales = [HALF_W / abs(dx) if dx else float("inf"), box.half_h / abs(dy) if dy else float("inf")]
    scale = min(scales)
    return box.x + dx * scale, box.y + dy * scale


def _arrow_ends(a: Box, b: Box) -> tuple[tuple[float, float], tuple[float, float]]:
    """Start and end of the arrow from ``a`` to ``b``: on the box edges, straight; into the tall loss box
    horizontally, at the height of the head."""
    if b.name == "loss":
        return (a.x + HALF_W, a.y), (b.x - HALF_W, a.y)
    return _edge_point(a, b.x, b.y), _edge_point(b, a.x, a.y)


def draw_architecture(config: Mapping[str, Any], highlight: str | None = None, ax=None, title: str | None = None,
                      key: bool | None = None):
    """Draw the architecture of ``config`` (see :func:`architecture_layout`) and return the matplotlib axes.

    Args:
        config: ``model.config``; the widths in the boxes and the modules present follow it.
        highlight: a kind to colour while every other box is greyed out: "encoder", "eem" (also "efeu", "cdc"),
            "glfi", "msic" (or "skip"), "decoder", "head" (or "deep_supervision"), "input", "loss"; ``None``
            colours every kind. A highlighted drawing is smaller (its boxes keep their text).
        ax: axes to draw into; a new figure sized to the number of levels otherwise.
        title: the axes title (default: the model's name and widths, and what is highlighted).
        key: draw the key below the figure (box colours and arrow styles); default: yes on a new figure. A
            highlighted drawing's key names the highlighted boxes and the arrows only.

    Raises:
        ValueError: an unknown ``highlight``.
    """
    import matplotlib.pyplot as plt

    kind = _ALIASES.get(highlight, highlight) if highlight is not None else None
    if kind is not None and kind not in KINDS:
        raise ValueError(f"highlight {highlight!r}: not one of {', '.join(KINDS + tuple(_ALIASES))}")
    boxes, arrows = architecture_layout(config)
    x_low, x_high = _X["input"] - HALF_W - 0.55, _X["loss"] + HALF_W + 0.15
    y_high = max(box.y + box.half_h for box in boxes) + 0.15
    y_low = min(box.y - box.half_h for box in boxes) - 0.15
    width = 11.0 if kind is None else 7.6
    if ax is None:
        height = width * (y_high - y_low) / (x_high - x_low) + (1.3 if kind is None else 0.95)
        _, ax = plt.subplots(figsize=(width, height), layout="constrained")
        key = True if key is None else key
    fontsize = 7.5 if kind is None else 5.6
    by_name = {box.name: box for box in boxes}
    # One shaded band per level (its residual block, image, EEM, GLFI, MSIC, decoder and head), labelled at the left.
    levels = len(_channels(config))
    spans = [(min(b.y - b.half_h for b in boxes if b.level == level and b.kind != "loss"),
              max(b.y + b.half_h for b in boxes if b.level == level and b.kind != "loss")) for level in range(levels)]
    edges = [y_high] + [(spans[level][0] + spans[level + 1][1]) / 2 for level in range(levels - 1)] + [y_low]
    for level in range(levels):
        ax.add_patch(Rectangle((x_low, edges[level + 1]), _X["head"] + HALF_W + 0.1 - x_low,
                               edges[level] - edges[level + 1], facecolor="#eef3f8" if level % 2 == 0 else "white",
                               edgecolor="none", zorder=0))
        ax.text(x_low + 0.2, (spans[level][0] + spans[level][1]) / 2, f"level {level}", rotation=90, ha="center",
                va="center", fontsize=fontsize + 0.5, color="#555555")
    for box in boxes:
        active = kind is None or box.kind == kind
        colour = COLOURS[box.kind] if active else "#f4f4f4"
        ax.add_patch(FancyBboxPatch((box.x - HALF_W, box.y - box.half_h), 2 * HALF_W, 2 * box.half_h,
                                    boxstyle="round,pad=0,rounding_size=0.08", facecolor=colour,
                                    edgecolor="black" if active else "#bbbbbb", linewidth=2.0 if kind and active else 0.9))
        ax.text(box.x, box.y, box.text, ha="center", va="center", fontsize=fontsize + (0.6 if kind and active else 0),
                fontweight="bold" if kind and active else "normal", color="black" if active else "#8c8c8c",
                gid=f"text-{box.name}")
    for start, end in arrows:
        a, b = by_name[start], by_name[end]
        (sx, sy), (ex, ey) = _arrow_ends(a, b)
        style, colour, _ = ARROWS[arrow_kind(a, b)]
        ax.annotate("", xy=(ex, ey), xytext=(sx, sy),
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.0, linestyle=style, shrinkA=0, shrinkB=0,
                                    mutation_scale=9))
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    ax.set_aspect("equal")
    ax.axis("off")
    name = config.get("name", "model")
    widths = ", ".join(str(c) for c in _channels(config))
    if title is None:
        title = f"{name}: widths {widths}; levels top to bottom, finest first"
        if highlight:
            title = (f"{name}, highlighted: {_HIGHLIGHTED[highlight]}\n"
                     "(the full drawing, with its key: notebook 00)")
    ax.set_title(title, fontsize=10 if kind is None else 8.5)
    if key:
        _draw_key(ax, config, kind, highlight, fontsize + 0.5)
    return ax


def _draw_key(ax, config: Mapping[str, Any], kind: str | None, highlight: str | None, fontsize: float) -> None:
    """The key under the drawing: the colour of each kind of box present (or of the highlighted one), then the
    arrow styles."""
    eem, glfi, msic = (bool(config.get(switch, True)) for switch in ("eem", "glfi", "msic"))
    names = {
        "input": "image, average-pooled for each level's EEM" if eem else "input image",
        "encoder": "residual block (encoder)",
        "eem": "EEM: EFEU + CDC on features and image",
        "glfi": "GLFI: dilated convolutions, pooled attention" if glfi else "1x1 fusion of features and edges",
        "skip": "MSIC: attention on the skip connection" if msic else "concatenation skip (U-Net)",
        "decoder": "decoder block: fuses skip and upsampled",
        "head": "1x1 head (deep supervision)",
        "loss": "loss and output",
    }
    present = {box.kind for box in architecture_layout(config)[0]}
    shown = [k for k in KINDS if k in present] if kind is None else [kind]
    handles = [Patch(facecolor=COLOURS[k], edgecolor="black", label=names[k] if kind is None or highlight is None
                     else _HIGHLIGHTED[highlight]) for k in shown]
    if kind is not None:
        handles.append(Patch(facecolor="#f4f4f4", edgecolor="#bbbbbb", label="the other parts"))
    for arrow, (style, colour, text) in ARROWS.items():
        text = "2x2 max pooling to the next level" if arrow == "down" and not eem else text
        handles.append(Line2D([], [], linestyle=style, color=colour, label=text))
    ax.figure.legend(handles=handles, loc="outside lower center", ncols=3 if kind is None else 2, fontsize=fontsize,
                     frameon=False, handlelength=2.6, columnspacing=1.4)
