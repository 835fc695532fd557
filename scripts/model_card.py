"""Write the tables of ``checkpoints/README.md`` (the model card) from the records behind each release.

For every released checkpoint (``gcflnet_lib.released.RELEASES``) whose file is present, the card takes
- its training record ``results/<record>.json`` (``gcflnet train --record``): command, commit, device, wall time;
- its CPU evaluation ``results/eval_cpu_<name>.json``, written by
  ``gcflnet evaluate --checkpoint <name> --data ../shared/datasets/NUAA-SIRST --device cpu --json results/eval_cpu_<name>.json``;
- its skip health ``results/health/<name>.json``, written by
  ``gcflnet inspect --checkpoint <name> --data ../shared/datasets/<its dataset> --json results/health/<name>.json``.
``tests/test_released.py`` evaluates every release again and checks that it reproduces these numbers exactly,
and that the card's tables are what this script writes.

    python scripts/model_card.py            # print the tables
    python scripts/model_card.py --write    # rewrite the block between the markers in checkpoints/README.md
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from gcflnet_lib.provenance import replace_generated_block

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "checkpoints" / "README.md"
BEGIN, END = "<!-- model-card:begin -->", "<!-- model-card:end -->"

from gcflnet_lib.released import TRAINING_RECORDS as RECORDS  # noqa: E402  (release name -> its training record)


# What the record's one line does not say, for the CPU releases: how the time split and how many threads
# each epoch had (``--threads auto`` follows the cores other processes leave free).
CPU_NOTE = "one run{threads}; its history's per-epoch times add up to {train_min:.1f} min of training and {eval_min:.1f} min of evaluation."
NOTED = ("gcflnet-cpu-nuaa-sirst", "unet-cpu-nuaa-sirst", "gcflnet-cpu-nudt-sirst", "unet-cpu-nudt-sirst",
         "gcflnet-cpu-nuaa-sirst-crossed", "gcflnet-cpu-nudt-sirst-crossed")


def _threads(history: list[dict]) -> str:
    counts = Counter(row["threads"] for row in history if "threads" in row)
    if not counts:
        return ""
    parts = [f"{n} torch thread{'s' if n != 1 else ''} in {k} of {len(history)} epochs" for n, k in sorted(counts.items())]
    return " (" + ", ".join(parts) + ")"


def _note(name: str, record: dict) -> str | None:
    if name not in NOTED:
        return None
    history = record.get("history", [])
    train_min = sum(row.get("train_time_s", 0.0) for row in history) / 60
    eval_min = sum(row.get("eval_time_s", 0.0) for row in history) / 60
    return CPU_NOTE.format(threads=_threads(history), train_min=train_min, eval_min=eval_min)


def eval_path(name: str, results: Path = ROOT / "results") -> Path:
    return results / f"eval_cpu_{name}.json"


def _widths(config: dict) -> str:
    channels = config.get("channels") or [16, 32, 64, 128, 256]
    return ",".join(str(c) for c in channels)


# (GCFLNet release, U-Net release, what the pair shares): the comparisons printed under the tables
PAIRS = (
    ("gcflnet-cpu-nuaa-sirst", "unet-cpu-nuaa-sirst", "CPU recipe"),
    ("gcflnet-nuaa-sirst", "unet-nuaa-sirst", "full width"),
    ("gcflnet-cpu-nudt-sirst", "unet-cpu-nudt-sirst", "CPU recipe on NUDT-SIRST"),
    ("gcflnet-nudt-sirst", "unet-nudt-sirst", "NUDT-SIRST, full width"),
    ("gcflnet-cpu-nuaa-sirst-crossed", "unet-cpu-nuaa-sirst", "CPU recipe, the earlier `crossed` GCFLNet"),
    ("gcflnet-cpu-nudt-sirst-crossed", "unet-cpu-nudt-sirst", "CPU recipe on NUDT-SIRST, the earlier `crossed` GCFLNet"),
)


def comparison(scores: dict[str, dict]) -> list[str]:
    """One line per released GCFLNet / U-Net pair: which model is ahead on each metric (higher mIoU, nIoU, Pd,
    Pd at Fa 1e-5 and the two AUCs; lower Fa), counted from the scores rather than typed
    (``gcflnet_lib.workbook.results.who_is_ahead``)."""
    from gcflnet_lib.workbook.results import who_is_ahead

    return [f"- {label}, same seed: {who_is_ahead(scores[gcflnet], scores[unet])}." for gcflnet, unet, label in PAIRS
            if gcflnet in scores and unet in scores]


def retrained(scores: dict[str, dict]) -> list[str]:
    """One line per CPU GCFLNet retrained with ``unit_gain``: which of it and its ``crossed`` predecessor (same recipe
    and seed) is ahead on each metric, counted from the scores."""
    from gcflnet_lib.released import CROSSED_PREDECESSORS
    from gcflnet_lib.workbook.results import who_is_ahead

    return [f"- `{current}` against `{earlier}`: {who_is_ahead(scores[current], scores[earlier], ('unit_gain', 'crossed'))}."
            for current, earlier in CROSSED_PREDECESSORS.items() if current in scores and earlier in scores]


def card_tables(results: Path = ROOT / "results", checkpoints: Path = ROOT / "checkpoints") -> str:
    from gcflnet_lib.released import RELEASES

    metrics_rows = ["| release | model | data | widths | epochs | mIoU | nIoU | Pd | Fa (x1e-6) | Pd at Fa 1e-5 | "
                    "AUC (Fa <= 1e-4) | pixel AUC | size |",
                    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    provenance_rows = ["| release | trained on | wall time | commit | exact training command |", "|---|---|---|---|---|"]
    notes = []
    scores = {}
    for name, file in RELEASES.items():
        path = checkpoints / file
        record_path = results / RECORDS[name]
        if not (path.is_file() and record_path.is_file() and eval_path(name, results).is_file()):
            continue
        record = json.loads(record_path.read_text())
        scored = scores[name] = json.loads(eval_path(name, results).read_text())["metrics"]
        config = record["config"]
        metrics_rows.append(
            f"| `{name}` | {record['model']} | {record['dataset']} | {_widths(config)} | {record['epochs']} | {scored['miou']:.4f} | "
            f"{scored['niou']:.4f} | {scored['pd']:.4f} | {scored['fa'] * 1e6:.2f} | {scored['pd_at_fa_1e-05']:.4f} | "
            f"{scored['auc_pd_fa']:.4f} | {scored['auc_pixel']:.4f} | "
            f"{path.stat().st_size / 2**20:.1f} MB |")
        provenance_rows.append(
            f"| `{name}` | {record['device']} | {record['wall_time_s'] / 60:.1f} min | `{str(record['git_commit'])[:12]}` | "
            f"`{record['command']}` |")
        note = _note(name, record)
        if note:
            notes.append(f"- `{name}`: {note}")
    versus = comparison(scores)
    again = retrained(scores)
    health = health_table(results, checkpoints)
    return "\n".join(metrics_rows + [""] + provenance_rows + ([""] + notes if notes else [])
                     + (["", "GCFLNet against its U-Net baseline (one seed each, counted from the metrics table; Fa: lower is ahead):", ""] + versus
                        if versus else [])
                     + (["", "The CPU GCFLNets retrained with MSIC `unit_gain` against their `crossed` predecessors (same "
                               "recipe and seed, one run each, counted from the metrics table; Fa: lower is ahead):", ""] + again
                        if again else [])
                     + (["", health] if health else []))


def health_path(name: str, results: Path = ROOT / "results") -> Path:
    return results / "health" / f"{name}.json"


def health_table(results: Path = ROOT / "results", checkpoints: Path = ROOT / "checkpoints") -> str:
    """Per release: how much of each skip survives into the decoder, and what shuffling its spatial detail does."""
    from gcflnet_lib.models.readings import upgrade_config
    from gcflnet_lib.released import RELEASES

    rows = []
    for name, file in RELEASES.items():
        if not ((checkpoints / file).is_file() and health_path(name, results).is_file()):
            continue
        report = json.loads(health_path(name, results).read_text())
        levels = report["levels"]
        kept = " / ".join(f"{item['kept_ratio']:.3f}" for item in levels)
        moved = " / ".join(f"{item['max_probability_change']:.1e}" for item in levels)
        dead = [str(item["level"]) for item in levels if item["status"] == "dead"]
        config = upgrade_config(report["model_config"])  # a config without the keyword: its legacy meaning
        reading = f"`{config['msic_reading']}`" if config.get("msic") else "none (plain skips)"
        rows.append(f"| `{name}` | {reading} | {kept} | {moved} | {report['fine']['iou_before']:.3f} -> "
                    f"{report['fine']['iou_after']:.3f} | {', '.join(dead) if dead else 'none'} |")
    if not rows:
        return ""
    return "\n".join([
        "Skip health (`gcflnet inspect`, ten test crops of 128x128 centred on targets; levels 0 = full resolution "
        "to 3): the kept ratio of each skip after its modulation (1 for a plain U-Net skip), the largest change of "
        "any pixel's probability when that skip's spatial detail is shuffled, and the crop IoU before and after "
        "shuffling levels 0 and 1 together. A skip is dead when no probability moves by 0.05:", "",
        "| release | MSIC reading | kept, levels 0 / 1 / 2 / 3 | max Δprob, levels 0 / 1 / 2 / 3 | IoU, levels 0+1 shuffled | dead skips |",
        "|---|---|---|---|---|---|", *rows])


def write_card(tables: str, card: Path = CARD) -> None:
    replace_generated_block(card, BEGIN, END, tables)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the block between the markers in checkpoints/README.md")
    args = parser.parse_args()
    tables = card_tables()
    print(tables)
    if args.write:
        write_card(tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
