"""The budget study: U-Net, + EEM and GCFLNet at K times the recipe's steps, set against the recipe itself (1x).

Every run of the NUDT-SIRST factorial stops at about 2600 optimizer steps while its test mIoU is still climbing, so
its verdicts may measure how fast a variant learns early rather than what it can reach. The study trains three of
its cells K times longer (``scripts/ablation_queue.py --budget K --msic-reading unit_gain``: ``--epochs 64 K``,
milestones at the same fractions) and reads them as ``docs/ABLATION.md`` pre-registers:

- **records**: 1x, U-Net and + EEM of the measured factorial (``results/ablation_nudt/``) and GCFLNet of the
  ``unit_gain`` factorial (the reading the 4x GCFLNet trains with); Kx, ``results/ablation_nudt_budgetKx/``;
- **contrasts** GCFLNet - U-Net, + EEM - U-Net, GCFLNet - + EEM on the test split's mIoU and Fa, per budget, with the
  95 % interval ``± t(0.975, df) s sqrt(1/n1 + 1/n2)``, ``s²`` pooled over that budget's three cells (df 3);
- **verdict at one budget**: "first ahead" or "second ahead" when the interval lies wholly on one side (higher mIoU,
  lower Fa is ahead), "no difference shown" otherwise, none without both seeds in both cells;
- **kept or overturned**: a 1x verdict is kept when the Kx verdict is the same; a change is one of significance
  (between "ahead" and "no difference shown") or of direction (between the two "ahead"s); a change of the
  estimate's sign is said apart.

:func:`analyse_budget` computes it from the records (a JSON-ready dict), :func:`budget_markdown` writes the block,
opening with the conclusion in plain words, and :func:`plot_budget` draws test mIoU against optimizer steps.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gcflnet_lib.ablation.analysis import contrast, difference_weights
from gcflnet_lib.ablation.plans import AblationPlan
from gcflnet_lib.ablation.render import _absent
from gcflnet_lib.ablation.records import SEEDS, cells, load_records, pooled_variance
from gcflnet_lib.diagnostics import DEAD_PROBABILITY_CHANGE
from gcflnet_lib.engine.health import HEALTH_CROPS
from gcflnet_lib.engine.presets import preset_values
from gcflnet_lib.models.registry import VARIANTS

BUDGET_VARIANTS = ("unet", "gcflnet_eem", "gcflnet")  # the cells trained longer; the queue runs seed 0 of all first
NAMES = {"unet": "U-Net", "gcflnet_eem": "+ EEM", "gcflnet": "GCFLNet"}
CONTRASTS = (("gcflnet", "unet"), ("gcflnet_eem", "unet"), ("gcflnet", "gcflnet_eem"))
JUDGED = ("miou", "fa")  # the metrics the pre-registered reading judges; Fa in units of 1e-6
DIGITS = {"miou": 4, "fa": 2}
LABELS = {"miou": "mIoU", "fa": "Fa (x1e-6)"}


def one_x_folders(plan: AblationPlan, reading: str) -> dict[str, str]:
    """Variant -> the folder of its 1x records: the measured factorial, and for the cells with MSIC the factorial of
    ``reading`` (the reading the longer GCFLNet trains with)."""
    return {name: plan.reading_records(reading) if VARIANTS[name]["msic"] else plan.records for name in BUDGET_VARIANTS}


def budget_folder(plan: AblationPlan, factor: int) -> str:
    return f"results/ablation_{plan.key}_budget{factor}x"


def _records_of(folder: Path, variants: Sequence[str]) -> list[dict[str, Any]]:
    """The finished records of ``variants`` in ``folder`` (none when the folder does not exist yet)."""
    if not folder.is_dir() or not any(folder.glob("*.json")):
        return []
    finished, _ = load_records(folder)
    return [record for record in finished if record["model"] in variants]


def verdict_of(item: Mapping[str, Any], metric: str) -> str | None:
    """"first ahead", "second ahead" or "no difference shown" for a ``first - second`` contrast; None without an
    interval."""
    if item["missing"] or item["no_interval"] or _absent(item["low"]):
        return None
    sign = -1 if metric == "fa" else 1  # lower Fa is ahead
    low, high = sorted((sign * item["low"], sign * item["high"]))
    return "first ahead" if low > 0 else ("second ahead" if high < 0 else "no difference shown")


def _cell_rows(table: Mapping[str, Mapping[int, Mapping[str, float]]]) -> dict[str, dict[str, Any]]:
    rows = {}
    for name in BUDGET_VARIANTS:
        seeds = table.get(name, {})
        row: dict[str, Any] = {"seeds": sorted(seeds)}
        for metric in ("miou", "niou", "pd", "fa"):
            values = [scores[metric] for scores in seeds.values()]
            row[metric] = sum(values) / len(values) if values else math.nan
            row[f"{metric}_half_range"] = (max(values) - min(values)) / 2 if len(values) >= 2 else math.nan
        rows[name] = row
    return rows


def inspect_folder(plan: AblationPlan, factor: int) -> str:
    """Where ``gcflnet inspect --json`` writes each Kx run's measurement of its final weights (GLFI's attention)."""
    return f"{budget_folder(plan, factor)}_inspect"


def glfi_of(path: Path) -> dict[str, Any] | None:
    """``{levels, all}``: the per-level GLFI use of ``gcflnet inspect --json`` (``gcflnet_lib.diagnostics.glfi_use``)
    and every level flattened together; None where the run was not inspected or has no GLFI."""
    if not path.is_file():
        return None
    found = json.loads(path.read_text())
    return {"levels": found["glfi"], "all": found["glfi_all"]} if found.get("glfi") else None


def run_minutes(record: Mapping[str, Any]) -> float:
    """A run's training and evaluation time from its history (each epoch's ``train_time_s`` and ``eval_time_s``):
    unlike the record's ``wall_time_s``, which counts the last process only, it adds up every session of a run
    resumed across sessions."""
    return sum(float(row.get("train_time_s", 0.0)) + float(row.get("eval_time_s", 0.0)) for row in record["history"]) / 60


def skip_levels_health(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every skip level's health at the last epoch whose history logged it (``--health-every``): ``{epoch, levels:
    [{level, dprob, iou_cost, in_use}], in_use}``, a level in use when shuffling its skip across the batch moves some
    output probability by :data:`DEAD_PROBABILITY_CHANGE` or more; None where the run logged none."""
    logged = [row for row in record.get("history", []) if row.get("skip0_dprob") is not None]
    if not logged:
        return None
    last = logged[-1]
    levels = []
    while last.get(f"skip{len(levels)}_dprob") is not None:
        level = len(levels)
        dprob = float(last[f"skip{level}_dprob"])
        levels.append({"level": level, "dprob": dprob, "iou_cost": last.get(f"skip{level}_iou_cost"),
                       "in_use": dprob >= DEAD_PROBABILITY_CHANGE})
    return {"epoch": int(last["epoch"]), "levels": levels, "in_use": all(item["in_use"] for item in levels)}


