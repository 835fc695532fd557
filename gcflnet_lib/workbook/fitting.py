"""Brief fitting and looking inside: a model for a notebook to take apart, trained here in seconds or loaded.

:func:`quick_train` runs a few hundred steps of the paper's objective on in-memory samples; :func:`model_for_notebook`
loads a trained checkpoint instead where one is given; :func:`dissection_fits` is the one call of notebooks 04-06
("take the released GCFLNets apart, or train a small one here"). :class:`capture_outputs` and
:func:`forward_captured` record what named modules (an EEM, a GLFI, an MSIC) see and return in one forward pass.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from gcflnet_lib.data.dataset import compute_norm_stats, load_split
from gcflnet_lib.data.synthetic import make_samples
from gcflnet_lib.data.transforms import random_crops
from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint
from gcflnet_lib.engine.pipeline import DeviceTrainSet
from gcflnet_lib.errors import CheckpointError
from gcflnet_lib.losses import deep_supervision_loss
from gcflnet_lib.models import build_model
from gcflnet_lib.released import (AUTO_RELEASE, AUTO_RELEASE_BY_DATASET, CROSSED_PREDECESSORS, RELEASES, available,
                                  resolve_checkpoint)
from gcflnet_lib.workbook.context import (WorkbookContext, check_checkpoint, estimate_seconds,
                                          warn_full_size_on_cpu)


def training_step(model: torch.nn.Module, batch_size: int, crop_size: int, device: torch.device | str = "cpu",
                  lr: float = 1e-3):
    """A callable running one training step of ``model`` on a random (batch_size, 1, crop, crop) batch
    (deep-supervision SoftIoU, AdamW), for :func:`estimate_seconds`. The model's weights change: pass a copy."""
    device = torch.device(device)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    x = torch.randn(batch_size, 1, crop_size, crop_size, device=device)
    y = (torch.rand(batch_size, 1, crop_size, crop_size, device=device) > 0.99).float()

    def step():
        loss = deep_supervision_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def load_samples(
    context: WorkbookContext,
    dataset: str = "Synthetic",
    split: str = "test",
    n: int = 8,
    size: int = 128,
) -> list:
    """Samples for a notebook's experiments: ``n`` synthetic ``size`` x ``size`` scenes, or the first ``n``
    of a real split when ``context.data_dir`` is set (``n <= 0`` keeps the whole split).

    Returns:
        list of ``gcflnet_lib.data.dataset.Sample`` (name, image float32 (H, W) on 0..255, mask bool (H, W)).
    """
    if context.data_dir is None:
        if n < 1:
            raise ValueError(f"n must be >= 1 for synthetic samples, got {n}")

        return list(make_samples(n, size=size, seed=context.seed))
    samples = list(load_split(context.data_dir, dataset, split))
    return samples if n <= 0 else samples[:n]


def crop_batch(samples: Sequence, size: int = 64, p_target: float = 1.0, seed: int = 0):
    """One random ``size`` x ``size`` crop per sample (centred on a target with probability ``p_target``).

    Returns:
        ``(images (B, 1, S, S) float32 on the 0..255 scale, masks (B, 1, S, S) float32 0/1)`` on the CPU.
    """
    generator = torch.Generator().manual_seed(int(seed))
    images = [torch.from_numpy(np.ascontiguousarray(s.image, dtype=np.float32)) for s in samples]
    masks = [torch.from_numpy(np.ascontiguousarray(s.mask)).float() for s in samples]
    return random_crops(images, masks, size, p_target, generator)


@dataclass
class QuickFit:
    """What :func:`quick_train` returns: the model (eval mode, on its device), the normalisation and the loss per step."""

    model: torch.nn.Module
    mean: float
    std: float
    losses: list[float]


