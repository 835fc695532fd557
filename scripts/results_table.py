"""Build the results table of docs/RESULTS.md and its plots from ``results/*.json``.

Every number in the table comes from a run record that ``gcflnet train`` / ``gcflnet bench`` wrote
(``--record results/NAME.json``); nothing is typed in by hand. Runs that share model, dataset, epochs and
device are grouped, and the table gives mean ± std over their seeds.

    python scripts/results_table.py            # print the table
    python scripts/results_table.py --write    # rewrite the block between the markers of docs/RESULTS.md
    python scripts/results_table.py --plots results/plots
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from gcflnet_lib.provenance import replace_generated_block

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results-table:begin -->", "<!-- results-table:end -->"
# Training records of runs whose weights are gone hold the old own-range area, not the AUC on the shared axis
# (scripts/rename_legacy_auc.py); the curve columns are therefore in the releases' table, scored again.
METRICS = (("miou", "mIoU", 1.0), ("niou", "nIoU", 1.0), ("pd", "Pd", 1.0), ("fa", "Fa (x1e-6)", 1e6))
CURVE_METRICS = (("pd_at_fa_1e-05", "Pd at Fa 1e-5"), ("pd_at_fa_1e-04", "Pd at Fa 1e-4"), ("auc_pd_fa", "AUC (Fa <= 1e-4)"),
                 ("auc_pixel", "pixel AUC"))


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
            e = r["epoch"]
            estimated = " (estimated)" if e.get("estimated") else ""
            rows.append(f"| {r['device']} | one training epoch on {e['dataset']} ({e['steps']} steps of {e['batch']}) | "
                        f"{r['train'][-1]['dtype']} | {r.get('train_size', 256)} | {e['batch']} | "
                        f"{e['steps'] * e['batch'] / e['seconds']:.3g} ({e['seconds']:.2f} s{estimated}) | | `{r['_file']}` |")
    rows.append("")
    rows.extend(f"- `{r['_file']}`: `{r['command']}` at commit `{r['git_commit']}`, {r['parameters'] / 1e6:.3f} M parameters, "
                f"{r['gflops_forward_per_image']['256']:.2f} forward GFLOPs per 256x256 image" for r in records)
    return "\n".join(rows)


def _widths(record: dict) -> str:
    channels = (record.get("config") or {}).get("channels")
    return f"{channels[0]}..{channels[-1]}" if channels else "16..256"


def speed_settings_table(results_dir: Path) -> str:
    """The GPU campaign's probe: GCFLNet training steps with bf16 and channels_last switched on and off."""
    path = results_dir / "gpu_campaign_h200.json"
    if not path.is_file():
        return ""
    campaign = json.loads(path.read_text())
    probe = next((call["probe"] for call in campaign["calls"] if call.get("probe", {}).get("settings")), None)
    if probe is None:
        return ""
    rows = ["| setting | ms per step (batch 16, 256x256) | images/s |", "|---|---|---|"]
    for s in sorted(probe["settings"], key=lambda s: s["step_s"]):
        label = f"{s['dtype']}, {'channels_last' if s['channels_last'] else 'NCHW'}"
        rows.append(f"| {label} | {s['step_s'] * 1e3:.1f} | {s['images_per_s']:.0f} |")
    runs = {r["name"]: r for call in campaign["calls"] for r in call["campaign"].get("runs", []) if r.get("wall_s")}
    lines = ["", f"Training step of full-width GCFLNet alone on the {campaign['device']}, from the campaign's probe "
             "(`results/gpu_campaign_h200.json`, call 1)."]
    if runs:
        lines.append("Concurrency: " + "; ".join(f"`{name}` ran {r['epochs_done']} epochs in {r['wall_s']:.0f} s"
                                                for name, r in runs.items()) + " while sharing the GPU (call 2).")
    return "\n".join(rows + lines)


