"""Write the README's generated parts from the records: what was found (at most 8 lines) and the learning path.

    python scripts/readme_summary.py            # rewrite both blocks of README.md
    python scripts/readme_summary.py --check    # exit 1 when a committed block differs from what the records give

Every number comes from a record named beside it: the releases' CPU evaluations (``results/eval_cpu_NAME.json``),
their skip health (``results/health/NAME.json``, ``gcflnet inspect``), the ablations' analyses
(``results/ablation_nudt.json``, ``results/ablation_nudt_msic_unit_gain.json``), the readings
(``results/readings.json``) and the notebooks' run times (``results/workbook_times.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcflnet_lib.ablation.budget import EVENING_MINUTES, fitting_runs, headline, kept_and_overturned, study_cost  # noqa: E402
from gcflnet_lib.models import READING_DEFAULTS, upgrade_config  # noqa: E402
from gcflnet_lib.provenance import replace_generated_block  # noqa: E402
from gcflnet_lib.released import CROSSED_PREDECESSORS  # noqa: E402

SUMMARY = ("<!-- summary:begin -->", "<!-- summary:end -->")
PATH = ("<!-- learning-path:begin -->", "<!-- learning-path:end -->")
TIMES = ("<!-- run-times:begin -->", "<!-- run-times:end -->")
TEST_TIME = "results/test_suite_time.json"  # {"command", "seconds", "date", "machine", "summary"}: a fresh clone's .ci/run

# What each notebook builds, one line each (the notebooks' own "what you will learn" says more).
NOTEBOOKS = {
    "00_tour": "the whole pipeline: data, the released GCFLNet beside its U-Net, metrics and predictions",
    "01_gradient_vector_fields": "image gradients as vector fields; how they converge on targets and on clutter",
    "02_efeu_learnable_sobel": "EFEU, the learnable Sobel unit, checked against OpenCV",
    "03_central_difference_conv": "central difference convolution: the formula, theta, the equivalences",
    "04_edge_enhancement_module": "EEM: EFEU and CDC fused; the released models' edge maps",
    "05_glfi_pooling_attention": "GLFI: dense and dilated sampling, pooled attention, both readings",
    "06_msic": "MSIC on the skips; why GCFLNets trained with `crossed` shut their two finest skips, and `unit_gain`",
    "07_training_gcflnet": "training: a run on a GPU, a short one on a CPU, the released run's curves",
    "08_metrics_roc_thresholds": "IoU, nIoU, Pd, Fa by hand and by the library; ROC; threshold widgets",
    "09_ablation": "the measured ablation (8 variants x 2 seeds) under both MSIC readings, and 4x the training",
    "10_classical_vs_deep": "Top-Hat, Max-Median, TLLCM, WSLCM, IPI, RIPT against GCFLNet",
}


def _read(path: str) -> dict:
    return json.loads((ROOT / path).read_text(encoding="utf-8"))


def _scores(name: str) -> dict:
    return _read(f"results/eval_cpu_{name}.json")["metrics"]


def _triple(metrics: dict) -> str:
    return f"mIoU {metrics['miou']:.4f}, Pd {metrics['pd']:.4f}, Fa {metrics['fa'] * 1e6:.2f}e-6"


def _ahead(gcflnet: dict, unet: dict) -> str:
    """"U-Net ahead on mIoU, Pd; GCFLNet ahead on Fa", counted from the scores (``who_is_ahead``), one seed each."""
    from gcflnet_lib.workbook.results import who_is_ahead

    return who_is_ahead(gcflnet, unet, metrics={"miou": "mIoU", "pd": "Pd", "fa": "Fa"}) + " (one seed each)"


def _claims_and_gcflnet(analysis: dict) -> str:
    """"of the 4 claims, 3 inconclusive, 1 contradicted; GCFLNet's mIoU 0.67 against the U-Net's 0.73 (difference
    -0.06 [-0.14, +0.02], 95 % interval)" from an ablation analysis (``results/ablation_nudt.json`` or a reading's)."""
    from gcflnet_lib.ablation.render import claim_counts

    total, counts = claim_counts(analysis)
    table = {row["variant"]: row for row in analysis["table"]}
    gap = analysis["effects"]["gcflnet_vs"]["unet"]["miou"]
    interval = (f" [{gap['low']:+.4f}, {gap['high']:+.4f}], 95 % interval" if gap.get("low") is not None
                and gap.get("high") is not None else ", no interval: a cell with one seed")
    return (f"of the {total} claims, {counts}; GCFLNet's mIoU {table['gcflnet']['miou']:.4f} against the "
            f"U-Net's {table['unet']['miou']:.4f} (difference {gap['estimate']:+.4f}{interval})")