def _curve(record: Mapping[str, Any], steps_per_epoch: int) -> list[tuple[int, float]]:
    return [(int(row["epoch"]) * steps_per_epoch, float(row["miou"])) for row in record.get("history", []) if "miou" in row]


def _one_budget(records: Sequence[Mapping[str, Any]], steps_per_epoch: int, cross_key: str) -> dict[str, Any]:
    table = cells(records)
    variance = {metric: pooled_variance(table, metric, BUDGET_VARIANTS) for metric in JUDGED}
    found = {}
    for first, second in CONTRASTS:
        for metric in JUDGED:
            item = contrast(table, difference_weights(first, second), metric, variance[metric])
            found[f"{first}-{second}:{metric}"] = {**item, "verdict": verdict_of(item, metric)}
    epochs = sorted({int(record["config"]["epochs"]) for record in records})
    return {
        "cells": _cell_rows(table),
        "cross_cells": _cell_rows(cells(records, cross_key)),
        "df": variance["miou"][1],
        "contrasts": found,
        "epochs": epochs,
        "steps": [epoch * steps_per_epoch for epoch in epochs],
        "runs": {f"{record['model']}_s{record['seed']}": {
            "minutes": run_minutes(record), "device": record["device"], "file": record["file"],
            "curve": _curve(record, steps_per_epoch), "health": skip_levels_health(record)} for record in records},
    }