def quick_train(
    model: torch.nn.Module,
    samples: Sequence,
    steps: int,
    device: torch.device | str = "cpu",
    crop_size: int = 64,
    batch_size: int = 8,
    lr: float = 3e-3,
    p_target: float = 0.8,
    seed: int = 0,
    progress: bool = True,
) -> QuickFit:
    """A few hundred AdamW steps of the paper's objective on in-memory samples: a model to look inside.

    The same pieces as ``gcflnet_lib.engine.train`` (``DeviceTrainSet`` crops and flips, SoftIoU with deep
    supervision, AdamW) without its run folder, schedule or evaluation, so a notebook gets a briefly
    trained model in seconds. Use ``engine.train`` for real runs. ``progress`` shows a tqdm bar with the
    time left.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = torch.device(device)
    mean, std = compute_norm_stats(samples)
    data = DeviceTrainSet(samples, mean, std, device, crop_size, p_target)
    generator = torch.Generator().manual_seed(int(seed))
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    losses = []
    for _ in tqdm(range(int(steps)), desc="quick_train", unit="step", disable=not progress, leave=False):
        indices = torch.randint(len(data), (batch_size,), generator=generator).tolist()
        x, y = data.batch(indices, generator)
        loss = deep_supervision_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.eval()
    return QuickFit(model, mean, std, losses)


def model_for_notebook(
    context: WorkbookContext,
    name: str = "gcflnet",
    checkpoint: str | os.PathLike = "",
    train_samples: Sequence = (),
    steps: int = 100,
    channels: Sequence[int] | None = None,
    crop_size: int = 64,
    batch_size: int = 8,
    **readings: Any,
) -> QuickFit:
    """A model to look inside: the trained one in ``checkpoint`` (refused unless it is ``name``), else a
    ``name`` model with ``channels`` and ``readings`` (e.g. ``msic_reading="crossed"``) briefly trained by
    :func:`quick_train` on ``train_samples``.

    Returns:
        :class:`QuickFit` in eval mode on ``context.device``; ``losses`` is empty for a checkpoint.
    """
    if checkpoint:
        model, meta = load_trained_model(checkpoint, name, context.device)
        return QuickFit(model, float(meta["norm"]["mean"]), float(meta["norm"]["std"]), [])
    torch.manual_seed(context.seed)
    model = build_model(name, **({"channels": tuple(channels)} if channels is not None else {}), **readings)
    return quick_train(model, train_samples, steps, context.device, crop_size, batch_size, seed=context.seed)


class capture_outputs:
    """Context manager that records the forward outputs of named modules (detached), via forward hooks.

    >>> with capture_outputs({"eem0": model.eem[0]}) as outputs:
    ...     model(x)
    >>> outputs["eem0"].shape

    ``inputs=True`` also records each module's positional inputs under ``outputs["NAME.inputs"]``.
    """

    def __init__(self, modules: Mapping[str, torch.nn.Module], inputs: bool = False):
        self.modules = dict(modules)
        self.inputs = inputs
        self.outputs: dict[str, Any] = {}
        self._handles: list = []

    def _hook(self, name: str):
        def record(_module, args, output):
            detach = lambda t: t.detach() if isinstance(t, torch.Tensor) else t  # noqa: E731
            self.outputs[name] = detach(output)
            if self.inputs:
                self.outputs[f"{name}.inputs"] = tuple(detach(a) for a in args)

        return record

    def __enter__(self) -> dict[str, Any]:
        self._handles = [module.register_forward_hook(self._hook(name)) for name, module in self.modules.items()]
        return self.outputs

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def forward_captured(fit: Any, image: np.ndarray, modules: Mapping[str, torch.nn.Module],
                     device: torch.device | str) -> dict[str, Any]:
    """:class:`capture_outputs` of ``modules`` (with their inputs) over one forward pass of ``fit.model`` on one
    image, normalised with the fit's mean and std: what notebooks 04-06 look at inside a model."""
    x = ((torch.from_numpy(image)[None, None] - fit.mean) / fit.std).to(device)
    with torch.no_grad(), capture_outputs(modules, inputs=True) as seen:
        fit.model(x)
    return seen


