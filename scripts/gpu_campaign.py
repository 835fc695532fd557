#!/usr/bin/env python3
"""One GPU campaign: every full-width NUAA-SIRST result in a single call of the lent H200.

    PYTHONPATH=. python3 scripts/gpu_campaign.py --data .campaign/NUAA-SIRST --out "$OUT"
    python scripts/gpu_campaign.py --dry-run --data DATA_ROOT --out build/campaign-dry   # CPU rehearsal

What it does, in order:

1. **Probe.** Times a few training steps of every planned model alone (batch 16, 256x256, bf16,
   channels_last) and of GCFLNet with each speed setting off (fp32, NCHW), prints each run's
   projected time and the total.
2. **Runs**, as separate ``gcflnet train`` processes sharing the one GPU, started in priority order:
   (1) GCFLNet seed 0, (2) U-Net seed 0, (3) GCFLNet seeds 1 and 2, (4) the six partial ablation
   variants seed 0, (5) the U-Net widened to GCFLNet's size (``unet_wide``) and every reading of the paper
   that beat both default seeds in the CPU measurement (``results/readings.json``). All use the paper's batch 16, the same epochs and schedule, bf16 and channels_last.
   A scheduler keeps the planned work inside ``--budget``: it starts the next run only when the
   projected finish (measured progress of the running ones) leaves room for it, and stops the lowest
   priority run when the projection overshoots.
3. **Release.** As soon as GCFLNet seed 0 (and U-Net seed 0) finish, their weights are rounded to fp16,
   scored again on the test split in that form, and written as ``<model>-nuaa-sirst.pt``.
4. **Bench** (last): ``gcflnet bench --device cuda`` if the budget leaves time for it.

Everything lands in ``--out`` (the device's ``$OUT``) as it finishes, in at most 8 files under 16 MB:
``campaign_results.tar.gz`` (run records ``results/*.json``, each run's history, config, metrics and log,
``probe.json``, ``campaign.json``, the bench record), ``gcflnet-nuaa-sirst.pt``, ``unet-nuaa-sirst.pt`` and
``campaign.log``. The archive is rewritten after every event, so a call cut short still returns what
finished.

``--dry-run`` runs the same code path on the CPU in about a minute: widths 4,8,16,32, 2 epochs,
64x64 crops, 16 training and 8 test images of ``--data``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
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
RELEASED = ("gcflnet", "unet")  # seed-0 runs of these become fp16 release files
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
    flags: tuple[str, ...] = ()  # extra ``gcflnet train`` flags: a reading of the paper (docs/PAPER_READING.md)
    step_s: float = 0.0  # seconds per training step alone (probe)
    status: str = "planned"  # planned, running, finished, failed, stopped, skipped
    epochs_done: int = 0
    started_at: float | None = None
    first_epoch_at: float | None = None  # when its first epoch was seen (start-up excluded from rates)
    first_epoch_count: int = 0
    ended_at: float | None = None
    returncode: int | None = None
    note: str = ""
    proc: Any = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        keys = ("name", "priority", "model", "seed", "flags", "step_s", "status", "epochs_done", "returncode", "note")
        out = {key: getattr(self, key) for key in keys}
        if self.started_at is not None and self.ended_at is not None:
            out["wall_s"] = round(self.ended_at - self.started_at, 2)
        return out


def reading_runs(readings_file: Path = READINGS_FILE) -> list[Run]:
    """Priority 5: the size-matched U-Net, then every reading of the paper that beat both default seeds in the
    CPU measurement (``results/readings.json``, ``scripts/measure_readings.py``), at full width and length."""
    runs = [Run("gpu_nuaa_unet_wide_s0", 5, "unet_wide", 0)]
    if readings_file.is_file():
        for row in json.loads(readings_file.read_text())["rows"]:
            if row.get("beats_default_seeds"):
                runs.append(Run(f"gpu_nuaa_gcflnet_{row['reading']}_s0", 5, row["model"], 0, tuple(row["flags"])))
    return runs


def plan_runs(skip: tuple[str, ...] = (), readings_file: Path = READINGS_FILE) -> list[Run]:
    """The issue's priority order; runs of equal priority start in list order; ``skip`` names runs done earlier.

    Raises:
        SystemExit: a name in ``skip`` that is not a planned run (the message lists them).
    """
    runs = [Run("gpu_nuaa_gcflnet_s0", 1, "gcflnet", 0), Run("gpu_nuaa_unet_s0", 2, "unet", 0)]
    runs += [Run(f"gpu_nuaa_gcflnet_s{seed}", 3, "gcflnet", seed) for seed in (1, 2)]
    runs += [Run(f"gpu_nuaa_{variant}_s0", 4, variant, 0) for variant in ABLATIONS]
    runs += reading_runs(readings_file)
    unknown = sorted(set(skip) - {run.name for run in runs})
    if unknown:
        raise SystemExit(f"gpu_campaign: error: --skip {' '.join(unknown)}: not a planned run; planned: "
                         + ", ".join(run.name for run in runs))
    return [run for run in runs if run.name not in skip]


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
        self.runs = plan_runs(tuple(args.skip))
        self.info: dict[str, Any] = {"budget_s": args.budget, "epochs": args.epochs, "dry_run": args.dry_run,
                                     "command": " ".join(sys.argv), "events": []}
        self.releases: dict[str, dict[str, Any]] = {}
        self.commit = os.environ.get("GCFLNET_GIT_COMMIT") or self._git_commit()

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

    @staticmethod
    def _git_commit() -> str | None:
        from gcflnet_lib.provenance import git_commit

        return git_commit(ROOT)

    # -- data --------------------------------------------------------------------------------------
    def prepare_data(self) -> Path:
        """The dataset root the runs read; a 16/8-image subset of ``--data`` for a dry run."""
        root = Path(self.args.data)
        for name in (f"img_idx/train_{self.args.dataset}.txt", f"img_idx/test_{self.args.dataset}.txt"):
            if not (root / name).is_file():
                raise SystemExit(f"gpu_campaign: error: {root / name}: missing (--data must be a standard-layout dataset)")
        if not self.args.dry_run:
            return root
        subset = self.work / "data"
        for folder in ("images", "masks", "img_idx"):
            (subset / folder).mkdir(parents=True, exist_ok=True)
        from gcflnet_lib.data.layout import find_image, find_mask, read_split

        for split, count in (("train", DRY_TRAIN_IMAGES), ("test", DRY_TEST_IMAGES)):
            names = read_split(root, self.args.dataset, split)[:count]
            (subset / f"img_idx/{split}_{self.args.dataset}.txt").write_text("\n".join(names) + "\n")
            for name in names:
                for folder, source in (("images", find_image(root, name)), ("masks", find_mask(root, name))):
                    link = subset / folder / source.name
                    if not link.exists():
                        link.symlink_to(source.resolve())
        return subset

    # -- probe -------------------------------------------------------------------------------------
    def probe(self) -> dict[str, Any]:
        """Seconds per training step of each planned model alone, and of GCFLNet with each speed setting off."""
        import torch

        from gcflnet_lib.engine import bench
        from gcflnet_lib.models import build_model

        device = torch.device(self.args.device)
        on_gpu = device.type == "cuda"
        if on_gpu:
            torch.backends.cudnn.benchmark = True
        else:
            torch.set_num_threads(1)  # a rehearsal must not fight the machine's other work for the cores
        channels = self.channels()
        crop = self.crop_size()
        x, y = bench.random_batch(self.args.batch_size, crop, device)
        warmup, min_steps, min_s = (3, 5, self.args.probe_seconds) if on_gpu else (1, 1, 0.0)

        def time_model(name: str, dtype: str, channels_last: bool) -> float:
            torch.manual_seed(0)
            kwargs = {"channels": channels} if channels else {}
            model = build_model(name, **kwargs).to(device)
            if on_gpu and channels_last:
                model = model.to(memory_format=torch.channels_last)
            step = bench.make_train_step(model, device, dtype if on_gpu else "fp32", channels_last=channels_last)
            for _ in range(warmup):
                step(x, y)
            bench.synchronize(device)
            steps, start = 0, time.perf_counter()
            while steps < min_steps or time.perf_counter() - start < min_s:
                step(x, y)
                steps += 1
                if steps % 5 == 0:
                    bench.synchronize(device)
            bench.synchronize(device)
            seconds = (time.perf_counter() - start) / steps
            del model, step
            if on_gpu:
                torch.cuda.empty_cache()
            return seconds

        report: dict[str, Any] = {"device": str(device), "batch": self.args.batch_size, "crop": crop,
                                  "channels": channels, "step_s": {}, "settings": []}
        if self.args.probe_from:
            # Step times measured by an earlier call on the same device: their probe costs no time here.
            earlier = json.loads(Path(self.args.probe_from).read_text())
            report.update(step_s=dict(earlier["step_s"]), settings=earlier.get("settings", []), from_file=self.args.probe_from)
            self.log(f"probe: step times from {self.args.probe_from}")
            for run in self.runs:
                run.step_s = report["step_s"][run.model]
            return report
        for model in dict.fromkeys(run.model for run in self.runs):
            try:
                report["step_s"][model] = time_model(model, "bf16", True)
            except Exception as exc:  # noqa: BLE001 - one broken model must not cost the other runs
                report.setdefault("errors", {})[model] = f"{type(exc).__name__}: {exc}"[:500]
                self.event(f"probe {model} FAILED: {report['errors'][model]}")
                for run in self.runs:
                    if run.model == model:
                        run.status, run.note = "skipped", "its probe failed"
                continue
            self.log(f"probe {model:20s} {report['step_s'][model] * 1e3:8.2f} ms/step "
                     f"({self.args.batch_size / report['step_s'][model]:8.1f} images/s)")
        if on_gpu and self.args.probe_settings and "gcflnet" in report["step_s"]:
            for dtype, channels_last in (("bf16", False), ("fp32", True), ("fp32", False)):
                try:
                    seconds = time_model("gcflnet", dtype, channels_last)
                except Exception as exc:  # noqa: BLE001 - a speed figure is not worth the campaign
                    self.event(f"probe gcflnet {dtype} channels_last={channels_last} FAILED: {exc}"[:300])
                    continue
                report["settings"].append({"model": "gcflnet", "dtype": dtype, "channels_last": channels_last,
                                           "step_s": seconds, "images_per_s": self.args.batch_size / seconds})
                self.log(f"probe gcflnet {dtype} channels_last={channels_last}: {seconds * 1e3:.2f} ms/step")
            report["settings"].append({"model": "gcflnet", "dtype": "bf16", "channels_last": True,
                                       "step_s": report["step_s"]["gcflnet"],
                                       "images_per_s": self.args.batch_size / report["step_s"]["gcflnet"]})
        for run in self.runs:
            run.step_s = report["step_s"].get(run.model, 0.0)
        return report

    # -- sizes -------------------------------------------------------------------------------------
    def channels(self) -> tuple[int, ...] | None:
        return tuple(int(c) for c in DRY_CHANNELS.split(",")) if self.args.dry_run else None

    def crop_size(self) -> int:
        return DRY_CROP if self.args.dry_run else 256

    def steps_per_epoch(self) -> int:
        return max(1, self.n_train // self.args.batch_size)

    def run_steps(self) -> int:
        return self.args.epochs * self.steps_per_epoch()

    def overhead_s(self) -> float:
        evaluations = 1 + (self.args.epochs // self.args.eval_every if self.args.eval_every else 0)
        return self.args.startup_s + evaluations * self.args.eval_s

    def cost(self, run: Run) -> float:
        return run_cost_s(run.step_s, self.run_steps(), self.overhead_s())

    def remaining_alone_s(self, run: Run) -> float:
        done_fraction = run.epochs_done / self.args.epochs
        cost = self.cost(run)
        if run.epochs_done == 0:
            return cost
        return (1 - done_fraction) * (cost - self.args.startup_s)

    # -- processes ---------------------------------------------------------------------------------
    def train_command(self, run: Run) -> list[str]:
        args = self.args
        command = [sys.executable, "-m", "gcflnet_lib", "train", "--data", str(self.data), "--dataset", args.dataset,
                   "--model", run.model, "--seed", str(run.seed), "--epochs", str(args.epochs),
                   "--batch-size", str(args.batch_size), "--crop-size", str(self.crop_size()),
                   "--eval-every", str(args.eval_every), "--save-every", str(max(1, args.eval_every or args.epochs)),
                   "--device", args.device, "--out", str(self.runs_dir / run.name), "--overwrite", "--no-progress",
                   "--record", str(self.results / f"{run.name}.json")]
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
                self.event(f"finished {run.name} in {now - run.started_at:.0f} s: {metrics}")
                if run.seed == 0 and run.model in RELEASED:
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
                rates.append((rate, run.step_s * self.steps_per_epoch()))
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
            first = run is self.runs[0] and run.status == "planned"
            if first and not may_start(self.cost(run), remaining, gain, time_left):
                self.event(f"{run.name} is projected to need {self.cost(run):.0f} s of {time_left:.0f} s left; "
                           "it starts anyway (the campaign exists for it)")
            if first or may_start(self.cost(run), remaining, gain, time_left):
                self.start(run)
                running.append(run)
                remaining.append(self.cost(run))
            else:
                break  # priorities are strict: nothing lower starts before this one

    # -- release and bench ---------------------------------------------------------------------------
    def release(self, run: Run) -> None:
        import torch

        from gcflnet_lib.data.dataset import load_split
        from gcflnet_lib.engine.evaluation import evaluate_model
        from gcflnet_lib.engine.release import export_release

        device = torch.device(self.args.device)
        source = self.runs_dir / run.name / "final.pt"
        target = self.out / f"{run.model}-nuaa-sirst.pt"
        from gcflnet_lib.engine.checkpoint import load_checkpoint

        samples = load_split(self.data, self.args.dataset, "test")
        norm = load_checkpoint(source)["norm"]

        def score(model):
            return evaluate_model(model.to(device), samples, device, float(norm["mean"]), float(norm["std"]))

        meta = export_release(source, target, store="fp16", score=score)
        size = target.stat().st_size
        self.releases[run.model] = {"file": target.name, "bytes": size, "metrics": meta["metrics"], "from_run": run.name}
        m = meta["metrics"]
        self.event(f"released {target.name} ({size / 2**20:.1f} MB, fp16): mIoU {m['miou']:.4f} Pd {m['pd']:.4f} "
                   f"Fa {m['fa'] * 1e6:.2f}e-6 (scored as stored)")
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
            command += ["--data", str(self.data), "--dataset", self.args.dataset]
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
        members = [self.work / "campaign.json", self.work / "probe.json", self.work / "bench.log"]
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
        self.n_train = len((self.data / f"img_idx/train_{args.dataset}.txt").read_text().split())
        self.log(f"campaign: budget {args.budget:.0f} s, {args.epochs} epochs, batch {args.batch_size}, "
                 f"{self.n_train} training images ({self.steps_per_epoch()} steps/epoch), device {args.device}, "
                 f"commit {self.commit}")
        probe = self.probe()
        (self.work / "probe.json").write_text(json.dumps(probe, indent=2) + "\n")
        total = 0.0
        for run in self.runs:
            if run.status == "skipped":
                continue
            total += self.cost(run)
            self.log(f"plan  p{run.priority} {run.name:28s} alone {self.cost(run):7.1f} s   cumulative {total:7.1f} s")
        self.info["projection"] = {"alone_total_s": round(total, 1), "per_run_s": {r.name: round(self.cost(r), 1) for r in self.runs},
                                   "overhead_s": self.overhead_s(), "steps_per_run": self.run_steps()}
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
    parser.add_argument("--data", default=".campaign/NUAA-SIRST", help="standard-layout dataset root (default .campaign/NUAA-SIRST)")
    parser.add_argument("--dataset", default="NUAA-SIRST")
    parser.add_argument("--out", default=os.environ.get("OUT") or "build/campaign", help="where the files to keep go (default $OUT)")
    parser.add_argument("--work", default=str(ROOT / "build" / "campaign-work"),
                        help="run folders and records (default build/campaign-work)")
    parser.add_argument("--budget", type=float, default=480.0, help="wall seconds for probe, runs and bench (default 480)")
    parser.add_argument("--epochs", type=int, default=400, help="epochs of every run (default 400)")
    parser.add_argument("--batch-size", type=int, default=16, help="the paper's 16")
    parser.add_argument("--eval-every", type=int, default=100, help="test-split evaluation every K epochs (default 100)")
    parser.add_argument("--max-concurrent", type=int, default=10, help="runs sharing the GPU at once (default 10)")
    parser.add_argument("--threads-per-run", type=int, default=1, help="OMP threads per run process (default 1)")
    parser.add_argument("--probe-seconds", type=float, default=0.6, help="timed seconds per probed model (default 0.6)")
    parser.add_argument("--startup-s", type=float, default=20.0, help="projected start-up per run: import, data, cudnn (default 20)")
    parser.add_argument("--eval-s", type=float, default=6.0, help="projected seconds per test-split evaluation (default 6)")
    parser.add_argument("--bench-s", type=float, default=35.0, help="time kept for gcflnet bench at the end (default 35)")
    parser.add_argument("--grace-s", type=float, default=20.0, help="past the budget, runs are stopped after this (default 20)")
    parser.add_argument("--poll-s", type=float, default=2.0)
    parser.add_argument("--skip-bench", action="store_true", help="no gcflnet bench at the end")
    parser.add_argument("--skip", nargs="+", default=[], metavar="RUN",
                        help="planned runs finished by an earlier call, e.g. gpu_nuaa_gcflnet_s0 gpu_nuaa_unet_s0")
    parser.add_argument("--probe-from", default=None, metavar="JSON",
                        help="take the step times from an earlier call's probe.json instead of probing")
    parser.add_argument("--probe-settings", action=argparse.BooleanOptionalAction, default=True,
                        help="also time GCFLNet with bf16 and channels_last off (default on; cudnn autotuning makes it ~90 s)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dry-run", action="store_true",
                        help=f"CPU rehearsal: widths {DRY_CHANNELS}, 2 epochs, {DRY_CROP}x{DRY_CROP} crops, "
                        f"{DRY_TRAIN_IMAGES} train / {DRY_TEST_IMAGES} test images")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.device, args.epochs, args.eval_every = "cpu", 2, 0
        args.startup_s, args.eval_s, args.bench_s = 10.0, 2.0, 20.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.dry_run:
        import torch

        if not torch.cuda.is_available():
            print("gpu_campaign: error: no CUDA GPU is visible; use --dry-run for the CPU rehearsal", file=sys.stderr)
            return 2
    return Campaign(args).run()


if __name__ == "__main__":
    raise SystemExit(main())
