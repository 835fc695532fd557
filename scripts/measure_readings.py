"""Measure the paper's open readings against each other (docs/PAPER_READING.md) on NUAA-SIRST.

Every reading is trained with the same short CPU recipe (``--preset cpu`` cut to ``--epochs``, milestones
moved to the same fractions), seed 0, and scored on the test split with the project's protocol (last
epoch, threshold 0.5). The padding readings need no training of their own: training crops are
multiples of the network's stride, so the model never pads in training and a run with ``--pad-mode
reflect`` would learn bitwise the same weights as the default run; they are the default run's
``final.pt`` evaluated with ``gcflnet evaluate --pad-mode``.

    python scripts/measure_readings.py                    # run what is missing, then write the table
    python scripts/measure_readings.py --only default msic_literal
    python scripts/measure_readings.py --table-only       # rebuild results/readings.json and the docs

The experiment runner (``gcflnet_lib.engine.experiments``) runs them: a reading whose record exists is not run again,
one that another process is training is skipped (two
queues can share the list, e.g. one with ``--only`` in reverse order), and an interrupted one resumes. Records go to ``results/readings/NAME.json``; the
table (reading, switch, params, mIoU, nIoU, Pd, Fa, minutes) to ``results/readings.json``, docs/PAPER_READING.md's
block between ``<!-- readings:begin -->`` and ``<!-- readings:end -->`` and the "Measured effect"
column of docs/PAPER_READING.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gcflnet_lib.engine.experiments import Job, run_queue
from gcflnet_lib.provenance import replace_generated_block
from gcflnet_lib.released import RELEASE_DATASETS, RELEASES

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- readings:begin -->", "<!-- readings:end -->"

# name -> (flags of gcflnet train, row of docs/PAPER_READING.md it measures); in the order they are run
READINGS: dict[str, tuple[list[str], int | None]] = {
    "default": ([], None),
    "default_seed1": ([], None),  # the default again with seed 1: how far one run's result moves with the seed
    "msic_literal": (["--msic-reading", "literal"], 1),
    "glfi_signed": (["--glfi-attention", "signed"], 3),
    "eem_gate": (["--eem-fusion", "gate"], 6),
    "decay_exclude": (["--decay-exclude"], 8),
    "unet": (["--model", "unet"], 9),
    "unet_wide": (["--model", "unet_wide"], 9),
    "glfi_fc": (["--glfi-fc"], 4),
    "glfi_signed_fc": (["--glfi-attention", "signed", "--glfi-fc"], 4),
    "glfi_channel": (["--glfi-attention", "channel"], 5),
}
SEEDS = {"default_seed1": 1}  # every other reading trains with seed 0
# name -> padding mode the default run is evaluated with
EVALUATIONS: dict[str, str] = {"pad_reflect": "reflect", "pad_replicate": "replicate"}
PAD_ROW = 7
# Released checkpoints evaluated again with reflection padding, beside their model-card evaluation with zeros
# (results/eval_cpu_NAME.json): a paired comparison, the same weights. The NUAA-SIRST ones: the readings are
# measured on NUAA-SIRST (--data), and a release's card evaluation is on its own dataset.
RELEASED = tuple(name for name in RELEASES if RELEASE_DATASETS[name] == "NUAA-SIRST")


def train_job(name: str, args: argparse.Namespace) -> Job:
    """Reading ``name`` as a job of the experiment runner: its ``gcflnet train`` flags (the runner adds the run
    folder, ``--resume`` of an interrupted run and the record)."""
    flags, _ = READINGS[name]
    model = [] if "--model" in flags else ["--model", "gcflnet"]
    return Job(name, ("--preset", "cpu", "--epochs", str(args.epochs), "--eval-every", "0", *model, *flags,
                      "--data", args.data, "--dataset", "NUAA-SIRST", "--seed", str(SEEDS.get(name, 0)), "--device", "cpu"))


def released_job(name: str, args: argparse.Namespace) -> Job:
    return Job(f"released_{name}_reflect", evaluate_flags=("--checkpoint", name, "--data", args.data, "--device", "cpu",
                                                            "--pad-mode", "reflect"))


def same_weights(first: dict, second: dict) -> bool:
    """Whether two ``gcflnet evaluate --json`` reports scored the same file: by its SHA-256 where both
    recorded one (a released name can be re-pointed at a retrained file), else by epoch and model config."""
    if first.get("checkpoint_sha256") and second.get("checkpoint_sha256"):
        return first["checkpoint_sha256"] == second["checkpoint_sha256"]
    return (first.get("epoch"), first.get("model_config")) == (second.get("epoch"), second.get("model_config"))


def released_pair_paths(name: str, results: Path) -> tuple[Path, Path]:
    """(reflect, zeros) evaluation records of release ``name``; zeros is its model card's evaluation."""
    return results / f"released_{name}_reflect.json", ROOT / "results" / f"eval_cpu_{name}.json"


