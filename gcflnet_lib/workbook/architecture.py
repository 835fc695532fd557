"""A drawing of GCFLNet's architecture made from a model's real configuration (``model.config``).

:func:`architecture_layout` is the pure part: the boxes and arrows of the figure, one encoder level per entry of
``config["channels"]`` (finest first), with an EEM and a GLFI beside every encoder level when those switches are
on, an MSIC (or the U-Net's concatenation skip) on every skip connection, and a deep-supervision head on every
decoder level. :func:`draw_architecture` draws it with matplotlib, optionally highlighting one kind of module, so
notebooks 02-06 can point at the piece they open. Widths in the boxes come from the configuration, so the figure
changes with them.

    >>> from gcflnet_lib.models import build_model
    >>> ax = draw_architecture(build_model("gcflnet").config, highlight="glfi")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from matplotlib.patches import FancyBboxPatch

# Kinds of boxes; ``highlight`` takes one of these (or "efeu"/"cdc", which live inside the EEM).
KINDS = ("input", "encoder", "eem", "glfi", "skip", "decoder", "head", "loss")
COLOURS = {"input": "#d9d9d9", "encoder": "#9ecae1", "eem": "#fdae6b", "glfi": "#a1d99b", "skip": "#bcbddc",
           "decoder": "#9ecae1", "head": "#fc9272", "loss": "#d9d9d9"}
_ALIASES = {"efeu": "eem", "cdc": "eem", "msic": "skip", "heads": "head", "deep_supervision": "head"}


@dataclass(frozen=True)
class Box:
    """One box of the figure: ``kind`` (one of :data:`KINDS`), ``level`` (0 = full resolution), centre ``x, y``
    in figure units, and its ``text``."""

    name: str
    kind: str
    level: int
    x: float
    y: float
    text: str


def _channels(config: Mapping[str, Any]) -> list[int]:
    channels = [int(c) for c in config.get("channels", (16, 32, 64, 128, 256))]
    if len(channels) < 2:
        raise ValueError(f"config channels {channels} must hold at least two levels")
    return channels


def architecture_layout(config: Mapping[str, Any]) -> tuple[list[Box], list[tuple[str, str]]]:
    """The boxes and arrows (``(from_name, to_name)``) of the architecture given by ``config``.

    Args:
        config: ``model.config`` of a ``gcflnet_lib.models`` model: ``channels`` (widths, finest first) and the
            switches ``eem``, ``glfi``, ``msic``, ``deep_supervision``; missing switches count as on.

    Returns:
        ``(boxes, arrows)``; level ``l`` is at resolution ``H / 2**l``. Encoder at x = 0, EEM at x = -1.6,
        GLFI at x = 1.6, skips at x = 3.4, decoder at x = 5.2, heads at x = 7; level ``l`` at y = -l.
    """
    channels = _channels(config)
    eem, glfi, msic = (bool(config.get(key, True)) for key in ("eem", "glfi", "msic"))
    supervised = bool(config.get("deep_supervision", True))
    levels = len(channels)
    boxes = [Box("input", "input", 0, 0.0, 1.3, "image (B,1,H,W)")]
    arrows: list[tuple[str, str]] = [("input", "enc0")]
    for level, width in enumerate(channels):
        scale = "H x W" if level == 0 else f"H/{2 ** level}"
        boxes.append(Box(f"enc{level}", "encoder", level, 0.0, -level, f"residual block\n{width} ch, {scale}"))
        if level:
            arrows.append((f"enc{level - 1}", f"enc{level}"))
        if eem:
            boxes.append(Box(f"eem{level}", "eem", level, -1.6, -level, f"EEM\nEFEU + CDC\n{width} ch"))
            arrows.append((f"enc{level}", f"eem{level}"))
        if glfi:
            boxes.append(Box(f"glfi{level}", "glfi", level, 1.6, -level, f"GLFI\n{width} ch"))
            arrows.append((f"enc{level}", f"glfi{level}"))
            if eem:
                arrows.append((f"eem{level}", f"glfi{level}"))
    # Decoder: from the bottleneck up, one skip per level above it.
    below = f"enc{levels - 1}"
    for level in range(levels - 2, -1, -1):
        width = channels[level]
        source = f"glfi{level}" if glfi else f"enc{level}"
        skip_text = f"MSIC\n{width} + {channels[level + 1]} ch" if msic else f"concat skip\n{width} + {channels[level + 1]} ch"
        boxes.append(Box(f"skip{level}", "skip", level, 3.4, -level, skip_text))
        boxes.append(Box(f"dec{level}", "decoder", level, 5.2, -level, f"decoder\n{width} ch"))
        arrows += [(source, f"skip{level}"), (below, f"skip{level}"), (f"skip{level}", f"dec{level}")]
        if supervised or level == 0:
            boxes.append(Box(f"head{level}", "head", level, 7.0, -level, "1x1 head" if level else "1x1 head\n(output)"))
            arrows.append((f"dec{level}", f"head{level}"))
        below = f"dec{level}"
    if glfi and levels > 1:
        arrows.append((f"glfi{levels - 1}", f"skip{levels - 2}"))
        arrows.remove((f"enc{levels - 1}", f"skip{levels - 2}"))
    label = "mean SoftIoU\nover heads" if supervised else "SoftIoU"
    boxes.append(Box("loss", "loss", 0, 7.0, 1.3, label))
    arrows += [(box.name, "loss") for box in boxes if box.kind == "head"]
    return boxes, arrows


def draw_architecture(config: Mapping[str, Any], highlight: str | None = None, ax=None, title: str | None = None):
    """Draw the architecture of ``config`` (see :func:`architecture_layout`) and return the matplotlib axes.

    Args:
        config: ``model.config``; the widths in the boxes and the modules present follow it.
        highlight: a kind to colour while every other box is greyed out: "encoder", "eem" (also "efeu", "cdc"),
            "glfi", "msic" (or "skip"), "head" (or "deep_supervision"); ``None`` colours every kind.
        ax: axes to draw into; a new figure sized to the number of levels otherwise.
        title: the axes title (default: the model's name and widths).

    Raises:
        ValueError: an unknown ``highlight``.
    """
    import matplotlib.pyplot as plt

    kind = _ALIASES.get(highlight, highlight) if highlight is not None else None
    if kind is not None and kind not in KINDS:
        raise ValueError(f"highlight {highlight!r}: not one of {', '.join(KINDS + tuple(_ALIASES))}")
    boxes, arrows = architecture_layout(config)
    levels = len(_channels(config))
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 1.6 + 1.25 * levels), layout="constrained")
    by_name = {box.name: box for box in boxes}
    half_w, half_h = 0.7, 0.36
    for box in boxes:
        active = kind is None or box.kind == kind
        colour = COLOURS[box.kind] if active else "#f2f2f2"
        ax.add_patch(FancyBboxPatch((box.x - half_w, box.y - half_h), 2 * half_w, 2 * half_h,
                                    boxstyle="round,pad=0.02", facecolor=colour,
                                    edgecolor="black" if active else "#bbbbbb", linewidth=2.0 if kind and active else 1.0))
        ax.text(box.x, box.y, box.text, ha="center", va="center", fontsize=7.5,
                color="black" if active else "#999999", gid=f"text-{box.name}")
    for start, end in arrows:
        a, b = by_name[start], by_name[end]
        dx, dy = b.x - a.x, b.y - a.y
        style = "arc3,rad=0"
        # Leave and enter boxes on their edges: horizontal arrows at the sides, vertical ones at top/bottom;
        # EEM -> GLFI arcs over the encoder box, heads -> loss run along the right side.
        if a.kind == "eem" and b.kind == "glfi":
            sx, sy, ex, ey, style = a.x, a.y + half_h, b.x, b.y + half_h, "arc3,rad=-0.22"
        elif b.kind == "loss":
            sx, sy, ex, ey, style = a.x + half_w, a.y, b.x + half_w, b.y, "arc3,rad=0.25"
        elif abs(dx) >= abs(dy):
            sx, ex = a.x + half_w * (1 if dx > 0 else -1), b.x - half_w * (1 if dx > 0 else -1)
            sy, ey = a.y, b.y
        else:
            sx, ex = a.x, b.x
            sy, ey = a.y + half_h * (1 if dy > 0 else -1), b.y - half_h * (1 if dy > 0 else -1)
        ax.annotate("", xy=(ex, ey), xytext=(sx, sy),
                    arrowprops=dict(arrowstyle="->", color="#555555", lw=0.9, shrinkA=0, shrinkB=0,
                                    connectionstyle=style))
    ax.set_xlim(-2.5, 8.9)
    ax.set_ylim(-levels + 0.4, 1.9)
    ax.set_aspect("equal")
    ax.axis("off")
    name = config.get("name", "model")
    widths = ", ".join(str(c) for c in _channels(config))
    ax.set_title(title if title is not None else f"{name}: widths {widths} (levels top to bottom, finest first)"
                 + (f"; highlighted: {highlight}" if highlight else ""), fontsize=10)
    return ax
