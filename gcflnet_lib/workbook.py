"""Plumbing shared by the workbook's notebooks, and the runner that executes them all.

Every notebook starts with one ``parameters`` cell of literals, then calls :func:`setup`, which resolves
the device, seeds every random generator and checks ``DATA_DIR``; it ends with :func:`record_results`,
which writes the key numbers to ``RESULTS_DIR/NAME.json`` so tests and the runner can check them.

The runner (``python -m gcflnet_lib.workbook run`` or ``scripts/run_workbook.py``) executes every
notebook through papermill into ``build/`` (executed ``.ipynb`` plus HTML) and prints a summary table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from gcflnet_lib.data.dataset import KnownDefectWarning
from gcflnet_lib.files import atomic_write_text
from gcflnet_lib.errors import CheckpointError, DataError, UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
BUILD_DIR = REPO_ROOT / "build"
# The folders a standard-layout dataset root must hold (BasicIRSTD / DNANet layout).
LAYOUT_FOLDERS = ("images", "masks", "img_idx")


# Where DATA_DIR = "auto" looks for NUAA-SIRST, after $GCFLNET_SIRST (relative paths: from the repository root).
SIRST_ENV = "GCFLNET_SIRST"
SIRST_CANDIDATES = ("../shared/datasets/NUAA-SIRST", "data/NUAA-SIRST")
SIRST_DATASET = "NUAA-SIRST"


@dataclass(frozen=True)
class WorkbookContext:
    """What :func:`setup` resolved for a notebook.

    Attributes:
        device: the torch device every tensor and model of the notebook goes to.
        seed: the seed given to ``random``, NumPy and torch.
        data_dir: a checked standard-layout dataset root, or ``None`` for synthetic data.
        rng: a NumPy generator seeded with ``seed``, for the notebook's own random draws.
        smoke: the resolved ``SMOKE``: True for the fast path (a CPU with ``"auto"``, or asked), False full size.
        dataset: the split files' dataset name (``"Synthetic"`` without ``data_dir``).
        checkpoint: the resolved ``CHECKPOINT`` (a released name, a path, or "" to train here).
        auto_fast: True when ``SMOKE = "auto"`` chose the fast path (a CPU), False when ``SMOKE`` was set
            explicitly: ``SMOKE = True`` asks for the tiniest sizes (tests, CI), while the default fast path may
            also run the cheap real evaluations a released model allows (notebook 08 scores the whole test split).
    """

    device: torch.device
    seed: int
    data_dir: Path | None
    rng: np.random.Generator = field(repr=False, compare=False)
    smoke: bool = True
    dataset: str = "Synthetic"
    checkpoint: str = ""
    auto_fast: bool = False

    @property
    def synthetic(self) -> bool:
        """True when the notebook works on generated data (``DATA_DIR = ""``)."""
        return self.data_dir is None


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The notebook's ``DEVICE``: ``"auto"`` -> ``cuda`` when available, else ``cpu`` (the CLI's rules).

    Raises:
        UserError: the string is not a device, or names a CUDA device that this machine lacks.
    """
    from gcflnet_lib.engine.device import resolve_device as resolve

    return resolve(device, label="DEVICE")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    from gcflnet_lib.engine.device import seed_everything as seed_all

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"SEED={seed!r} must be a non-negative integer")
    seed_all(int(seed))


def check_data_dir(path: str | os.PathLike | None) -> Path | None:
    """Check ``DATA_DIR``: ``""``/``None`` means synthetic data (returns ``None``), else a standard-layout root.

    Raises:
        DataError: the folder does not exist, is a file, or lacks ``images/``, ``masks/`` or ``img_idx/``;
            the message starts with the path so a notebook stops with one clear line.
    """
    if path is None or str(path).strip() == "":
        return None
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(
            f"{root}: DATA_DIR does not exist (give a standard-layout root holding images/, masks/ and img_idx/, "
            f'or DATA_DIR = "" for synthetic data)'
        )
    if not root.is_dir():
        raise DataError(f"{root}: DATA_DIR is a file, not a folder")
    missing = [name for name in LAYOUT_FOLDERS if not (root / name).is_dir()]
    if missing:
        raise DataError(
            f"{root}: DATA_DIR lacks {', '.join(name + '/' for name in missing)} "
            "(expected the standard layout images/NAME.png, masks/NAME.png, img_idx/{train,test}_DATASET.txt)"
        )
    return root.resolve()


def shown_path(path: str | os.PathLike, root: str | os.PathLike = REPO_ROOT) -> str:
    """``path`` as a page may show it: relative to the repository ``root`` when it lies in it or beside it
    (``../shared/datasets/NUAA-SIRST``), else only its name, so that executed notebooks carry no machine paths."""
    relative = os.path.relpath(Path(path).resolve(), Path(root).resolve())
    return Path(path).resolve().name if relative.startswith(os.pardir + os.sep + os.pardir) else relative


def known_defects_note() -> str:
    """One line stating the dataset defects fixed on load (:data:`~gcflnet_lib.data.dataset.KNOWN_MASK_RESIZES`)."""
    from gcflnet_lib.data.dataset import KNOWN_MASK_RESIZES

    fixes = ", ".join(f"{name}'s {mask[0]}x{mask[1]} mask resized to its {image[0]}x{image[1]} image"
                      for name, (image, mask) in KNOWN_MASK_RESIZES.items())
    return f"known defects of the public release, fixed on load: {fixes}"