def _retrained_line() -> str:
    """The CPU GCFLNets retrained with the default MSIC reading against their crossed predecessors, per dataset."""
    parts = []
    for current, earlier in CROSSED_PREDECESSORS.items():
        new, old = _scores(current), _scores(earlier)
        dataset = _read(f"results/eval_cpu_{current}.json")["dataset"]
        sides = {"mIoU": new["miou"] > old["miou"], "Fa": new["fa"] < old["fa"]}  # higher mIoU, lower Fa is ahead
        said = ("ahead on both" if all(sides.values()) else "behind on both" if not any(sides.values()) else
                "; ".join(f"{'ahead' if ahead else 'behind'} on {name}" for name, ahead in sides.items()))
        parts.append(f"on {dataset} mIoU {new['miou']:.4f} against {old['miou']:.4f} and Fa {new['fa'] * 1e6:.2f}e-6 "
                     f"against {old['fa'] * 1e6:.2f}e-6, {said}")
    return (f"- **The CPU GCFLNets retrained with `{READING_DEFAULTS['msic_reading']}`** against their `crossed` "
            f"predecessors (same recipe and seed, one run each): " + "; ".join(parts)
            + " ([model card](checkpoints/README.md)).")


def _budget_line(analysis: dict) -> str:
    """The budget study in one line: what is recorded, what the longer budget keeps, each 4x run's wall time and what
    fits in an evening."""
    factor = analysis["factor"]
    runs = analysis["budgets"][f"{factor}x"]["runs"]
    steps = factor * analysis["recipe_epochs"] * analysis["steps_per_epoch"]
    line = (f"- **{factor}x the training** (U-Net, + EEM, GCFLNet at {steps} optimizer steps, seeds 0 and 1): "
            f"{len(runs)} of 6 runs recorded")
    if analysis["missing"]:
        line += "; which 1x verdicts it keeps is said once all six are in"
    else:
        line += f"; {headline(analysis)}; {kept_and_overturned(analysis)}"
    if runs:
        line += "; wall time on this CPU: " + ", ".join(f"`{name}` {run['minutes']:.0f} min" for name, run in sorted(runs.items()))
    cost = study_cost(analysis)
    if cost:
        estimated = " (runs not yet recorded estimated)" if cost["by_seed"] or cost["by_factor"] else ""
        line += (f"; in an evening ({EVENING_MINUTES // 60} h) this CPU reproduces "
                 f"{fitting_runs(cost['short_fits'], cost['short'], '1x')} and "
                 f"{fitting_runs(cost['longer_fits'], cost['longer'], f'{factor}x')}; the whole {factor}x study takes "
                 f"{cost['longer_hours_two_lanes']:.1f} h with two runs side by side{estimated}, or a GPU")
    return line + " ([docs/ABLATION.md](docs/ABLATION.md#the-budget-study-1x-against-4x))."


def summary_lines() -> list[str]:
    """The README's "What was found", each line generated from the records it names."""
    lines = []
    g, u = _scores("gcflnet-cpu-nuaa-sirst"), _scores("unet-cpu-nuaa-sirst")
    g_reading = upgrade_config(_read("results/eval_cpu_gcflnet-cpu-nuaa-sirst.json")["model_config"])["msic_reading"]
    lines.append(f"- **Released models, NUAA-SIRST test split** (CPU recipe: widths 8..128, 200 epochs, seed 0): GCFLNet "
                 f"(MSIC `{g_reading}`) {_triple(g)}; its U-Net partner {_triple(u)}: {_ahead(g, u)} "
                 f"([model card](checkpoints/README.md)).")
    gw, uw = _scores("gcflnet-nuaa-sirst"), _scores("unet-nuaa-sirst")
    lines.append(f"- **Full width** (widths 16..256, 400 epochs on an H200, seed 0): GCFLNet {_triple(gw)}; U-Net "
                 f"{_triple(uw)}: {_ahead(gw, uw)} ([docs/RESULTS.md](docs/RESULTS.md)).")
    ablation = _read("results/ablation_nudt.json")
    lines.append(f"- **The paper's ablation, measured** (NUDT-SIRST, 8 variants x seeds 0 and 1, widths 8..128, "
                 f"{ablation['recipe']['epochs']} epochs, MSIC `crossed`, the reading that shuts GCFLNet's finest skips: "
                 f"next two lines): {_claims_and_gcflnet(ablation)} ([docs/ABLATION.md](docs/ABLATION.md)).")
    health = {path.stem: json.loads(path.read_text()) for path in sorted((ROOT / "results/health").glob("*.json"))}
    reading = {name: upgrade_config(report["model_config"])["msic_reading"] for name, report in health.items()
               if report["model_config"].get("msic")}  # no keyword: its legacy meaning, crossed
    crossed = [name for name in reading if reading[name] == "crossed"]
    shut = [name for name in crossed if [lv["level"] for lv in health[name]["levels"] if lv["status"] == "dead"][:2] == [0, 1]]
    open_costs = [report["fine"]["iou_cost"] for name, report in health.items() if name.startswith("unet")]
    line = (f"- **MSIC's `crossed` reading shuts GCFLNet's two finest skips**: in {len(shut)} of the {len(crossed)} "
            f"released GCFLNets trained with it, shuffling them moves no output probability by 0.05, where it costs "
            f"the U-Nets {min(open_costs):.2f} to {max(open_costs):.2f} crop IoU")
    current = [name for name in CROSSED_PREDECESSORS if reading.get(name) == READING_DEFAULTS["msic_reading"]]
    if current:
        costs = [health[name]["fine"]["iou_cost"] for name in current]
        line += (f"; the current CPU GCFLNets, retrained with `{READING_DEFAULTS['msic_reading']}`, lose "
                 f"{min(costs):.2f} to {max(costs):.2f} to the same shuffle")
    lines.append(line + " (`gcflnet inspect`; [notebook 06](notebooks/06_msic.ipynb)).")
    readings = _read("results/ablation_nudt_msic_unit_gain.json")
    done = 8 - len(readings["runs"]["missing"]) - len(readings["runs"]["failed"])
    decision = readings["decision"]
    outcome = (f"the pre-registered rule chooses `{decision['default']}`; under `unit_gain`, "
               f"{_claims_and_gcflnet(readings)}" if decision["default"]
               else "the pre-registered rule waits for all of them")
    if decision["default"] and decision["default"] == READING_DEFAULTS["msic_reading"] != "crossed":
        kept = [name for name in crossed if name not in CROSSED_PREDECESSORS.values()]  # not replaced by a retrained one
        outcome += (f"; `gcflnet train` defaults to it"
                    + (f", and {', '.join(f'`{name}`' for name in kept)} still carr{'ies' if len(kept) == 1 else 'y'} "
                       "`crossed`" if kept else ""))
    lines.append(f"- **A second MSIC reading** (`unit_gain`, the identity at step 0): {done} of its 8 runs recorded; "
                 f"{outcome} ([docs/ABLATION.md](docs/ABLATION.md#msics-readings-measured)).")
    lines.append(_retrained_line())
    lines.append(_budget_line(_read("results/ablation_nudt_budget4x.json")))
    rows = {row["reading"]: row for row in _read("results/readings.json")["rows"]}
    spread = abs(rows["default"]["miou"] - rows["default_seed1"]["miou"])
    lines.append(f"- **The paper's open readings** (30-epoch runs, one seed each): two seeds of the default differ by "
                 f"{spread:.4f} mIoU, more than any reading differs from the better seed, so none is ranked "
                 f"([docs/PAPER_READING.md](docs/PAPER_READING.md)).")
    return lines


