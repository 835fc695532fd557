"""A notebook's context: the first call of every notebook, :func:`setup`, and what it resolves.

Every notebook starts with one ``parameters`` cell of literals (``SMOKE``, ``DEVICE``, ``DATA_DIR``, ``DATASET``,
``SEED``, ``CHECKPOINT``, ``RESULTS_DIR``), then calls :func:`setup`: it checks ``DATA_DIR`` (``"auto"`` finds
NUAA-SIRST), resolves the device, the fast path (``SMOKE = "auto"``: fast on a CPU, full size on a GPU), the dataset
name and the checkpoint (``"auto"``: the released CPU-recipe model on a CPU), seeds every random generator, and
returns a :class:`WorkbookContext`. Also here: the time estimate printed before a full-size run on a CPU.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gcflnet_lib.data.dataset import KNOWN_MASK_RESIZES, KnownDefectWarning
from gcflnet_lib.engine.device import resolve_device as resolve_torch_device
from gcflnet_lib.engine.device import seed_everything as seed_all
from gcflnet_lib.errors import CheckpointError, DataError, UserError
from gcflnet_lib.released import AUTO_RELEASE, AUTO_RELEASE_BY_DATASET, RELEASES, available, resolve_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]

# The folders a standard-layout dataset root must hold (BasicIRSTD / DNANet layout).
LAYOUT_FOLDERS = ("images", "masks", "img_idx")


# Where DATA_DIR = "auto" looks for NUAA-SIRST when $GCFLNET_SIRST is not set (relative paths: from the repository root).
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
    return resolve_torch_device(device, label="DEVICE")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
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
    fixes = ", ".join(f"{name}'s {mask[0]}x{mask[1]} mask resized to its {image[0]}x{image[1]} image"
                      for name, (image, mask) in KNOWN_MASK_RESIZES.items())
    return f"known defects of the public release, fixed on load: {fixes}"


def find_sirst(environ: Mapping[str, str] | None = None, root: str | os.PathLike = REPO_ROOT) -> Path | None:
    """Where NUAA-SIRST is: ``$GCFLNET_SIRST`` when it is set, else ``../shared/datasets/NUAA-SIRST`` then
    ``data/NUAA-SIRST`` relative to the repository root ``root``; ``None`` when the place looked at holds no
    ``img_idx/test_NUAA-SIRST.txt``.

    A set, non-empty ``$GCFLNET_SIRST`` is the only place looked at: naming a folder without the dataset (a typo,
    or on purpose, to run without it) gives ``None`` rather than another copy found elsewhere. An empty one counts
    as unset. The dataset is read where it lies, never copied into the project.
    """
    environ = os.environ if environ is None else environ
    configured = environ.get(SIRST_ENV, "").strip()
    candidates = [configured] if configured else [str(Path(root) / relative) for relative in SIRST_CANDIDATES]
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
        checked there) and one line saying what "auto" found ("" when ``value`` is not "auto"); the line names no
        machine path outside the repository.
    """
    if value is None or str(value) != "auto":
        return ("" if value is None else str(value)), ""
    environ = os.environ if environ is None else environ
    found = find_sirst(environ, root)
    if found is None:
        if environ.get(SIRST_ENV, "").strip():
            where = f"${SIRST_ENV} names a folder without img_idx/test_{SIRST_DATASET}.txt"
        else:
            where = ", ".join([f"${SIRST_ENV}", *SIRST_CANDIDATES])
        return "", f'DATA_DIR "auto": {SIRST_DATASET} not found ({where}); using generated synthetic scenes instead'
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
    path (``SMOKE = "auto"``) with a trained ``checkpoint``, whose maps ``gcflnet_lib.workbook.prob_cache`` computes once
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


def auto_checkpoint(value: str | os.PathLike, model_name: str, device: str | torch.device, dataset: str | None = None) -> str:
    """What a notebook's ``CHECKPOINT`` means: ``"auto"`` -> the released CPU-recipe model on a CPU, "" on a GPU.

    On a GPU "" makes the notebook train its own model at full size; on a CPU the released checkpoint
    (the first present of ``gcflnet_lib.released.AUTO_RELEASE``) gives a trained model in seconds. Where the release is absent
    (a copy without ``checkpoints/``), "auto" falls back to "" and the notebook trains briefly. Any other
    value is returned unchanged (a path or a released name, checked when loaded). With ``dataset`` NUDT-SIRST the
    models trained on it come first (``AUTO_RELEASE_BY_DATASET``).
    """
    if str(value) != "auto":
        return str(value)
    if torch.device(device).type != "cpu":
        return ""
    present = available()
    order = AUTO_RELEASE_BY_DATASET.get(str(dataset), AUTO_RELEASE).get(model_name, ())
    return next((name for name in order if name in present), "")