def find_sirst(environ: Mapping[str, str] | None = None, root: str | os.PathLike = REPO_ROOT) -> Path | None:
    """Where NUAA-SIRST is: ``$GCFLNET_SIRST``, else ``../shared/datasets/NUAA-SIRST`` then ``data/NUAA-SIRST``
    relative to the repository root ``root``; ``None`` when none holds ``img_idx/test_NUAA-SIRST.txt``.

    The dataset is read where it lies, never copied into the project.
    """
    environ = os.environ if environ is None else environ
    candidates = [environ[SIRST_ENV]] if environ.get(SIRST_ENV) else []
    candidates += [str(Path(root) / relative) for relative in SIRST_CANDIDATES]
    for candidate in candidates:
        path = Path(candidate).expanduser()
        if (path / "img_idx" / f"test_{SIRST_DATASET}.txt").is_file():
            return path.resolve()
    return None


def resolve_data_dir(value: str | os.PathLike | None, environ: Mapping[str, str] | None = None,
                     root: str | os.PathLike = REPO_ROOT) -> tuple[str, str]:
    """A notebook's ``DATA_DIR``: ``"auto"`` -> NUAA-SIRST where :func:`find_sirst` finds it, else "" (synthetic).

    Returns:
        ``(data_dir, note)``: the value for :func:`check_data_dir` (any other value is returned unchanged, to be
        checked there) and one line saying what "auto" found ("" when ``value`` is not "auto").
    """
    if value is None or str(value) != "auto":
        return ("" if value is None else str(value)), ""
    found = find_sirst(environ, root)
    if found is None:
        where = ", ".join([f"${SIRST_ENV}", *SIRST_CANDIDATES])
        return "", f'DATA_DIR "auto": NUAA-SIRST not found ({where}); using generated synthetic scenes instead'
    return str(found), f'DATA_DIR "auto": NUAA-SIRST at {shown_path(found, root)}'


def infer_dataset(data_dir: Path | None, dataset: str = "auto") -> str:
    """A notebook's ``DATASET``: ``"auto"`` -> "Synthetic" without data, else the name ``X`` of the one
    ``img_idx/test_X.txt`` of ``data_dir``; any other value is returned unchanged.

    Raises:
        DataError: "auto" on a folder whose ``img_idx/`` holds no or several ``test_*.txt`` (set DATASET).
    """
    if dataset != "auto":
        return dataset
    if data_dir is None:
        return "Synthetic"
    names = sorted(p.stem[len("test_"):] for p in Path(data_dir, "img_idx").glob("test_*.txt"))
    if len(names) != 1:
        raise DataError(f"{data_dir}: DATASET \"auto\" needs one img_idx/test_NAME.txt, found {names or 'none'}; "
                        f"set DATASET to the dataset's name")
    return names[0]


def resolve_smoke(smoke: bool | str, device: torch.device | str) -> bool:
    """A notebook's ``SMOKE``: ``"auto"`` -> True (the fast path) on a CPU, False (full size) on a GPU.

    Raises:
        UserError: anything but True, False or "auto".
    """
    if smoke == "auto":
        return torch.device(device).type == "cpu"
    if isinstance(smoke, bool):
        return smoke
    raise UserError(f'SMOKE={smoke!r} must be "auto", True or False')


def setup(device: str = "auto", seed: int = 0, data_dir: str | os.PathLike | None = "",
          smoke: bool | str = True, dataset: str = "Synthetic", checkpoint: str | os.PathLike = "",
          model: str = "gcflnet", verbose: bool = True) -> WorkbookContext:
    """The first call of every notebook: check ``data_dir``, seed everything, resolve the device, the
    fast path, the dataset and the checkpoint.

    ``data_dir`` ("auto": :func:`resolve_data_dir`) and ``checkpoint`` ("auto": :func:`auto_checkpoint`) are
    checked first so that a wrong path stops the notebook before anything slow happens, with one line saying
    what to set. With ``verbose`` it prints one line per choice "auto" made (fast path, data, checkpoint).

    Raises:
        DataError: a missing or malformed ``data_dir``.
        CheckpointError: a ``checkpoint`` that names no file and no released checkpoint.
        UserError: a bad ``device``, ``seed`` or ``smoke``.
    """
    resolved_dir, data_note = resolve_data_dir(data_dir)
    checked_dir = check_data_dir(resolved_dir)
    resolved_device = resolve_device(device)
    resolved_dataset = infer_dataset(checked_dir, dataset)
    resolved_checkpoint = auto_checkpoint(checkpoint, model, resolved_device, resolved_dataset)
    if resolved_checkpoint:
        check_checkpoint(resolved_checkpoint)
    fast = resolve_smoke(smoke, resolved_device)
    seed_everything(seed)
    if checked_dir is not None:
        # The fixes are stated once below; one warning per fixed file, with the machine's paths, would repeat it
        # on every load of the split (the CLI keeps reporting each one).
        warnings.filterwarnings("ignore", category=KnownDefectWarning)
        data_note = "\n".join(filter(None, [data_note, known_defects_note()]))
    context = WorkbookContext(
        device=resolved_device,
        seed=int(seed),
        data_dir=checked_dir,
        rng=np.random.default_rng(int(seed)),
        smoke=fast,
        dataset=resolved_dataset,
        checkpoint=resolved_checkpoint,
        auto_fast=fast and smoke == "auto",
    )
    if verbose:
        for line in announce(context, smoke, checkpoint, data_note):
            print(line)
    return context


