"""Results: what a notebook records (:func:`record_results`, read back by tests and the runner), and the
committed records notebooks quote (a release's model card, the measured readings, the GPU training runs).

Nothing quoted here is typed in: every number is read from a file a named command wrote.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gcflnet_lib.files import atomic_write_text
from gcflnet_lib.workbook.context import REPO_ROOT


def model_card_metrics(name: str, results_dir: str | os.PathLike = REPO_ROOT / "results") -> dict | None:
    """The model card's metrics of released checkpoint ``name`` (``results/eval_cpu_<name>.json``: CPU evaluation
    on NUAA-SIRST's 214 test images, threshold 0.5), or ``None`` when ``name`` has no such record."""
    path = Path(results_dir) / f"eval_cpu_{name}.json"
    if not str(name) or Path(str(name)).name != str(name) or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))["metrics"]


PAIR_METRICS = {"miou": "mIoU", "niou": "nIoU", "pd": "Pd", "fa": "Fa", "pd_at_fa_1e-05": "Pd at Fa 1e-5",
                "auc_pd_fa": "AUC (Fa <= 1e-4)", "auc_pixel": "pixel AUC"}


def who_is_ahead(first: Mapping[str, float], second: Mapping[str, float], names: tuple[str, str] = ("GCFLNet", "U-Net"),
                 metrics: Mapping[str, str] = PAIR_METRICS) -> str:
    """"GCFLNet ahead on mIoU, Fa; U-Net ahead on Pd; tied on ...": which of two scored models is ahead on each metric
    (higher is ahead, except Fa: lower), counted from the numbers, never typed. Metrics either lacks are left out."""
    groups: dict[str, list[str]] = {f"{names[0]} ahead on": [], f"{names[1]} ahead on": [], "tied on": []}
    for key, label in metrics.items():
        if key not in first or key not in second:
            continue
        sign = -1 if key == "fa" else 1
        mine, theirs = sign * float(first[key]), sign * float(second[key])
        groups["tied on" if mine == theirs else f"{names[0]} ahead on" if mine > theirs else f"{names[1]} ahead on"].append(label)
    return "; ".join(f"{what} {', '.join(keys)}" for what, keys in groups.items() if keys)


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
    # The seed row goes beside the readings it is needed to read: the same default reading, another seed.
    names = list(names)
    if "default" in names and "default_seed1" in rows and "default_seed1" not in names:
        names.insert(names.index("default") + 1, "default_seed1")
    lines = []
    for name in names:
        row = rows.get(name)
        if row is None:
            lines.append(f"{name:>15}: not measured yet")
            continue
        delta = "" if base is None or name == "default" else f" ({row['miou'] - base['miou']:+.4f} vs default)"
        lines.append(f"{name:>15}: mIoU {row['miou']:.4f}{delta}, Pd {row['pd']:.4f}, Fa {row['fa'] * 1e6:.2f}e-6, "
                     f"{row['params']:,} params")
    lines.append(f"NUAA-SIRST test, one run each (seed 0 unless named), CPU recipe cut to {table['epochs']} epochs "
                 "(docs/PAPER_READING.md, 'The readings, measured').")
    seeds = [rows[name] for name in ("default", "default_seed1") if name in rows]
    others = [rows[name] for name in names if name in rows and name not in ("default", "default_seed1")]
    if len(seeds) == 2 and others:
        spread = abs(seeds[0]["miou"] - seeds[1]["miou"])
        better = max(seed["miou"] for seed in seeds)
        farthest = max(abs(row["miou"] - better) for row in others)
        verdict = ("so one run per reading cannot rank these readings" if farthest <= spread
                   else "so at least one reading differs by more than a change of seed does")
        lines.append(f"The default's two seeds differ by {spread:.4f} mIoU; the readings above differ from the better "
                     f"seed by at most {farthest:.4f}, {verdict}.")
    return "\n".join(lines)


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