def dissection_checkpoints(value: str | os.PathLike, dataset: str | None = None, crossed: bool = False) -> dict[str, str]:
    """The trained GCFLNets notebooks 04-06 take apart, label -> checkpoint (released name or path).

    ``"auto"`` -> the released CPU-recipe GCFLNet and, beside it, the full-width release where its file is present,
    on any device: these notebooks look inside a trained model and train none (a model trained for a few steps has
    flat attention and edges that say nothing). With ``crossed`` (notebook 06), the CPU release's predecessor
    trained with MSIC's ``crossed`` reading (``CROSSED_PREDECESSORS``) comes first where present, the current one
    after the full-width one. "" -> {} (the notebook then trains a small model briefly, an exercise). Any other
    value -> that one checkpoint, checked.

    Raises:
        CheckpointError: a value that names no file and no released checkpoint.
    """
    if str(value) != "auto":
        if not str(value):
            return {}
        check_checkpoint(value)  # a wrong path stops the notebook here, before anything slow
        return {Path(str(value)).stem: str(value)}
    present = available()
    releases = AUTO_RELEASE_BY_DATASET.get(str(dataset), AUTO_RELEASE)["gcflnet"]
    order = [name for name in releases if name in present]
    cpu = [name for name in order if "-cpu-" in name][:1]
    full = [name for name in order if "-cpu-" not in name][:1]
    labels = {**{name: f"{name} (CPU recipe)" for name in cpu}, **{name: f"{name} (full width)" for name in full}}
    if crossed:
        earlier = [CROSSED_PREDECESSORS[name] for name in releases if CROSSED_PREDECESSORS.get(name) in present][:1]
        labels = {**{name: f"{name} (CPU recipe, crossed)" for name in earlier},
                  **{name: labels[name] for name in full}, **{name: labels[name] for name in cpu}}
    return {label: name for name, label in labels.items()}


def samples_with_targets(context: WorkbookContext, dataset: str, n: int, size: int = 128) -> list:
    """The first ``n`` test samples that hold a target: from the real split when ``context.data_dir`` is set
    (whole images, in split order), else from ``2 n`` synthetic ``size`` x ``size`` scenes."""
    samples = load_samples(context, dataset, split="test", n=0 if context.data_dir is not None else 2 * n, size=size)
    return [sample for sample in samples if sample.mask.any()][:n]


def dissection_fits(context: WorkbookContext, checkpoint: str | os.PathLike, train_steps: int,
                    crossed: bool = False, **readings: Any) -> dict[str, Any]:
    """The GCFLNets notebooks 04-06 take apart, label -> fit: the released ones of :func:`dissection_checkpoints`
    (``crossed``: with the CPU release's crossed predecessor first), or, for ``checkpoint = ""`` (the exercise), a
    small model with ``readings`` trained here for ``train_steps`` steps (20 on the fast path); each line printed
    says where its weights came from."""
    models = dissection_checkpoints(checkpoint, context.dataset, crossed)
    if models:
        fits = {label: model_for_notebook(context, "gcflnet", name) for label, name in models.items()}
    else:
        smoke = context.smoke
        size = 128 if smoke else 256
        train_samples = load_samples(context, context.dataset, split="train", n=16 if smoke else 128, size=size)
        if not smoke and context.device.type == "cpu":
            step = training_step(build_model("gcflnet"), 8, 128)
            warn_full_size_on_cpu(context, f"{train_steps} training steps", estimate_seconds(step, train_steps))
        fits = {"trained here": model_for_notebook(
            context, "gcflnet", "", train_samples, steps=20 if smoke else train_steps,
            channels=(8, 16, 32, 64) if smoke else (16, 32, 64, 128, 256),
            crop_size=48 if smoke else 128, batch_size=4 if smoke else 8, **readings)}
    for name, each in fits.items():
        source = (f"{len(each.losses)} steps here (loss {each.losses[0]:.3f} -> {each.losses[-1]:.3f})" if each.losses
                  else "trained checkpoint")
        print(f"{name}: GCFLNet {each.model.config['channels']}, {source}")
    return fits


def load_trained_model(checkpoint: str | os.PathLike, expected_model: str, device: str | torch.device = "cpu"):
    """Load a checkpoint written by the engine and refuse one made for another model variant.

    Returns:
        ``(model, meta)`` as ``gcflnet_lib.engine.checkpoint.load_model_from_checkpoint`` gives them, model in eval mode.

    Raises:
        CheckpointError: the file is missing, or its model is not ``expected_model``
            (e.g. a "unet" checkpoint handed to a notebook about "gcflnet").
    """
    path = resolve_checkpoint(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"{path}: CHECKPOINT does not exist (give a file or a released name: {', '.join(RELEASES)})")
    model, meta = load_model_from_checkpoint(path, device=device)
    found = dict(meta.get("model_config", {})).get("name")
    if found != expected_model:
        raise CheckpointError(
            f"{path}: CHECKPOINT holds a {found!r} model but this notebook needs {expected_model!r}"
        )
    model.eval()
    return model, meta