def scores_whole_split(context: WorkbookContext, checkpoint: str | os.PathLike) -> bool:
    """True where a notebook scores its model on the whole test split: at full size, and on the CPU's default
    path (``SMOKE = "auto"``) with a trained ``checkpoint``, whose maps ``gcflnet_lib.prob_cache`` computes once
    per checkpoint file and then reuses. False for ``SMOKE = True`` (tests, CI), which keeps a few images."""
    return not context.smoke or (context.auto_fast and bool(str(checkpoint)))


def announce(context: WorkbookContext, smoke: bool | str, checkpoint: str | os.PathLike, data_note: str = "") -> list[str]:
    """The lines :func:`setup` prints: what ``SMOKE``, ``DATA_DIR`` and ``CHECKPOINT`` "auto" resolved to."""
    lines = []
    if smoke == "auto":
        lines.append(
            f'SMOKE "auto" on {context.device.type.upper()}: '
            + ("the fast path (released checkpoint where one exists, small runs otherwise); "
               "SMOKE = False runs full size" if context.smoke else "full size")
        )
    elif context.smoke:
        lines.append("SMOKE = True: the fast path (small runs)")
    if data_note:
        lines.append(data_note)
    if str(checkpoint) == "auto":
        lines.append(f'CHECKPOINT "auto": released checkpoint {context.checkpoint}' if context.checkpoint
                     else 'CHECKPOINT "auto": no released checkpoint used here; the notebook trains its own model')
    return lines


def check_checkpoint(checkpoint: str | os.PathLike) -> Path:
    """The file of ``CHECKPOINT`` (a path or a released name), checked to exist, without loading it.

    Raises:
        CheckpointError: one line naming the value and saying what to set.
    """
    from gcflnet_lib.released import RELEASES, resolve_checkpoint

    path = resolve_checkpoint(checkpoint)
    if not path.is_file():
        raise CheckpointError(
            f'{path}: CHECKPOINT does not exist (give a file, a released name: {", ".join(RELEASES)}, '
            f'"auto", or "" to train here)'
        )
    return path


def estimate_seconds(step: Any, n_steps: int, trials: int = 2) -> float:
    """Estimated wall time of ``n_steps`` calls of ``step()``: the median of ``trials`` timed calls (after one
    untimed warm-up) times ``n_steps``. Used to warn before a full-size run on a CPU.
    """
    step()
    times = []
    for _ in range(max(1, int(trials))):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * int(n_steps)


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"12 min"`` or ``"3.4 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def warn_full_size_on_cpu(context: WorkbookContext, what: str, seconds: float) -> str:
    """The line printed before a full-size run on a CPU (``""`` on a GPU or on the fast path): its estimated time."""
    if context.smoke or context.device.type != "cpu":
        return ""
    line = (f"full size on a CPU: {what} will take about {format_duration(seconds)} on this machine "
            f'(estimated from timed steps); interrupt the kernel and set SMOKE = "auto" for the fast path')
    print(line)
    return line


def training_step(model: torch.nn.Module, batch_size: int, crop_size: int, device: torch.device | str = "cpu",
                  lr: float = 1e-3):
    """A callable running one training step of ``model`` on a random (batch_size, 1, crop, crop) batch
    (deep-supervision SoftIoU, AdamW), for :func:`estimate_seconds`. The model's weights change: pass a copy."""
    from gcflnet_lib.losses import deep_supervision_loss

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
        from gcflnet_lib.data.synthetic import make_samples

        if n < 1:
            raise ValueError(f"n must be >= 1 for synthetic samples, got {n}")

        return list(make_samples(n, size=size, seed=context.seed))
    from gcflnet_lib.data.dataset import load_split

    samples = list(load_split(context.data_dir, dataset, split))
    return samples if n <= 0 else samples[:n]


def crop_batch(samples: Sequence, size: int = 64, p_target: float = 1.0, seed: int = 0):
    """One random ``size`` x ``size`` crop per sample (centred on a target with probability ``p_target``).

    Returns:
        ``(images (B, 1, S, S) float32 on the 0..255 scale, masks (B, 1, S, S) float32 0/1)`` on the CPU.
    """
    from gcflnet_lib.data.transforms import random_crops

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
    from gcflnet_lib.data.dataset import compute_norm_stats
    from gcflnet_lib.engine.pipeline import DeviceTrainSet
    from gcflnet_lib.losses import deep_supervision_loss

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = torch.device(device)
    mean, std = compute_norm_stats(samples)
    data = DeviceTrainSet(samples, mean, std, device, crop_size, p_target)
    generator = torch.Generator().manual_seed(int(seed))
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    losses = []
    from tqdm.auto import tqdm

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
) -> QuickFit:
    """A model to look inside: the trained one in ``checkpoint`` (refused unless it is ``name``), else a
    ``name`` model with ``channels`` briefly trained by :func:`quick_train` on ``train_samples``.

    Returns:
        :class:`QuickFit` in eval mode on ``context.device``; ``losses`` is empty for a checkpoint.
    """
    if checkpoint:
        model, meta = load_trained_model(checkpoint, name, context.device)
        return QuickFit(model, float(meta["norm"]["mean"]), float(meta["norm"]["std"]), [])
    from gcflnet_lib.models import build_model

    torch.manual_seed(context.seed)
    model = build_model(name, **({"channels": tuple(channels)} if channels is not None else {}))
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