def stale_reflect(name: str, results: Path) -> bool:
    """True when the reflect record is missing or scored other weights than the model card's evaluation."""
    reflect_path, zeros_path = released_pair_paths(name, results)
    if not reflect_path.exists():
        return True
    return zeros_path.exists() and not same_weights(json.loads(reflect_path.read_text()), json.loads(zeros_path.read_text()))


def released_padding_rows(results: Path) -> list[dict]:
    """One row per released checkpoint evaluated with both paddings (zeros: its model card's evaluation).

    Raises:
        SystemExit: the two records of a release scored different files (the release was replaced since).
    """
    rows = []
    for name in RELEASED:
        reflect_path, zeros_path = released_pair_paths(name, results)
        if not (reflect_path.exists() and zeros_path.exists()):
            continue
        zeros_report, reflect_report = (json.loads(p.read_text()) for p in (zeros_path, reflect_path))
        if not same_weights(zeros_report, reflect_report):
            raise SystemExit(f"{reflect_path}: scored other weights than {zeros_path}; "
                             "run `python scripts/measure_readings.py --only released` again")
        zeros, reflect = zeros_report["metrics"], reflect_report["metrics"]
        rows.append({"checkpoint": name, **{f"{key}_{mode}": m[key] for mode, m in (("zeros", zeros), ("reflect", reflect))
                                            for key in ("miou", "niou", "pd", "fa")},
                     "records": [f"results/{zeros_path.name}", f"results/readings/{reflect_path.name}"]})
    return rows


def released_markdown(rows: list[dict]) -> str:
    if not rows:
        return ""
    lines = ["", "", "Padding on the released checkpoints (the same weights evaluated twice, `gcflnet evaluate --pad-mode`):", "",
             "| checkpoint | mIoU zeros | mIoU reflect | Pd zeros | Pd reflect | Fa zeros (x1e-6) | Fa reflect (x1e-6) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['checkpoint']} | {r['miou_zeros']:.4f} | {r['miou_reflect']:.4f} | {r['pd_zeros']:.4f} | "
                     f"{r['pd_reflect']:.4f} | {r['fa_zeros'] * 1e6:.2f} | {r['fa_reflect'] * 1e6:.2f} |")
    return "\n".join(lines)


def evaluation_job(name: str, args: argparse.Namespace) -> Job:
    """A padding reading: the default run's weights evaluated with another ``--pad-mode`` (nothing trained)."""
    return Job(name, evaluate_flags=("--checkpoint", f"{args.runs}/default/final.pt", "--data", args.data,
                                     "--dataset", "NUAA-SIRST", "--device", "cpu", "--pad-mode", EVALUATIONS[name]))


def jobs_to_run(names: list[str], args: argparse.Namespace, results: Path) -> list[Job]:
    """The runner's jobs for ``names``, in order: trainings, padding evaluations, and the released checkpoints
    whose reflect record is missing or stale (a stale one is removed here, so the runner scores it again)."""
    jobs = []
    for name in names:
        if name == "released":
            for checkpoint in RELEASED:
                if stale_reflect(checkpoint, results):
                    released_pair_paths(checkpoint, results)[0].unlink(missing_ok=True)
                    jobs.append(released_job(checkpoint, args))
        else:
            jobs.append(evaluation_job(name, args) if name in EVALUATIONS else train_job(name, args))
    return jobs


def parameters(config: dict) -> int:
    from gcflnet_lib.engine.config import TrainConfig
    from gcflnet_lib.models import build_model

    known = {k: v for k, v in config.items() if k in TrainConfig.__dataclass_fields__}
    train_config = TrainConfig(**known)
    model = build_model(train_config.model, **train_config.model_kwargs())
    return sum(p.numel() for p in model.parameters())


def switch_of(name: str) -> str:
    if name in EVALUATIONS:
        return f"--pad-mode {EVALUATIONS[name]} (evaluation of the default run)"
    flags = READINGS[name][0] + (["--seed", str(SEEDS[name])] if name in SEEDS else [])
    return " ".join(flags) if flags else "(defaults)"