def speed_paths_table(records: list[dict]) -> str:
    """The speed paths of a training step, from the GPU campaign's ``speed.json`` (``results/speed_<device>.json``).

    One row per probed path and per inference path, then the path chosen and the concurrency measured.
    Rehearsal records (``dry_run``) are left out; without a real record the section is empty.
    """
    records = [r for r in records if not r.get("dry_run")]
    if not records:
        return ""
    rows = ["| device | model | what | path | ms per step | images/s | MFU | compile or capture (s) | file |",
            "|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for r in records:
        batch, crop = r["settings"]["batch"], r["settings"]["crop"]
        for m in r["train"]:
            if m.get("ok"):
                mfu = f"{m['mfu']:.1%}" if "mfu" in m else ""
                rows.append(f"| {r['device']} | {m['model']} | train, batch {batch}, {crop}x{crop} | {m['path']} | "
                            f"{m['step_s'] * 1e3:.1f} | {m['images_per_s']:.0f} | {mfu} | {m['prepare_s']:.1f} | `{r['_file']}` |")
            else:
                rows.append(f"| {r['device']} | {m['model']} | train | {m['path']} | failed: {m.get('error', '')} | | | | "
                            f"`{r['_file']}` |")
        for m in r["inference"]:
            if m.get("ok"):
                mfu = f"{m['mfu']:.1%}" if "mfu" in m else ""
                rows.append(f"| {r['device']} | {m['model']} | inference, batch {m['batch']} | {m['path']} | | "
                            f"{m['images_per_s']:.0f} | {mfu} | {m['prepare_s']:.1f} | `{r['_file']}` |")
        streams = [s for s in r["concurrency"]["streams_in_one_process"] if s.get("ok")]
        shared = [g["gain"] for g in r["concurrency"]["processes"]]
        parts = [f"path chosen: {r['chosen_path']} ({r['why'].removeprefix('speed: ')})"]
        parts += [f"{s['k']} {s['model']} models on {s['k']} CUDA streams in one process: {s['gain']:.2f}x one alone"
                  for s in streams]
        if shared:
            parts.append(f"runs as separate processes sharing the GPU: gain {min(shared):.2f} to {max(shared):.2f} "
                         f"over one after another ({len(shared)} measurements)")
        notes.append(f"- `{r['_file']}`: `{r['command']}` at commit `{r['git_commit']}`, torch {r['torch']}; " + "; ".join(parts))
    return "\n".join(rows + [""] + notes)


def _mean_std(values: list[float], scale: float) -> str:
    scaled = [v * scale for v in values]
    if len(scaled) == 1:
        return f"{scaled[0]:.4g}"
    return f"{statistics.mean(scaled):.4g} ± {statistics.stdev(scaled):.2g}"


def _msic_reading(record: dict) -> str:
    """The MSIC reading a run trained with ("" for a model without MSIC); a record without the keyword was
    trained before it existed, with ``crossed`` (``gcflnet_lib.models.readings.LEGACY_MEANING``)."""
    if not (record["model"] == "gcflnet" or "msic" in record["model"]):
        return ""
    return (record.get("config") or {}).get("msic_reading", "crossed")


def results_table(records: list[dict]) -> str:
    if not records:
        return "_No training runs are recorded in `results/` yet._"
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:  # runs of another MSIC reading are another model: never averaged together
        groups[(r["dataset"], r["model"], _msic_reading(r), _widths(r), r["epochs"], r["device"])].append(r)
    header = ("| dataset | model | MSIC reading | widths | epochs | seeds | " + " | ".join(label for _, label, _ in METRICS)
              + " | device | run files |")
    rule = "|" + "---|" * (header.count("|") - 1)
    rows = [header, rule]
    for (dataset, model, reading, widths, epochs, device), runs in sorted(groups.items()):
        cells = [_mean_std([run["final"][key] for run in runs], scale) for key, _, scale in METRICS]
        files = ", ".join(f"`{run['_file']}`" for run in runs)
        rows.append(f"| {dataset} | {model} | {reading or '-'} | {widths} | {epochs} | {len(runs)} | " + " | ".join(cells)
                    + f" | {device} | {files} |")
    commands = sorted({r["command"] for r in records})
    rows.append("")
    rows.append("Commands that produced these rows (last epoch, BasicIRSTD protocol, threshold 0.5):")
    rows.extend(f"- `{c}`" for c in commands)
    return "\n".join(rows)


def release_table(results_dir: Path) -> str:
    """The released checkpoints scored on their test split, with the ROC columns (``results/eval_cpu_NAME.json``,
    written by ``gcflnet evaluate --json``; the model card's records)."""
    paths = sorted(results_dir.glob("eval_cpu_*.json"))
    if not paths:
        return ""
    rows = ["| release | data | mIoU | Pd | Fa (x1e-6) | " + " | ".join(label for _, label in CURVE_METRICS) + " |",
            "|---|---|---|---|---|" + "---|" * len(CURVE_METRICS)]
    for path in paths:
        record = json.loads(path.read_text())
        m = record["metrics"]
        rows.append(f"| `{record['checkpoint']}` | {record['dataset']} | {m['miou']:.4f} | {m['pd']:.4f} | {m['fa'] * 1e6:.2f} | "
                    + " | ".join(f"{m[key]:.4f}" for key, _ in CURVE_METRICS) + " |")
    return "\n".join(rows)


def write_block(table: str, page: Path) -> None:
    replace_generated_block(page, BEGIN, END, table)


def make_plots(records: list[dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if not records:
        return written
    by_dataset: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_dataset[r["dataset"]].append(r)
    for dataset, runs in sorted(by_dataset.items()):
        fig, (ax_curve, ax_roc) = plt.subplots(1, 2, figsize=(11, 4))
        for r in runs:
            reading = _msic_reading(r)
            label = (f"{r['model']}{f' MSIC {reading}' if reading else ''} {_widths(r)} s{r.get('seed', 0)} "
                     f"({r['device'].split(' (')[0]})")
            evals = [h for h in r.get("history", []) if "miou" in h]
            ax_curve.plot([h["epoch"] for h in evals], [h["miou"] for h in evals], marker="o", ms=3, label=label)
            roc = r["final"].get("roc")
            if roc:
                ax_roc.plot([f * 1e6 for f in roc["fa"]], roc["pd"], label=label)
        ax_curve.set(xlabel="epoch", ylabel="test mIoU", title=f"{dataset}: test mIoU while training")
        ax_roc.set(xlabel="Fa (x1e-6, symlog)", ylabel="Pd", title=f"{dataset}: ROC of the last epoch")
        ax_roc.set_xscale("symlog", linthresh=1.0)
        ax_curve.legend(fontsize=7)
        ax_roc.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"curves_and_roc_{dataset}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--write", "--readme", action="store_true", dest="write",
                        help="rewrite the block between the markers of docs/RESULTS.md (--readme: its old name)")
    parser.add_argument("--plots", type=Path, default=None, help="folder for plots made from the same records")
    args = parser.parse_args()
    records = load_records(args.results)
    table = results_table(records)
    releases = release_table(args.results)
    if releases:
        table += ("\n\n**Released checkpoints on the test split of their data**, with the ROC columns (CPU, one torch thread: "
                  "`gcflnet evaluate --checkpoint NAME --data ../shared/datasets/DATA --device cpu --json "
                  "results/eval_cpu_NAME.json`, the model card's records)\n\n" + releases)
    table += "\n\n**Speed** (`gcflnet bench`)\n\n" + bench_table(load_records(args.results, "bench"))
    paths = speed_paths_table(load_records(args.results, "speed"))
    if paths:
        table += "\n\n**Speed paths of a training step** (`scripts/gpu_campaign.py` probe, `gcflnet train --speed-path`)\n\n" + paths
    settings = speed_settings_table(args.results)
    if settings:
        table += "\n\n**GPU speed settings** (`scripts/gpu_campaign.py` probe)\n\n" + settings
    print(table)
    if args.write:
        write_block(table, ROOT / "docs" / "RESULTS.md")
    if args.plots:
        for path in make_plots(records, args.plots):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