def auto_checkpoint(value: str | os.PathLike, model_name: str, device: str | torch.device, dataset: str | None = None) -> str:
    """What a notebook's ``CHECKPOINT`` means: ``"auto"`` -> the released CPU-recipe model on a CPU, "" on a GPU.

    On a GPU "" makes the notebook train its own model at full size; on a CPU the released checkpoint
    (the first present of ``gcflnet_lib.released.AUTO_RELEASE``) gives a trained model in seconds. Where the release is absent
    (a copy without ``checkpoints/``), "auto" falls back to "" and the notebook trains briefly. Any other
    value is returned unchanged (a path or a released name, checked when loaded). With ``dataset`` NUDT-SIRST the
    models trained on it come first (``AUTO_RELEASE_BY_DATASET``).
    """
    from gcflnet_lib.released import AUTO_RELEASE, AUTO_RELEASE_BY_DATASET, available

    if str(value) != "auto":
        return str(value)
    if torch.device(device).type != "cpu":
        return ""
    present = available()
    order = AUTO_RELEASE_BY_DATASET.get(str(dataset), AUTO_RELEASE).get(model_name, ())
    return next((name for name in order if name in present), "")


def dissection_checkpoints(value: str | os.PathLike, dataset: str | None = None) -> dict[str, str]:
    """The trained GCFLNets notebooks 04-06 take apart, label -> checkpoint (released name or path).

    ``"auto"`` -> the released CPU-recipe GCFLNet and, beside it, the full-width release where its file is present,
    on any device: these notebooks look inside a trained model and train none (a model trained for a few steps has
    flat attention and edges that say nothing). "" -> {} (the notebook then trains a small model briefly, an
    exercise). Any other value -> that one checkpoint, checked.

    Raises:
        CheckpointError: a value that names no file and no released checkpoint.
    """
    from gcflnet_lib.released import AUTO_RELEASE, AUTO_RELEASE_BY_DATASET, available

    if str(value) != "auto":
        if not str(value):
            return {}
        check_checkpoint(value)  # a wrong path stops the notebook here, before anything slow
        return {Path(str(value)).stem: str(value)}
    present = available()
    order = [name for name in AUTO_RELEASE_BY_DATASET.get(str(dataset), AUTO_RELEASE)["gcflnet"] if name in present]
    cpu = [name for name in order if "-cpu-" in name][:1]
    full = [name for name in order if "-cpu-" not in name][:1]
    labels = {**{name: f"{name} (CPU recipe)" for name in cpu}, **{name: f"{name} (full width)" for name in full}}
    return {label: name for name, label in labels.items()}


def samples_with_targets(context: WorkbookContext, dataset: str, n: int, size: int = 128) -> list:
    """The first ``n`` test samples that hold a target: from the real split when ``context.data_dir`` is set
    (whole images, in split order), else from ``2 n`` synthetic ``size`` x ``size`` scenes."""
    samples = load_samples(context, dataset, split="test", n=0 if context.data_dir is not None else 2 * n, size=size)
    return [sample for sample in samples if sample.mask.any()][:n]


def dissection_fits(context: WorkbookContext, checkpoint: str | os.PathLike, train_steps: int) -> dict[str, Any]:
    """The GCFLNets notebooks 04-06 take apart, label -> fit: the released ones of :func:`dissection_checkpoints`,
    or, for ``checkpoint = ""`` (the exercise), a small model trained here for ``train_steps`` steps (20 on the fast
    path); each line printed says where its weights came from."""
    models = dissection_checkpoints(checkpoint, context.dataset)
    if models:
        fits = {label: model_for_notebook(context, "gcflnet", name) for label, name in models.items()}
    else:
        smoke = context.smoke
        size = 128 if smoke else 256
        train_samples = load_samples(context, context.dataset, split="train", n=16 if smoke else 128, size=size)
        if not smoke and context.device.type == "cpu":
            from gcflnet_lib.models import build_model

            step = training_step(build_model("gcflnet"), 8, 128)
            warn_full_size_on_cpu(context, f"{train_steps} training steps", estimate_seconds(step, train_steps))
        fits = {"trained here": model_for_notebook(
            context, "gcflnet", "", train_samples, steps=20 if smoke else train_steps,
            channels=(8, 16, 32, 64) if smoke else (16, 32, 64, 128, 256),
            crop_size=48 if smoke else 128, batch_size=4 if smoke else 8)}
    for name, each in fits.items():
        source = (f"{len(each.losses)} steps here (loss {each.losses[0]:.3f} -> {each.losses[-1]:.3f})" if each.losses
                  else "trained checkpoint")
        print(f"{name}: GCFLNet {each.model.config['channels']}, {source}")
    return fits


def model_card_metrics(name: str, results_dir: str | os.PathLike = REPO_ROOT / "results") -> dict | None:
    """The model card's metrics of released checkpoint ``name`` (``results/eval_cpu_<name>.json``: CPU evaluation
    on NUAA-SIRST's 214 test images, threshold 0.5), or ``None`` when ``name`` has no such record."""
    path = Path(results_dir) / f"eval_cpu_{name}.json"
    if not str(name) or Path(str(name)).name != str(name) or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))["metrics"]


