"""Build the README's results table and plots from ``results/*.json``.

Every number in the table comes from a run record that ``gcflnet train`` / ``gcflnet bench`` wrote
(``--record results/NAME.json``); nothing is typed in by hand. Runs that share model, dataset, epochs and
device are grouped, and the table gives mean ± std over their seeds.

    python scripts/results_table.py            # print the table
    python scripts/results_table.py --readme   # rewrite the block between the README markers
    python scripts/results_table.py --plots results/plots
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results-table:begin -->", "<!-- results-table:end -->"
METRICS = (("miou", "mIoU", 1.0), ("niou", "nIoU", 1.0), ("pd", "Pd", 1.0), ("fa", "Fa (x1e-6)", 1e6), ("auc", "AUC", 1.0))


def load_records(results_dir: Path, kind: str = "train") -> list[dict]:
    records = []
    for path in sorted(results_dir.glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("kind") == kind:
            record["_file"] = path.name
            records.append(record)
    return records


def bench_table(records: list[dict]) -> str:
    """Throughput figures from ``gcflnet bench --json results/...`` records, one row per measurement."""
    if not records:
        return "_No benchmark is recorded in `results/` yet._"
    rows = ["| device | what | dtype | size | batch | images/s | MFU | file |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        for phase in ("train", "inference"):
            for m in r.get(phase, []):
                rows.append(f"| {r['device']} | {phase} | {m['dtype']} | {m['size']} | {m['batch']} | "
                            f"{m['images_per_s']:.3g} | {m['mfu']:.1%} | `{r['_file']}` |")
        if r.get("epoch"):
            rows.append(f"| {r['device']} | seconds per epoch | | | | {r['epoch']} | | `{r['_file']}` |")
    rows.append("")
    rows.extend(f"- `{r['_file']}`: `{r['command']}` at commit `{r['git_commit']}`, {r['parameters'] / 1e6:.3f} M parameters, "
                f"{r['gflops_forward_per_image']['256']:.2f} forward GFLOPs per 256x256 image" for r in records)
    return "\n".join(rows)


def _mean_std(values: list[float], scale: float) -> str:
    scaled = [v * scale for v in values]
    if len(scaled) == 1:
        return f"{scaled[0]:.4g}"
    return f"{statistics.mean(scaled):.4g} ± {statistics.stdev(scaled):.2g}"


def results_table(records: list[dict]) -> str:
    if not records:
        return "_No training runs are recorded in `results/` yet._"
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["dataset"], r["model"], r["epochs"], r["device"])].append(r)
    header = "| dataset | model | epochs | seeds | " + " | ".join(label for _, label, _ in METRICS) + " | device | run files |"
    rule = "|" + "---|" * (header.count("|") - 1)
    rows = [header, rule]
    for (dataset, model, epochs, device), runs in sorted(groups.items()):
        cells = [_mean_std([run["final"][key] for run in runs], scale) for key, _, scale in METRICS]
        files = ", ".join(f"`{run['_file']}`" for run in runs)
        rows.append(f"| {dataset} | {model} | {epochs} | {len(runs)} | " + " | ".join(cells) + f" | {device} | {files} |")
    commands = sorted({r["command"] for r in records})
    rows.append("")
    rows.append("Commands that produced these rows (last epoch, BasicIRSTD protocol, threshold 0.5):")
    rows.extend(f"- `{c}`" for c in commands)
    return "\n".join(rows)


def write_readme(table: str, readme: Path) -> None:
    text = readme.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n" + table + "\n" + text[end:])


def make_plots(records: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if not records:
        return written
    fig, (ax_curve, ax_roc) = plt.subplots(1, 2, figsize=(11, 4))
    for r in records:
        label = f"{r['model']} s{r.get('seed', 0)} ({r['dataset']})"
        evals = [h for h in r.get("history", []) if "miou" in h]
        ax_curve.plot([h["epoch"] for h in evals], [h["miou"] for h in evals], label=label)
        roc = r["final"].get("roc")
        if roc:
            ax_roc.plot([f * 1e6 for f in roc["fa"]], roc["pd"], label=label)
    ax_curve.set(xlabel="epoch", ylabel="test mIoU", title="Learning curves")
    ax_roc.set(xlabel="Fa (x1e-6)", ylabel="Pd", title="ROC (last epoch)")
    ax_curve.legend(fontsize=7)
    fig.tight_layout()
    path = out_dir / "curves_and_roc.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--readme", action="store_true", help="rewrite the README block between the markers")
    parser.add_argument("--plots", type=Path, default=None, help="folder for plots made from the same records")
    args = parser.parse_args()
    records = load_records(args.results)
    table = results_table(records) + "\n\n**Speed** (`gcflnet bench`)\n\n" + bench_table(load_records(args.results, "bench"))
    print(table)
    if args.readme:
        write_readme(table, ROOT / "README.md")
    if args.plots:
        for path in make_plots(records, args.plots):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
