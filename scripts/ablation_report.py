"""Write the ablation's analysis from the queue's records: results, README, docs/ABLATION.md, the figure.

    python scripts/ablation_report.py            # rewrite results/ablation_nudt.json, the docs' blocks, the figure
    python scripts/ablation_report.py --check    # exit 1 when a committed block differs from what the records give

What is computed and how: ``gcflnet_lib.ablation_report``. The README and docs/ABLATION.md hold the same
generated markdown between ``<!-- ablation:begin -->`` and ``<!-- ablation:end -->``; notebook 09 renders
it from ``results/ablation_nudt.json`` on a CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcflnet_lib.ablation_report import analyse, plot_report, report_markdown  # noqa: E402
from gcflnet_lib.files import atomic_write_json, json_safe  # noqa: E402
from gcflnet_lib.errors import UserError  # noqa: E402
from gcflnet_lib.provenance import replace_generated_block  # noqa: E402

BEGIN, END = "<!-- ablation:begin -->", "<!-- ablation:end -->"
FIGURE = "results/plots/ablation_nudt.png"
DOCS = {"README.md": FIGURE, "docs/ABLATION.md": f"../{FIGURE}"}


def blocks(analysis: dict) -> dict[str, str]:
    """The generated markdown of each document (they differ only in the figure's relative path)."""
    return {doc: report_markdown(analysis, figure) for doc, figure in DOCS.items()}


def committed_block(path: Path) -> str | None:
    text = path.read_text(encoding="utf-8")
    start, stop = text.find(BEGIN), text.find(END)
    return None if start < 0 or stop < start else text[start + len(BEGIN):stop].strip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=str(ROOT / "results/ablation_nudt"), help="the queue's records folder")
    parser.add_argument("--json", default=str(ROOT / "results/ablation_nudt.json"), help="the analysis as JSON")
    parser.add_argument("--check", action="store_true", help="compare the committed blocks and JSON; write nothing")
    args = parser.parse_args(argv)
    try:
        analysis = json.loads(json.dumps(json_safe(analyse(args.records))))  # the form the JSON file holds
    except UserError as exc:
        print(f"ablation_report: {exc}", file=sys.stderr)
        return 2
    generated = blocks(analysis)
    if args.check:
        stale = [doc for doc, block in generated.items() if committed_block(ROOT / doc) != block]
        committed = json.loads(Path(args.json).read_text()) if Path(args.json).exists() else None
        if committed != json.loads(json.dumps(analysis)):
            stale.append(args.json)
        for name in stale:
            print(f"{name}: differs from what the records give; run python scripts/ablation_report.py", file=sys.stderr)
        return 1 if stale else 0
    atomic_write_json(args.json, analysis)
    for doc, block in generated.items():
        replace_generated_block(ROOT / doc, BEGIN, END, block)
    plot_report(analysis, ROOT / FIGURE)
    print(f"wrote {args.json}, {', '.join(DOCS)} and {FIGURE} from {len(analysis['records'])} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