def measured_readings(names: Sequence[str], results_file: str | os.PathLike = REPO_ROOT / "results" / "readings.json") -> str:
    """The rows of ``results/readings.json`` (``scripts/measure_readings.py``) for the readings ``names``, as text.

    One line per measured reading (mIoU, Pd, Fa and the difference in mIoU to the default reading), plus how
    the table was made; a line saying so when the file or a reading is absent. Nothing here is typed in: the
    lines are read from the records of the runs.
    """
    path = Path(results_file)
    if not path.is_file():
        return f"no measured readings yet ({path.name} is absent: python scripts/measure_readings.py)"
    table = json.loads(path.read_text(encoding="utf-8"))
    rows = {row["reading"]: row for row in table["rows"]}
    base = rows.get("default")
    lines = []
    for name in names:
        row = rows.get(name)
        if row is None:
            lines.append(f"{name:>15}: not measured yet")
            continue
        delta = "" if base is None or name == "default" else f" ({row['miou'] - base['miou']:+.4f} vs default)"
        lines.append(f"{name:>15}: mIoU {row['miou']:.4f}{delta}, Pd {row['pd']:.4f}, Fa {row['fa'] * 1e6:.2f}e-6, "
                     f"{row['params']:,} params")
    lines.append(f"NUAA-SIRST test, seed {table['seed']}, one run each, CPU recipe cut to {table['epochs']} epochs "
                 "(README, 'The paper's open readings, measured'): one seed each, so a small difference may be seed noise.")
    return "\n".join(lines)


def load_trained_model(checkpoint: str | os.PathLike, expected_model: str, device: str | torch.device = "cpu"):
    """Load a checkpoint written by the engine and refuse one made for another model variant.

    Returns:
        ``(model, meta)`` as ``gcflnet_lib.engine.checkpoint.load_model_from_checkpoint`` gives them, model in eval mode.

    Raises:
        CheckpointError: the file is missing, or its model is not ``expected_model``
            (e.g. a "unet" checkpoint handed to a notebook about "gcflnet").
    """
    from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint
    from gcflnet_lib.released import RELEASES, resolve_checkpoint

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


def _to_jsonable(value: Any, key: str) -> Any:
    """Plain JSON types from NumPy/torch scalars and arrays; non-finite floats are refused."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Mapping):
        return {str(k): _to_jsonable(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"record_results: {key} is {value}; record only finite numbers")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"record_results: {key} has type {type(value).__name__}, which JSON cannot hold")


class RecordedResults(type(Path())):  # PosixPath or WindowsPath: a Path in every way but its display
    """The path of a notebook's results file; as a cell's last value it prints one line, not ``Out: PosixPath(...)``."""

    def _ipython_display_(self) -> None:
        print(f"key results recorded in {self.name}")


def record_results(name: str, results: Mapping[str, Any], results_dir: str | os.PathLike) -> Path:
    """Write a notebook's key results to ``results_dir/name.json`` (atomically) and return the path.

    Put the headline numbers first: :func:`summary_table` shows the first few scalars.

    NumPy and torch numbers and arrays become plain JSON; NaN or infinity raises ``ValueError`` naming the key.
    """
    if not name or Path(name).name != name:
        raise ValueError(f"record_results: name {name!r} must be a plain file stem such as '01_topic'")
    if not isinstance(results, Mapping) or not results:
        raise ValueError("record_results: results must be a non-empty dict")
    payload = _to_jsonable(dict(results), name)
    path = Path(results_dir) / f"{name}.json"
    # Insertion order is kept: the runner's summary shows the first few numbers as the notebook's key results.
    atomic_write_text(path, json.dumps(payload, indent=2) + "\n")
    return RecordedResults(path)


def load_results(name: str, results_dir: str | os.PathLike) -> dict:
    """Read what :func:`record_results` wrote for notebook ``name``."""
    path = Path(results_dir) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: notebook {name} recorded no results")
    return json.loads(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------- runner


@dataclass
class NotebookRun:
    """One notebook's outcome in :func:`run_workbook`."""

    name: str
    status: str  # "ok" or "failed"
    seconds: float
    results: dict = field(default_factory=dict)
    error: str = ""
    executed: Path | None = None
    html: Path | None = None


def list_notebooks(notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR, only: Sequence[str] = ()) -> list[Path]:
    """The workbook's notebooks in order (``NN_topic.ipynb``), optionally those whose name starts with one of ``only``."""
    paths = sorted(p for p in Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))
    if only:
        chosen = [p for p in paths if any(p.stem.startswith(prefix) for prefix in only)]
        unknown = [prefix for prefix in only if not any(p.stem.startswith(prefix) for p in paths)]
        if unknown:
            raise UserError(f"--only {' '.join(unknown)}: no such notebook in {notebooks_dir}")
        paths = chosen
    return paths


MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"  # the one configuration jupyter-server-mathjax ships
# jupyter-server-mathjax ships MathJax 2 with the STIX-Web fonts only. MathJax's HTML-CSS output defaults to its
# TeX fonts: without them brackets do not stretch and the first \big( fails to load its font data, leaving
# "[Math Processing Error]". This local configuration (loaded after MATHJAX_CONFIG) points HTML-CSS at STIX-Web,
# as Jupyter's own pages do, and leaves no image-font fallback to warn about.
MATHJAX_LOCAL_CONFIG = "local/gcflnet"
MATHJAX_FONTS = """MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/gcflnet.js");
"""
OFFLINE_MATH_NOTE = (
    "*Equations on this page are typeset by MathJax loaded from the network: offline they show as LaTeX source. "
    "Install `jupyter-server-mathjax` (a dependency of this project) and run `scripts/run_workbook.py` again for "
    "pages that render offline.*"
)


