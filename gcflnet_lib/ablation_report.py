"""The ablation's analysis (the paper's Table 2), computed from the queue's records and never typed.

The records are the files ``scripts/ablation_queue.py`` writes (``results/ablation_nudt/VARIANT_sSEED.json``, and
``results/ablation_nuaa/`` for the same factorial on NUAA-SIRST; ``gcflnet_lib.ablation_plans`` says which is which):
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
import statistics
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from gcflnet_lib.ablation_plans import PLANS, AblationPlan
from gcflnet_lib.errors import UserError
from gcflnet_lib.models import build_model
from gcflnet_lib.models.registry import MODELS, SWITCHES, VARIANTS

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
              "eval_every", "eval_batch_size", "device", "speed_path", "compile")

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

ROOT = Path(__file__).resolve().parents[1]


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
    return finished, failed


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


def pooled_variance(table: Mapping[str, Mapping[int, Mapping[str, float]]], metric: str) -> tuple[float, int]:
    """``(s², df)``: the within-cell variance of ``metric`` pooled over the factorial cells with two or more
    seeds, and its degrees of freedom ``sum (n_c - 1)``; ``(nan, 0)`` when no cell has two seeds."""
    squares, df = 0.0, 0
    for variant in TABLE_ORDER:
        values = [scores[metric] for scores in table.get(variant, {}).values()]
        if len(values) >= 2:
            mean = sum(values) / len(values)
            squares += sum((v - mean) ** 2 for v in values)
            df += len(values) - 1
    return (squares / df, df) if df else (math.nan, 0)


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


def layout_of(record: Mapping[str, Any]) -> str:
    """``"channels_last"`` or ``"nchw"``: the memory layout a record's run trained in (see :data:`NCHW_CPU_COMMITS`)."""
    if not record["config"].get("channels_last") or record.get("git_commit") in NCHW_CPU_COMMITS:
        return "nchw"
    return "channels_last"


