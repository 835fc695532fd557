"""The ablation's report: the markdown blocks of README.md, docs/ABLATION.md and notebook 09, and the figure."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from gcflnet_lib.ablation.records import BESIDE, CLAIMS, LABELS, METRICS, TABLE_ORDER
from gcflnet_lib.models.registry import SWITCHES

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


def _beyond(item: Mapping[str, Any], metric: str) -> int:
    """+1 better beyond the 95 % interval, -1 worse beyond it, 0 within it or without an interval."""
    if item["missing"] or _absent(item["low"]):
        return 0
    sign = -1 if metric == "fa" else 1
    low, high = sorted((sign * item["low"], sign * item["high"]))
    return 1 if low > 0 else (-1 if high < 0 else 0)


def budget_text(analysis: Mapping[str, Any]) -> str:
    """"NUDT-SIRST, widths 8..128, 128x128 crops, 64 epochs (2624 optimizer steps), seeds 0 and 1" from the records."""
    from gcflnet_lib.ablation.plans import plan_for

    recipe = analysis.get("recipe") or {}
    widths = recipe.get("channels") or []
    seeds = sorted({seed for row in analysis["table"] for seed in row["seeds"]})
    steps = recipe.get("epochs", 0) * plan_for(analysis["dataset"]).steps_per_epoch
    seed_text = ("seeds " + " and ".join(map(str, seeds))) if len(seeds) > 1 else f"seed {seeds[0]} only" if seeds else "no seed"
    return (f"{analysis['dataset']}, widths {widths[0] if widths else '?'}..{widths[-1] if widths else '?'}, "
            f"{recipe.get('crop_size')}x{recipe.get('crop_size')} crops, batch {recipe.get('batch_size')}, "
            f"{recipe.get('epochs')} epochs ({steps} optimizer steps), {seed_text}, MSIC as `crossed`")


def claim_counts(analysis: Mapping[str, Any]) -> tuple[int, str]:
    """(number of the paper's claims judged, "3 inconclusive, 1 contradicted") from an analysis's verdicts."""
    verdicts = [found["verdict"] for found in analysis["verdicts"].values()]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("supported", "inconclusive", "contradicted") if v in verdicts)
    return len(verdicts), counts


def ablation_conclusion(analysis: Mapping[str, Any]) -> str:
    """The result in plain words, generated from the analysis: the budget it holds for, then the verdicts, GCFLNet
    against the U-Net, and the main effects beyond their intervals. With runs missing it says so and gives no
    verdict."""
    runs = analysis["runs"]
    done = len(analysis["records"])
    total = done + len(runs["missing"]) + len(runs["failed"])
    head = f"**Conclusion** (for {budget_text(analysis)}):"
    if runs["missing"] or runs["failed"]:
        return (f"{head} {done} of {total} runs are recorded, so no verdict on the paper's claims is drawn yet; the "
                f"table below shows what the recorded runs give.")
    total, counts = claim_counts(analysis)
    versus = analysis["effects"]["gcflnet_vs"]["unet"]
    parts = [head, f"of the paper's {total} claims about its ablation, {counts}."]
    miou, fa = versus["miou"], versus["fa"]
    means = {row["variant"]: row for row in analysis["table"]}
    parts.append(f"GCFLNet's mIoU is {means['gcflnet']['miou']:.4f} against the U-Net baseline's "
                 f"{means['unet']['miou']:.4f}: a difference of {_interval(miou, 'miou')}, and Fa "
                 f"{_interval(fa, 'fa')} x1e-6" + (" (95 % intervals);" if not _absent(miou["low"]) else ";"))
    if "gcflnet_vs_unet_wide" in analysis["effects"]:
        wide = analysis["effects"]["gcflnet_vs_unet_wide"]["miou"]
        parts.append(f"against the U-Net widened to its size, mIoU {_interval(wide, 'miou')}.")
    beyond = [f"{s.upper()} on {LABELS[m]} {analysis['effects']['main'][s][m]['estimate']:+.{DIGITS[m]}f}"
              for s in SWITCHES for m in METRICS if _beyond(analysis["effects"]["main"][s][m], m) != 0]
    parts.append("Main effects beyond their interval: " + ("; ".join(beyond) if beyond else "none") + ".")
    parts.append("Under `crossed` MSIC shuts GCFLNet's two finest skips (notebook 06), so every verdict on MSIC and on "
                 "all three modules is a verdict on that network; docs/ABLATION.md sets a second MSIC reading beside it.")
    return " ".join(parts)


def report_markdown(analysis: Mapping[str, Any], figure: str | None = None) -> str:
    """The whole analysis as markdown (the generated block of README.md and docs/ABLATION.md, and 09's result)."""
    runs = analysis["runs"]
    recipe = analysis["recipe"] or {}
    dataset, cross = analysis["dataset"], analysis["cross_dataset"]
    done = len(analysis["records"])
    lines = [ablation_conclusion(analysis), "",
             f"{done} of {done + len(runs['missing']) + len(runs['failed'])} runs recorded "
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
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))  # a quarter of the figure's width: few ticks, none touching
        ax.set_yticks(range(len(SWITCHES)), [s.upper() for s in SWITCHES])
        ax.set_title(f"main effect on {LABELS[metric]}, 95 % interval")
    axes[1][0].legend(fontsize=8, loc="best")
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