def local_mathjax(build_dir: Path) -> str | None:
    """Copy MathJax from the ``jupyter-server-mathjax`` package into ``build_dir/mathjax`` once, with the font
    configuration :data:`MATHJAX_FONTS`; its URL, relative to pages in ``build_dir`` (None when the package is
    absent: pages then load MathJax from the network)."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = Path(build_dir) / "mathjax"
    if not (target / "MathJax.js").is_file():
        import shutil

        staging = Path(build_dir) / ".mathjax.partial"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    fonts = target / "config" / f"{MATHJAX_LOCAL_CONFIG}.js"
    if not fonts.is_file() or fonts.read_text(encoding="utf-8") != MATHJAX_FONTS:  # a copy made before it existed
        fonts.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(fonts, MATHJAX_FONTS)
    return f"mathjax/MathJax.js?config={MATHJAX_CONFIG},{MATHJAX_LOCAL_CONFIG}"


# The navigation line's "index" link (scripts/notebooks/_cells.py): the table of notebook 00 in JupyterLab,
# the index page beside the exported pages.
INDEX_LINK = "00_tour.ipynb#The-eleven-notebooks"
INDEX_PAGE = "index.html"
# A relative link to a notebook beside the page (no scheme, no folder): href="07_training_gcflnet.ipynb#Part".
_NOTEBOOK_HREF = re.compile(r'href="(?![A-Za-z][A-Za-z0-9+.-]*:)([^"#/?]+)\.ipynb(#[^"]*)?"')


def page_links(body: str) -> str:
    """An exported page's links to sibling notebooks pointed at their pages (``NN_topic.html``), and the
    navigation's index link at :data:`INDEX_PAGE`: the pages are read without a notebook server."""
    body = body.replace(f'href="{INDEX_LINK}"', f'href="{INDEX_PAGE}"')
    return _NOTEBOOK_HREF.sub(lambda match: f'href="{match.group(1)}.html{match.group(2) or ""}"', body)


def notebook_goals(notebook: str | os.PathLike) -> tuple[str, list[str]]:
    """A generated notebook's title (its first ``# `` heading) and the items of its "What you will learn" list,
    as ``scripts/notebooks/_cells.py`` writes them: the index page reads them rather than repeat them."""
    import nbformat

    title, goals = Path(notebook).stem, []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        heading = next((line[2:].strip() for line in cell.source.splitlines() if line.startswith("# ")), None)
        if heading and title == Path(notebook).stem:
            title = heading
        if "**What you will learn**" in cell.source and not goals:
            listed = cell.source.split("**What you will learn**", 1)[1].split("\n\n**", 1)[0]
            goals = [line[2:].strip() for line in listed.splitlines() if line.startswith("- ")]
    return title, goals


def _inline_markdown(text: str) -> str:
    """The inline markup the goals use (`code`, *emphasis*), as HTML; everything else escaped."""
    import html

    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", escaped)


def write_index(build_dir: str | os.PathLike, notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR,
                mathjax_url: str | None = None) -> Path:
    """``build_dir/index.html``: every notebook of ``notebooks_dir`` in reading order with its goals, linked to
    its page where this build holds one (a run with ``--only`` builds some). ``mathjax_url`` (``local_mathjax``)
    typesets the goals' ``$...$`` as on the pages."""
    import html

    math = ("<script type='text/x-mathjax-config'>MathJax.Hub.Config({tex2jax: {inlineMath: [['$', '$']]}});"
            f"</script><script src='{mathjax_url}'></script>" if mathjax_url else "")

    items = []
    for notebook in list_notebooks(notebooks_dir):
        title, goals = notebook_goals(notebook)
        page = Path(build_dir) / f"{notebook.stem}.html"
        heading = (f'<a href="{page.name}">{html.escape(title)}</a>' if page.is_file()
                   else f"{html.escape(title)} <small>(no page in this build: run scripts/run_workbook.py)</small>")
        listed = "".join(f"<li>{_inline_markdown(goal)}</li>" for goal in goals)
        items.append(f"<li><p>{heading}</p><ul>{listed}</ul></li>")
    body = (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>GCFLNet workbook</title>{math}"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
        "ol>li>p{font-weight:bold;margin-bottom:0.2em}</style></head><body>"
        "<h1>GCFLNet workbook</h1><p>The executed notebooks, in reading order, with what each teaches.</p>"
        f"<ol start='0'>{''.join(items)}</ol></body></html>\n"
    )
    return atomic_write_text(Path(build_dir) / INDEX_PAGE, body)


def export_html(executed: Path, html_path: Path, mathjax_url: str | None = None) -> Path:
    """Render an executed notebook to a standalone HTML page (nbconvert's lab template), atomically.

    ``mathjax_url``: a local MathJax (``local_mathjax``) so equations render offline; without one the page
    loads MathJax from the network and says so at its top. Links to sibling notebooks point at their pages
    (:func:`page_links`). Widgets render live from their stored state
    when the page can load ``@jupyter-widgets/html-manager``; a static snapshot of each
    (``widget_snapshot.add_widget_snapshots``) shows their initial view where it cannot.
    """
    import nbformat
    from nbconvert import HTMLExporter

    from gcflnet_lib.widget_snapshot import add_widget_snapshots

    notebook = nbformat.read(executed, as_version=4)
    add_widget_snapshots(notebook)  # widgets stay readable where the html-manager CDN cannot be reached
    exporter = HTMLExporter()
    if mathjax_url:
        exporter.mathjax_url = mathjax_url
    else:
        notebook.cells.insert(0, nbformat.v4.new_markdown_cell(OFFLINE_MATH_NOTE))
    body, _ = exporter.from_notebook_node(notebook)
    atomic_write_text(html_path, page_links(body))
    return html_path


