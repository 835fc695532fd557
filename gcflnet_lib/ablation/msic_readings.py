"""MSIC's readings measured side by side, each run's skip health, and the pre-registered rule that picks the default.

The measured factorial trained MSIC under ``crossed``. Another reading is trained in the four cells that contain MSIC
(``scripts/ablation_queue.py --msic-reading NAME`` into ``results/ablation_KEY_msic_NAME/``); the four cells without
MSIC do not depend on the reading and are shared. This module reads both, and:

- analyses the second factorial as the first (:func:`gcflnet_lib.ablation.analysis.effects`, the claims' verdicts);
- compares the two readings: ``Delta`` = the mean over the four MSIC cells of (cell mean under the new reading -
  cell mean under ``crossed``), the difference of the two MSIC main effects, with its 95 % interval from the seed
  variance pooled over every cell with two seeds of both factorials (``s / 2`` standard error for 2 seeds a cell);
- reads each run's skip health from the last row of its history (``gcflnet_lib.engine.health``: ``skipL_dprob``,
  ``fine_dprob``) and, for ``crossed``, whose factorial predates the health log, from the runs named in the rule;
- applies the rule of docs/ABLATION.md ("Pre-registered: the rule that chooses MSIC's default reading") and writes
  its outcome as one sentence, or says what it still lacks.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gcflnet_lib.ablation.analysis import claim_verdicts, contrast, effects, missing_runs, variant_rows
from gcflnet_lib.ablation.plans import PLANS, AblationPlan
from gcflnet_lib.ablation.records import (METRICS, ROOT, SEEDS, TABLE_ORDER, _check_one_recipe, cells,
                                          check_one_msic_reading, load_records, msic_reading_of, pooled_variance)
from gcflnet_lib.errors import UserError
from gcflnet_lib.models.registry import VARIANTS

DEAD_PROBABILITY_CHANGE = 0.05  # the rule's threshold (gcflnet_lib.diagnostics.DEAD_PROBABILITY_CHANGE)
MSIC_CELLS = tuple(v for v in TABLE_ORDER if VARIANTS[v]["msic"])
HEALTH_KEYS = ("skip0_dprob", "skip1_dprob", "fine_dprob")
# The crossed runs whose skip health the rule reads (docs/ABLATION.md): the released GCFLNet of the measured
# factorial (seed 0), measured by `gcflnet inspect --json`, and + MSIC seed 0 trained again with the health logged.
CROSSED_HEALTH_RELEASE = "results/health/gcflnet-cpu-nudt-sirst-crossed.json"
CROSSED_HEALTH_RUNS = "results/msic_gate_nudt"
RULE_METRICS = ("miou", "fa")


def _key(variant: str, reading: str | None) -> str:
    return variant if reading in (None, "crossed") else f"{variant}@{reading}"


def load_reading_records(plan: AblationPlan, reading: str, root: str | os.PathLike = ROOT
                         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(finished, failed)`` of ``reading``'s factorial: its MSIC cells' records and the measured factorial's cells
    without MSIC. An absent folder gives no MSIC cell (nothing trained yet), never an error.

    Raises:
        UserError: the reading's folder holds a cell without MSIC or another reading, or the recipes differ.
    """
    root = Path(root)
    shared = [r for r in load_records(root / plan.records)[0] if not VARIANTS.get(r["model"], {}).get("msic")]
    folder = root / plan.reading_records(reading)
    own, failed = (load_records(folder) if folder.is_dir() and any(folder.glob("*.json")) else ([], []))
    stray = sorted(r["file"] for r in own if msic_reading_of(r) != reading)
    if stray:
        raise UserError(f"{folder}: records that are not MSIC cells trained with msic_reading={reading!r}: "
                        f"{', '.join(stray)}")
    combined = [*shared, *own]
    _check_one_recipe(combined)
    check_one_msic_reading(combined)
    return combined, failed