def _change(before: str | None, after: str | None) -> str | None:
    if before is None or after is None:
        return None
    if before == after:
        return "kept"
    return "overturned (direction)" if "no difference shown" not in (before, after) else "overturned (significance)"


def analyse_budget(plan: AblationPlan, factor: int, reading: str, root: str | os.PathLike) -> dict[str, Any]:
    """The budget study at ``factor`` x the recipe, against the recipe's own runs (see the module docstring).

    Raises:
        UserError: a records folder that mixes recipes or MSIC readings (``load_records``).
    """
    root = Path(root)
    one_x = []
    for name, folder in one_x_folders(plan, reading).items():
        one_x += _records_of(root / folder, (name,))
    longer = _records_of(root / budget_folder(plan, factor), BUDGET_VARIANTS)
    budgets = {"1x": _one_budget(one_x, plan.steps_per_epoch, plan.cross_key),
               f"{factor}x": _one_budget(longer, plan.steps_per_epoch, plan.cross_key)}
    for name, run in budgets[f"{factor}x"]["runs"].items():
        run["glfi"] = glfi_of(root / inspect_folder(plan, factor) / f"{name}.json")
    expected = [f"{name}_s{seed}" for seed in SEEDS for name in BUDGET_VARIANTS]
    complete = all(name in budgets[f"{factor}x"]["runs"] for name in expected)
    changes = {}
    for key, item in budgets["1x"]["contrasts"].items():
        after = budgets[f"{factor}x"]["contrasts"][key]
        flipped = (None if _absent(item["estimate"]) or _absent(after["estimate"])
                   else (item["estimate"] > 0) != (after["estimate"] > 0))
        # As pre-registered, kept or overturned is judged once all six runs are in, not contrast by contrast.
        changes[key] = {"change": _change(item["verdict"], after["verdict"]) if complete else None,
                        "sign_changes": flipped if complete else None}
    config = (longer or one_x)[0]["config"] if (longer or one_x) else {}
    return {
        "dataset": plan.dataset, "factor": factor, "msic_reading": reading,
        "recipe_epochs": int(preset_values(plan.preset)["epochs"]), "steps_per_epoch": plan.steps_per_epoch,
        "channels": list(config.get("channels", [])), "batch_size": config.get("batch_size"),
        "crop_size": config.get("crop_size"), "seeds": list(SEEDS),
        "records": {"1x": sorted(f"{folder}/{name}_s{seed}.json" for name, folder in one_x_folders(plan, reading).items()
                                 for seed in SEEDS),
                    f"{factor}x": budget_folder(plan, factor)},
        "inspect_folder": inspect_folder(plan, factor),
        "missing": [name for name in expected if name not in budgets[f"{factor}x"]["runs"]],
        "missing_1x": [name for name in expected if name not in budgets["1x"]["runs"]],
        "budgets": budgets,
        "changes": changes,
    }


def _contrast_name(key: str) -> tuple[str, str]:
    pair, metric = key.split(":")
    first, second = pair.split("-")
    return f"{NAMES[first]} - {NAMES[second]}", metric


def _said(verdict: str | None, key: str) -> str:
    pair, _ = key.split(":")
    first, second = (NAMES[name] for name in pair.split("-"))
    return {"first ahead": f"{first} ahead", "second ahead": f"{second} ahead",
            "no difference shown": "no difference shown", None: "no verdict"}[verdict]


