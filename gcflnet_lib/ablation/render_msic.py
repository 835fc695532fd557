"""The MSIC readings block (docs/ABLATION.md, notebooks 06 and 09) and the figure of the skip gate over training,
from :func:`gcflnet_lib.ablation.msic_readings.analyse_readings`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from gcflnet_lib.ablation.records import CLAIMS, LABELS
from gcflnet_lib.ablation.render import _absent, _interval, table_markdown
from gcflnet_lib.models.registry import SWITCHES

MSIC_CELL_COUNT = 8  # the four cells with MSIC x seeds 0 and 1


def budget_sentence(budget: Mapping[str, Any]) -> str:
    """"NUDT-SIRST, widths 8..128, 128x128 crops, batch 16, 64 epochs (2624 optimizer steps), seeds 0 and 1"."""
    if not budget:
        return "no run recorded yet"
    widths = budget["channels"]
    seeds = budget["seeds"]
    seed_text = f"seed {seeds[0]} only" if len(seeds) == 1 else "seeds " + " and ".join(map(str, seeds))
    return (f"{budget['dataset']}, widths {widths[0]}..{widths[-1]}, {budget['crop_size']}x{budget['crop_size']} crops, "
            f"batch {budget['batch_size']}, {budget['epochs']} epochs ({budget['steps']} optimizer steps), {seed_text}")


def _health_count(rows: Sequence[Mapping[str, Any]], reading: str) -> tuple[int, int]:
    measured = [row for row in rows if row["reading"] == reading and row.get("in_use") is not None]
    return sum(1 for row in measured if row["in_use"]), len(measured)


def _shut_counts(rows: Sequence[Mapping[str, Any]], reading: str) -> tuple[int, int]:
    """(runs with both finest skips shut, runs with exactly one shut) among ``reading``'s measured runs."""
    counts = [sum(1 for key in ("skip0_dprob", "skip1_dprob") if float(row[key]) < 0.05)
              for row in rows if row["reading"] == reading and row.get("in_use") is not None]
    return counts.count(2), counts.count(1)


def conclusion(analysis: Mapping[str, Any]) -> str:
    """The block's first paragraph, in plain words, generated from the analysis; it never states a verdict the
    records cannot support (a missing run or a single seed is said instead)."""
    reading = analysis["reading"]
    done = MSIC_CELL_COUNT - len(analysis["runs"]["missing"]) - len(analysis["runs"]["failed"])
    crossed_in_use, crossed_measured = _health_count(analysis["health"], "crossed")
    new_in_use, new_measured = _health_count(analysis["health"], reading)
    parts = [f"**Conclusion** (for {budget_sentence(analysis['budget'])}):"]
    if crossed_measured:
        both, one = _shut_counts(analysis["health"], "crossed")
        parts.append(f"under `crossed`, of the {crossed_measured} measured run(s), {both} shut both of MSIC's finest skips "
                     f"(levels 0 and 1: their decoder sees nothing finer than quarter resolution) and {one} shut one of "
                     f"them.")
    if new_measured:
        parts.append(f"Under `{reading}` they are in use in {new_in_use} of {new_measured} runs.")
    parts.append(f"{done} of {MSIC_CELL_COUNT} `{reading}` runs are recorded.")
    decision = analysis["decision"]
    if decision["default"] is None:
        parts.append(decision["reason"][0].upper() + decision["reason"][1:] + ".")
    else:
        parts.append(f"The pre-registered rule chooses **`{decision['default']}`**: {decision['reason']}.")
        difference = analysis["difference"]
        parts.append(f"Against `crossed`, `{reading}` changes mIoU by {_interval(difference['miou'], 'miou')} and "
                     f"Fa by {_interval(difference['fa'], 'fa')} x1e-6 (mean over the four MSIC cells, 95 % interval).")
    return " ".join(parts)