def table_rows(results: Path) -> list[dict]:
    rows = []
    default_record = None
    for name in [*READINGS, *EVALUATIONS]:
        path = results / f"{name}.json"
        if not path.exists():
            continue
        record = json.loads(path.read_text())
        if name in EVALUATIONS:
            if default_record is None:
                continue
            metrics, config, minutes = record["metrics"], default_record["config"], None
            command = f"gcflnet evaluate ... --pad-mode {EVALUATIONS[name]} (see {path.name})"
        else:
            metrics, config = record["final"], record["config"]
            minutes = round(record["wall_time_s"] / 60, 1)
            command = record["command"]
            if name == "default":
                default_record = record
        rows.append({
            "reading": name,
            "switch": switch_of(name),
            "flags": [] if name in EVALUATIONS else READINGS[name][0],
            "paper_reading_row": PAD_ROW if name in EVALUATIONS else READINGS[name][1],
            "model": config["model"],
            "params": parameters(config),
            "miou": metrics["miou"], "niou": metrics["niou"], "pd": metrics["pd"], "fa": metrics["fa"],
            "seed": SEEDS.get(name, 0),
            "minutes": minutes,
            "record": f"results/readings/{path.name}",
            "command": command,
            "device": (default_record or record).get("device"),
            "git_commit": record.get("git_commit") or (default_record or {}).get("git_commit"),
        })
    return mark_winners(rows)


BASELINES = ("default", "default_seed1", "unet", "unet_wide")


def mark_winners(rows: list[dict]) -> list[dict]:
    """Set ``beats_default_seeds`` on every trained reading of GCFLNet: True when its mIoU is above that of every
    seed of the default reading and its Fa below every one's (one run cannot claim less). Padding rows and the
    baselines get None."""
    defaults = [r for r in rows if r["reading"] in ("default", "default_seed1")]
    for r in rows:
        if r["reading"] in BASELINES or r["reading"] in EVALUATIONS or not defaults:
            r["beats_default_seeds"] = None
        else:
            r["beats_default_seeds"] = (r["miou"] > max(d["miou"] for d in defaults)
                                        and r["fa"] < min(d["fa"] for d in defaults))
    return rows


