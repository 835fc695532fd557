"""The ablation's records: what a record holds, how a folder of them is read, and the recipe check.

The records are the files ``scripts/ablation_queue.py`` writes (``results/ablation_nudt/VARIANT_sSEED.json``, and
``results/ablation_nuaa/`` for the same factorial on NUAA-SIRST; :mod:`gcflnet_lib.ablation.plans` says which is
which): one training each, with its last-epoch test metrics (``final``) and its score on another dataset (``cross``).
Every record of one analysis must share the recipe (:data:`NOT_RECIPE` lists what may differ), and every record
with MSIC one MSIC reading.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gcflnet_lib.errors import UserError
from gcflnet_lib.models.registry import SWITCHES, VARIANTS

METRICS = ("miou", "niou", "pd", "fa")
LABELS = {"miou": "mIoU", "niou": "nIoU", "pd": "Pd", "fa": "Fa (x1e-6)"}
SEEDS = (0, 1)
# The paper's Table 2 order: the baseline, one module, two modules, all three.
TABLE_ORDER = ("unet", "gcflnet_eem", "gcflnet_glfi", "gcflnet_msic", "gcflnet_eem_glfi", "gcflnet_eem_msic",
               "gcflnet_glfi_msic", "gcflnet")
BESIDE = ("unet_wide",)  # the U-Net at GCFLNet's parameter count: "better" told from "bigger"
TABLE_ORDER_AND_BESIDE = (*TABLE_ORDER, *BESIDE)
# Settings that say where or how a run was stored, shown or stepped, or which model and seed it is: they may
# differ between the records of one analysis. Everything else is the recipe and must agree. The speed path is how
# a step runs, not what it learns (records before it was stored say None, later ones "eager", for the same run).
NOT_RECIPE = ("model", "seed", "out_dir", "data_root", "resume", "overwrite", "progress", "threads", "save_every",
              "eval_every", "health_every", "eval_batch_size", "device", "speed_path", "compile", "msic_reading")
# msic_reading is checked on its own (:func:`check_one_msic_reading`): it changes only the cells with MSIC, so the
# cells without MSIC are shared between the factorials of two readings.

# CPU training ran in the plain NCHW layout until commit 966a745, whatever ``channels_last`` said (the trainer set it
# on a GPU only); the NUDT-SIRST records of these commits trained that way (docs/ABLATION.md, "Memory layout").
NCHW_CPU_COMMITS = frozenset({"4b735c83265c05405e208e9c6f01003af0e4da3c", "76dd14e6a868da8d8698432c159b0c013347568e",
                              "b9016eefae906af820a447d8091846008beb1c46", "f7654edb61a9fcfb6a4d15d957528ee44ceaf0c2"})

# The paper's reading of Table 2 (Section 4.4): each claim, the cells it compares and the metrics it names.
CLAIMS: dict[str, dict[str, Any]] = {
    "eem_alone": {"quote": "When only EEM is introduced, the model achieves notable improvements in IoU, Pd, and Fa",
                  "variant": "gcflnet_eem", "metrics": ("miou", "pd", "fa")},
    "glfi_alone": {"quote": "When only GLFI is added, the improvement in IoU is relatively limited, whereas Pd and Fa "
                            "exhibit clear optimization", "variant": "gcflnet_glfi", "metrics": ("pd", "fa")},
    "msic_alone": {"quote": "After incorporating MSIC into the baseline model, all metrics show consistent performance "
                            "gains", "variant": "gcflnet_msic", "metrics": ("miou", "pd", "fa")},
    "all_three_best": {"quote": "When all three modules are incorporated, the network achieves the best overall "
                                "performance. Improvements are consistently observed across IoU, Pd and Fa compared with "
                                "any single-module or dual-module configuration", "variant": "gcflnet",
                       "metrics": ("miou", "pd", "fa")},
}

ROOT = Path(__file__).resolve().parents[2]  # the repository (records and docs are read from it)


def _cell(switches: Mapping[str, bool]) -> tuple[bool, bool, bool]:
    return tuple(bool(switches[s]) for s in SWITCHES)


def _variant_of_cell() -> dict[tuple[bool, bool, bool], str]:
    return {_cell(flags): name for name, flags in VARIANTS.items()}


def recipe_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a record that must agree across one analysis (see :data:`NOT_RECIPE`); a setting left at
    None counts as not stored, as in records written before it existed (``init``)."""
    return {key: value for key, value in record["config"].items() if key not in NOT_RECIPE and value is not None}


