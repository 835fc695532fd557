"""The ablation's analysis (the paper's Table 2), computed from the queue's records and never typed.

The records are the files ``scripts/ablation_queue.py`` writes (``results/ablation_nudt/VARIANT_sSEED.json``, and
``results/ablation_nuaa/`` for the same factorial on NUAA-SIRST; ``gcflnet_lib.ablation.plans`` says which is which):
one training each, with its last-epoch test metrics (``final``) and its score on another dataset
(``cross``). This module reads them as a 2x2x2 factorial design with replicates, the three switches EEM,
GLFI and MSIC being the factors and the seeds the replicates, and writes:

- the **Table 2 layout**: one row per variant, mIoU, nIoU, Pd, Fa as mean ± half-range over the seeds,
  parameters and wall time;
- **main effects**: for switch ``s``, ``mean(cells with s on) - mean(cells with s off)``, which is the
  mean of the change ``x(s on) - x(s off)`` over the four settings of the other two switches;
- **two-way interactions**: for switches ``s`` and ``t``, the standard factorial effect
  ``½ (effect of s with t on - effect of s with t off)``, on the scale of the main effects;
- **each module alone** against the baseline (the paper's comparison), and **GCFLNet against every other
  variant** (the paper's "best overall");
- the same main effects for the cross-dataset scores.

**Intervals.** Every estimate is a linear contrast ``sum_c w_c m_c`` of the cell means ``m_c``. Its 95 %
interval is ``estimate ± t(0.975, df) · s · sqrt(sum_c w_c² / n_c)``, with ``s²`` the pooled variance of the
seeds within the cells (the residual of the saturated factorial model, as in Box, Hunter and Hunter's
analysis of replicated factorials) and ``df = sum_c (n_c - 1)``: 8 degrees of freedom with 2 seeds in all
8 cells, so the pooled spread of all cells serves every comparison. The interval assumes the seed-to-seed
spread is alike across variants and the seeds independent. An interval is computed only where every cell
an estimate uses holds both seeds; otherwise the estimate stands alone and the missing runs are named.

**Verdicts.** For a claim that a module improves the metrics the paper names: "supported" when every named
metric's interval lies on the better side of zero (higher mIoU, nIoU, Pd; lower Fa), "contradicted" when any
lies wholly on the worse side, else "inconclusive".
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from gcflnet_lib.ablation.checks import layout_check, replica_rows, spread_check
from gcflnet_lib.ablation.plans import PLANS, AblationPlan
from gcflnet_lib.ablation.records import (BESIDE, CLAIMS, METRICS, ROOT, SEEDS, TABLE_ORDER, _check_one_recipe,
                                          _variant_of_cell, cells, load_records, pooled_variance, recipe_of)
from gcflnet_lib.errors import UserError
from gcflnet_lib.models import build_model
from gcflnet_lib.models.registry import MODELS, SWITCHES

def contrast(table: Mapping[str, Mapping[int, Mapping[str, float]]], weights: Mapping[str, float], metric: str,
             variance: tuple[float, int]) -> dict[str, Any]:
    """The contrast ``sum_c w_c m_c`` of the cell means, with its 95 % t interval (see the module docstring).

    Returns ``{"estimate", "low", "high", "missing", "no_interval"}``: ``missing`` lists the variants
    without any run (no estimate then), ``no_interval`` those with fewer than both seeds (no interval).
    """
    from scipy import stats

    missing = [v for v in weights if not table.get(v)]
    if missing:
        return {"estimate": math.nan, "low": math.nan, "high": math.nan, "missing": missing, "no_interval": []}
    means = {v: sum(s[metric] for s in table[v].values()) / len(table[v]) for v in weights}
    estimate = sum(w * means[v] for v, w in weights.items())
    short = [v for v in weights if len(table[v]) < len(SEEDS)]
    s2, df = variance
    if short or df == 0:
        return {"estimate": estimate, "low": math.nan, "high": math.nan, "missing": [], "no_interval": short}
    half = float(stats.t.ppf(0.975, df)) * math.sqrt(s2 * sum(w * w / len(table[v]) for v, w in weights.items()))
    return {"estimate": estimate, "low": estimate - half, "high": estimate + half, "missing": [], "no_interval": []}


def main_effect_weights(switch: str) -> dict[str, float]:
    """Weights of ``mean(s on) - mean(s off)`` over the 8 cells: +1/4 or -1/4."""
    index = SWITCHES.index(switch)
    return {name: (0.25 if cell[index] else -0.25) for cell, name in _variant_of_cell().items()}


def interaction_weights(first: str, second: str) -> dict[str, float]:
    """Weights of the two-way interaction ``½ (effect of first | second on - effect of first | second off)``."""
    i, j = SWITCHES.index(first), SWITCHES.index(second)
    return {name: 0.25 * (1 if cell[i] else -1) * (1 if cell[j] else -1) for cell, name in _variant_of_cell().items()}


def difference_weights(variant: str, reference: str) -> dict[str, float]:
    return {variant: 1.0, reference: -1.0}


def better_sign(metric: str) -> int:
    """+1 where higher is better (IoU, Pd), -1 for Fa."""
    return -1 if metric == "fa" else 1


def verdict(intervals: Mapping[str, Mapping[str, Any]], metrics: Sequence[str]) -> str:
    """"supported", "contradicted" or "inconclusive" from the 95 % intervals of improvements in ``metrics``
    (a difference ``better - reference`` per metric; see the module docstring)."""
    sides = []
    for metric in metrics:
        item = intervals[metric]
        if math.isnan(item["low"]):
            sides.append(0)
            continue
        low, high = sorted((better_sign(metric) * item["low"], better_sign(metric) * item["high"]))
        sides.append(1 if low > 0 else (-1 if high < 0 else 0))
    if any(side < 0 for side in sides):
        return "contradicted"
    return "supported" if sides and all(side > 0 for side in sides) else "inconclusive"


def variant_rows(records: Sequence[Mapping[str, Any]], where: str = "in_domain",
                 beside: Sequence[str] = BESIDE) -> list[dict[str, Any]]:
    """The Table 2 layout (and the ``beside`` baselines after it): mean and half-range over the seeds per variant."""
    table = cells(records, where)
    minutes: dict[str, list[float]] = {}
    channels = None
    for record in records:
        minutes.setdefault(record["model"], []).append(float(record["wall_time_s"]) / 60)
        channels = tuple(record["config"]["channels"])
    rows = []
    for variant in (*TABLE_ORDER, *beside):
        seeds = table.get(variant, {})
        row: dict[str, Any] = {"variant": variant, "seeds": sorted(seeds)}
        flags = _switches_of(variant)
        row.update(flags)
        row["params"] = (sum(p.numel() for p in build_model(variant, channels=channels).parameters())
                         if channels else None)
        for metric in METRICS:
            values = [s[metric] for s in seeds.values()]
            row[metric] = sum(values) / len(values) if values else math.nan
            row[f"{metric}_half_range"] = (max(values) - min(values)) / 2 if len(values) >= 2 else math.nan
        times = minutes.get(variant, [])
        row["minutes"] = sum(times) / len(times) if times and where == "in_domain" else math.nan
        rows.append(row)
    return rows


def _switches_of(variant: str) -> dict[str, bool]:
    return {s: bool(MODELS[variant][s]) for s in SWITCHES}


def effects(records: Sequence[Mapping[str, Any]], where: str = "in_domain",
            beside: Sequence[str] = BESIDE) -> dict[str, Any]:
    """Main effects, interactions, each module alone and GCFLNet against each variant (and against the wide
    U-Net, when it is ``beside``), with intervals."""
    table = cells(records, where)
    variances = {m: pooled_variance(table, m) for m in METRICS}

    def all_metrics(weights: Mapping[str, float]) -> dict[str, dict[str, Any]]:
        return {m: contrast(table, weights, m, variances[m]) for m in METRICS}

    found = {
        "pooled_df": {m: variances[m][1] for m in METRICS},
        "main": {s: all_metrics(main_effect_weights(s)) for s in SWITCHES},
        "interactions": {f"{a}x{b}": all_metrics(interaction_weights(a, b)) for a, b in combinations(SWITCHES, 2)},
        "alone": {s: all_metrics(difference_weights(f"gcflnet_{s}", "unet")) for s in SWITCHES},
        "gcflnet_vs": {v: all_metrics(difference_weights("gcflnet", v)) for v in TABLE_ORDER if v != "gcflnet"},
    }
    if "unet_wide" in beside:
        found["unet_wide_vs_unet"] = all_metrics(difference_weights("unet_wide", "unet"))
        found["gcflnet_vs_unet_wide"] = all_metrics(difference_weights("gcflnet", "unet_wide"))
    return found


def claim_verdicts(found: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The verdict on each of :data:`CLAIMS`, from the in-domain intervals of :func:`effects`."""
    verdicts = {}
    for key, claim in CLAIMS.items():
        if key == "all_three_best":
            each = {v: verdict(found["gcflnet_vs"][v], claim["metrics"]) for v in found["gcflnet_vs"]}
            if any(v == "contradicted" for v in each.values()):
                overall = "contradicted"
            elif all(v == "supported" for v in each.values()):
                overall = "supported"
            else:
                overall = "inconclusive"
            verdicts[key] = {"verdict": overall, "against": each}
        else:
            switch = claim["variant"].removeprefix("gcflnet_")
            verdicts[key] = {"verdict": verdict(found["alone"][switch], claim["metrics"])}
    return verdicts