def _health_table(rows: Sequence[Mapping[str, Any]]) -> str:
    def number(value: Any, spec: str) -> str:
        return "–" if _absent(value) else format(float(value), spec)

    lines = ["| reading | run | kept, level 0 | kept, level 1 | max Δprob, level 0 | max Δprob, level 1 | "
             "max Δprob, 0+1 | IoU cost, 0+1 | fine skips | source |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        state = {True: "in use", False: "**shut**", None: "not logged"}[row.get("in_use")]
        lines.append(f"| `{row['reading']}` | {row['run']} | {number(row.get('skip0_kept'), '.4f')} | "
                     f"{number(row.get('skip1_kept'), '.4f')} | {number(row.get('skip0_dprob'), '.2e')} | "
                     f"{number(row.get('skip1_dprob'), '.2e')} | {number(row.get('fine_dprob'), '.2e')} | "
                     f"{number(row.get('fine_iou_cost'), '+.4f')} | {state} | `{row['source']}` |")
    return "\n".join(lines)


def _side_by_side(crossed: Mapping[str, Any], other: Mapping[str, Any], reading: str) -> str:
    metrics = ("miou", "pd", "fa")
    head = ["effect", *(f"{LABELS[m]}, {name}" for m in metrics for name in ("crossed", reading))]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = [(s.upper(), "main", s) for s in SWITCHES]
    rows += [(key.upper().replace("X", " × "), "interactions", key) for key in crossed["interactions"]]
    rows += [("GCFLNet − U-Net", "gcflnet_vs", "unet")]
    for label, group, key in rows:
        cells_ = [label]
        for metric in metrics:
            cells_ += [_interval(source[group][key][metric], metric) for source in (crossed, other)]
        lines.append("| " + " | ".join(cells_) + " |")
    return "\n".join(lines)


def readings_markdown(analysis: Mapping[str, Any], figure: str | None = None) -> str:
    """The generated block: the conclusion, the skip health of every run, the two factorials side by side, the
    verdicts of the paper's claims under both readings, and the new reading's table."""
    reading = analysis["reading"]
    runs = analysis["runs"]
    lines = [conclusion(analysis), ""]
    if runs["missing"]:
        lines += [f"Not yet run (`{analysis['records_folder']}/`): {', '.join(runs['missing'])}.", ""]
    if runs["failed"]:
        lines += [f"Failed: {', '.join(runs['failed'])}.", ""]
    lines += ["**Skip health** of each measured run (the last row of its history, or `gcflnet inspect` on a "
              "release): the kept ratio ‖skip after MSIC‖ / ‖skip‖, and the largest change of any pixel's probability "
              "when the encoder features entering level 0, level 1, or both are shuffled (ten NUDT-SIRST test crops "
              "of 128x128 centred on targets). Fine skips are *in use* when all three changes reach 0.05:", "",
              _health_table(analysis["health"]), ""]
    if figure:
        lines += [f"![the skip gate over training]({figure})", ""]
    lines += ["**The two factorials side by side** (95 % intervals as above; the cells without MSIC are shared; "
              "–: a cell without a run yet, †: a cell with one seed):", "",
              _side_by_side(analysis["crossed_effects"], analysis["effects"], reading), "",
              "**The paper's claims** under each reading:", "", f"| claim | `crossed` | `{reading}` |", "|---|---|---|"]
    for key, claim in CLAIMS.items():
        new = analysis["verdicts"][key]["verdict"] if not runs["missing"] else "not yet computed (runs missing)"
        lines.append(f"| \"{claim['quote']}\" | {analysis['crossed_verdicts'][key]['verdict']} | {new} |")
    lines += ["", f"**Table 2 layout with `{reading}`**, {analysis['dataset']} test split (mean ± half-range over the "
              "seeds):", "", table_markdown(analysis["table"])]
    return "\n".join(lines)


def plot_gate(histories: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike | None = None):
    """Kept ratio of skip levels 0 and 1, and the largest probability change when each is shuffled alone (solid:
    level 0, dashed: level 1), against the epoch, for each run that logged its skip health (``{label: history}``)."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    panels = (("skip0_kept", "kept ratio, skip level 0 (full resolution)"), ("skip1_kept", "kept ratio, skip level 1"),
              ("skip0_dprob", "largest probability change, one level\nshuffled (solid: level 0, dashed: level 1)"))
    for ax, (key, title) in zip(axes, panels):
        for index, (label, history) in enumerate(histories.items()):
            for level_key, style in ((key, "-"), *((("skip1_dprob", "--"),) if key == "skip0_dprob" else ())):
                rows = [row for row in history if not _absent(row.get(level_key))]
                ax.plot([row["epoch"] for row in rows], [max(float(row[level_key]), 1e-8) for row in rows], style,
                        marker="o", ms=3, color=f"C{index}", label=label if style == "-" else None)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=10)
        if key == "skip0_dprob":
            ax.axhline(0.05, color="0.4", lw=0.8, ls=":")
            ax.text(0.02, 0.05, " in use above 0.05", transform=ax.get_yaxis_transform(), fontsize=8, va="bottom",
                    color="0.3")
    if histories:
        axes[0].legend(fontsize=7, loc="lower left")
    else:
        for ax in axes:
            ax.text(0.5, 0.5, "no run has logged its skip health yet", ha="center", va="center", transform=ax.transAxes)
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
