"""The paper's ablation on NUDT-SIRST with the CPU recipe: 8 variants x seeds 0 and 1, then ``unet_wide``.

    python scripts/ablation_queue.py                       # train what is missing (resumable), 2 side by side
    python scripts/ablation_queue.py --dry-run             # the jobs, their state and commands; trains nothing
    python scripts/ablation_queue.py --commit              # also git-commit each record as soon as it is written
    python scripts/ablation_queue.py --dataset NUAA-SIRST  # the same factorial on NUAA-SIRST (16 runs, --preset cpu)
    python scripts/ablation_queue.py --replicate gcflnet_msic_s0   # train a recorded run again, same seed, today's code
    python scripts/ablation_queue.py --budget 4 --msic-reading NAME  # U-Net, + EEM, GCFLNet at 4x the steps (issue 33)

Each run is ``gcflnet train --preset cpu-nudt`` (widths 8..128, 128x128 crops, batch 16, 64 epochs: the
NUAA-SIRST CPU recipe's number of steps), then its final weights are scored on the NUAA-SIRST test split.
Records: ``results/ablation_nudt/VARIANT_sSEED.json`` (``gcflnet_lib.engine.experiments`` says what a record
holds and how a failed or interrupted run is handled). Order: seed 0 of the 8 variants (U-Net and GCFLNet
first, the checkpoints to release), seed 1 of the same, then ``unet_wide`` (the U-Net at GCFLNet's parameter
count) with both seeds. Two 1-thread runs side by side trained 1.41x (GCFLNet) to 1.56x (U-Net) more images
per second than one 2-thread run on the 2-core machine (``benchmarks/bench_queue_threads.py``,
``results/bench_queue_threads_cpu.json``), hence ``--workers 2``.

With ``--dataset NUAA-SIRST`` the 8 variants x 2 seeds train on NUAA-SIRST with its CPU recipe (``--preset cpu``,
200 epochs, about the same number of steps), are scored on the NUDT-SIRST test split, and land in
``results/ablation_nuaa/``; there is no ``unet_wide`` there (``gcflnet_lib.ablation.plans``).

``--replicate NAME`` trains recorded runs a second time with the same seed and today's code (channels-last on a
CPU) into ``results/ablation_KEY_replicas/``: a seed trained twice tells what rounding (the layout) moves from what
the seed moves (the report's "Same seed, trained again").

The analysis of the records: ``python scripts/ablation_report.py [--dataset NUAA-SIRST]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcflnet_lib.ablation.plans import PLANS, AblationPlan  # noqa: E402
from gcflnet_lib.engine.experiments import CrossData, Job, job_state, run_queue, train_command  # noqa: E402
from gcflnet_lib.ablation.budget import BUDGET_VARIANTS  # noqa: E402  (the cells trained longer, seed 0 of all first)
from gcflnet_lib.engine.presets import preset_values  # noqa: E402
from gcflnet_lib.models.registry import VARIANTS  # noqa: E402
from gcflnet_lib.nn import MSIC_READINGS  # noqa: E402

SEEDS = (0, 1)
FIRST = ("unet", "gcflnet")  # seed 0 of these first: they are released


def ablation_jobs(data: str, plan: AblationPlan = PLANS["NUDT-SIRST"], extra: tuple[str, ...] = (),
                  msic_reading: str | None = None) -> list[Job]:
    """The queue in its order (see the module docstring). With ``msic_reading``, only the four cells with MSIC,
    each trained with that reading (the cells without MSIC are shared with the measured factorial)."""
    order = [*FIRST, *(name for name in VARIANTS if name not in FIRST)]
    beside = plan.beside
    if msic_reading is not None:
        order, beside = [name for name in ("gcflnet", *order) if VARIANTS[name]["msic"]], ()
        order = list(dict.fromkeys(order))
        extra = ("--msic-reading", msic_reading, *extra)
    steps = [(name, seed) for seed in SEEDS for name in order] + [(name, seed) for name in beside for seed in SEEDS]
    jobs = []
    for name, seed in steps:
        switches = VARIANTS.get(name, {"eem": False, "glfi": False, "msic": False})
        flags = ("--preset", plan.preset, "--model", name, "--seed", str(seed), "--data", data, "--dataset", plan.dataset,
                 "--device", "cpu", *extra)
        labels = {"variant": name, "seed": seed, **switches}
        if msic_reading is not None:
            labels["msic_reading"] = msic_reading
        jobs.append(Job(f"{name}_s{seed}", flags, labels))
    return jobs




def budget_jobs(data: str, plan: AblationPlan, factor: int, extra: tuple[str, ...] = (),
                msic_reading: str | None = None) -> list[Job]:
    """U-Net, + EEM and GCFLNet at ``factor`` times the recipe's epochs (the milestones move to the same fractions),
    seeds 0 then 1; GCFLNet with ``msic_reading`` when given (the reading the pre-registered rule chose)."""
    epochs = str(factor * preset_values(plan.preset)["epochs"])
    jobs = []
    for seed in SEEDS:
        for name in BUDGET_VARIANTS:
            reading = ("--msic-reading", msic_reading) if msic_reading and VARIANTS[name]["msic"] else ()
            flags = ("--preset", plan.preset, "--epochs", epochs, "--model", name, "--seed", str(seed), "--data", data,
                     "--dataset", plan.dataset, "--device", "cpu", *reading, *extra)
            labels = {"variant": name, "seed": seed, "budget": factor, **VARIANTS[name]}
            jobs.append(Job(f"{name}_s{seed}", flags, labels))
    return jobs


def commit_record(path: Path, message: str) -> None:
    """Commit just ``path`` in its repository (other staged work stays staged)."""
    repo = subprocess.run(["git", "-C", str(path.parent), "rev-parse", "--show-toplevel"], capture_output=True,
                          text=True).stdout.strip()
    if not repo:
        return
    subprocess.run(["git", "-C", repo, "add", "--", str(path)], check=False)
    subprocess.run(["git", "-C", repo, "commit", "-q", "-m", message, "--", str(path)], check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(PLANS), default="NUDT-SIRST",
                        help="the ablation to train (default NUDT-SIRST, the paper's; NUAA-SIRST: the same factorial)")
    parser.add_argument("--data", default=None,
                        help="the dataset's root (default $GCFLNET_NUDT or $GCFLNET_SIRST, else ../shared/datasets/NAME)")
    parser.add_argument("--cross-data", default=None,
                        help="the other dataset's root, scored after each run (default from its variable, as --data)")
    parser.add_argument("--results", default=None, help="records folder (default results/ablation_KEY)")
    parser.add_argument("--runs", default=None, help="run folders and logs (default runs/ablation_KEY)")
    parser.add_argument("--workers", type=int, default=2, help="runs side by side (default 2, one thread each)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help="just these jobs (e.g. gcflnet_s0)")
    parser.add_argument("--replicate", nargs="+", default=None, metavar="NAME",
                        help="train these jobs again with the same seed, into results/ablation_KEY_replicas/")
    parser.add_argument("--msic-reading", default=None, choices=MSIC_READINGS,
                        help="train the four cells with MSIC under this reading into results/ablation_KEY_msic_NAME/ "
                             "(the cells without MSIC are shared with the measured factorial)")
    parser.add_argument("--health-every", type=int, default=None, metavar="K",
                        help="log each run's skip health every K epochs too (gcflnet train --health-every)")
    parser.add_argument("--budget", type=int, default=None, metavar="K",
                        help="the budget study: U-Net, + EEM and GCFLNet at K times the recipe's epochs, into "
                             "results/ablation_KEY_budgetKx/ (GCFLNet with --msic-reading when given)")
    parser.add_argument("--retry-failed", action="store_true", help="train again the jobs recorded as failed")
    parser.add_argument("--commit", action="store_true", help="git-commit each record as soon as it is written")
    parser.add_argument("--dry-run", action="store_true", help="list the jobs, their state and commands; train nothing")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be at least 1 (got {args.workers})")
    plan = PLANS[args.dataset]
    data = args.data or os.environ.get(plan.env) or str(ROOT.parent / "shared/datasets" / plan.dataset)
    cross_data = (args.cross_data or os.environ.get(plan.cross_env)
                  or str(ROOT.parent / "shared/datasets" / plan.cross_dataset))
    if not Path(data).is_dir():
        parser.error(f"--data {data}: {plan.dataset} folder not found")

    extra = ("--health-every", str(args.health_every)) if args.health_every else ()
    if args.budget is not None and args.budget < 2:
        parser.error(f"--budget must be at least 2 (got {args.budget}); the recipe itself is budget 1")
    jobs = (budget_jobs(data, plan, args.budget, extra, args.msic_reading) if args.budget
            else ablation_jobs(data, plan, extra, args.msic_reading))
    if args.only and args.replicate:
        parser.error("--only and --replicate: give one of them (--replicate names its jobs)")
    selected, flag = (args.only, "--only") if args.only else (args.replicate, "--replicate")
    if selected:
        unknown = sorted(set(selected) - {job.name for job in jobs})
        if unknown:
            parser.error(f"{flag}: unknown job(s) {', '.join(unknown)}; known: {', '.join(job.name for job in jobs)}")
        jobs = [job for job in jobs if job.name in selected]
    folder = Path(plan.replicas if args.replicate else plan.records).name
    if args.budget:
        folder = f"ablation_{plan.key}_budget{args.budget}x"
    elif args.msic_reading is not None:
        folder = Path(plan.reading_records(args.msic_reading)).name
    runs = Path(args.runs or ROOT / "runs" / folder)
    results = Path(args.results or ROOT / "results" / folder)
    if args.dry_run:
        for job in jobs:
            state = job_state(job, runs, results, args.retry_failed)
            print(f"{job.name:18s} {state:7s} {' '.join(train_command(job, runs / job.name, state == 'resume')[1:])}")
        return 0

    def on_record(job: Job, outcome: dict) -> None:
        if args.commit:
            path = results / (f"{job.name}.json" if outcome["status"] == "finished" else f"{job.name}.failed.json")
            kind = "replica" if args.replicate else "record"
            reading = f", MSIC {args.msic_reading}" if args.msic_reading else ""
            commit_record(path, f"Ablation {kind} {job.name} ({plan.dataset}, {plan.preset} recipe{reading}): "
                                f"{outcome['status']}")

    cross = [CrossData(plan.cross_key, cross_data, plan.cross_dataset)]
    states = run_queue(jobs, runs, results, cross, workers=args.workers, retry_failed=args.retry_failed,
                       cwd=ROOT, on_record=on_record, say=lambda line: print(line, flush=True))
    print(" ".join(f"{name}={state}" for name, state in states.items()))
    return 0 if all(state in ("done", "finished", "busy") for state in states.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
