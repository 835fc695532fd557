"""Folders and tables for the workbook's training notebooks (07 training, 09 ablation, 10 comparison).

The engine (``gcflnet_lib.engine.train``) trains from a standard-layout folder and writes a run folder.
A notebook therefore needs

- a dataset folder: the user's ``DATA_DIR``, or synthetic scenes written once and reused, by default
  under ``../data/synthetic`` as ``docs/NOTEBOOKS.md`` says (:func:`synthetic_dataset_dir`,
  :func:`ensure_synthetic_dataset`, :func:`training_data`);
- a place for its runs beside its results: ``RESULTS_DIR/../runs/NOTEBOOK`` (:func:`notebook_runs_dir`),
  so ``build/notebook_results`` gets ``build/runs`` and a test's temporary results folder keeps its runs too;
- a readable table of results (:func:`markdown_table`), as Markdown that Jupyter renders.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gcflnet_lib.data.layout import read_split
from gcflnet_lib.data.synthetic import write_dataset
from gcflnet_lib.errors import DataError, UserError

SYNTHETIC_DATASET = "Synthetic"


def notebook_runs_dir(results_dir: str | os.PathLike, notebook: str) -> Path:
    """``RESULTS_DIR/../runs/NOTEBOOK``: where a notebook keeps its training runs and generated data."""
    if not notebook or Path(notebook).name != notebook:
        raise ValueError(f"notebook: expected a plain name such as '07_training_gcflnet', got {notebook!r}")
    return Path(results_dir).expanduser().resolve().parent / "runs" / notebook


def synthetic_dataset_dir(base: str | os.PathLike, n: int, size: int, seed: int = 0) -> Path:
    """``base/n{n}-size{size}-seed{seed}``: one folder per synthetic setting, so notebooks asking for the
    same scenes share them (07 trains on the set that 10 later scores a checkpoint on)."""
    return Path(base) / f"n{int(n)}-size{int(size)}-seed{int(seed)}"


def _synthetic_meta(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / "synthetic.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def ensure_synthetic_dataset(out: str | os.PathLike, n: int, size: int, seed: int = 0,
                             name: str = SYNTHETIC_DATASET) -> Path:
    """A synthetic dataset of ``n`` ``size`` x ``size`` scenes in the standard layout at ``out``.

    Reuses ``out`` when its ``synthetic.json`` records the same ``n``, ``size``, ``seed`` and ``name``
    (the generator is deterministic, so the files would be identical); otherwise (re)writes it with
    ``gcflnet_lib.data.synthetic.write_dataset`` (half train, half test).

    Raises:
        UserError: ``out`` exists but is a file, or holds something that is not a synthetic dataset
            (never overwritten, so no user data is lost).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: expected a folder for the synthetic dataset, found a file")
    meta = _synthetic_meta(out)
    wanted = {"n": int(n), "size": int(size), "seed": int(seed), "dataset": name}
    if meta is not None and all(meta.get(key) == value for key, value in wanted.items()) \
            and not meta.get("render_options"):
        return out
    if out.is_dir() and any(out.iterdir()) and meta is None:
        raise UserError(f"{out}: holds files but no synthetic.json; refusing to overwrite it with synthetic data")
    return write_dataset(out, int(n), size=int(size), seed=int(seed), name=name, overwrite=True)


def training_data(data_dir: str | os.PathLike | None, dataset: str, synthetic_dir: str | os.PathLike,
                  n: int, size: int, seed: int = 0) -> tuple[Path, str]:
    """The ``(root, dataset)`` a training run reads: ``data_dir`` with ``dataset`` when given, else synthetic
    scenes written to (or reused from) ``synthetic_dir`` with dataset name ``"Synthetic"``.

    Raises:
        DataError: ``data_dir`` lacks the split files ``img_idx/{train,test}_<dataset>.txt``.
    """
    if data_dir is None or str(data_dir).strip() == "":
        return ensure_synthetic_dataset(synthetic_dir, n, size, seed), SYNTHETIC_DATASET
    root = Path(data_dir)
    for split in ("train", "test"):
        read_split(root, dataset, split)  # DataError naming the missing split file
    if not (root / "images").is_dir():
        raise DataError(f"{root}: DATA_DIR has no images/ folder")
    return root, dataset


def _format_cell(value: Any, fmt: str | None) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if fmt is not None and isinstance(value, (int, float)):
        return format(value, fmt)
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str | None] | Sequence[str]) -> str:
    """A Markdown table of ``rows`` (dicts), one column per key of ``columns``.

    Args:
        rows: one dict per table row.
        columns: keys to show, in order; as a mapping ``{key: format spec}`` (e.g. ``{"miou": ".3f"}``,
            ``None`` = ``str``). Booleans show as on/off, NaN as n/a.

    Raises:
        KeyError: a row lacks one of the columns (names the key and the row index).
    """
    specs = dict(columns) if isinstance(columns, Mapping) else {key: None for key in columns}
    if not specs:
        raise ValueError("markdown_table needs at least one column")
    lines = ["| " + " | ".join(specs) + " |", "|" + "|".join("---" for _ in specs) + "|"]
    for index, row in enumerate(rows):
        missing = [key for key in specs if key not in row]
        if missing:
            raise KeyError(f"row {index} lacks column(s) {', '.join(missing)}")
        lines.append("| " + " | ".join(_format_cell(row[key], fmt) for key, fmt in specs.items()) + " |")
    return "\n".join(lines)