def kernel_config():
    """The traitlets config papermill's notebook client hands its kernel manager: the kernel talks over local
    IPC sockets, not TCP. The kernel only ever serves this machine, and over unencrypted TCP ipykernel warns
    "Kernel is running over TCP without encryption" on the terminal at every notebook run."""
    from traitlets.config import Config

    return Config({"KernelManager": {"transport": "ipc"}})


def _short_error(exc: BaseException) -> str:
    """One line: the failing cell (papermill's error knows it) and the exception's name and first line."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    message = f"{ename}: {evalue}".strip().splitlines()[0][:300]
    if getattr(exc, "exec_count", None) is not None:
        # The prompt number the executed page shows beside the cell, and the cell's first line to find it by.
        first_line = next((line.strip() for line in (getattr(exc, "source", "") or "").splitlines() if line.strip()), "")
        message = f"cell In [{exc.exec_count}] ({first_line[:60]}): {message}"
    return message


def run_notebook(
    notebook: Path,
    build_dir: Path,
    parameters: Mapping[str, Any],
    results_dir: Path,
    kernel_name: str = "python3",
    html: bool = True,
    mathjax_url: str | None = None,
) -> NotebookRun:
    """Execute one notebook with papermill (cwd = its folder) into ``build_dir``; never raises for notebook errors."""
    import papermill

    name = notebook.stem
    build_dir.mkdir(parents=True, exist_ok=True)
    executed = build_dir / f"{name}.ipynb"
    partial = build_dir / f".{name}.partial.ipynb"
    (results_dir / f"{name}.json").unlink(missing_ok=True)  # a stale JSON must not pass for this run's
    start = time.perf_counter()
    status, error, results = "ok", "", {}
    try:
        papermill.execute_notebook(
            str(notebook),
            str(partial),
            parameters=dict(parameters),
            kernel_name=kernel_name,
            cwd=str(notebook.parent),
            progress_bar=False,
            config=kernel_config(),
        )
        results = load_results(name, results_dir)
    except Exception as exc:  # a failing notebook is reported in the table, the others still run
        status, error = "failed", _short_error(exc)
    seconds = time.perf_counter() - start
    html_path = None
    if partial.exists():
        os.replace(partial, executed)  # the executed copy holds papermill's error marker when it failed
        if html:
            html_path = export_html(executed, build_dir / f"{name}.html", mathjax_url)
    return NotebookRun(name, status, seconds, results, error, executed if executed.exists() else None, html_path)


def format_results(results: Mapping[str, Any], limit: int = 4) -> str:
    """A compact ``key=value`` string of the first ``limit`` scalar results, for the summary table."""
    parts = []
    for key, value in results.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
        if len(parts) == limit:
            break
    return ", ".join(parts)


def summary_table(runs: Sequence[NotebookRun]) -> str:
    """A plain-text table: notebook, status, seconds, key results (or the error of a failed one)."""
    rows = [("notebook", "status", "seconds", "key results")]
    for run in runs:
        rows.append((run.name, run.status, f"{run.seconds:.1f}", format_results(run.results) or run.error))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * 11)
    return "\n".join(lines)


def run_workbook(
    notebooks_dir: str | os.PathLike = NOTEBOOKS_DIR,
    build_dir: str | os.PathLike = BUILD_DIR,
    smoke: bool | str = "auto",
    only: Sequence[str] = (),
    html: bool = True,
    extra_parameters: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> list[NotebookRun]:
    """Execute every notebook into ``build_dir`` with ``SMOKE = smoke``.

    ``"auto"`` (the default) runs what a learner who opens a notebook runs: full size on a GPU, the fast path on
    a CPU (the released models on the whole test split); True forces the tiny sizes (tests, CI); False full size.
    """
    from tqdm.auto import tqdm

    if smoke is None:  # the old spelling of the default
        smoke = "auto"
    if smoke != "auto" and not isinstance(smoke, bool):
        raise UserError(f'smoke={smoke!r} must be "auto", True or False')
    build_dir = Path(build_dir).resolve()
    results_dir = build_dir / "notebook_results"
    notebooks = list_notebooks(notebooks_dir, only)
    # Relative to the notebooks' folder (their working directory): the executed pages show no machine paths.
    results_arg = os.path.relpath(results_dir, Path(notebooks_dir).resolve())
    parameters = {"SMOKE": smoke, "RESULTS_DIR": results_arg, **(extra_parameters or {})}
    mathjax_url = local_mathjax(build_dir) if html else None
    runs = []
    bar = tqdm(notebooks, desc="workbook", unit="notebook", disable=not progress)
    for notebook in bar:
        bar.set_postfix_str(notebook.stem)
        runs.append(run_notebook(notebook.resolve(), build_dir, parameters, results_dir, html=html, mathjax_url=mathjax_url))
    if html:
        write_index(build_dir, notebooks_dir, mathjax_url)
    return runs


# The runner's table of times, kept for the notebooks' headers (scripts/notebooks/_cells.py reads it):
# ``scripts/run_workbook.py --record-times`` writes each notebook that ran to its device's table.
RUN_TIMES_FILE = REPO_ROOT / "results" / "workbook_times.json"


def machine_description(device: str) -> str:
    """The machine a run is timed on, in words: the GPU's name, or the CPU's architecture, cores, the kernels'
    thread setting and the load when the run started (a shared machine's load changes every time)."""
    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)} (one GPU)"
    import platform

    threads = os.environ.get("OMP_NUM_THREADS", "torch's default number of")
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{platform.machine()}, {os.cpu_count()} cores, {threads} torch thread(s) per kernel{load}"