def learning_path() -> str:
    """The learning path as a table: notebook, what it builds, and its measured time on a CPU."""
    runs = _read("results/workbook_times.json")["runs"].get("cpu", {})
    rows = ["| notebook | what it builds | time on a 2-core CPU |", "|---|---|---|"]
    for stem, what in NOTEBOOKS.items():
        entry = runs.get(stem)
        time = f"{entry['seconds']:.0f} s" if entry else "not measured"
        rows.append(f"| [`{stem}`](notebooks/{stem}.ipynb) | {what} | {time} |")
    return "\n".join(rows)


def run_times() -> str:
    """How long the two commands take, from their records: the notebooks' last recorded times, and the test suite's."""
    runs = _read("results/workbook_times.json")["runs"].get("cpu", {})
    total = sum(entry["seconds"] for entry in runs.values())
    dates = sorted({entry["date"] for entry in runs.values()})
    machines = sorted({entry["machine"].split(", load average")[0] for entry in runs.values()})
    lines = [f"Time on a CPU: the {len(runs)} notebooks took {total / 60:.1f} min in all when last recorded "
             f"(`scripts/run_workbook.py --record-times`, {' to '.join((dates[0], dates[-1])) if len(dates) > 1 else dates[0]}; "
             f"{'; '.join(machines)}), plus the install."]
    if (ROOT / TEST_TIME).is_file():
        test = _read(TEST_TIME)
        lines.append(f"The test command took {test['seconds'] / 60:.1f} min (`{test['command']}` in a fresh clone, "
                     f"{test['date']}, {test['machine']}: {test['summary']}).")
    else:
        lines.append("The test command's time is not recorded yet.")
    return " ".join(lines)


def blocks() -> dict[tuple[str, str], str]:
    return {SUMMARY: "\n".join(summary_lines()), PATH: learning_path(), TIMES: run_times()}


def committed(text: str, markers: tuple[str, str]) -> str | None:
    begin, end = markers
    start, stop = text.find(begin), text.find(end)
    return None if start < 0 or stop < start else text[start + len(begin):stop].strip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare the committed blocks; write nothing")
    args = parser.parse_args(argv)
    readme = ROOT / "README.md"
    generated = blocks()
    if args.check:
        text = readme.read_text(encoding="utf-8")
        stale = [begin for (begin, end), block in generated.items() if committed(text, (begin, end)) != block]
        for begin in stale:
            print(f"README.md: the block {begin} differs from what the records give; run python scripts/readme_summary.py",
                  file=sys.stderr)
        return 1 if stale else 0
    for markers, block in generated.items():
        replace_generated_block(readme, *markers, block)
    print("\n\n".join(generated.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