def budget_conclusion(analysis: Mapping[str, Any]) -> str:
    """The study's result in plain words, generated from the analysis, with the budget it holds for first; while
    runs are missing it names them and concludes nothing about the longer budget."""
    factor = analysis["factor"]
    longer = analysis["budgets"][f"{factor}x"]
    short = analysis["budgets"]["1x"]
    widths = analysis["channels"]
    epochs = analysis["recipe_epochs"]
    steps = (f"{epochs * analysis['steps_per_epoch']} optimizer steps ({epochs} epochs) against "
             f"{factor * epochs * analysis['steps_per_epoch']} ({factor * epochs} epochs)")
    head = (f"**Conclusion** (for {analysis['dataset']}, widths {widths[0]}..{widths[-1]}, "
            f"{analysis['crop_size']}x{analysis['crop_size']} crops, batch {analysis['batch_size']}, {steps}, seeds "
            f"{' and '.join(map(str, analysis['seeds']))}, GCFLNet with MSIC `{analysis['msic_reading']}`):")
    done = 6 - len(analysis["missing"])
    health = health_sentence(longer["runs"], factor) + glfi_sentence(longer["runs"], factor)
    if analysis["missing"]:
        return (f"{head} {done} of the 6 runs at {factor}x are recorded; the comparison waits for "
                f"{', '.join(analysis['missing'])}, so nothing is yet said about which of the 1x verdicts the longer "
                f"budget keeps.{health}")
    kept = [key for key, item in analysis["changes"].items() if item["change"] == "kept"]
    first = headline(analysis)
    text = [head, first[0].upper() + first[1:] + ".",
            f"The longer budget keeps {len(kept)} of the {len(analysis['changes'])} verdicts of the recipe"
            + (f": {_kept_phrase(analysis, kept)}." if kept else ".")]
    overturned = overturned_phrase(analysis)
    if overturned:
        text.append(f"It overturns {overturned}.")
    flips = [_contrast_name(key) for key, item in analysis["changes"].items() if item["sign_changes"]]
    if flips:
        text.append("The estimate changes sign for " + ", ".join(f"{name} on {LABELS[m]}" for name, m in flips) + ".")
    text.append(f"Intervals: 95 %, two seeds per cell, df {longer['df']} at {factor}x and {short['df']} at 1x.{health}")
    return " ".join(text)


def headline(analysis: Mapping[str, Any]) -> str:
    """"at Kx GCFLNet reaches mIoU ... against the U-Net's ...", with their difference and its verdict (complete
    study only)."""
    factor = analysis["factor"]
    longer = analysis["budgets"][f"{factor}x"]
    key = "gcflnet-unet:miou"
    item = longer["contrasts"][key]
    return (f"at {factor}x GCFLNet reaches mIoU {longer['cells']['gcflnet']['miou']:.4f} against the U-Net's "
            f"{longer['cells']['unet']['miou']:.4f}, a difference of {_interval(item, 'miou')} "
            f"({_said(item['verdict'], key)})")


def kept_and_overturned(analysis: Mapping[str, Any]) -> str:
    """"the longer budget keeps K of the N pre-registered verdicts and overturns M: ..." (complete study only)."""
    changes = [item["change"] for item in analysis["changes"].values()]
    overturned = overturned_phrase(analysis)
    return (f"the longer budget keeps {changes.count('kept')} of the {len(changes)} pre-registered verdicts and "
            f"overturns {overturned or 'none'}")