def layout_check(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Does the memory layout move the results? Two checks, per metric, between the cells whose two seeds trained
    in one layout ("one") and those whose seeds trained in two ("two", seed 1 channels-last in each):

    - **spread**: the pooled seed variance of each group, the F ratio ``s²(two) / s²(one)`` and its two-sided
      p-value (F distribution with the two pooled degrees of freedom);
    - **shift**: the mean of ``d = seed 1 - seed 0`` over the "two" cells minus its mean over the "one" cells, a
      difference in differences: the seeds' own common change cancels, a systematic layout effect stays. Its 95 %
      t interval pools the variance of ``d`` within the groups (``df = cells - 2``). NaN where a two-layout cell
      trained seed 1 in NCHW, since then ``d`` would not read channels-last minus NCHW.
    """
    from scipy import stats

    layout = {(r["model"], int(r["seed"])): layout_of(r) for r in records}
    table = cells(records)
    paired = [v for v in table if set(table[v]) >= set(SEEDS)]
    groups = {"one": {v: table[v] for v in paired if len({layout[v, s] for s in SEEDS}) == 1},
              "two": {v: table[v] for v in paired if len({layout[v, s] for s in SEEDS}) == 2}}
    oriented = all(layout[v, SEEDS[1]] == "channels_last" for v in groups["two"])
    found: dict[str, Any] = {"cells": {key: sorted(group, key=TABLE_ORDER_AND_BESIDE.index) for key, group in groups.items()}}
    for metric in METRICS:
        (one, df_one), (two, df_two) = (pooled_variance(groups[key], metric) for key in ("one", "two"))
        ratio = two / one if df_one and df_two and one > 0 else math.nan
        p = (2 * min(stats.f.cdf(ratio, df_two, df_one), stats.f.sf(ratio, df_two, df_one))
             if not math.isnan(ratio) else math.nan)
        item = {"sd_one": math.sqrt(one) if df_one else math.nan, "df_one": df_one,
                "sd_two": math.sqrt(two) if df_two else math.nan, "df_two": df_two,
                "ratio": ratio, "p": float(min(1.0, p)) if not math.isnan(p) else math.nan,
                "shift": math.nan, "shift_low": math.nan, "shift_high": math.nan, "shift_df": 0}
        diffs = {key: [group[v][SEEDS[1]][metric] - group[v][SEEDS[0]][metric] for v in group]
                 for key, group in groups.items()}
        df = len(diffs["one"]) + len(diffs["two"]) - 2
        if oriented and diffs["one"] and diffs["two"] and df > 0:
            means = {key: sum(d) / len(d) for key, d in diffs.items()}
            squares = sum((x - means[key]) ** 2 for key, d in diffs.items() for x in d)
            half = float(stats.t.ppf(0.975, df)) * math.sqrt(squares / df * sum(1 / len(d) for d in diffs.values()))
            shift = means["two"] - means["one"]
            item.update(shift=shift, shift_low=shift - half, shift_high=shift + half, shift_df=df)
        found[metric] = item
    return found


def replica_rows(records: Sequence[Mapping[str, Any]], replicas: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Runs trained twice with one seed, beside the other seed of their cell: per metric the factorial's value, the
    replica's, ``replica - factorial`` and ``other seed - factorial`` (Fa x1e-6). A replica whose run is not in
    the factorial is listed with its factorial values absent."""
    scores = {(r["model"], int(r["seed"])): r for r in records}
    rows = []
    for replica in sorted(replicas, key=lambda r: (TABLE_ORDER_AND_BESIDE.index(r["model"]), r["seed"])):
        model, seed = replica["model"], int(replica["seed"])
        first, other = scores.get((model, seed)), next((scores[model, s] for s in SEEDS if s != seed and (model, s) in scores), None)
        row: dict[str, Any] = {"name": f"{model}_s{seed}", "variant": model, "seed": seed,
                               "layouts": [layout_of(first) if first else None, layout_of(replica)]}
        for metric in METRICS:
            again = _reported(replica["final"], metric)
            before = _reported(first["final"], metric) if first else math.nan
            second = _reported(other["final"], metric) if other else math.nan
            row[metric] = {"factorial": before, "replica": again, "replica_change": again - before,
                           "other_seed_change": second - before}
        rows.append(row)
    return rows


def spread_check(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The intervals pool the seed spread over the cells, which assumes it is alike across variants. Bartlett's test
    of that, per metric, over the cells with both seeds (statistic, df = cells - 1, p), and the widest cell with its
    standard deviation between the seeds. NaN with fewer than two such cells or a cell whose seeds agree exactly."""
    from scipy import stats

    table = cells(records)
    paired = sorted((v for v in table if len(table[v]) >= 2), key=TABLE_ORDER_AND_BESIDE.index)
    found: dict[str, Any] = {"cells": paired}
    for metric in METRICS:
        samples = [[seeds[s][metric] for s in sorted(seeds)] for seeds in (table[v] for v in paired)]
        sds = [statistics.stdev(values) for values in samples]
        item = {"statistic": math.nan, "df": max(0, len(paired) - 1), "p": math.nan, "widest": None, "widest_sd": math.nan}
        if sds:
            widest = max(range(len(sds)), key=sds.__getitem__)
            item.update(widest=paired[widest], widest_sd=sds[widest])
        if len(paired) >= 2 and all(sd > 0 for sd in sds):
            result = stats.bartlett(*samples)
            item.update(statistic=float(result.statistic), p=float(result.pvalue))
        found[metric] = item
    return found


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


# ---- the report: markdown for README.md, docs/ABLATION.md and notebook 09, and the figure ----

NAMES = {"unet": "U-Net (baseline)", "gcflnet_eem": "+ EEM", "gcflnet_glfi": "+ GLFI", "gcflnet_msic": "+ MSIC",
         "gcflnet_eem_glfi": "+ EEM + GLFI", "gcflnet_eem_msic": "+ EEM + MSIC", "gcflnet_glfi_msic": "+ GLFI + MSIC",
         "gcflnet": "GCFLNet (all three)", "unet_wide": "U-Net, wide (GCFLNet's size)"}
DIGITS = {"miou": 4, "niou": 4, "pd": 4, "fa": 2}


def _absent(value: Any) -> bool:
    """NaN, or the None that NaN becomes in the JSON form of the analysis (the report reads either)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _mean_range(row: Mapping[str, Any], metric: str) -> str:
    value, half = row[metric], row[f"{metric}_half_range"]
    if _absent(value):
        return "–"
    text = f"{value:.{DIGITS[metric]}f}"
    return text + (f" ± {half:.{DIGITS[metric]}f}" if not _absent(half) else " (one seed)")


def _interval(item: Mapping[str, Any], metric: str) -> str:
    if item["missing"]:
        return "–"
    digits = DIGITS[metric]
    text = f"{item['estimate']:+.{digits}f}"
    if _absent(item["low"]):
        return text + " †"
    return f"{text} [{item['low']:+.{digits}f}, {item['high']:+.{digits}f}]"


def table_markdown(rows: Sequence[Mapping[str, Any]], with_time: bool = True) -> str:
    head = ["variant", "EEM", "GLFI", "MSIC", "params", *(LABELS[m] for m in METRICS), "seeds"]
    if with_time:
        head.append("minutes")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells_ = [NAMES[row["variant"]], *("✓" if row[s] else "" for s in SWITCHES),
                  f"{row['params']:,}" if row["params"] else "–", *(_mean_range(row, m) for m in METRICS),
                  ",".join(map(str, row["seeds"])) or "–"]
        if with_time:
            cells_.append("–" if _absent(row["minutes"]) else f"{row['minutes']:.1f}")
        lines.append("| " + " | ".join(cells_) + " |")
    return "\n".join(lines)


def layout_markdown(check: Mapping[str, Any]) -> str:
    """The layout check of :func:`layout_check` as a sentence and a table; empty while either group is."""
    one, two = ([NAMES[v] for v in check["cells"][key]] for key in ("one", "two"))
    if not one or not two:
        return ""
    lines = [f"**Layout check**: the seeds of {', '.join(one)} trained in one memory layout, those of "
             f"{', '.join(two)} in two (seed 0 NCHW, seed 1 channels-last). If the layout moved the results beyond "
             "the seed's spread, the second group would spread more: standard deviation between the seeds pooled "
             "within each group, F = ratio of the variances (two / one), two-sided p. The groups hold different "
             "variants, so a large F may also mean that those variants vary more from seed to seed; only a seed "
             "trained again in the other layout tells the two apart. Shift: the mean change from seed 0 to seed 1 "
             "in the second group minus that in the first, with its 95 % t interval: a systematic effect of the "
             "layout, once the seeds' common change cancels:", "",
             "|  | sd, one layout (df) | sd, two layouts (df) | F | p | shift [95 %] |", "|---|---|---|---|---|---|"]
    for metric in METRICS:
        item, digits = check[metric], DIGITS[metric]
        sd = {key: "–" if _absent(item[f"sd_{key}"]) else f"{item[f'sd_{key}']:.{digits}f} ({item[f'df_{key}']})"
              for key in ("one", "two")}
        ratio = "–" if _absent(item["ratio"]) else f"{item['ratio']:.2f}"
        p = "–" if _absent(item["p"]) else f"{item['p']:.2f}"
        shift = ("–" if _absent(item["shift_low"]) else
                 f"{item['shift']:+.{digits}f} [{item['shift_low']:+.{digits}f}, {item['shift_high']:+.{digits}f}]")
        lines.append(f"| {LABELS[metric]} | {sd['one']} | {sd['two']} | {ratio} | {p} | {shift} |")
    return "\n".join(lines)


def replicas_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The runs trained again (:func:`replica_rows`) as a sentence and a table; empty without any."""
    if not rows:
        return ""
    lines = ["**Same seed, trained again** (`python scripts/ablation_queue.py --replicate NAME`): a recorded run "
             "trained a second time with its seed and today's code. If it moves about as far as the other seed of its "
             "cell, the rounding of the layout perturbs a run as much as a change of seed does, and the seed spread "
             "above is that of the training itself:", "",
             "| run | layouts (first → again) | metric | first | again | again − first | other seed − first |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        run = f"{NAMES[row['variant']]}, seed {row['seed']}"
        layouts = " → ".join(str(x or "–") for x in row["layouts"])
        for metric in METRICS:
            item, digits = row[metric], DIGITS[metric]
            values = [("–" if _absent(item[key]) else f"{item[key]:{sign}.{digits}f}")
                      for key, sign in (("factorial", ""), ("replica", ""), ("replica_change", "+"),
                                        ("other_seed_change", "+"))]
            lines.append(f"| {run} | {layouts} | {LABELS[metric]} | " + " | ".join(values) + " |")
            run = layouts = ""
    return "\n".join(lines)


def spread_markdown(check: Mapping[str, Any]) -> str:
    """The spread check of :func:`spread_check` as a sentence and a table; empty with fewer than two cells."""
    if len(check["cells"]) < 2:
        return ""
    lines = ["**Equal-spread check**: the intervals pool the seed spread over the cells, which assumes it is alike "
             f"across variants. Bartlett's test of that over the {len(check['cells'])} cells with both seeds (a small p "
             "says the spread differs: intervals of comparisons that involve the widest cells are then too narrow, "
             "the others too wide):", "", "|  | Bartlett's statistic (df) | p | widest cell (sd between seeds) |",
             "|---|---|---|---|"]
    for metric in METRICS:
        item, digits = check[metric], DIGITS[metric]
        statistic = "–" if _absent(item["statistic"]) else f"{item['statistic']:.2f} ({item['df']})"
        p = "–" if _absent(item["p"]) else f"{item['p']:.3f}"
        widest = "–" if item["widest"] is None else f"{NAMES[item['widest']]} ({item['widest_sd']:.{digits}f})"
        lines.append(f"| {LABELS[metric]} | {statistic} | {p} | {widest} |")
    return "\n".join(lines)


def effects_markdown(groups: Sequence[tuple[str, Mapping[str, Mapping[str, Any]]]]) -> str:
    """A table of contrasts with their intervals; a footnote names the runs that are missing or lack a seed."""
    head = ["", *(LABELS[m] for m in METRICS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    missing: set[str] = set()
    short: set[str] = set()
    for label, metrics in groups:
        lines.append("| " + " | ".join([label, *(_interval(metrics[m], m) for m in METRICS)]) + " |")
        for item in metrics.values():
            missing.update(item["missing"])
            short.update(item["no_interval"])
    order = [*TABLE_ORDER, *BESIDE]  # names only: a baseline not in this analysis is never missing
    notes = []
    if missing:
        notes.append("–: no run yet of " + ", ".join(NAMES[v] for v in order if v in missing))
    if short:
        notes.append("†: no interval until both seeds are in for " + ", ".join(NAMES[v] for v in order if v in short))
    return "\n".join(lines + ([""] + ["; ".join(notes) + "."] if notes else []))


def _effect_groups(found: Mapping[str, Any]) -> dict[str, list[tuple[str, Mapping[str, Any]]]]:
    return {
        "main": [(s.upper(), found["main"][s]) for s in SWITCHES],
        "interactions": [(key.upper().replace("X", " × "), value) for key, value in found["interactions"].items()],
        "alone": [(f"{s.upper()} alone − U-Net", found["alone"][s]) for s in SWITCHES],
        "gcflnet_vs": [(f"GCFLNet − {NAMES[v]}", found["gcflnet_vs"][v]) for v in found["gcflnet_vs"]]
        + ([("GCFLNet − U-Net, wide", found["gcflnet_vs_unet_wide"]), ("U-Net, wide − U-Net", found["unet_wide_vs_unet"])]
           if "gcflnet_vs_unet_wide" in found else []),
    }


def report_markdown(analysis: Mapping[str, Any], figure: str | None = None) -> str:
    """The whole analysis as markdown (the generated block of README.md and docs/ABLATION.md, and 09's result)."""
    runs = analysis["runs"]
    recipe = analysis["recipe"] or {}
    dataset, cross = analysis["dataset"], analysis["cross_dataset"]
    done = len(analysis["records"])
    lines = [f"{done} of {done + len(runs['missing']) + len(runs['failed'])} runs recorded "
             f"(records: `{analysis['records_folder']}/`; recipe: {recipe.get('epochs')} epochs, widths "
             f"{'..'.join(str(c) for c in (recipe.get('channels') or [])[::max(1, len(recipe.get('channels') or [1]) - 1)])}, "
             f"{recipe.get('crop_size')}x{recipe.get('crop_size')} crops, batch {recipe.get('batch_size')}, lr "
             f"{recipe.get('lr')}, milestones {recipe.get('milestones')}; last epoch, threshold 0.5)."]
    if runs["missing"]:
        lines.append(f"Not yet run: {', '.join(runs['missing'])}.")
    if runs["failed"]:
        lines.append(f"Failed (see their `.failed.json` logs): {', '.join(runs['failed'])}.")
    lines += ["", f"**Table 2 layout, {dataset} test split** (mean ± half-range over the seeds; minutes: wall time of "
              "a run, two 1-thread runs side by side on the shared 2-core machine):", "",
              table_markdown(analysis["table"]), ""]
    for block in (spread_markdown(analysis["spread_check"]), layout_markdown(analysis["layout_check"]),
                  replicas_markdown(analysis["replicas"])):
        lines += [block, ""] if block else []
    groups = _effect_groups(analysis["effects"])
    cross_groups = _effect_groups(analysis["cross_effects"])
    df = analysis["effects"]["pooled_df"]["miou"]
    lines += [f"**Main effects** (mean change when the module is switched on, over the four settings of the other two; "
              f"95 % t interval from the seed spread pooled over the cells, {df} degrees of freedom):", "",
              effects_markdown(groups["main"]), "",
              "**Two-way interactions** (½ × (effect of the first with the second on − with it off)):", "",
              effects_markdown(groups["interactions"]), "",
              "**Each module alone against the baseline** (the paper's comparison):", "",
              effects_markdown(groups["alone"]), "",
              "**GCFLNet against every other variant**"
              + (", and the wide U-Net (better, or bigger?):" if "unet_wide" in analysis["beside"] else ":"), "",
              effects_markdown(groups["gcflnet_vs"]), "",
              f"**Across datasets**: trained on {dataset}, scored on the {cross} test split. Main effects, "
              "beside the in-domain ones above:", "",
              effects_markdown(cross_groups["main"]), "",
              table_markdown(analysis["cross_table"], with_time=False), "",
              "**The paper's claims** (Section 4.4), judged from the in-domain intervals: *supported* when every metric "
              "it names improves beyond its interval, *contradicted* when any gets worse beyond it, else *inconclusive*:",
              "", "| claim | metrics | verdict |", "|---|---|---|"]
    for key, claim in CLAIMS.items():
        found = analysis["verdicts"][key]
        extra = ""
        if "against" in found:
            extra = " (" + ", ".join(f"{NAMES[v]}: {w}" for v, w in found["against"].items()) + ")"
        lines.append(f"| \"{claim['quote']}\" | {', '.join(LABELS[m] for m in claim['metrics'])} | "
                     f"**{found['verdict']}**{extra} |")
    lines += ["", analysis["anchors_note"], "", "| source | IoU (%) | Pd (%) | Fa (x1e-6) |", "|---|---|---|---|"]
    lines += [f"| {a['source']} | {a['iou']:.2f} | {a['pd']:.2f} | {a['fa']:.2f} |" for a in analysis["anchors"]]
    if figure:
        lines += ["", f"![ablation]({figure})"]
    return "\n".join(lines)


def plot_report(analysis: Mapping[str, Any], path: str | os.PathLike | None = None):
    """Bars per variant (mean, error bar the seeds' range) and the main effects with their 95 % intervals."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7), layout="constrained")
    rows = analysis["table"]
    labels = [NAMES[r["variant"]].replace(" (baseline)", "").replace(" (all three)", "").replace(", wide (GCFLNet's size)", " wide")
              for r in rows]
    for ax, metric in zip(axes[0], METRICS):
        means = [math.nan if _absent(r[metric]) else r[metric] for r in rows]
        halves = [0.0 if _absent(r[f"{metric}_half_range"]) else r[f"{metric}_half_range"] for r in rows]
        colours = ["0.6" if r["variant"] in BESIDE else plt.cm.viridis(sum(r[s] for s in SWITCHES) / 3) for r in rows]
        ax.bar(range(len(rows)), means, yerr=halves, color=colours, capsize=3)
        ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=8)
        ax.set_title(f"{LABELS[metric]}{' (lower is better)' if metric == 'fa' else ''}, {analysis['dataset']}")
    for ax, metric in zip(axes[1], METRICS):
        for offset, (key, colour, name) in enumerate((("effects", "C0", analysis["dataset"]),
                                                      ("cross_effects", "C1", f"scored on {analysis['cross_dataset']}"))):
            main = analysis[key]["main"]
            ys = [i + 0.15 * (offset * 2 - 1) for i in range(len(SWITCHES))]
            estimates = [math.nan if _absent(main[s][metric]["estimate"]) else main[s][metric]["estimate"]
                         for s in SWITCHES]
            errors = [[0 if _absent(main[s][metric]["low"]) else main[s][metric]["estimate"] - main[s][metric]["low"]
                       for s in SWITCHES],
                      [0 if _absent(main[s][metric]["high"]) else main[s][metric]["high"] - main[s][metric]["estimate"]
                       for s in SWITCHES]]
            ax.errorbar(estimates, ys, xerr=errors, fmt="o", color=colour, capsize=3, label=name)
        if all(_absent(analysis["effects"]["main"][s][metric]["estimate"]) for s in SWITCHES):
            ax.text(0.5, 0.5, "main effects need a run of all 8 variants", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9, color="0.4")
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_yticks(range(len(SWITCHES)), [s.upper() for s in SWITCHES])
        ax.set_title(f"main effect on {LABELS[metric]}, 95 % interval")
    axes[1][0].legend(fontsize=8, loc="best")
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