def load_records(folder: str | os.PathLike) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(finished, failed)`` records of ``folder`` (``NAME.json`` and ``NAME.failed.json``), sorted by name.

    Raises:
        UserError: the folder is missing or holds no record, a file is not a record, or the finished
            records mix recipes (the message names the records that differ from the most common recipe
            and the settings in which they differ).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: ablation records folder not found")
    finished, failed = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: not a readable JSON record ({exc})") from None
        if path.name.endswith(".failed.json"):
            failed.append({**record, "file": path.name})
            continue
        if not isinstance(record, dict) or record.get("status") != "finished" or "config" not in record:
            raise UserError(f"{path}: not a finished ablation record (no status 'finished' and config)")
        finished.append({**record, "file": path.name})
    if not finished and not failed:
        raise UserError(f"{folder}: holds no ablation record (VARIANT_sSEED.json)")
    _check_one_recipe(finished)
    check_one_msic_reading(finished)
    return finished, failed


def msic_reading_of(record: Mapping[str, Any]) -> str | None:
    """The MSIC reading a record's run trained with (``crossed`` where a record predates the keyword); None
    without MSIC."""
    if not VARIANTS.get(record["model"], {}).get("msic"):
        return None
    return str(record["config"].get("msic_reading") or "crossed")


def check_one_msic_reading(records: Sequence[Mapping[str, Any]]) -> None:
    """Refuse records of one factorial whose MSIC cells trained with different MSIC readings, naming them.

    Raises:
        UserError: the message lists each reading with its records.
    """
    readings: dict[str, list[str]] = {}
    for record in records:
        reading = msic_reading_of(record)
        if reading is not None:
            readings.setdefault(reading, []).append(str(record.get("file", record.get("name"))))
    if len(readings) > 1:
        found = "; ".join(f"{reading}: {', '.join(sorted(names))}" for reading, names in sorted(readings.items()))
        raise UserError(f"records mix MSIC readings within one factorial ({found}); keep each reading's MSIC cells "
                        f"in their own folder")


def _check_one_recipe(records: Sequence[Mapping[str, Any]]) -> None:
    if not records:
        return
    recipes = [json.dumps(recipe_of(record), sort_keys=True) for record in records]
    common = max(set(recipes), key=recipes.count)
    reference = json.loads(common)
    odd = []
    for record, recipe in zip(records, recipes):
        if recipe != common:
            mine = recipe_of(record)
            keys = sorted(k for k in set(mine) | set(reference) if mine.get(k) != reference.get(k))
            odd.append(f"{record['file']} ({', '.join(f'{k}={mine.get(k)!r} not {reference.get(k)!r}' for k in keys)})")
    if odd:
        raise UserError(f"records mix recipes; these differ from the other records: {'; '.join(odd)}")


def _scores(record: Mapping[str, Any], where: str) -> dict[str, float] | None:
    if where == "in_domain":
        return record.get("final")
    cross = record.get("cross", {}).get(where)
    return cross.get("metrics") if cross else None


def _reported(scores: Mapping[str, Any], metric: str) -> float:
    """A metric as the report shows it: Fa in units of 1e-6, the others as they are."""
    return float(scores[metric]) * (1e6 if metric == "fa" else 1.0)


def cells(records: Sequence[Mapping[str, Any]], where: str = "in_domain") -> dict[str, dict[int, dict[str, float]]]:
    """``{variant: {seed: {metric: value}}}`` of the finished records; Fa in units of 1e-6."""
    table: dict[str, dict[int, dict[str, float]]] = {}
    for record in records:
        scores = _scores(record, where)
        if scores is None:
            continue
        values = {m: _reported(scores, m) for m in METRICS}
        table.setdefault(record["model"], {})[int(record["seed"])] = values
    return table


def layout_of(record: Mapping[str, Any]) -> str:
    """``"channels_last"`` or ``"nchw"``: the memory layout a record's run trained in (see :data:`NCHW_CPU_COMMITS`)."""
    if not record["config"].get("channels_last") or record.get("git_commit") in NCHW_CPU_COMMITS:
        return "nchw"
    return "channels_last"


def pooled_variance(table: Mapping[str, Mapping[int, Mapping[str, float]]], metric: str,
                    keys: Sequence[str] = TABLE_ORDER) -> tuple[float, int]:
    """``(s², df)``: the within-cell variance of ``metric`` pooled over the cells ``keys`` (the factorial's, by
    default) with two or more seeds, and its degrees of freedom ``sum (n_c - 1)``; ``(nan, 0)`` when no cell has
    two seeds."""
    squares, df = 0.0, 0
    for variant in keys:
        values = [scores[metric] for scores in table.get(variant, {}).values()]
        if len(values) >= 2:
            mean = sum(values) / len(values)
            squares += sum((v - mean) ** 2 for v in values)
            df += len(values) - 1
    return (squares / df, df) if df else (math.nan, 0)