def missing_runs(records: Sequence[Mapping[str, Any]], failed: Sequence[Mapping[str, Any]],
                 beside: Sequence[str] = BESIDE) -> dict[str, list[str]]:
    """``{"missing": [...], "failed": [...]}`` job names of the full plan (8 variants and ``beside``, both seeds)."""
    have = {f"{r['model']}_s{r['seed']}" for r in records}
    failed_names = sorted(str(f.get("name", f["file"].removesuffix(".failed.json"))) for f in failed)
    plan = [f"{v}_s{s}" for s in SEEDS for v in (*TABLE_ORDER, *beside)]
    return {"missing": [name for name in plan if name not in have and name not in failed_names], "failed": failed_names}


def plan_anchors(plan: AblationPlan, root: str | os.PathLike = ROOT) -> list[dict[str, Any]]:
    """The plan's typed anchors, then its anchor records' last-epoch test metrics (IoU, Pd in %, Fa x1e-6).

    Raises:
        UserError: an anchor record is missing or holds no final mIoU, Pd and Fa (the message names the file).
    """
    anchors = [dict(a) for a in plan.anchors]
    for source, name in plan.anchor_records:
        path = Path(root) / name
        try:
            final = json.loads(path.read_text(encoding="utf-8"))["final"]
            anchors.append({"source": f"{source} (`{name}`)", "iou": 100 * float(final["miou"]),
                            "pd": 100 * float(final["pd"]), "fa": 1e6 * float(final["fa"])})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"{path}: anchor record for the {plan.dataset} ablation not readable ({exc!r})") from None
    return anchors