def _kept_phrase(analysis: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The kept verdicts grouped by contrast: "GCFLNet ahead of U-Net on mIoU and Fa; ..."."""
    factor = analysis["factor"]
    by_contrast: dict[tuple[str, str], list[str]] = {}
    for key in keys:
        pair, metric = key.split(":")
        by_contrast.setdefault((pair, analysis["budgets"][f"{factor}x"]["contrasts"][key]["verdict"]), []).append(metric)
    parts = []
    for (pair, verdict), metrics in by_contrast.items():
        first, second = (NAMES[name] for name in pair.split("-"))
        on = " and ".join(LABELS[metric].split(" ")[0] for metric in metrics)
        parts.append({"first ahead": f"{first} ahead of {second}", "second ahead": f"{second} ahead of {first}",
                      "no difference shown": f"no difference shown between {first} and {second}"}[verdict] + f" on {on}")
    return "; ".join(parts)


def overturned_phrase(analysis: Mapping[str, Any]) -> str:
    """"N: <contrast> on <metric> (<1x verdict> at 1x, <Kx verdict> at Kx; a change of significance), ..." or "" when
    nothing is overturned (complete study only)."""
    factor = analysis["factor"]
    keys = [key for key, item in analysis["changes"].items() if item["change"] and item["change"] != "kept"]
    parts = []
    for key in keys:
        name, metric = _contrast_name(key)
        kind = analysis["changes"][key]["change"].split("(")[1].rstrip(")")
        parts.append(f"{name} on {LABELS[metric].split(' ')[0]} "
                     f"({_said(analysis['budgets']['1x']['contrasts'][key]['verdict'], key)} at 1x, "
                     f"{_said(analysis['budgets'][f'{factor}x']['contrasts'][key]['verdict'], key)} at {factor}x: "
                     f"a change of {kind})")
    return f"{len(keys)}: " + "; ".join(parts) if keys else ""


def _logged_health(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{run: its skip health} for the runs that logged one, by name."""
    return {name: run["health"] for name, run in sorted(runs.items()) if run.get("health")}


def health_sentence(runs: Mapping[str, Mapping[str, Any]], factor: int) -> str:
    """" Every skip level is in use in 2 of the 2 runs at {factor}x that logged skip health; shut: ..." (with a leading
    space), or "" where no run logged it: whether the networks compared use the skips they are credited with."""
    measured = _logged_health(runs)
    if not measured:
        return ""
    healthy = sum(1 for health in measured.values() if health["in_use"])
    text = (f" Every skip level is in use (shuffling it moves some output probability by {DEAD_PROBABILITY_CHANGE} or "
            f"more) in {healthy} of the {len(measured)} runs at {factor}x that logged skip health")
    shut = [f"{name} level{'s' if len(dead) > 1 else ''} {', '.join(map(str, dead))}" for name, health in measured.items()
            if (dead := [item["level"] for item in health["levels"] if not item["in_use"]])]
    return text + (f"; shut: {'; '.join(shut)}." if shut else ".")


def glfi_sentence(runs: Mapping[str, Mapping[str, Any]], factor: int) -> str:
    """" GLFI's attention, measured in N of the M Kx GCFLNets ...: its spread, and what flattening it costs" (with a
    leading space), or "" where none was inspected: whether the attention the network is credited with selects, and
    whether its output rests on that selection."""
    gcflnets = {name: run for name, run in sorted(runs.items()) if name.startswith("gcflnet_s")}
    measured = {name: run["glfi"] for name, run in gcflnets.items() if run.get("glfi")}
    if not measured:
        return ""
    levels = [item for uses in measured.values() for item in uses["levels"]]
    changes = [item["iou_after"] - item["iou_before"] + 0.0 for item in levels]
    together = [uses["all"]["iou_after"] - uses["all"]["iou_before"] + 0.0 for uses in measured.values()]
    flat = sum(item["status"] == "flat" for item in levels)
    return (f" GLFI's attention (`gcflnet inspect` on the final weights of {len(measured)} of the {len(gcflnets)} "
            f"GCFLNets at {factor}x) varies across the image, its mean spread {min(i['mean_spread'] for i in levels):.2f} "
            f"to {max(i['mean_spread'] for i in levels):.2f} of the 0.5 possible; replacing it by each channel's spatial "
            f"mean, one level at a time on {HEALTH_CROPS} test crops, "
            + (f"never lowers the crop IoU ({min(changes):+.3f} to {max(changes):+.3f})" if min(changes) >= 0
               else f"changes the crop IoU by {min(changes):+.3f} to {max(changes):+.3f}")
            + ", and moves no output probability by "
            f"{DEAD_PROBABILITY_CHANGE} at {flat} of the {len(levels)} levels; every level flattened together changes "
            f"it by {_span(together)}.")


def _span(values: Sequence[float]) -> str:
    low, high = f"{min(values):+.3f}", f"{max(values):+.3f}"
    return low if low == high else f"{low} to {high}"


def glfi_rows(runs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The GLFI table of the block: per inspected run and level, A's range, its mean spread, and the flatten test."""
    measured = {name: run["glfi"] for name, run in sorted(runs.items()) if run.get("glfi")}
    if not measured:
        return []
    lines = ["| run | level | A min, max | mean spread | flattened: max Δprob | IoU change | |", "|---|---|---|---|---|---|---|"]
    for name, uses in measured.items():
        for item in uses["levels"]:
            lines.append(f"| `{name}` | {item['level']} | {item['attention_min']:.3f}, {item['attention_max']:.3f} | "
                         f"{item['mean_spread']:.3f} | {_flattened_cells(item)} | {item['status']} |")
        lines.append(f"| `{name}` | all together | | | {_flattened_cells(uses['all'])} | |")
    return lines


def _flattened_cells(item: Mapping[str, Any]) -> str:
    return f"{item['max_probability_change']:.3f} | {item['iou_after'] - item['iou_before'] + 0.0:+.4f}"


def health_table(runs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Markdown rows: each run's skip levels at its last logged epoch, max probability change and crop IoU cost."""
    measured = _logged_health(runs)
    if not measured:
        return []
    depth = max(len(health["levels"]) for health in measured.values())
    lines = ["| run | epoch | " + " | ".join(f"level {level}: max Δprob, IoU cost" for level in range(depth)) + " | skips |",
             "|---|---|" + "---|" * depth + "---|"]
    for name, health in measured.items():
        cells_ = [f"{item['dprob']:.2f}, {float(item['iou_cost']):+.3f}" + ("" if item["in_use"] else " **shut**")
                  if item.get("iou_cost") is not None else f"{item['dprob']:.2f}" for item in health["levels"]]
        cells_ += ["–"] * (depth - len(cells_))
        lines.append(f"| `{name}` | {health['epoch']} | " + " | ".join(cells_) +
                     f" | {'in use' if health['in_use'] else '**not all in use**'} |")
    return lines


def _interval(item: Mapping[str, Any], metric: str) -> str:
    if item["missing"]:
        return "–"
    digits = DIGITS[metric]
    if _absent(item["low"]):
        return f"{item['estimate']:+.{digits}f} (no interval)"
    return f"{item['estimate']:+.{digits}f} [{item['low']:+.{digits}f}, {item['high']:+.{digits}f}]"


def _mean_range(row: Mapping[str, Any], metric: str) -> str:
    if _absent(row[metric]):
        return "–"
    digits = DIGITS.get(metric, 4)
    half = row[f"{metric}_half_range"]
    return f"{row[metric]:.{digits}f}" + (f" ± {half:.{digits}f}" if not _absent(half) else " (one seed)")


def budget_markdown(analysis: Mapping[str, Any], figure: str | None = None) -> str:
    """The block of ``docs/ABLATION.md`` and notebook 09: the conclusion, the cells at both budgets, the contrasts with
    their verdicts and what changed, the figure, and each run's wall time."""
    factor = analysis["factor"]
    budgets = [("1x", analysis["budgets"]["1x"]), (f"{factor}x", analysis["budgets"][f"{factor}x"])]
    lines = [budget_conclusion(analysis), "",
             "Cells at both budgets, NUDT-SIRST test split (mean ± half-range over the seeds; NUAA-SIRST scores of the "
             "same weights beside them, not judged):", "",
             "| variant | budget | mIoU | Fa (x1e-6) | Pd | NUAA-SIRST mIoU | seeds |", "|---|---|---|---|---|---|---|"]
    for name in BUDGET_VARIANTS:
        for label, budget in budgets:
            row, cross = budget["cells"][name], budget["cross_cells"][name]
            lines.append(f"| {NAMES[name]} | {label} | {_mean_range(row, 'miou')} | {_mean_range(row, 'fa')} | "
                         f"{_mean_range(row, 'pd')} | {_mean_range(cross, 'miou')} | {','.join(map(str, row['seeds'])) or '–'} |")
    lines += ["", "Contrasts (difference of the cell means, 95 % interval pooled over each budget's three cells):", "",
              f"| contrast | metric | 1x | verdict at 1x | {factor}x | verdict at {factor}x | change |",
              "|---|---|---|---|---|---|---|"]
    for key, change in analysis["changes"].items():
        name, metric = _contrast_name(key)
        before, after = budgets[0][1]["contrasts"][key], budgets[1][1]["contrasts"][key]
        said = change["change"] or "–"
        if change["sign_changes"]:
            said += ", sign changes"
        lines.append(f"| {name} | {LABELS[metric]} | {_interval(before, metric)} | {_said(before['verdict'], key)} | "
                     f"{_interval(after, metric)} | {_said(after['verdict'], key)} | {said} |")
    if figure:
        lines += ["", f"![test mIoU against optimizer steps, 1x and {factor}x]({figure})"]
    runs = budgets[1][1]["runs"]
    table = health_table(runs)
    if table:
        lines += ["", f"Skip health of each {factor}x run at the last epoch that logged it (`--health-every 8`: the "
                      f"skip's features shuffled across {HEALTH_CROPS} test crops; max Δprob, the largest change of an output "
                      f"probability, under {DEAD_PROBABILITY_CHANGE} means shut; IoU cost, the crop IoU lost):", "",
                  *table]
    glfi = glfi_rows(runs)
    if glfi:
        lines += ["", f"GLFI's attention in each inspected {factor}x run (`gcflnet inspect --checkpoint RUN/final.pt --json "
                      f"{analysis['inspect_folder']}/RUN.json`, on the same {HEALTH_CROPS} test crops): A's smallest and "
                      "largest weight and its mean spread (each channel's max - min on a crop, averaged; 0 is flat), then "
                      "the flatten test, A replaced by each channel's spatial mean: the largest change of an output "
                      f"probability (under {DEAD_PROBABILITY_CHANGE}: flat) and the change of the crop IoU:", "", *glfi]
    lines += ["", f"Time of each {factor}x run (training and evaluation, the per-epoch times of its history, every "
                  "session of a resumed run included):"]
    lines += ([f"- `{name}`: {run['minutes']:.0f} min on {run['device']}" for name, run in sorted(runs.items())]
              if runs else ["- none recorded yet"])
    return "\n".join(lines + ["", cost_sentence(analysis)])


EVENING_MINUTES = 4 * 60  # what a learner can leave running in an evening


def study_cost(analysis: Mapping[str, Any]) -> dict[str, Any] | None:
    """The study's time on the machine of its records, from their histories: ``{devices, short, longer, by_seed,
    by_factor, short_fits, longer_fits, longer_hours_two_lanes}`` (minutes per run; ``*_fits``, the runs of at most
    :data:`EVENING_MINUTES`); None without 1x runs. A Kx time not yet recorded is estimated, and listed as such: as
    the Kx time of the same variant's other seed where that is recorded, else as K times its 1x run."""
    factor = analysis["factor"]
    short, longer = analysis["budgets"]["1x"]["runs"], analysis["budgets"][f"{factor}x"]["runs"]
    if not short:
        return None
    minutes = {name: run["minutes"] for name, run in short.items()}
    longer_minutes, by_seed, by_factor = {}, [], []
    for name in minutes:
        if name in longer:
            longer_minutes[name] = longer[name]["minutes"]
            continue
        # The 1x seeds ran under other code and load (seed 0 took twice seed 1's time in some cells), while the Kx
        # seeds share one queue: another seed of the same variant at Kx is the better guess (unet_s1: 100 min, its
        # seed 0 99 min, where the 4x/1x time ratio of seed 0 gave 72); without one, the run scales with its steps.
        variant = name.rsplit("_s", 1)[0]
        others = [longer[other]["minutes"] for other in longer if other.rsplit("_s", 1)[0] == variant]
        if others:
            longer_minutes[name] = sum(others) / len(others)
            by_seed.append(name)
        else:
            longer_minutes[name] = factor * minutes[name]
            by_factor.append(name)
    return {"devices": sorted({run["device"] for run in short.values()}), "short": minutes, "longer": longer_minutes,
            "by_seed": sorted(by_seed), "by_factor": sorted(by_factor),
            "short_fits": sorted(name for name, value in minutes.items() if value <= EVENING_MINUTES),
            "longer_fits": sorted(name for name, value in longer_minutes.items() if value <= EVENING_MINUTES),
            "longer_hours_two_lanes": sum(longer_minutes.values()) / 120}


def fitting_runs(fits: Sequence[str], every: Mapping[str, Any], label: str) -> str:
    """"every 1x run", "none of the 4x runs" or "of the 4x runs unet_s0, unet_s1"."""
    if len(fits) == len(every):
        return f"every {label} run"
    return f"of the {label} runs {', '.join(fits)}" if fits else f"none of the {label} runs"


def cost_sentence(analysis: Mapping[str, Any]) -> str:
    """What the study costs on the machine of its records, and what fits in an evening (:func:`study_cost`)."""
    cost = study_cost(analysis)
    if cost is None:
        return ""
    factor, short, longer = analysis["factor"], cost["short"], cost["longer"]
    text = (f"What it costs (the runs' times from their histories, {'; '.join(cost['devices'])}; the queue runs two "
            f"such runs side by side, one thread each): a 1x run of these cells took {min(short.values()):.0f} to "
            f"{max(short.values()):.0f} min, {sum(short.values()) / 60:.1f} h for all six; a {factor}x run "
            f"{min(longer.values()):.0f} to {max(longer.values()):.0f} min, {sum(longer.values()) / 60:.1f} h for all six")
    estimates = ([f"{', '.join(cost['by_factor'])}: estimated as {factor} x the 1x run"] if cost["by_factor"] else []) + (
        [f"{', '.join(cost['by_seed'])}: estimated as the other seed's {factor}x run"]
        if cost["by_seed"] else [])
    if estimates:
        text += f" (not recorded yet, {'; '.join(estimates)})"
    return text + (f". In an evening of {EVENING_MINUTES // 60} hours a learner with this CPU can reproduce "
                   f"{fitting_runs(cost['short_fits'], short, '1x')}, and {fitting_runs(cost['longer_fits'], longer, f'{factor}x')}; "
                   f"the whole {factor}x study takes {cost['longer_hours_two_lanes']:.1f} h with two runs side by side, "
                   "or a GPU (`docs/GPU_CAMPAIGN.md`).")


def plot_budget(analysis: Mapping[str, Any], path: str | os.PathLike | None = None):
    """Test mIoU against optimizer steps for every run at both budgets (1x dashed), one colour per variant."""
    import matplotlib.pyplot as plt

    colours = {"unet": "tab:blue", "gcflnet_eem": "tab:orange", "gcflnet": "tab:green"}
    fig, ax = plt.subplots(figsize=(8, 4.2), layout="constrained")
    factor = analysis["factor"]
    for label, style in (("1x", "--"), (f"{factor}x", "-")):
        for name, run in sorted(analysis["budgets"][label]["runs"].items()):
            variant = name.rsplit("_s", 1)[0]
            if run["curve"]:
                steps, miou = zip(*run["curve"])
                ax.plot(steps, miou, style, marker="o", ms=3, color=colours[variant], alpha=0.9 if label != "1x" else 0.6,
                        label=f"{NAMES[variant]} {name.rsplit('_', 1)[1]} ({label})")
    ax.set(xlabel="optimizer steps", ylabel="test mIoU (NUDT-SIRST)",
           title=f"Test mIoU while training: the recipe (1x, dashed) and {factor}x the steps")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
