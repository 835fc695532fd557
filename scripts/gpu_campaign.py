#!/usr/bin/env python3
"""One GPU campaign: full-width GCFLNet and U-Net on NUDT-SIRST (the paper's dataset) in a single call of the lent H200.

    PYTHONPATH=. python3 scripts/gpu_campaign.py --data-root .campaign --datasets NUDT-SIRST --out "$OUT"
    python scripts/gpu_campaign.py --dry-run --data-root DIR --out build/campaign-dry   # CPU rehearsal

``--data-root`` holds one standard-layout folder per dataset, named as the dataset (``.campaign/NUDT-SIRST``,
``.campaign/NUAA-SIRST``; ``scripts/pack_campaign_data.py`` writes compact copies there). A folder that a
planned run needs and the copy lacks stops the call at once, in one line, before any probing. A copy may carry
only part of the test split (``carried.json``): every record then says on how many of how many test images its
test metrics are, and the command that scores the full split on the CPU from the returned weights.

What it does, in order:

1. **Probe** (``gcflnet_lib.engine.speed_probe``, in child processes): times a training step of GCFLNet
   (batch 16, 256x256, bf16, channels_last) on every speed path (``gcflnet_lib.engine.speed_paths``:
   eager, a whole-step CUDA graph, torch.compile and its CUDA-graph mode), takes the path whose run ends
   first (compile time included) for every run, falling back to eager in one printed line; then times each
   other planned model on that path, inference (batch 32) on eager and graph, two models on two CUDA streams
   in one process, and the FLOPs for MFU. A path that fails to compile or capture prints one line. The
   projection and the scheduler use the chosen path's step times.
2. **Runs**, as separate ``gcflnet train --speed-path PATH`` processes sharing the one GPU, started in
   priority order, on NUDT-SIRST seed 0: (1) GCFLNet with MSIC reading ``CAMPAIGN_MSIC_READING``
   (``--msic-reading``), (2) U-Net, (3) GCFLNet with the ``crossed`` reading (the contrast at full width),
   (4) the six partial ablation variants; then (5) GCFLNet on NUAA-SIRST seeds 1 and 2, (6) on NUAA-SIRST
   the U-Net widened to GCFLNet's size (``unet_wide``) and every reading of the paper that beat both default
   seeds in the CPU measurement (``results/readings.json``). A reading this code does not know skips its run
   in one line; the rest goes on. All use the paper's batch 16, the same epochs and
   schedule, bf16 and channels_last. ``--datasets`` restricts a call to some datasets (the others' runs are
   left for a later call). A scheduler keeps the planned work inside ``--budget``: it starts the next run
   only when the projected finish (measured progress of the running ones) leaves room for it, and stops the
   lowest priority run when the projection overshoots.
3. **Skip health and release.** As each run finishes, the skip diagnostics (``gcflnet_lib.engine.health``:
   kept ratio and shuffle test per skip level) run on its final weights and crops of its test split, and go
   into its record as ``skip_health`` (a failure is one line). As soon as GCFLNet (the new reading) and U-Net
   seed 0 on NUDT-SIRST finish, their weights are rounded to fp16, scored again on the test split in that form,
   and written as ``gcflnet-nudt-sirst.pt`` and ``unet-nudt-sirst.pt``; the ``crossed`` run's weights come back
   the same way (``gpu_nudt_gcflnet_crossed_s0.fp16.pt``, no release) so that it too is scored on the CPU.
4. **Bench** (last, off with ``--skip-bench``): ``gcflnet bench --device cuda`` if the budget leaves time for it.

Everything lands in ``--out`` (the device's ``$OUT``) as it finishes, in at most 8 files under 16 MB:
``campaign_results.tar.gz`` (run records ``results/*.json``, each run's history, config, metrics and log,
``probe.json``, ``speed.json`` - the speed record: step time of each path, concurrency, inference images/s and
MFU -, ``campaign.json``, the bench record), the two releases, the contrast's weights and ``campaign.log``.
The archive is rewritten after every event, so a call cut short still returns what finished.

``--dry-run`` runs the same code path on the CPU in about a minute: widths 4,8,16,32, 2 epochs, 64x64 crops,
16 training and 8 test images of each dataset, the eager and graph paths (uncaptured on a CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ABLATIONS = ("gcflnet_eem", "gcflnet_glfi", "gcflnet_msic", "gcflnet_eem_glfi", "gcflnet_eem_msic", "gcflnet_glfi_msic")
# GCFLNet's MSIC reading that the campaign trains first and releases. It follows the choice of the pre-registered
# rule in docs/ABLATION.md: until the rule has chosen, the reading that keeps the finest skips open at step 0.
# Change it here and only here (``--msic-reading`` overrides it for one call).
CAMPAIGN_MSIC_READING = "unit_gain"
CONTRAST_MSIC_READING = "crossed"  # the reading of every released GCFLNet so far: the contrast at full width
NUDT, NUAA = "NUDT-SIRST", "NUAA-SIRST"
RELEASE_DATASETS = {NUDT: "nudt-sirst"}
DATASETS = (NUDT, NUAA)
SHORT = {NUDT: "nudt", NUAA: "nuaa"}
PROBE_MODEL = "gcflnet"  # the speed paths are probed on it; the path chosen serves every run
GPU_PATHS = ("eager", "graph", "compile-graph", "compile", "reduce-overhead")  # cheapest to probe first
DRY_PATHS = ("eager", "graph")  # compiling on a CPU takes minutes per model
DRY_CHANNELS = "4,8,16,32"
DRY_CROP = 64
DRY_TRAIN_IMAGES, DRY_TEST_IMAGES = 16, 8
MAX_FILE_BYTES = 16 * 2**20
READINGS_FILE = ROOT / "results" / "readings.json"


# ------------------------------------------------------------------------------------------------
# The plan and the scheduler's arithmetic (pure functions, tested on the CPU).


@dataclass
class Run:
    """One planned training run and what the scheduler knows of it."""

    name: str
    priority: int
    model: str
    seed: int
    dataset: str = NUDT
    flags: tuple[str, ...] = ()  # extra ``gcflnet train`` flags: a reading of the paper (docs/PAPER_READING.md)
    release: str | None = None  # the fp16 release file it becomes when it finishes
    keep_weights: bool = False  # its fp16 weights come back (no release) so the CPU can score it
    msic_reading: str | None = None  # the MSIC reading it asks for by name (checked against this code's)
    step_s: float = 0.0  # seconds per training step alone (probe, on ``speed_path``)
    speed_path: str = "eager"
    prepare_s: float = 0.0  # the path's one-off compile or capture (probe)
    status: str = "planned"  # planned, running, finished, failed, stopped, skipped
    epochs_done: int = 0
    started_at: float | None = None
    first_epoch_at: float | None = None  # when its first epoch was seen (start-up excluded from rates)
    first_epoch_count: int = 0
    ended_at: float | None = None
    returncode: int | None = None
    note: str = ""
    health: dict[str, Any] | None = None  # the skip health of its final weights, in short
    proc: Any = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        keys = ("name", "priority", "model", "seed", "dataset", "flags", "release", "speed_path", "step_s", "prepare_s",
                "status", "epochs_done", "returncode", "note")
        out = {key: getattr(self, key) for key in keys}
        if self.health is not None:
            out["skip_health"] = self.health
        if self.started_at is not None and self.ended_at is not None:
            out["wall_s"] = round(self.ended_at - self.started_at, 2)
        return out


def run_name(dataset: str, model: str, seed: int) -> str:
    return f"gpu_{SHORT[dataset]}_{model}_s{seed}"


def msic_run(reading: str, priority: int, release: str | None = None, keep_weights: bool = False) -> Run:
    """GCFLNet seed 0 on NUDT-SIRST with MSIC ``reading``, named after it (``gpu_nudt_gcflnet_unit_gain_s0``)."""
    return Run(run_name(NUDT, f"gcflnet_{reading}", 0), priority, "gcflnet", 0, NUDT, ("--msic-reading", reading),
               release=release, keep_weights=keep_weights, msic_reading=reading)


def reading_runs(readings_file: Path = READINGS_FILE) -> list[Run]:
    """Priority 6, on NUAA-SIRST where the readings were measured: the size-matched U-Net, then every reading
    of the paper that beat both default seeds in the CPU measurement (``results/readings.json``,
    ``scripts/measure_readings.py``), at full width and length."""
    runs = [Run(run_name(NUAA, "unet_wide", 0), 6, "unet_wide", 0, NUAA)]
    if readings_file.is_file():
        for row in json.loads(readings_file.read_text())["rows"]:
            if row.get("beats_default_seeds"):
                runs.append(Run(run_name(NUAA, f"gcflnet_{row['reading']}", 0), 6, row["model"], 0, NUAA, tuple(row["flags"])))
    return runs


def plan_runs(skip: tuple[str, ...] = (), readings_file: Path = READINGS_FILE,
              datasets: tuple[str, ...] = DATASETS, msic_reading: str = CAMPAIGN_MSIC_READING) -> list[Run]:
    """The issue's priority order; runs of equal priority start in list order.

    ``skip`` names runs done earlier; ``datasets`` keeps only the runs on those datasets (a call that carries
    only NUDT-SIRST leaves the NUAA-SIRST runs for a later call). ``msic_reading`` is the reading of the first
    run and of the GCFLNet release; the ``crossed`` contrast is planned third unless it is that reading.

    Raises:
        SystemExit: a name in ``skip`` that is not a planned run, or an unknown dataset (the message lists them).
    """
    unknown_sets = sorted(set(datasets) - set(DATASETS))
    if unknown_sets:
        raise SystemExit(f"gpu_campaign: error: --datasets {' '.join(unknown_sets)}: not a campaign dataset; known: "
                         + ", ".join(DATASETS))
    runs = [msic_run(msic_reading, 1, release=f"gcflnet-{RELEASE_DATASETS[NUDT]}.pt"),
            Run(run_name(NUDT, "unet", 0), 2, "unet", 0, NUDT, release=f"unet-{RELEASE_DATASETS[NUDT]}.pt")]
    if msic_reading != CONTRAST_MSIC_READING:
        runs.append(msic_run(CONTRAST_MSIC_READING, 3, keep_weights=True))
    runs += [Run(run_name(NUDT, variant, 0), 4, variant, 0, NUDT) for variant in ABLATIONS]
    runs += [Run(run_name(NUAA, "gcflnet", seed), 5, "gcflnet", seed, NUAA) for seed in (1, 2)]
    runs += reading_runs(readings_file)
    unknown = sorted(set(skip) - {run.name for run in runs})
    if unknown:
        raise SystemExit(f"gpu_campaign: error: --skip {' '.join(unknown)}: not a planned run; planned: "
                         + ", ".join(run.name for run in runs))
    return [run for run in runs if run.name not in skip and run.dataset in datasets]


def unknown_readings(runs: list[Run], known: tuple[str, ...]) -> list[str]:
    """Mark skipped each planned run whose MSIC reading is not in ``known`` (this code's ``MSIC_READINGS``);
    returns one line for each."""
    lines = []
    for run in runs:
        if run.msic_reading is not None and run.msic_reading not in known and run.status == "planned":
            run.status = "skipped"
            run.note = f"MSIC reading {run.msic_reading!r} is unknown to this code (known: {', '.join(known)})"
            lines.append(f"skip {run.name}: {run.note}; the other runs go on")
    return lines


def carried_scope(carried: int, total: int, dataset: str, weights_file: str | None = None,
                  released: bool = False) -> dict[str, Any]:
    """What a record says of its test metrics: on how many of the split's images, and how the full split is scored.

    The CPU command reads a release by its short name once it is in ``checkpoints/``, other returned weights
    from ``build/campaign-files/`` (docs/GPU_CAMPAIGN.md).
    """
    scope: dict[str, Any] = {"test_images": carried, "test_total": total, "full": carried >= total}
    if carried >= total:
        return scope
    if weights_file:
        stem = weights_file.removesuffix(".pt")
        checkpoint = stem if released else f"build/campaign-files/{weights_file}"
        scope["note"] = (f"the test metrics here are on {carried} of the {total} test images (the part carried to the "
                         f"device); the full test split is scored on the CPU from the returned weights {weights_file}")
        scope["cpu_rescore"] = (f"gcflnet evaluate --checkpoint {checkpoint} --data ../shared/datasets/{dataset} "
                                f"--dataset {dataset} --device cpu --json results/eval_cpu_{stem}.json")
    else:
        scope["note"] = (f"the test metrics here are on {carried} of the {total} test images (the part carried to the "
                         "device); its weights do not come back, so these are its only test metrics")
    return scope


def missing_datasets(data_root: Path, runs: list[Run]) -> list[str]:
    """The dataset folders that planned runs need and ``data_root`` lacks (both split files must be there)."""
    needed = dict.fromkeys(run.dataset for run in runs)
    return [name for name in needed
            if not all((data_root / name / f"img_idx/{split}_{name}.txt").is_file() for split in ("train", "test"))]


def stand_in_path(chosen: str, worked: set[str]) -> str:
    """The path the other models are timed on: the chosen one, unless it compiles (minutes per model);
    then the fastest-to-prepare path that worked for the probed model, graph before eager."""
    from gcflnet_lib.engine.speed_paths import compile_mode

    if compile_mode(chosen) is None:
        return chosen
    return "graph" if "graph" in worked else "eager"


def run_speed(results: list[dict[str, Any]], chosen: str, probed_model: str, model: str) -> tuple[str, float, float, bool] | None:
    """``(path, step_s, prepare_s, estimated)`` of a run of ``model``, or None when no path of it worked.

    Measured on the chosen path, that figure; timed only on a stand-in path, the stand-in's step scaled by
    the probed model's chosen/stand-in ratio (``estimated``); failed on the chosen path, eager's figure.
    """
    ok = {(r["model"], r["path"]): r for r in results if r.get("kind") == "train" and r.get("ok")}
    failed = {(r["model"], r["path"]) for r in results if r.get("kind") == "train" and not r.get("ok")}
    if (model, chosen) in ok:
        found = ok[(model, chosen)]
        return chosen, found["step_s"], found.get("prepare_s", 0.0), False
    if (model, chosen) not in failed and (probed_model, chosen) in ok:
        reference = ok[(probed_model, chosen)]
        for path in ("graph", "eager"):
            if (model, path) in ok and (probed_model, path) in ok:
                ratio = reference["step_s"] / ok[(probed_model, path)]["step_s"]
                return chosen, ok[(model, path)]["step_s"] * ratio, reference.get("prepare_s", 0.0), True
    if (model, "eager") in ok:
        found = ok[(model, "eager")]
        return "eager", found["step_s"], found.get("prepare_s", 0.0), False
    return None


def release_name(run: Run) -> str | None:
    """The release file a finished run becomes (``gcflnet-nudt-sirst.pt``), or None."""
    return run.release


def weights_name(run: Run) -> str | None:
    """The file its fp16 weights come back in: its release, ``NAME.fp16.pt`` for a kept contrast, else None."""
    return run.release or (f"{run.name}.fp16.pt" if run.keep_weights else None)


def run_cost_s(step_s: float, steps: int, overhead_s: float) -> float:
    """Seconds one run needs alone: its steps at the probed rate plus start-up and evaluations."""
    return step_s * steps + overhead_s


def projected_finish_s(remaining_alone_s: list[float], throughput: float) -> float:
    """Seconds until the running work is done when the GPU completes ``throughput`` alone-seconds per second.

    ``throughput`` is the measured concurrency gain: 1.0 when runs sharing the GPU go exactly as fast
    together as one after another, above 1 when one run's CPU-side gaps are filled by another's kernels.
    """
    return sum(remaining_alone_s) / max(throughput, 1e-6)


def may_start(next_cost_s: float, remaining_alone_s: list[float], throughput: float, time_left_s: float) -> bool:
    """Whether a run costing ``next_cost_s`` alone still ends, with the running work, inside ``time_left_s``."""
    return projected_finish_s([*remaining_alone_s, next_cost_s], throughput) <= time_left_s


def must_stop(remaining_alone_s: list[float], throughput: float, time_left_s: float) -> bool:
    """Whether the running work overshoots ``time_left_s`` (then the lowest priority run is stopped)."""
    return projected_finish_s(remaining_alone_s, throughput) > time_left_s


def measured_throughput(rates: list[tuple[float, float]]) -> float | None:
    """Concurrency gain from ``(epochs per second now, alone seconds per epoch)`` of each running run.

    Each run completes ``rate * alone_epoch_s`` alone-seconds of work per second; their sum is how much
    faster than one-at-a-time the GPU is going. None until a run has a measured rate.
    """
    measured = [rate * alone for rate, alone in rates if rate > 0]
    return sum(measured) if measured else None


# ------------------------------------------------------------------------------------------------
# The campaign.


class Campaign:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.t0 = time.monotonic()
        self.out = Path(args.out)
        self.work = Path(args.work)
        self.results = self.work / "results"
        self.runs_dir = self.work / "runs"
        for folder in (self.out, self.results, self.runs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.log_file = open(self.out / "campaign.log", "a", buffering=1)  # noqa: SIM115 - open for the campaign's life
        self.runs = plan_runs(tuple(args.skip), datasets=tuple(args.datasets), msic_reading=args.msic_reading)
        self.info: dict[str, Any] = {"budget_s": args.budget, "epochs": args.epochs, "dry_run": args.dry_run,
                                     "command": " ".join(sys.argv), "msic_reading": args.msic_reading, "events": []}
        self.releases: dict[str, dict[str, Any]] = {}
        self.probe_report: dict[str, Any] | None = None
        self._provenance: dict[str, Any] | None = None
        self.commit = os.environ.get("GCFLNET_GIT_COMMIT") or self._git_commit()
        from gcflnet_lib.nn.msic import MSIC_READINGS

        for line in unknown_readings(self.runs, tuple(MSIC_READINGS)):
            self.event(line)

    # -- bookkeeping -------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def log(self, message: str) -> None:
        line = f"[{self.elapsed():6.1f}s] {message}"
        print(line, flush=True)
        self.log_file.write(line + "\n")

    def event(self, message: str) -> None:
        self.info["events"].append({"t_s": round(self.elapsed(), 1), "what": message})
        self.log(message)

    def lead(self) -> Run:
        """The first run of the plan that was not skipped: the probe times its model, and it always starts."""
        return next((run for run in self.runs if run.status != "skipped"), self.runs[0])

    @staticmethod
    def _git_commit() -> str | None:
        from gcflnet_lib.provenance import git_commit

        return git_commit(ROOT)

    # -- data --------------------------------------------------------------------------------------
    def prepare_data(self) -> dict[str, Path]:
        """Each planned dataset's root; a 16/8-image subset of it for a dry run."""
        roots = {name: Path(self.args.data_root) / name for name in dict.fromkeys(run.dataset for run in self.runs)}
        if not self.args.dry_run:
            return roots
        return {name: self.dry_subset(name, root) for name, root in roots.items()}

    def dry_subset(self, dataset: str, root: Path) -> Path:
        from gcflnet_lib.data.layout import find_image, find_mask, read_split

        subset = self.work / "data" / dataset
        for folder in ("images", "masks", "img_idx"):
            (subset / folder).mkdir(parents=True, exist_ok=True)
        for split, count in (("train", DRY_TRAIN_IMAGES), ("test", DRY_TEST_IMAGES)):
            names = read_split(root, dataset, split)[:count]
            (subset / f"img_idx/{split}_{dataset}.txt").write_text("\n".join(names) + "\n")
            for name in names:
                for folder, source in (("images", find_image(root, name)), ("masks", find_mask(root, name))):
                    link = subset / folder / source.name
                    if not link.exists():
                        link.symlink_to(source.resolve())
        return subset

    # -- probe -------------------------------------------------------------------------------------
    def probe_settings(self):
        from gcflnet_lib.engine.speed_probe import ProbeSettings

        on_gpu = self.args.device.startswith("cuda")
        # A rehearsal times one step per item, without warm-up, on one thread (the machine has other work).
        return ProbeSettings(device=self.args.device, batch=self.args.batch_size, crop=self.crop_size(),
                             dtype="bf16" if on_gpu else "fp32", channels=self.channels(), seconds=self.args.probe_seconds,
                             warmup=3 if on_gpu else 0, threads=None if on_gpu else 1)

    def probe(self) -> dict[str, Any]:
        """Step times of the speed paths, the path chosen, each planned model's step on it, and the speed figures.

        Phase 1 times GCFLNet on every path of ``--probe-paths`` (or only ``--speed-path`` when one is forced);
        phase 2 the other models on the chosen path (on graph or eager when the chosen path compiles, see
        ``run_speed``), inference, two CUDA streams and the FLOPs. A model whose step fails there is timed
        eagerly and trains eagerly.
        """
        from gcflnet_lib.engine import speed_probe

        if self.args.probe_from:
            return self.probe_from_file(Path(self.args.probe_from))
        settings = self.probe_settings()
        on_gpu = settings.device.startswith("cuda")
        models = list(dict.fromkeys(run.model for run in self.runs if run.status != "skipped"))
        first = self.lead()
        deadline = self.elapsed() + self.args.probe_budget

        def measure(items: list[dict[str, Any]], what=settings) -> list[dict[str, Any]]:
            return speed_probe.probe(items, what, self.args.probe_item_timeout, max(0.0, deadline - self.elapsed()),
                                     self.log, env=self.child_env())

        paths = [self.args.speed_path] if self.args.speed_path else list(self.args.probe_paths)
        if "eager" not in paths:
            paths.insert(0, "eager")
        results = measure([{"kind": "train", "model": first.model, "path": path} for path in paths])
        chosen, why = speed_probe.choose_path(results, first.model, self.run_steps(first))
        if self.args.speed_path and chosen != self.args.speed_path:
            why = f"speed: --speed-path {self.args.speed_path} failed in the probe; eager"
        self.event(why)
        worked = {r["path"] for r in results if r["ok"]}
        standin = stand_in_path(chosen, worked)
        phase2 = [{"kind": "train", "model": model, "path": standin} for model in models if model != first.model]
        inference_paths = ["eager", "graph"] + (["compile-graph"] if chosen.startswith("compile") else [])
        phase2 += [{"kind": "inference", "model": first.model, "path": path} for path in inference_paths]
        phase2 += [{"kind": "flops", "model": model} for model in (first.model, "unet") if model in models]
        if on_gpu:
            phase2.append({"kind": "streams", "model": first.model, "path": chosen, "k": 2})
        # The rest is timed on paths without compiling, for a second each, in its own time allowance.
        deadline = self.elapsed() + self.args.probe_rest_budget
        rest = dataclasses.replace(settings, seconds=min(1.0, settings.seconds))
        results += measure(phase2, rest)
        fallback = [{"kind": "train", "model": r["model"], "path": "eager"} for r in results
                    if r["kind"] == "train" and r["path"] == standin and not r["ok"] and standin != "eager"
                    and r["model"] != first.model]
        if fallback:
            results += measure(fallback, rest)
        report = {"chosen_path": chosen, "why": why, "settings": settings.__dict__, "results": results,
                  "device": self.args.device, "probed_model": first.model}
        self.apply_probe(report)
        return report

    def probe_from_file(self, path: Path) -> dict[str, Any]:
        """An earlier call's ``probe.json`` (same device): its choice and step times cost no time here."""
        report = json.loads(path.read_text())
        report["from_file"] = str(path)
        self.log(f"probe: step times and path ({report['chosen_path']}) from {path}")
        self.apply_probe(report)
        return report

    def apply_probe(self, report: dict[str, Any]) -> None:
        """Each run's path and step time (``run_speed``); a run none of whose paths worked is skipped."""
        probed = report.get("probed_model", PROBE_MODEL)
        for run in self.runs:
            if run.status == "skipped":
                continue
            speed = run_speed(report["results"], report["chosen_path"], probed, run.model)
            if speed is None:
                run.status, run.note = "skipped", "its probe failed"
                self.event(f"skip {run.name}: no speed path of {run.model} worked in the probe")
                continue
            run.speed_path, run.step_s, run.prepare_s, estimated = speed
            if estimated:
                run.note = "step time estimated from a stand-in path (the chosen path compiles)"

    def speed_record(self, probe: dict[str, Any]) -> dict[str, Any]:
        """``speed.json``: what ``results/speed_<device>.json`` keeps (``scripts/results_table.py`` reads it)."""
        from gcflnet_lib.engine.speed_probe import with_mfu
        from gcflnet_lib.provenance import provenance

        if self._provenance is None:
            command = " ".join(["python3", "scripts/gpu_campaign.py", *map(shlex.quote, sys.argv[1:])])
            self._provenance = {**provenance(self.args.device, command), "git_commit": self.commit}
        results = with_mfu(probe["results"], self.args.batch_size)
        record = {"kind": "speed", **self._provenance, "dry_run": self.args.dry_run,
            "settings": probe["settings"], "chosen_path": probe["chosen_path"], "why": probe["why"],
            "train": [r for r in results if r["kind"] == "train"],
            "inference": [r for r in results if r["kind"] == "inference"],
            "flops": [r for r in results if r["kind"] == "flops"],
            "concurrency": {"streams_in_one_process": [r for r in results if r["kind"] == "streams"],
                            "processes": self.info.get("concurrency_gain", [])}}
        if probe.get("from_file"):
            record["probe_from"] = probe["from_file"]
        return record

    # -- sizes -------------------------------------------------------------------------------------
    def channels(self) -> tuple[int, ...] | None:
        return tuple(int(c) for c in DRY_CHANNELS.split(",")) if self.args.dry_run else None

    def crop_size(self) -> int:
        return DRY_CROP if self.args.dry_run else 256

    def steps_per_epoch(self, run: Run) -> int:
        return max(1, self.n_train[run.dataset] // self.args.batch_size)

    def run_steps(self, run: Run) -> int:
        return self.args.epochs * self.steps_per_epoch(run)

    def overhead_s(self, run: Run) -> float:
        """Start-up, the path's compile or capture, and the test-split evaluations."""
        evaluations = 1 + (self.args.epochs // self.args.eval_every if self.args.eval_every else 0)
        return self.args.startup_s + run.prepare_s + evaluations * self.args.eval_s

    def cost(self, run: Run) -> float:
        return run_cost_s(run.step_s, self.run_steps(run), self.overhead_s(run))

    def remaining_alone_s(self, run: Run) -> float:
        done_fraction = run.epochs_done / self.args.epochs
        cost = self.cost(run)
        if run.epochs_done == 0:
            return cost
        return (1 - done_fraction) * (cost - self.args.startup_s)

    # -- processes ---------------------------------------------------------------------------------
    def train_command(self, run: Run) -> list[str]:
        args = self.args
        command = [sys.executable, "-m", "gcflnet_lib", "train", "--data", str(self.data[run.dataset]), "--dataset", run.dataset,
                   "--model", run.model, "--seed", str(run.seed), "--epochs", str(args.epochs),
                   "--batch-size", str(args.batch_size), "--crop-size", str(self.crop_size()),
                   "--eval-every", str(args.eval_every), "--save-every", str(max(1, args.eval_every or args.epochs)),
                   "--device", args.device, "--out", str(self.runs_dir / run.name), "--overwrite", "--no-progress",
                   "--record", str(self.results / f"{run.name}.json"), "--speed-path", run.speed_path]
        if self.channels():
            command += ["--channels", DRY_CHANNELS]
        return command + list(run.flags)

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        # GPU runs need little CPU each; a few threads apiece keep 10 processes off each other's cores.
        env["OMP_NUM_THREADS"] = str(self.args.threads_per_run)
        if self.commit:
            env["GCFLNET_GIT_COMMIT"] = self.commit
        return env

    def start(self, run: Run) -> None:
        run_dir = self.runs_dir / run.name
        run_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.work / f"{run.name}.log", "w")  # noqa: SIM115 - closed when the process is reaped
        run.proc = subprocess.Popen(self.train_command(run), cwd=ROOT, env=self.child_env(), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        run.proc.log_handle = log
        run.status, run.started_at = "running", time.monotonic()
        self.event(f"start {run.name} (priority {run.priority}, alone {self.cost(run):.0f} s projected)")

    def stop(self, run: Run, why: str) -> None:
        if run.proc is not None and run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGTERM)
            try:
                run.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(run.proc.pid, signal.SIGKILL)
                run.proc.wait()
        run.status, run.note, run.ended_at = "stopped", why, time.monotonic()
        self.event(f"stop {run.name}: {why}")

    def epochs_seen(self, run: Run) -> int:
        history = self.runs_dir / run.name / "history.csv"
        try:
            return max(0, len(history.read_text().strip().splitlines()) - 1)
        except OSError:
            return 0

    def poll(self) -> None:
        now = time.monotonic()
        for run in self.runs:
            if run.status != "running":
                continue
            run.epochs_done = self.epochs_seen(run)
            if run.epochs_done and run.first_epoch_at is None:
                run.first_epoch_at, run.first_epoch_count = now, run.epochs_done
            code = run.proc.poll()
            if code is None:
                continue
            run.proc.log_handle.close()
            run.returncode, run.ended_at = code, now
            run.epochs_done = self.epochs_seen(run)
            if code == 0:
                run.status = "finished"
                metrics = self.final_metrics(run)
                scope = self.scope(run)
                part = "" if scope["full"] else f" on {scope['test_images']} of {scope['test_total']} test images"
                self.event(f"finished {run.name} in {now - run.started_at:.0f} s: {metrics}{part}")
                self.annotate(run, test_scope=scope, skip_health=self.skip_health(run))
                if weights_name(run):
                    self.release(run)
            else:
                run.status = "failed"
                tail = (self.work / f"{run.name}.log").read_text(errors="replace").strip().splitlines()[-3:]
                run.note = " | ".join(tail)
                self.event(f"FAILED {run.name} (exit {code}): {run.note}")
            self.pack()

    def final_metrics(self, run: Run) -> str:
        try:
            final = json.loads((self.results / f"{run.name}.json").read_text())["final"]
            return f"mIoU {final['miou']:.4f} nIoU {final['niou']:.4f} Pd {final['pd']:.4f} Fa {final['fa'] * 1e6:.2f}e-6"
        except (OSError, KeyError, ValueError, TypeError):
            return "no record"

    def throughput(self) -> tuple[float, bool]:
        """The concurrency gain and whether every running run has a measured rate.

        Runs still starting (import, data, cudnn autotuning) have no rate yet; until all have one the sum
        undercounts, so the gain is taken as at least 1.0 (one-after-another) and nothing is stopped.
        """
        now = time.monotonic()
        rates, running = [], 0
        for run in self.runs:
            if run.status != "running":
                continue
            running += 1
            if run.first_epoch_at is not None and run.epochs_done > run.first_epoch_count:
                rate = (run.epochs_done - run.first_epoch_count) / max(now - run.first_epoch_at, 1e-6)
                rates.append((rate, run.step_s * self.steps_per_epoch(run)))
        gain = measured_throughput(rates)
        complete = running > 0 and len(rates) == running
        if gain is None:
            return 1.0, False
        return (max(gain, 0.25), True) if complete else (max(gain, 1.0), False)

    def schedule(self, deadline_s: float) -> None:
        """Start what fits, stop what overshoots; see ``may_start`` and ``must_stop``."""
        time_left = deadline_s - self.elapsed()
        gain, measured = self.throughput()
        if measured:
            self.info.setdefault("concurrency_gain", []).append(
                {"t_s": round(self.elapsed(), 1), "running": sum(r.status == "running" for r in self.runs), "gain": round(gain, 3)})
        running = [run for run in self.runs if run.status == "running"]
        remaining = [self.remaining_alone_s(run) for run in running]
        while measured and len(running) > 1 and must_stop(remaining, gain, time_left):
            victim = max(running, key=lambda r: (r.priority, self.runs.index(r)))
            self.stop(victim, f"projected to overrun the budget ({projected_finish_s(remaining, gain):.0f} s needed, "
                              f"{time_left:.0f} s left)")
            running.remove(victim)
            remaining = [self.remaining_alone_s(run) for run in running]
        for run in self.runs:
            if run.status != "planned":
                continue
            if len(running) >= self.args.max_concurrent:
                break
            first = run is self.lead() and run.status == "planned"
            if first and not may_start(self.cost(run), remaining, gain, time_left):
                self.event(f"{run.name} is projected to need {self.cost(run):.0f} s of {time_left:.0f} s left; "
                           "it starts anyway (the campaign exists for it)")
            if first or may_start(self.cost(run), remaining, gain, time_left):
                self.start(run)
                running.append(run)
                remaining.append(self.cost(run))
            else:
                break  # priorities are strict: nothing lower starts before this one

    # -- what a finished run's record holds besides training's own ------------------------------------
    def test_counts(self) -> dict[str, dict[str, int]]:
        """Per dataset: the test images scored here and the original split's count (``carried.json``)."""
        from gcflnet_lib.data.compact import carried_test

        counts = {}
        for name, root in self.data.items():
            carried = len((root / f"img_idx/test_{name}.txt").read_text().split())
            total = max(carried, carried_test(Path(self.args.data_root) / name, name)[1])
            counts[name] = {"test_images": carried, "test_total": total}
        return counts

    def scope(self, run: Run) -> dict[str, Any]:
        """``carried_scope`` of the run: on how many test images it was scored here, and how the rest is scored."""
        counts = self.info["test_scope"][run.dataset]
        return carried_scope(counts["test_images"], counts["test_total"], run.dataset, weights_name(run),
                             run.release is not None)

    def skip_health(self, run: Run) -> dict[str, Any]:
        """The skip health of the run's final weights on target crops of its test split (``health_of_samples``);
        a failure is one line, and the record keeps its message."""
        try:
            from gcflnet_lib.data.dataset import load_split
            from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint
            from gcflnet_lib.engine.health import HEALTH_CROP_SIZE, health_of_samples

            size = DRY_CROP if self.args.dry_run else HEALTH_CROP_SIZE
            model, meta = load_model_from_checkpoint(self.runs_dir / run.name / "final.pt", device=self.args.device)
            samples = load_split(self.data[run.dataset], run.dataset, "test")
            report = health_of_samples(model, samples, float(meta["norm"]["mean"]), float(meta["norm"]["std"]), size=size)
        except Exception as exc:  # noqa: BLE001 - any failure is one line; the campaign goes on
            message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            self.event(f"skip health of {run.name} failed: {message}")
            run.health = {"error": message}
            return {"error": message}
        kept = {str(item.level): round(item.kept_ratio, 6) for item in report.levels}
        run.health = {"kept_ratio": kept, "dead_levels": report.dead_levels}
        self.event(f"skip health of {run.name}: kept ratio " + ", ".join(f"level {k} {v:.3g}" for k, v in kept.items())
                   + f"; dead levels {report.dead_levels or 'none'}")
        return {**report.to_dict(), "dead_levels": report.dead_levels, "weights": "final.pt (fp32, last epoch)",
                "split": "test", "crops": len(report.names), "crop_size": size, "device": self.args.device}

    def annotate(self, run: Run, **fields: Any) -> None:
        """Add ``fields`` to the run's record (``results/NAME.json``); a missing record is one line."""
        path = self.results / f"{run.name}.json"
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            self.event(f"{run.name}: no record to add {', '.join(fields)} to ({type(exc).__name__})")
            return
        record.update(fields)
        path.write_text(json.dumps(record, indent=2) + "\n")

    # -- release and bench ---------------------------------------------------------------------------
    def release(self, run: Run) -> None:
        import torch

        from gcflnet_lib.data.dataset import load_split
        from gcflnet_lib.engine.evaluation import evaluate_model
        from gcflnet_lib.engine.release import export_release

        device = torch.device(self.args.device)
        source = self.runs_dir / run.name / "final.pt"
        target = self.out / weights_name(run)
        from gcflnet_lib.engine.checkpoint import load_checkpoint

        samples = load_split(self.data[run.dataset], run.dataset, "test")
        norm = load_checkpoint(source)["norm"]

        def score(model):
            return evaluate_model(model.to(device), samples, device, float(norm["mean"]), float(norm["std"]))

        meta = export_release(source, target, store="fp16", score=score)
        size = target.stat().st_size
        scope = self.scope(run)
        self.releases[target.name] = {"file": target.name, "bytes": size, "metrics": meta["metrics"], "from_run": run.name,
                                      "release": run.release is not None, "test_scope": scope}
        m = meta["metrics"]
        part = "" if scope["full"] else f" on {scope['test_images']} of {scope['test_total']} test images"
        what = "released" if run.release else "weights kept for the CPU score:"
        self.event(f"{what} {target.name} ({size / 2**20:.1f} MB, fp16): mIoU {m['miou']:.4f} Pd {m['pd']:.4f} "
                   f"Fa {m['fa'] * 1e6:.2f}e-6 (scored as stored{part})")
        if size > MAX_FILE_BYTES:
            self.event(f"WARNING {target.name} is over 16 MB and will not come back")

    def bench(self, time_left: float) -> None:
        if self.args.skip_bench:
            return
        if time_left < self.args.bench_s:
            self.event(f"bench skipped: {time_left:.0f} s left, it needs about {self.args.bench_s:.0f} s")
            return
        target = self.results / ("bench_cpu_dry.json" if self.args.dry_run else "bench_h200.json")
        command = [sys.executable, "-m", "gcflnet_lib", "bench", "--device", self.args.device, "--json", str(target)]
        if self.args.dry_run:
            command += ["--quick", "--channels", DRY_CHANNELS, "--crop-size", str(DRY_CROP), "--inference-sizes",
                        str(DRY_CROP), "--inference-batches", "1"]
        else:
            command += ["--data", str(self.data[self.runs[0].dataset]), "--dataset", self.runs[0].dataset]
        self.event("bench: " + " ".join(command[1:]))
        try:
            done = subprocess.run(command, cwd=ROOT, env=self.child_env(), capture_output=True, text=True,
                                  timeout=max(10.0, time_left))
            (self.work / "bench.log").write_text(done.stdout + done.stderr)
            self.event(f"bench exit {done.returncode}")
        except subprocess.TimeoutExpired:
            self.event("bench stopped at the budget")

    # -- output ------------------------------------------------------------------------------------
    def pack(self) -> None:
        """Rewrite ``campaign_results.tar.gz`` with everything so far (atomically: temp file, then rename)."""
        self.info["runs"] = [run.summary() for run in self.runs]
        self.info["releases"] = self.releases
        self.info["elapsed_s"] = round(self.elapsed(), 1)
        self.info["git_commit"] = self.commit
        (self.work / "campaign.json").write_text(json.dumps(self.info, indent=2) + "\n")
        if self.probe_report is not None:
            (self.work / "speed.json").write_text(json.dumps(self.speed_record(self.probe_report), indent=2) + "\n")
        members = [self.work / "campaign.json", self.work / "probe.json", self.work / "speed.json", self.work / "bench.log"]
        members += sorted(self.results.glob("*.json"))
        members += sorted(self.work.glob("gpu_*.log"))
        for run in self.runs:
            for name in ("history.csv", "history.json", "metrics.json", "config.json"):
                members.append(self.runs_dir / run.name / name)
        target = self.out / "campaign_results.tar.gz"
        tmp = target.with_name(target.name + ".tmp")
        with tarfile.open(tmp, "w:gz") as archive:
            for path in members:
                if path.is_file():
                    archive.add(path, arcname=str(path.relative_to(self.work)))
        os.replace(tmp, target)

    # -- main --------------------------------------------------------------------------------------
    def run(self) -> int:
        args = self.args
        self.data = self.prepare_data()
        self.n_train = {name: len((root / f"img_idx/train_{name}.txt").read_text().split()) for name, root in self.data.items()}
        sizes = ", ".join(f"{name} {count} training images ({max(1, count // args.batch_size)} steps/epoch)"
                          for name, count in self.n_train.items())
        self.log(f"campaign: budget {args.budget:.0f} s, {args.epochs} epochs, batch {args.batch_size}, {sizes}, "
                 f"device {args.device}, commit {self.commit}")
        self.info["test_scope"] = self.test_counts()
        for name, counts in self.info["test_scope"].items():
            if counts["test_images"] < counts["test_total"]:
                self.log(f"{name}: test metrics here are on {counts['test_images']} of {counts['test_total']} test "
                         "images; the full split is scored on the CPU from the returned weights")
        probe = self.probe_report = self.probe()
        (self.work / "probe.json").write_text(json.dumps(probe, indent=2) + "\n")
        total = 0.0
        for run in self.runs:
            if run.status == "skipped":
                continue
            total += self.cost(run)
            self.log(f"plan  p{run.priority} {run.name:28s} {run.speed_path:15s} {run.step_s * 1e3:7.2f} ms/step  "
                     f"alone {self.cost(run):7.1f} s   cumulative {total:7.1f} s")
        self.info["projection"] = {"alone_total_s": round(total, 1), "per_run_s": {r.name: round(self.cost(r), 1) for r in self.runs},
                                   "overhead_s": {r.name: round(self.overhead_s(r), 1) for r in self.runs},
                                   "steps_per_run": {r.name: self.run_steps(r) for r in self.runs},
                                   "speed_path": probe["chosen_path"]}
        self.log(f"projected: {total:.0f} s one after another; budget {args.budget:.0f} s "
                 f"(bench reserve {0 if args.skip_bench else args.bench_s:.0f} s)")
        self.pack()
        deadline = args.budget - (0 if args.skip_bench else args.bench_s)
        try:
            while True:
                self.poll()
                if self.elapsed() < deadline:
                    self.schedule(deadline)
                if not any(run.status == "running" for run in self.runs):
                    break
                if self.elapsed() > args.budget + args.grace_s:
                    for run in self.runs:
                        if run.status == "running":
                            self.stop(run, "past the budget")
                    break
                time.sleep(args.poll_s)
            for run in self.runs:
                if run.status == "planned":
                    run.status, run.note = "skipped", "did not fit the budget"
            self.info["concurrency_gain_last"] = round(self.throughput()[0], 3)
            self.bench(args.budget - self.elapsed())
        finally:
            for run in self.runs:
                if run.status == "running":
                    self.stop(run, "campaign ended")
            self.pack()
        finished = [r.name for r in self.runs if r.status == "finished"]
        self.log(f"done in {self.elapsed():.0f} s: {len(finished)} runs finished: {', '.join(finished) or 'none'}")
        for path in sorted(self.out.iterdir()):
            self.log(f"out: {path.name} {path.stat().st_size / 2**20:.2f} MB")
        return 0 if finished else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=".campaign",
                        help="folder holding one standard-layout folder per dataset, named as it (default .campaign)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), metavar="NAME",
                        help=f"train only the runs on these datasets (default {' '.join(DATASETS)})")
    parser.add_argument("--out", default=os.environ.get("OUT") or "build/campaign", help="where the files to keep go (default $OUT)")
    parser.add_argument("--work", default=str(ROOT / "build" / "campaign-work"),
                        help="run folders and records (default build/campaign-work)")
    parser.add_argument("--budget", type=float, default=480.0, help="wall seconds for probe, runs and bench (default 480)")
    parser.add_argument("--epochs", type=int, default=400, help="epochs of every run (default 400)")
    parser.add_argument("--batch-size", type=int, default=16, help="the paper's 16")
    parser.add_argument("--eval-every", type=int, default=100, help="test-split evaluation every K epochs (default 100)")
    parser.add_argument("--max-concurrent", type=int, default=10, help="runs sharing the GPU at once (default 10)")
    parser.add_argument("--threads-per-run", type=int, default=1, help="OMP threads per run process (default 1)")
    parser.add_argument("--probe-seconds", type=float, default=2.0, help="timed seconds per probed item (default 2)")
    parser.add_argument("--probe-paths", nargs="+", default=list(GPU_PATHS), metavar="PATH",
                        help=f"speed paths to probe on GCFLNet (default {' '.join(GPU_PATHS)}; dry run {' '.join(DRY_PATHS)})")
    parser.add_argument("--speed-path", default=None, metavar="PATH",
                        help="probe only this path (and eager) and train with it where it works")
    parser.add_argument("--probe-budget", type=float, default=150.0,
                        help="seconds the probe of the paths may take: an item running then is stopped, the rest "
                        "reported unmeasured (default 150)")
    parser.add_argument("--probe-rest-budget", type=float, default=75.0,
                        help="seconds for the rest of the probe: the other models, inference, streams, FLOPs (default 75)")
    parser.add_argument("--probe-item-timeout", type=float, default=120.0,
                        help="seconds one probed item may take, compile included, before it counts as failed (default 120)")
    parser.add_argument("--startup-s", type=float, default=20.0, help="projected start-up per run: import, data, cudnn (default 20)")
    parser.add_argument("--eval-s", type=float, default=10.0, help="projected seconds per test-split evaluation (default 10)")
    parser.add_argument("--bench-s", type=float, default=35.0, help="time kept for gcflnet bench at the end (default 35)")
    parser.add_argument("--grace-s", type=float, default=20.0, help="past the budget, runs are stopped after this (default 20)")
    parser.add_argument("--poll-s", type=float, default=2.0)
    parser.add_argument("--skip-bench", action="store_true", help="no gcflnet bench at the end")
    parser.add_argument("--skip", nargs="+", default=[], metavar="RUN",
                        help="planned runs finished by an earlier call, e.g. gpu_nudt_gcflnet_unit_gain_s0 gpu_nudt_unet_s0")
    parser.add_argument("--probe-from", default=None, metavar="JSON",
                        help="take the path and step times from an earlier call's probe.json instead of probing")
    parser.add_argument("--msic-reading", default=CAMPAIGN_MSIC_READING, metavar="NAME",
                        help=f"GCFLNet's MSIC reading trained first and released (default {CAMPAIGN_MSIC_READING}; "
                        "one this code does not know skips that run in one line)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", action="store_true",
                        help=f"CPU rehearsal: widths {DRY_CHANNELS}, 2 epochs, {DRY_CROP}x{DRY_CROP} crops, "
                        f"{DRY_TRAIN_IMAGES} train / {DRY_TEST_IMAGES} test images")
    args = parser.parse_args(argv)
    from gcflnet_lib.engine.speed_paths import PATHS

    for path in [*args.probe_paths, *([args.speed_path] if args.speed_path else [])]:
        if path not in PATHS:
            parser.error(f"speed path {path!r} is not one of {', '.join(PATHS)}")
    if args.dry_run:
        args.device, args.epochs, args.eval_every = "cpu", 2, 0
        args.startup_s, args.eval_s, args.bench_s = 10.0, 2.0, 20.0
        if args.probe_paths == list(GPU_PATHS):
            args.probe_paths = list(DRY_PATHS)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_datasets(Path(args.data_root), plan_runs(tuple(args.skip), datasets=tuple(args.datasets),
                                                               msic_reading=args.msic_reading))
    if missing:
        print(f"gpu_campaign: error: {', '.join(str(Path(args.data_root) / name) for name in missing)}: missing from this "
              "copy (carry the folder, or leave its runs out with --datasets); nothing was probed or trained", file=sys.stderr)
        return 2
    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            print("gpu_campaign: error: no CUDA GPU is visible; use --dry-run for the CPU rehearsal", file=sys.stderr)
            return 2
    return Campaign(args).run()


if __name__ == "__main__":
    raise SystemExit(main())