def analyse(folder: str | os.PathLike, plan: AblationPlan = PLANS["NUDT-SIRST"],
            root: str | os.PathLike = ROOT, replicas: str | os.PathLike | None = None) -> dict[str, Any]:
    """Everything the report shows, as one JSON-able dict (``results/ablation_KEY.json``).

    ``plan`` names the cross-dataset entry of the records, the baselines beside the factorial and the anchors
    (read from ``root`` where they are records). ``replicas``: a folder of runs trained again with the same seed
    (``ablation_queue.py --replicate``); they must share the factorial's recipe."""
    records, failed = load_records(folder)
    again = load_records(replicas)[0] if replicas is not None else []
    _check_one_recipe([*records, *({**r, "file": f"replicas/{r['file']}"} for r in again)])
    foreign = sorted(r["file"] for r in records if r["dataset"] != plan.dataset)
    if foreign:
        raise UserError(f"{folder}: records of another dataset than {plan.dataset}: {', '.join(foreign)}")
    cross_key, beside = plan.cross_key, plan.beside
    in_domain = effects(records, beside=beside)
    return {
        "records": [r["file"] for r in records],
        "records_folder": plan.records,
        "dataset": plan.dataset,
        "cross_dataset": next((r["cross"][cross_key]["dataset"] for r in records if cross_key in r.get("cross", {})),
                              plan.cross_dataset),
        "recipe": recipe_of(records[0]) if records else None,
        "runs": missing_runs(records, failed, beside),
        "beside": list(beside),
        "table": variant_rows(records, beside=beside),
        "cross_table": variant_rows(records, cross_key, beside),
        "effects": in_domain,
        "layout_check": layout_check(records),
        "spread_check": spread_check(records),
        "replicas": replica_rows(records, again),
        "cross_effects": effects(records, cross_key, beside),
        "verdicts": claim_verdicts(in_domain),
        "anchors": plan_anchors(plan, root),
        "anchors_note": plan.anchors_note,
    }

