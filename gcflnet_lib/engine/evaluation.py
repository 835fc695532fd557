"""Full-image inference and evaluation with the BasicIRSTD protocol.

Protocol (ARCHITECTURE.md): each test image is normalised, zero-padded at the bottom/right to a
multiple of 32, run through the model at full size, the probability map is cropped back, and the
metrics (mIoU, nIoU, Pd, Fa, ROC AUC) are taken at threshold 0.5.

Padding follows the model: a model built with ``pad_mode="reflect"`` or ``"replicate"`` (a reading
of ``docs/PAPER_READING.md``) is evaluated with that padding, since its own padding to 16 never acts
on an image already padded to 32. Every other model, and every checkpoint written before the switch
existed, is padded with zeros as BasicIRSTD does. The mode is part of the model's ``model_config``
(in the checkpoint and in ``metrics.json``), so a result always says which padding it was scored
with; ``pad_mode=`` overrides it. Images of the same padded size are
batched together (at most ``batch_size``), which leaves the result unchanged because the model is in
eval mode (BatchNorm uses its running statistics).

Probabilities are rounded to 8 bits (``round(p * 255) / 255``, see ``quantize_probability``) before scoring, the values
``gcflnet evaluate --save-maps`` writes, so ``gcflnet score`` on those maps reports the same numbers.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gcflnet_lib.data.dataset import Sample
from gcflnet_lib.data.io import write_png
from gcflnet_lib.data.transforms import crop_to, pad_to_multiple
from gcflnet_lib.metrics import IRSTDMetrics

PAD_MULTIPLE = 32


def quantize_probability(prob: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] -> uint8 map ``round(p * 255)`` (what the saved PNGs hold).

    The value 1 is never written (it becomes 0): ``read_prediction`` takes an 8-bit map whose largest
    value is 1 for a 0/1 mask, which would turn a confident all-background map into detections.
    """
    prob_u8 = np.clip(np.rint(np.asarray(prob, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    prob_u8[prob_u8 == 1] = 0
    return prob_u8


def dequantize_probability(prob_u8: np.ndarray) -> np.ndarray:
    """uint8 map -> float32 probabilities ``v / 255``, the arithmetic ``data.io.read_prediction`` uses."""
    return prob_u8.astype(np.float32) / np.float32(255.0)


def _final_logits(output: Any) -> torch.Tensor:
    # A model left in train mode (or one without an eval branch) returns the deep-supervision list.
    return output[-1] if isinstance(output, (list, tuple)) else output


def _size_groups(images: Sequence[np.ndarray], batch_size: int) -> Iterator[list[int]]:
    """Indices of images grouped by padded size, in chunks of at most ``batch_size``, in first-seen order."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, image in enumerate(images):
        height, width = image.shape
        groups[(-(-height // PAD_MULTIPLE), -(-width // PAD_MULTIPLE))].append(index)
    for indices in groups.values():
        for start in range(0, len(indices), batch_size):
            yield indices[start : start + batch_size]


@torch.inference_mode()
def predict_probabilities(
    model: nn.Module,
    images: Sequence[np.ndarray],
    device: torch.device | str,
    mean: float,
    std: float,
    batch_size: int = 8,
    pad_mode: str | None = None,
) -> list[np.ndarray]:
    """Probability maps for full-size images, each float32 (H, W) in [0, 1], in input order.

    Args:
        model: a segmentation model; called in eval mode on (B, 1, H', W') normalised, zero-padded images.
        images: float32 (H, W) images on the 0..255 scale, any sizes.
        device: where to run the model (the model must already be there).
        mean, std: the normalisation the model was trained with (0..255 scale).
        batch_size: at most this many images of one padded size per forward pass.
        pad_mode: ``"zeros"``, ``"reflect"`` or ``"replicate"``; None: the model's ``pad_mode`` if it
            has one, else zeros (see the module docstring).
    """
    device = torch.device(device)
    if pad_mode is None:
        pad_mode = getattr(model, "pad_mode", "zeros")
    was_training = model.training
    model.eval()
    results: list[np.ndarray | None] = [None] * len(images)
    # Test images come in dozens of sizes; cudnn's autotuner would benchmark every convolution anew for each.
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        for indices in _size_groups(images, max(1, int(batch_size))):
            padded, sizes = [], []
            for index in indices:
                image = torch.from_numpy(np.ascontiguousarray(images[index], dtype=np.float32)).to(device)
                x, size = pad_to_multiple(((image - mean) / std)[None, None], PAD_MULTIPLE, pad_mode)
                padded.append(x)
                sizes.append(size)
            prob = torch.sigmoid(_final_logits(model(torch.cat(padded))).float())
            for row, (index, size) in enumerate(zip(indices, sizes)):
                results[index] = crop_to(prob[row, 0], size).cpu().numpy()
    finally:
        torch.backends.cudnn.benchmark = benchmark
        model.train(was_training)
    return results  # type: ignore[return-value]


def add_evaluated_map(metrics, prob: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Add one float probability map (H, W) to ``metrics`` (``IRSTDMetrics``) as ``evaluate_model`` scores it: the
    numbers at the threshold from its 8-bit rounding, the curves from the float map. Returns the 8-bit map."""
    prob_u8 = quantize_probability(prob)
    metrics.update(dequantize_probability(prob_u8), mask, roc_prob=prob)
    return prob_u8


def evaluate_model(
    model: nn.Module,
    samples: Sequence[Sample],
    device: torch.device | str,
    mean: float,
    std: float,
    batch_size: int = 8,
    threshold: float = 0.5,
    save_maps: str | os.PathLike | None = None,
    pad_mode: str | None = None,
    curves: bool = True,
) -> dict[str, Any]:
    """Metrics of ``model`` on ``samples`` with the BasicIRSTD protocol.

    The numbers at ``threshold`` are those of the 8-bit maps that ``save_maps`` writes, so ``gcflnet score`` on
    the saved maps gives them again exactly. The ROC curves and their AUCs are taken from the float
    probabilities: a SoftIoU-trained model puts most target pixels at 255 of 8 bits, and those 8 bits would cut
    off the confident end of its curve (``gcflnet_lib.metrics``).

    Args:
        model, device, mean, std, batch_size, pad_mode: see ``predict_probabilities``.
        samples: the split to score (``load_split``), masks bool (H, W).
        threshold: probability above which a pixel counts as target.
        save_maps: optional folder; writes ``NAME.png``, the 8-bit probability map, per sample.
        curves: False skips the ROC curves (the AUCs and Pd at fixed Fa are then NaN), as training does
            before its last epoch.

    Returns:
        ``IRSTDMetrics.compute()``: ``miou, niou, pd, fa, n_images, n_targets, auc_pd_fa, auc_pixel,
        pd_at_fa_1e-05, pd_at_fa_1e-04, roc``.
    """
    metrics = IRSTDMetrics(threshold=threshold, roc_thresholds=None if curves else [])
    out_dir = Path(save_maps) if save_maps is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    # Chunks bound the memory of kept probability maps on large test sets.
    chunk = max(64, int(batch_size))
    for start in range(0, len(samples), chunk):
        part = samples[start : start + chunk]
        probs = predict_probabilities(model, [s.image for s in part], device, mean, std, batch_size, pad_mode)
        for sample, prob in zip(part, probs):
            prob_u8 = add_evaluated_map(metrics, prob, sample.mask)
            if out_dir is not None:
                write_png(out_dir / f"{sample.name}.png", prob_u8)
    return metrics.compute()


def scalar_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The numbers of a metrics dict without the ROC arrays (for history rows and progress bars)."""
    return {key: value for key, value in result.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}