def run_health(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The skip health a record's history logged last: ``{epoch, skip0_dprob, skip1_dprob, fine_dprob,
    fine_iou_cost, skip0_kept, skip1_kept, in_use}``; None where the run logged none."""
    rows = [row for row in record.get("history", []) if all(row.get(key) is not None for key in HEALTH_KEYS)]
    if not rows:
        return None
    last = rows[-1]
    found = {"epoch": last["epoch"], **{k: last.get(k) for k in (*HEALTH_KEYS, "fine_iou_cost", "skip0_kept",
                                                                  "skip1_kept")}}
    found["in_use"] = all(float(last[key]) >= DEAD_PROBABILITY_CHANGE for key in HEALTH_KEYS)
    return found


def release_health(path: Path) -> dict[str, Any] | None:
    """The same fields from a ``gcflnet inspect --json`` report; None where the file is absent."""
    if not path.is_file():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    levels = {item["level"]: item for item in report["levels"]}
    found = {"epoch": None, "skip0_dprob": levels[0]["max_probability_change"],
             "skip1_dprob": levels[1]["max_probability_change"], "fine_dprob": report["fine"]["max_probability_change"],
             "fine_iou_cost": report["fine"]["iou_cost"], "skip0_kept": levels[0]["kept_ratio"],
             "skip1_kept": levels[1]["kept_ratio"]}
    found["in_use"] = all(float(found[key]) >= DEAD_PROBABILITY_CHANGE for key in HEALTH_KEYS)
    return found


def health_rows(plan: AblationPlan, reading: str, records: Sequence[Mapping[str, Any]],
                root: str | os.PathLike = ROOT) -> list[dict[str, Any]]:
    """One row per measured run of either reading: ``{reading, run, source, ...run_health}``."""
    root = Path(root)
    rows = []
    release = release_health(root / CROSSED_HEALTH_RELEASE)
    if release is not None:
        rows.append({"reading": "crossed", "run": "gcflnet_s0", "source": CROSSED_HEALTH_RELEASE, **release})
    gate = root / CROSSED_HEALTH_RUNS
    for record in (load_records(gate)[0] if gate.is_dir() and any(gate.glob("*.json")) else []):
        health = run_health(record)
        if health is not None:
            rows.append({"reading": "crossed", "run": f"{record['model']}_s{record['seed']}",
                         "source": f"{CROSSED_HEALTH_RUNS}/{record['file']}", **health})
    own = [r for r in records if msic_reading_of(r) == reading]
    for record in sorted(own, key=lambda r: (int(r["seed"]), TABLE_ORDER.index(r["model"]))):
        health = run_health(record)
        rows.append({"reading": reading, "run": f"{record['model']}_s{record['seed']}",
                     "source": f"{plan.reading_records(reading)}/{record['file']}", **(health or {"in_use": None})})
    return rows


def reading_difference(crossed: Sequence[Mapping[str, Any]], other: Sequence[Mapping[str, Any]],
                       reading: str) -> dict[str, dict[str, Any]]:
    """Per metric, ``Delta`` (see the module docstring) with its 95 % interval, ``missing`` and ``no_interval``."""
    table = {key: value for key, value in cells(crossed).items()}
    table.update({_key(v, reading): seeds for v, seeds in cells(other).items() if VARIANTS.get(v, {}).get("msic")})
    keys = [*TABLE_ORDER, *(_key(v, reading) for v in MSIC_CELLS)]
    weights = {**{_key(v, reading): 0.25 for v in MSIC_CELLS}, **{v: -0.25 for v in MSIC_CELLS}}
    found = {}
    for metric in METRICS:
        variance = pooled_variance(table, metric, keys)
        found[metric] = {**contrast(table, weights, metric, variance), "df": variance[1]}
    return found


def _side(item: Mapping[str, Any], metric: str) -> int:
    """+1 better beyond the interval, -1 worse beyond it, 0 within it; None-safe (no interval: 0)."""
    low, high = item.get("low"), item.get("high")
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return 0
    sign = -1 if metric == "fa" else 1
    low, high = sorted((sign * low, sign * high))
    return 1 if low > 0 else (-1 if high < 0 else 0)


def decide(reading: str, healthy: Mapping[str, bool | None], difference: Mapping[str, Mapping[str, Any]],
           complete: bool) -> dict[str, Any]:
    """The pre-registered rule (docs/ABLATION.md). ``healthy``: reading -> True, False, or None (not measured);
    ``difference``: :func:`reading_difference`; ``complete``: both factorials hold every run.

    Returns ``{"default": NAME or None, "reason": sentence}``; ``default`` is None when the rule cannot be applied
    yet (the reason says what is missing), never a guess."""
    if not complete or any(value is None for value in healthy.values()):
        lacking = [] if complete else ["every run of both factorials"]
        lacking += [f"the skip health of {name}" for name, value in healthy.items() if value is None]
        return {"default": None, "reason": f"the rule is not applied yet: it needs {' and '.join(lacking)}"}
    miou, fa = _side(difference["miou"], "miou"), _side(difference["fa"], "fa")
    if not healthy[reading]:
        shut = "both readings shut" if not healthy["crossed"] else f"{reading} shuts"
        return {"default": "crossed", "reason": f"{shut} the fine skips in at least one run, so the default stays "
                                                f"crossed" + ("" if healthy["crossed"] else
                                                              " and MSIC as built does not use its finest skips")}
    # Rules 2 and 3: the healthy reading wins unless (a) its mIoU is worse beyond the interval, or (b) its Fa is
    # worse beyond the interval while its mIoU is not better beyond it.
    if miou < 0:
        return {"default": "crossed", "reason": f"{reading} keeps its fine skips in use, but its mIoU is lower than "
                                                f"crossed's beyond the interval, so the default stays crossed"}
    if fa < 0 and miou <= 0:
        return {"default": "crossed", "reason": f"{reading} keeps its fine skips in use, but its false alarms are "
                                                f"higher beyond the interval without a gain in mIoU beyond it, so "
                                                f"the default stays crossed"}
    where = "where crossed shuts them" if not healthy["crossed"] else "as crossed does"
    return {"default": reading, "reason": f"{reading} keeps its fine skips in use {where}, and it is not worse "
                                          f"than crossed beyond the intervals on mIoU or on false alarms"}


def analyse_readings(plan: AblationPlan = PLANS["NUDT-SIRST"], reading: str = "unit_gain",
                     root: str | os.PathLike = ROOT) -> dict[str, Any]:
    """Everything the side-by-side block shows, JSON-able (``results/ablation_KEY_msic_NAME.json``)."""
    root = Path(root)
    crossed, _ = load_records(root / plan.records)
    other, failed = load_reading_records(plan, reading, root)
    beside = plan.beside
    wanted = [f"{v}_s{s}" for s in SEEDS for v in MSIC_CELLS]
    have = {f"{r['model']}_s{r['seed']}" for r in other if VARIANTS.get(r["model"], {}).get("msic")}
    runs = {"missing": [name for name in wanted if name not in have],
            "failed": missing_runs(other, failed, ())["failed"]}
    health = health_rows(plan, reading, other, root)
    healthy: dict[str, bool | None] = {}
    for name in ("crossed", reading):
        measured = [row["in_use"] for row in health if row["reading"] == name and row.get("in_use") is not None]
        expected = 2 if name == "crossed" else len(wanted)
        healthy[name] = False if False in measured else (True if len(measured) >= expected else None)
    difference = reading_difference(crossed, other, reading)
    own_effects = effects(other, beside=beside)
    decision = decide(reading, healthy, difference, complete=not runs["missing"] and not runs["failed"])
    return {
        "dataset": plan.dataset,
        "reading": reading,
        "records_folder": plan.reading_records(reading),
        "runs": runs,
        "table": variant_rows(other, beside=beside),
        "effects": own_effects,
        "verdicts": claim_verdicts(own_effects),
        "crossed_effects": effects(crossed, beside=beside),
        "crossed_verdicts": claim_verdicts(effects(crossed, beside=beside)),
        "difference": difference,
        "health": health,
        "healthy": healthy,
        "decision": decision,
        "budget": budget_of(other, plan),
        "gate_histories": gate_histories(plan, reading, other, root),
    }


def gate_histories(plan: AblationPlan, reading: str, records: Sequence[Mapping[str, Any]],
                   root: str | os.PathLike = ROOT) -> dict[str, list[dict[str, Any]]]:
    """``{label: [{epoch, skip0_kept, skip1_kept, fine_dprob}, ...]}`` of every recorded run that logged its skip
    health: the crossed runs of ``CROSSED_HEALTH_RUNS`` and the runs of ``reading``."""
    root = Path(root)
    gate = root / CROSSED_HEALTH_RUNS
    crossed = load_records(gate)[0] if gate.is_dir() and any(gate.glob("*.json")) else []
    found = {}
    for name, group in (("crossed", crossed), (reading, [r for r in records if msic_reading_of(r) == reading])):
        for record in sorted(group, key=lambda r: (int(r["seed"]), TABLE_ORDER.index(r["model"]))):
            rows = [{"epoch": row["epoch"], **{k: row.get(k) for k in ("skip0_kept", "skip1_kept", "skip0_dprob",
                                                                        "skip1_dprob", "fine_dprob")}}
                    for row in record.get("history", []) if row.get("skip0_kept") is not None]
            if rows:
                found[f"{name}: {record['model']} s{record['seed']}"] = rows
    return found


def budget_of(records: Sequence[Mapping[str, Any]], plan: AblationPlan) -> dict[str, Any]:
    """What the results hold for: data, widths, crops, epochs, optimizer steps per run, seeds (from the records)."""
    if not records:
        return {}
    config = records[0]["config"]
    return {"dataset": records[0]["dataset"], "channels": list(config["channels"]), "epochs": int(config["epochs"]),
            "batch_size": int(config["batch_size"]), "crop_size": int(config["crop_size"]),
            "steps": int(config["epochs"]) * plan.steps_per_epoch, "seeds": sorted({int(r["seed"]) for r in records})}
