"""Write the ablation's analysis from the queue's records: results, README, docs/ABLATION.md, the figure.

    python scripts/ablation_report.py                         # NUDT-SIRST: results/ablation_nudt.json, the docs' blocks, the figure
    python scripts/ablation_report.py --dataset NUAA-SIRST    # the same factorial on NUAA-SIRST (docs/ABLATION.md only)
    python scripts/ablation_report.py --check                 # exit 1 when a committed block differs from what the records give
    python scripts/ablation_report.py --msic-reading unit_gain [--check]   # MSIC's readings side by side, the rule
    python scripts/ablation_report.py --budget 4 [--check]    # the budget study: 1x against 4x (its own block)
    python scripts/ablation_report.py --overview [--check]    # docs/ABLATION.md's opening "In short" from the analyses

Every mode that writes an analysis also rewrites the opening "In short" block, which reads the committed analyses.

What is computed and how: ``gcflnet_lib.ablation`` (analysis, checks, render); which files belong to which dataset:
``gcflnet_lib.ablation.plans``. The README and docs/ABLATION.md hold the same generated NUDT-SIRST markdown between
``<!-- ablation:begin -->`` and ``<!-- ablation:end -->``; notebook 09 renders it from ``results/ablation_nudt.json``
on a CPU. A dataset with no records yet has an empty block and no analysis file, and ``--check`` holds it to that.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcflnet_lib.ablation.budget import analyse_budget, budget_markdown, plot_budget  # noqa: E402
from gcflnet_lib.ablation.overview import OVERVIEW_MARKERS, overview_markdown, overview_sources  # noqa: E402
from gcflnet_lib.ablation.plans import PLANS, AblationPlan  # noqa: E402
from gcflnet_lib.ablation.msic_readings import analyse_readings  # noqa: E402
from gcflnet_lib.ablation.render_msic import plot_gate, readings_markdown  # noqa: E402
from gcflnet_lib.ablation.report import analyse, plot_report, report_markdown  # noqa: E402
from gcflnet_lib.files import atomic_write_json, json_safe  # noqa: E402
from gcflnet_lib.errors import UserError  # noqa: E402
from gcflnet_lib.provenance import replace_generated_block  # noqa: E402


def blocks(analysis: dict, plan: AblationPlan) -> dict[str, str]:
    """The generated markdown of each document (they differ only in the figure's relative path)."""
    return {doc: report_markdown(analysis, "../" * doc.count("/") + plan.figure) for doc in plan.docs}


def committed_between(path: Path, markers: tuple[str, str]) -> str | None:
    """The committed text between ``markers`` in ``path`` (None without them)."""
    begin, end = markers
    text = path.read_text(encoding="utf-8")
    start, stop = text.find(begin), text.find(end)
    return None if start < 0 or stop < start else text[start + len(begin):stop].strip("\n")


def committed_block(path: Path, plan: AblationPlan) -> str | None:
    return committed_between(path, plan.markers)


def check(plan: AblationPlan, analysis: dict | None, json_path: Path) -> int:
    """1 (naming each stale file) when the committed blocks or JSON differ from what the records give, else 0."""
    generated = blocks(analysis, plan) if analysis is not None else dict.fromkeys(plan.docs, "")
    stale = [doc for doc, block in generated.items() if committed_block(ROOT / doc, plan) != block]
    committed = json.loads(json_path.read_text()) if json_path.exists() else None
    if committed != analysis:
        stale.append(str(json_path))
    for name in stale:
        print(f"{name}: differs from what the records give; run python scripts/ablation_report.py --dataset "
              f"{plan.dataset}", file=sys.stderr)
    return 1 if stale else 0


def readings(plan: AblationPlan, reading: str, check_only: bool) -> int:
    """The MSIC readings block of docs/ABLATION.md, its JSON and the gate figure (or, with ``check_only``, 1 when a
    committed one differs from what the records give)."""
    try:
        analysis = json.loads(json.dumps(json_safe(analyse_readings(plan, reading, ROOT))))
    except UserError as exc:
        print(f"ablation_report: {exc}", file=sys.stderr)
        return 2
    json_path = ROOT / plan.reading_analysis(reading)
    doc = "docs/ABLATION.md"
    block = readings_markdown(analysis, "../" + plan.gate_figure)
    if check_only:
        stale = [doc] if committed_between(ROOT / doc, plan.msic_markers) != block else []
        if not json_path.exists() or json.loads(json_path.read_text()) != analysis:
            stale.append(str(json_path))
        for name in stale:
            print(f"{name}: differs from what the records give; run python scripts/ablation_report.py "
                  f"--msic-reading {reading}", file=sys.stderr)
        return 1 if stale else 0
    atomic_write_json(json_path, analysis)
    replace_generated_block(ROOT / doc, *plan.msic_markers, block)
    plot_gate(analysis["gate_histories"], ROOT / plan.gate_figure)
    print(f"wrote {json_path}, {doc} and {plan.gate_figure}; the rule: {analysis['decision']['reason']}")
    return 0


def overview(check_only: bool) -> int:
    """docs/ABLATION.md's opening block from the committed analyses (or, with ``check_only``, 1 when it differs)."""
    doc = "docs/ABLATION.md"
    block = overview_markdown(**overview_sources(ROOT))
    if check_only:
        if committed_between(ROOT / doc, OVERVIEW_MARKERS) != block:
            print(f"{doc}: its opening block differs from what the analyses give; run python scripts/ablation_report.py "
                  f"--overview", file=sys.stderr)
            return 1
        return 0
    replace_generated_block(ROOT / doc, *OVERVIEW_MARKERS, block)
    print(f"wrote the opening block of {doc}")
    return 0


def budget_paths(plan: AblationPlan, factor: int) -> tuple[str, str, tuple[str, str]]:
    """(analysis JSON, figure, markers of its docs/ABLATION.md block) of the budget study at ``factor``."""
    tag = f"ablation-budget{factor}x-{plan.key}"
    return (f"results/ablation_{plan.key}_budget{factor}x.json", f"results/plots/budget{factor}x_{plan.key}.png",
            (f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"))


def budget(plan: AblationPlan, factor: int, reading: str, check_only: bool) -> int:
    """The budget study's block of docs/ABLATION.md, its JSON and figure (or, with ``check_only``, 1 when a committed
    one differs from what the records give); GCFLNet's 1x cells are those of MSIC ``reading``."""
    try:
        analysis = json.loads(json.dumps(json_safe(analyse_budget(plan, factor, reading, ROOT))))
    except UserError as exc:
        print(f"ablation_report: {exc}", file=sys.stderr)
        return 2
    json_name, figure, markers = budget_paths(plan, factor)
    doc = "docs/ABLATION.md"
    block = budget_markdown(analysis, "../" + figure)
    if check_only:
        stale = [doc] if committed_between(ROOT / doc, markers) != block else []
        json_path = ROOT / json_name
        if not json_path.exists() or json.loads(json_path.read_text()) != analysis:
            stale.append(json_name)
        for name in stale:
            print(f"{name}: differs from what the records give; run python scripts/ablation_report.py --budget {factor}",
                  file=sys.stderr)
        return 1 if stale else 0
    atomic_write_json(ROOT / json_name, analysis)
    replace_generated_block(ROOT / doc, *markers, block)
    plot_budget(analysis, ROOT / figure)
    print(f"wrote {json_name}, {doc} and {figure}; {6 - len(analysis['missing'])} of 6 runs at {factor}x recorded")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(PLANS), default="NUDT-SIRST", help="which ablation (default NUDT-SIRST)")
    parser.add_argument("--records", default=None, help="the queue's records folder (default results/ablation_KEY)")
    parser.add_argument("--json", default=None, help="the analysis as JSON (default results/ablation_KEY.json)")
    parser.add_argument("--check", action="store_true", help="compare the committed blocks and JSON; write nothing")
    parser.add_argument("--msic-reading", default=None, metavar="NAME",
                        help="MSIC's reading NAME beside crossed: the side-by-side block, the skip health, the rule")
    parser.add_argument("--overview", action="store_true",
                        help="only docs/ABLATION.md's opening block, from the committed analyses")
    parser.add_argument("--budget", type=int, default=None, metavar="K",
                        help="the budget study: U-Net, + EEM and GCFLNet at K x the steps against the recipe "
                             "(GCFLNet's reading: --msic-reading, default unit_gain)")
    args = parser.parse_args(argv)
    if args.overview:
        return overview(args.check)
    status = write(args)
    return status if status or args.check else overview(False)


def write(args: argparse.Namespace) -> int:
    """One analysis (the factorial of ``--dataset``, a reading, or the budget study), written or checked."""
    plan = PLANS[args.dataset]
    if args.budget is not None:
        if args.budget < 2:
            print(f"ablation_report: --budget must be at least 2 (got {args.budget}); the recipe itself is budget 1",
                  file=sys.stderr)
            return 2
        return budget(plan, args.budget, args.msic_reading or "unit_gain", args.check)
    if args.msic_reading:
        return readings(plan, args.msic_reading, args.check)
    records = Path(args.records or ROOT / plan.records)
    json_path = Path(args.json or ROOT / plan.analysis)
    if args.check and not records.exists():
        return check(plan, None, json_path)  # not started: nothing may claim results
    try:
        replicas = ROOT / plan.replicas if args.records is None and (ROOT / plan.replicas).is_dir() else None
        analysis = json.loads(json.dumps(json_safe(analyse(records, plan, replicas=replicas))))  # the JSON file's form
    except UserError as exc:
        print(f"ablation_report: {exc}", file=sys.stderr)
        return 2
    if args.check:
        return check(plan, analysis, json_path)
    atomic_write_json(json_path, analysis)
    for doc, block in blocks(analysis, plan).items():
        replace_generated_block(ROOT / doc, *plan.markers, block)
    plot_report(analysis, ROOT / plan.figure)
    print(f"wrote {json_path}, {', '.join(plan.docs)} and {plan.figure} from {len(analysis['records'])} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