def markdown(rows: list[dict], epochs: int | None) -> str:
    if not rows:
        return "_No reading has been measured yet (`python scripts/measure_readings.py`)._"
    base = next((r for r in rows if r["reading"] == "default"), None)
    lines = ["| reading | switch | params | mIoU | nIoU | Pd | Fa (x1e-6) | minutes | ΔmIoU vs default | beats both default seeds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        delta = "" if base is None or r is base else f"{r['miou'] - base['miou']:+.4f}"
        minutes = "" if r["minutes"] is None else f"{r['minutes']:.1f}"
        lines.append(f"| {r['reading']} | `{r['switch']}` | {r['params']:,} | {r['miou']:.4f} | {r['niou']:.4f} | "
                     f"{r['pd']:.4f} | {r['fa'] * 1e6:.2f} | {minutes} | {delta} | "
                     f"{ {None: '', True: 'yes', False: 'no'}[r['beats_default_seeds']] } |")
    device = rows[0]["device"]
    lines.append("")
    lines.append(f"NUAA-SIRST test split (214 images), last epoch, threshold 0.5, one run each, seed 0 "
                 "(`default_seed1`: the default reading again with seed 1, the measure of one run's seed noise); "
                 f"`--preset cpu --epochs {epochs}` (widths 8..128, 128x128 crops), device: {device}. "
                 "Generated by `python scripts/measure_readings.py --table-only` from `results/readings/*.json`; "
                 "the minutes are wall time on a machine shared with other work. \"Beats both default seeds\": mIoU above "
                 "and Fa below both default runs; those readings join the GPU campaign's run list (`scripts/gpu_campaign.py`).")
    return "\n".join(lines)


def findings(rows: list[dict], padding: list[dict]) -> str:
    """What the table says, counted from it: the seed spread, the readings that beat both seeds, padding's effect."""
    defaults = [r for r in rows if r["reading"] in ("default", "default_seed1")]
    readings = [r for r in rows if r["beats_default_seeds"] is not None]
    parts = []
    if len(defaults) == 2 and readings:
        low, best = sorted(defaults, key=lambda r: r["miou"])
        farthest = max(readings, key=lambda r: abs(r["miou"] - best["miou"]))
        fa_ratio = max(d["fa"] for d in defaults) / min(d["fa"] for d in defaults)
        parts.append(f"The two default runs (seeds 0 and 1) differ by {best['miou'] - low['miou']:.4f} in mIoU and "
                     f"{fa_ratio:.1f}x in Fa; the reading farthest from the better of them, `{farthest['reading']}`, "
                     f"differs by {abs(farthest['miou'] - best['miou']):.4f}.")
    if readings:
        winners = [f"`{r['reading']}`" for r in readings if r["beats_default_seeds"]]
        parts.append(f"Readings that beat both default seeds: {', '.join(winners) if winners else 'none'} "
                     f"(of {len(readings)}).")
    reflect = next((r for r in rows if r["reading"] == "pad_reflect"), None)
    base = next((r for r in rows if r["reading"] == "default"), None)
    pairs = [(r["miou_zeros"], r["miou_reflect"], r["fa_zeros"], r["fa_reflect"]) for r in padding]
    if base is not None and reflect is not None:
        pairs.append((base["miou"], reflect["miou"], base["fa"], reflect["fa"]))
    if pairs:
        parts.append(f"Reflection padding against zeros, same weights, on {len(pairs)} models: mIoU higher on "
                     f"{sum(r > z for z, r, _, _ in pairs)}, Fa higher on {sum(r > z for _, _, z, r in pairs)}.")
    return " ".join(parts)


def measured_cells(rows: list[dict]) -> dict[int, str]:
    """The "Measured effect" cell of each PAPER_READING.md row that a measurement covers."""
    base = next((r for r in rows if r["reading"] == "default"), None)
    defaults = " and ".join(f"{d['miou']:.4f} / {d['pd']:.4f} / {d['fa'] * 1e6:.2f}e-6 (seed {d['seed']})"
                            for d in rows if d["reading"] in ("default", "default_seed1"))
    cells: dict[int, list[str]] = {}
    for r in rows:
        if r["paper_reading_row"] is None or base is None:
            continue
        cells.setdefault(r["paper_reading_row"], []).append(
            f"`{r['reading']}`: mIoU {r['miou']:.4f} ({r['miou'] - base['miou']:+.4f}), Pd {r['pd']:.4f}, "
            f"Fa {r['fa'] * 1e6:.2f}e-6 against "
            + (f"the same weights with zeros, {base['miou']:.4f} / {base['pd']:.4f} / {base['fa'] * 1e6:.2f}e-6"
               if r["reading"] in EVALUATIONS else f"default {defaults}")
        )
    return {row: "; ".join(parts) + " (one seed, short recipe: see 'The readings, measured' below)" for row, parts in cells.items()}


def fill_paper_reading(path: Path, rows: list[dict], padding: list[dict] | None = None) -> None:
    cells = measured_cells(rows)
    if padding and PAD_ROW in cells:
        pairs = ", ".join(f"{r['checkpoint']} {r['miou_zeros']:.4f} -> {r['miou_reflect']:.4f} (Fa {r['fa_zeros'] * 1e6:.2f} -> "
                          f"{r['fa_reflect'] * 1e6:.2f}e-6)" for r in padding)
        cells[PAD_ROW] += f"; released checkpoints, mIoU zeros -> reflect: {pairs}"
    if "msic_literal" in {r["reading"] for r in rows}:
        cells.setdefault(2, "measured with row 1 (`msic_literal` changes both)")
    lines = path.read_text().split("\n")
    for index, line in enumerate(lines):
        for row, cell in cells.items():
            if line.startswith(f"| {row} |"):
                # the last cell follows the last unescaped " | " of the line
                head = line.rstrip().removesuffix("|").rstrip()
                cut = head.rindex(" | ")
                lines[index] = head[: cut + 3] + cell + " |"
    path.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.environ.get("GCFLNET_SIRST", "../shared/datasets/NUAA-SIRST"))
    parser.add_argument("--epochs", type=int, default=30, help="epochs of the short recipe (default 30)")
    parser.add_argument("--runs", default="runs/readings", help="run folders (default runs/readings)")
    parser.add_argument("--results", default="results/readings", help="records (default results/readings)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help=f"run only these: {', '.join([*READINGS, *EVALUATIONS])}, released (the four released checkpoints with reflection padding)")
    parser.add_argument("--table-only", action="store_true", help="run nothing; rebuild the table and the docs")
    args = parser.parse_args()
    known = [*READINGS, *EVALUATIONS, "released"]
    unknown = [n for n in args.only or [] if n not in known]
    if unknown:
        parser.error(f"--only: unknown reading {', '.join(unknown)}; known: {', '.join(known)}")
    results = ROOT / args.results
    results.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        states = run_queue(jobs_to_run(args.only or known, args, results), ROOT / args.runs, results, cwd=ROOT,
                           say=lambda line: print(line, flush=True))
        failed = [name for name, state in states.items() if state == "failed"]
        if failed:
            print(f"failed (see {args.results}/NAME.failed.json): {', '.join(failed)}", file=sys.stderr)
    rows = table_rows(results)
    default_record = results / "default.json"
    epochs = json.loads(default_record.read_text())["epochs"] if default_record.exists() else args.epochs
    padding = released_padding_rows(results)
    (ROOT / "results" / "readings.json").write_text(json.dumps(
        {"epochs": epochs, "dataset": "NUAA-SIRST", "seed": 0, "rows": rows, "padding_on_released": padding}, indent=2) + "\n")
    block = markdown(rows, epochs) + released_markdown(padding) + "\n\n" + findings(rows, padding)
    replace_generated_block(ROOT / "docs" / "PAPER_READING.md", BEGIN, END, block)
    fill_paper_reading(ROOT / "docs" / "PAPER_READING.md", rows, padding)
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