def load_run_times(path: str | os.PathLike = RUN_TIMES_FILE) -> dict[str, dict[str, dict]]:
    """The recorded table: device ("cpu", "cuda") -> notebook name -> {seconds, smoke, date, machine}; {} without one."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8"))["runs"] if path.is_file() else {}


def record_run_times(runs: Sequence[NotebookRun], smoke: bool | str, device: str, machine: str,
                     path: str | os.PathLike = RUN_TIMES_FILE) -> Path:
    """Merge the times of the notebooks that ran (status ok) into the table at ``path``, under ``device``;
    a failed run keeps the notebook's previous time. ``smoke``: the ``SMOKE`` the run passed (True, False or
    "auto", kept as given so a header can say which path was timed). Returns ``path``."""
    table = load_run_times(path)
    date = time.strftime("%Y-%m-%d")
    for run in runs:
        if run.status == "ok":
            table.setdefault(device, {})[run.name] = {"seconds": round(run.seconds, 1), "smoke": smoke,
                                                      "date": date, "machine": machine}
    record = {"kind": "workbook_times",
              "note": "wall time of each notebook as scripts/run_workbook.py --record-times last ran it; "
                      "the notebooks' headers state these (scripts/make_notebooks.py)",
              "runs": {device: dict(sorted(names.items())) for device, names in sorted(table.items())}}
    return atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def gpu_training_records(models: Sequence[str], results_dir: str | os.PathLike = REPO_ROOT / "results") -> list[dict]:
    """The committed GPU training records (``results/*.json`` of kind "train" on a CUDA device) of ``models``:
    name, model, dataset, epochs, wall_time_s and device of each, in file-name order."""
    found = []
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (isinstance(record, dict) and record.get("kind") == "train" and record.get("model") in models
                and (record.get("config") or {}).get("device") == "cuda" and "wall_time_s" in record):
            found.append({"name": path.stem, **{key: record.get(key) for key in
                                                ("model", "dataset", "epochs", "wall_time_s", "device")}})
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gcflnet_lib.workbook run [--smoke | --full] [--only 01 08] [--build DIR] [--no-html]``.

    Without ``--smoke`` / ``--full`` every notebook gets ``SMOKE = "auto"``, its own default."""
    parser = argparse.ArgumentParser(
        prog="python -m gcflnet_lib.workbook",
        description="Execute the workbook's notebooks with papermill into build/ (executed .ipynb + HTML).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute every notebook and print a summary table")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--smoke", dest="smoke", action="store_const", const=True, default="auto",
                      help='force the tiny sizes, SMOKE=True (CI); the default passes SMOKE="auto", what a notebook '
                           "opened in JupyterLab runs: full size on a GPU, the released models on a CPU")
    size.add_argument("--full", dest="smoke", action="store_const", const=False,
                      help="full sizes, SMOKE=False, also on a CPU")
    run.add_argument("--only", nargs="+", default=(), metavar="PREFIX", help="run notebooks whose name starts so, e.g. 01 08")
    run.add_argument("--notebooks", type=Path, default=NOTEBOOKS_DIR, help="folder of NN_topic.ipynb files")
    run.add_argument("--build", type=Path, default=BUILD_DIR, help="output folder (default build/)")
    run.add_argument("--no-html", dest="html", action="store_false", help="skip the HTML export")
    run.add_argument("--record-times", nargs="?", type=Path, const=RUN_TIMES_FILE, default=None, metavar="FILE",
                     help="keep each notebook's time in FILE (default results/workbook_times.json), which the "
                          "notebooks' headers state once scripts/make_notebooks.py has rewritten them")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    machine = machine_description(device)  # before the run: the load it starts under
    smoke = args.smoke
    try:
        runs = run_workbook(args.notebooks, args.build, smoke=smoke, only=args.only, html=args.html)
    except UserError as exc:
        print(f"run_workbook: error: {exc}", file=sys.stderr)
        return 2
    print(summary_table(runs))
    if args.record_times:
        path = record_run_times(runs, smoke, device, machine, args.record_times)
        print(f"times recorded in {shown_path(path)}; run scripts/make_notebooks.py to state them in the headers")
    failed = [run for run in runs if run.status != "ok"]
    if failed:
        for run in failed:
            print(f"{run.name} failed at {run.error}", file=sys.stderr)
        print(f"{len(failed)} of {len(runs)} notebook(s) failed: {', '.join(run.name for run in failed)}; "
              "the other pages are written", file=sys.stderr)
        return 1
    print(f"all {len(runs)} notebook(s) ran; outputs in {Path(args.build).resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
