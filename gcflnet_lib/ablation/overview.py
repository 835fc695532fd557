"""What the ablation pages say first: every measured ablation in a few plain sentences, generated from the analyses.

docs/ABLATION.md and notebook 09 hold four analyses, each with its own conclusion further down: the NUDT-SIRST
factorial with MSIC's ``crossed`` reading (``results/ablation_nudt.json``), the MSIC cells again with the default
reading (``results/ablation_nudt_msic_unit_gain.json``), the same factorial on NUAA-SIRST
(``results/ablation_nuaa.json``) and the budget study (``results/ablation_nudt_budget4x.json``). A learner who reads
only the first conclusion would meet the ``crossed`` network, whose two finest skips are shut, and leave believing
that GCFLNet loses to its U-Net. :func:`overview_markdown` therefore opens both pages with the network as this
project builds it (the default reading), then the ``crossed`` one, each with the budget it holds for.

Every word that judges ("ahead", "behind", "no difference shown") is counted from a 95 % interval by
:func:`gcflnet_lib.ablation.render._beyond`; nothing is typed in by hand.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gcflnet_lib.ablation.budget import headline, kept_and_overturned
from gcflnet_lib.ablation.records import LABELS, METRICS
from gcflnet_lib.ablation.render import DIGITS, _beyond, _interval, claim_counts
from gcflnet_lib.ablation.render_msic import _health_count, _shut_counts, budget_sentence
from gcflnet_lib.models.registry import SWITCHES

OVERVIEW_MARKERS = ("<!-- ablation-overview:begin -->", "<!-- ablation-overview:end -->")
SAID = {1: "ahead", -1: "behind", 0: "no difference shown"}
SHORT = {"miou": "mIoU", "niou": "nIoU", "pd": "Pd", "fa": "Fa"}


def _claims(analysis: Mapping[str, Any]) -> str:
    """"the paper's 4 claims: 3 inconclusive, 1 contradicted"."""
    total, counts = claim_counts(analysis)
    return f"the paper's {total} claims: {counts}"


def _versus(item: Mapping[str, Any], metric: str) -> str:
    """"mIoU +0.0637 [+0.0289, +0.0984] (ahead)": a difference, its interval and the word the interval gives."""
    unit = " x1e-6" if metric == "fa" else ""
    return f"{SHORT[metric]} {_interval(item, metric)}{unit} ({SAID[_beyond(item, metric)]})"


def _beyond_list(effects: Mapping[str, Any]) -> str:
    """The main effects beyond their interval, "EEM on mIoU +0.0197; MSIC on Fa (x1e-6) -29.41", or "none"."""
    found = [f"{s.upper()} on {LABELS[m]} {effects['main'][s][m]['estimate']:+.{DIGITS[m]}f}"
             for s in SWITCHES for m in METRICS if _beyond(effects["main"][s][m], m) != 0]
    return "; ".join(found) if found else "none"


def _complete(analysis: Mapping[str, Any]) -> bool:
    return not analysis["runs"]["missing"] and not analysis["runs"]["failed"]


def _recorded(analysis: Mapping[str, Any]) -> str:
    done = len(analysis["records"])
    return f"{done} of {done + len(analysis['runs']['missing']) + len(analysis['runs']['failed'])} runs recorded"


def _cells(analysis: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {row["variant"]: row for row in analysis["table"]}


def default_reading_line(readings: Mapping[str, Any]) -> str:
    """GCFLNet as built by default (MSIC's chosen reading) against the U-Net: mIoU and Fa with their words."""
    reading = readings["reading"]
    chosen = readings["decision"]["default"] == reading
    head = (f"- **GCFLNet as this project builds it** (MSIC `{reading}`, the default a pre-registered rule chose)"
            if chosen else f"- **GCFLNet with MSIC `{reading}`** (not the default: the rule has not chosen it)")
    if readings["runs"]["missing"] or readings["runs"]["failed"]:
        return f"{head}: {len(readings['runs']['missing'])} of its runs are missing, so nothing is concluded yet."
    cells, effects = _cells(readings), readings["effects"]
    versus = effects["gcflnet_vs"]["unet"]
    text = (f"{head}: mIoU {cells['gcflnet']['miou']:.4f} against the U-Net's {cells['unet']['miou']:.4f}; GCFLNet "
            f"minus U-Net: {_versus(versus['miou'], 'miou')}, {_versus(versus['fa'], 'fa')}")
    if "gcflnet_vs_unet_wide" in effects:
        text += f"; minus the U-Net widened to its size: {_versus(effects['gcflnet_vs_unet_wide']['miou'], 'miou')}"
    text += f". Main effects beyond their interval: {_beyond_list(effects)}. Of {_claims(readings)}"
    if not any(_beyond(effects["main"][s]["pd"], "pd") for s in SWITCHES):
        text += " (a claim is supported only when every metric it names improves beyond its interval, and no module moves Pd beyond its own)"
    return text + "."


def crossed_line(nudt: Mapping[str, Any], shut: tuple[int, int, int]) -> str:
    """The first factorial, MSIC ``crossed``: what it measured, and why its verdicts are of another network.

    ``shut``: (runs with both finest skips shut, runs with one of them shut, runs measured) under ``crossed``.
    """
    if not _complete(nudt):
        return f"- **With MSIC read as `crossed`** (the first factorial): {_recorded(nudt)}, nothing concluded yet."
    cells, versus = _cells(nudt), nudt["effects"]["gcflnet_vs"]["unet"]
    both, one, measured = shut
    if measured and both + one == measured:
        health = (f"in every one of the {measured} `crossed` runs whose skips were measured, MSIC shut at least one of "
                  f"the two finest skips (both in {both}), so its verdicts are of a network that does not use them, "
                  f"not of GCFLNet as built now")
    elif measured:
        health = (f"MSIC shut both finest skips in {both} and one of them in {one} of the {measured} `crossed` runs "
                  f"whose skips were measured")
    else:
        health = "no `crossed` run's skips were measured"
    return (f"- **With MSIC read as `crossed`** (the first factorial): mIoU {cells['gcflnet']['miou']:.4f} against the "
            f"U-Net's {cells['unet']['miou']:.4f}; GCFLNet minus U-Net: {_versus(versus['miou'], 'miou')}, "
            f"{_versus(versus['fa'], 'fa')}. Of {_claims(nudt)}. But {health}.")


def other_dataset_line(other: Mapping[str, Any]) -> str:
    """The same factorial on the second dataset: its state, or its result."""
    head = f"- **On {other['dataset']}** (the same eight variants, MSIC `crossed`, {other['recipe'].get('epochs')} epochs)"
    if not _complete(other):
        return f"{head}: {_recorded(other)}, so no verdict is drawn there yet."
    versus = other["effects"]["gcflnet_vs"]["unet"]
    return (f"{head}: GCFLNet minus U-Net: {_versus(versus['miou'], 'miou')}, {_versus(versus['fa'], 'fa')}. Of "
            f"{_claims(other)}.")


def budget_line(budget: Mapping[str, Any]) -> str:
    """The budget study: recorded runs, then what the longer budget keeps of the recipe's verdicts."""
    factor = budget["factor"]
    steps = factor * budget["recipe_epochs"] * budget["steps_per_epoch"]
    head = f"- **At {factor}x the steps** ({steps} optimizer steps; U-Net, + EEM and GCFLNet, seeds 0 and 1)"
    done = 6 - len(budget["missing"])
    if budget["missing"]:
        return (f"{head}: {done} of 6 runs recorded; until all six are in, nothing is said about which verdicts of the "
                f"recipe hold with longer training.")
    return f"{head}: {headline(budget)}; {kept_and_overturned(budget)}."


def anchors_line(nudt: Mapping[str, Any], readings: Mapping[str, Any]) -> str:
    """Where the recipe stands against the paper's own figure (a bound, not a check)."""
    paper = next((a for a in nudt.get("anchors", ()) if a["source"].startswith("GCFLNet paper")), None)
    if paper is None or readings["runs"]["missing"]:
        return ""
    ours = _cells(readings)["gcflnet"]["miou"]
    return (f"- **Not the paper's numbers**: the paper reports IoU {paper['iou'] / 100:.4f} for GCFLNet on NUDT-SIRST "
            f"from a full-width model trained 1500 epochs on a GPU; this recipe's GCFLNet reaches {ours:.4f}. Every "
            f"verdict here is about the recipe's budget, which is what a learner can reproduce on a CPU.")


def overview_markdown(nudt: Mapping[str, Any], readings: Mapping[str, Any], other: Mapping[str, Any] | None = None,
                      budget: Mapping[str, Any] | None = None) -> str:
    """The opening block of docs/ABLATION.md and of notebook 09's result, from the committed analyses.

    ``nudt``: ``results/ablation_nudt.json`` (MSIC ``crossed``); ``readings``: the default reading's analysis
    (``results/ablation_nudt_msic_unit_gain.json``); ``other``: the second dataset's factorial; ``budget``: the
    budget study. The skip health of the ``crossed`` runs is ``readings``' health table.
    """
    shut = (*_shut_counts(readings["health"], "crossed"), _health_count(readings["health"], "crossed")[1])
    head = (f"**In short** (for {budget_sentence(readings['budget'])}: the CPU recipe, under both MSIC readings; 95 % "
            f"intervals from the spread between seeds):")
    lines: list[str] = [head, "", default_reading_line(readings), crossed_line(nudt, shut)]
    if other is not None:
        lines.append(other_dataset_line(other))
    if budget is not None:
        lines.append(budget_line(budget))
    anchor = anchors_line(nudt, readings)
    if anchor:
        lines.append(anchor)
    return "\n".join(lines)


def overview_sources(root: str | os.PathLike) -> dict[str, Any]:
    """The committed analyses :func:`overview_markdown` reads, by keyword, from the repository at ``root``."""
    root = Path(root)
    files = {"nudt": "results/ablation_nudt.json", "readings": "results/ablation_nudt_msic_unit_gain.json",
             "other": "results/ablation_nuaa.json", "budget": "results/ablation_nudt_budget4x.json"}
    return {key: json.loads((root / path).read_text(encoding="utf-8")) for key, path in files.items()
            if (root / path).is_file()}


__all__ = ["OVERVIEW_MARKERS", "overview_markdown", "overview_sources"]
