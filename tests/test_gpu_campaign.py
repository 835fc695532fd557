"""The GPU campaign script: its scheduler arithmetic, and a CPU dry run that checks every file it writes."""

import importlib.util
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from gcflnet_lib.data.synthetic import write_dataset
from gcflnet_lib.engine.checkpoint import load_checkpoint, load_model_from_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_campaign.py"


def _campaign_module():
    spec = importlib.util.spec_from_file_location("gpu_campaign", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_campaign"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


campaign = _campaign_module()


class TestPlan:
    def test_priority_order_is_the_issues(self, tmp_path):
        runs = campaign.plan_runs(readings_file=tmp_path / "absent.json")
        assert [(r.model, r.seed, r.priority) for r in runs[:4]] == [
            ("gcflnet", 0, 1), ("unet", 0, 2), ("gcflnet", 1, 3), ("gcflnet", 2, 3)]
        assert {r.model for r in runs[4:10]} == set(campaign.ABLATIONS) and {r.priority for r in runs[4:10]} == {4}
        assert [(r.name, r.priority) for r in runs[10:]] == [("gpu_nuaa_unet_wide_s0", 5)]
        assert [r.priority for r in runs] == sorted(r.priority for r in runs)
        assert len({r.name for r in runs}) == len(runs) == 11

    def test_readings_that_beat_both_default_seeds_join_with_their_flags(self, tmp_path):
        rows = [{"reading": "glfi_signed", "model": "gcflnet", "flags": ["--glfi-attention", "signed"], "beats_default_seeds": True},
                {"reading": "eem_gate", "model": "gcflnet", "flags": ["--eem-fusion", "gate"], "beats_default_seeds": False},
                {"reading": "unet", "model": "unet", "flags": ["--model", "unet"], "beats_default_seeds": None}]
        (tmp_path / "readings.json").write_text(json.dumps({"rows": rows}))
        extra = campaign.plan_runs(readings_file=tmp_path / "readings.json")[11:]
        assert [(r.name, r.model, r.flags, r.priority) for r in extra] == [
            ("gpu_nuaa_gcflnet_glfi_signed_s0", "gcflnet", ("--glfi-attention", "signed"), 5)]
        args = campaign.parse_args(["--dry-run", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")])
        planner = campaign.Campaign(args)
        planner.data = tmp_path / "data"
        assert planner.train_command(extra[0])[-2:] == ["--glfi-attention", "signed"]


    def test_runs_finished_earlier_can_be_skipped_and_unknown_names_are_refused(self):
        runs = campaign.plan_runs(("gpu_nuaa_gcflnet_s0", "gpu_nuaa_unet_s0"))
        assert [r.name for r in runs[:2]] == ["gpu_nuaa_gcflnet_s1", "gpu_nuaa_gcflnet_s2"]
        assert len(runs) == len(campaign.plan_runs()) - 2
        with pytest.raises(SystemExit, match="gpu_nuaa_gcflnet_s9: not a planned run"):
            campaign.plan_runs(("gpu_nuaa_gcflnet_s9",))


class TestSchedulerArithmetic:
    def test_cost_is_steps_times_step_time_plus_overhead(self):
        assert campaign.run_cost_s(0.02, 5200, 30.0) == pytest.approx(134.0)

    def test_projection_divides_the_work_by_the_measured_gain(self):
        assert campaign.projected_finish_s([100.0, 50.0], 1.0) == pytest.approx(150.0)
        assert campaign.projected_finish_s([100.0, 50.0], 1.5) == pytest.approx(100.0)

    def test_a_run_starts_only_if_everything_still_ends_in_time(self):
        assert campaign.may_start(40.0, [100.0], 1.0, 140.0)
        assert not campaign.may_start(41.0, [100.0], 1.0, 140.0)
        assert campaign.may_start(41.0, [100.0], 2.0, 140.0)  # concurrency gain makes room

    def test_overshoot_is_detected(self):
        assert campaign.must_stop([300.0, 200.0], 1.0, 400.0)
        assert not campaign.must_stop([300.0, 200.0], 1.3, 400.0)

    def test_gain_sums_each_runs_alone_seconds_per_second(self):
        # Two runs at 0.5 epochs/s whose epochs take 1.2 s alone: 1.2 alone-seconds of work per second.
        assert campaign.measured_throughput([(0.5, 1.2), (0.5, 1.2)]) == pytest.approx(1.2)
        assert campaign.measured_throughput([]) is None
        assert campaign.measured_throughput([(0.0, 1.0)]) is None


class TestArguments:
    def test_dry_run_shrinks_everything_and_uses_the_cpu(self):
        args = campaign.parse_args(["--dry-run", "--out", "x"])
        assert (args.device, args.epochs, args.eval_every) == ("cpu", 2, 0)

    def test_without_a_gpu_the_real_campaign_refuses_in_one_line(self, capsys):
        if torch.cuda.is_available():
            pytest.skip("a GPU is visible: the refusal path cannot be reached")
        assert campaign.main(["--out", "unused"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "no CUDA GPU" in err and "--dry-run" in err


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("campaign")
    data = write_dataset(base / "data", 32, size=64, seed=5, name="NUAA-SIRST", test_fraction=0.5)
    out, work = base / "out", base / "work"
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--data", str(data), "--out", str(out),
                           "--work", str(work)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {"out": out, "work": work, "data": data, "stdout": done.stdout}


class TestDryRun:
    def test_out_holds_at_most_8_small_files(self, dry_run):
        files = sorted(p.name for p in dry_run["out"].iterdir())
        assert files == ["campaign.log", "campaign_results.tar.gz", "gcflnet-nuaa-sirst.pt", "unet-nuaa-sirst.pt"]
        assert all(p.stat().st_size < 16 * 2**20 for p in dry_run["out"].iterdir())

    def test_archive_holds_every_runs_record_history_and_the_bench(self, dry_run):
        with tarfile.open(dry_run["out"] / "campaign_results.tar.gz") as archive:
            names = set(archive.getnames())
            summary = json.load(archive.extractfile("campaign.json"))
            probe = json.load(archive.extractfile("probe.json"))
            record = json.load(archive.extractfile("results/gpu_nuaa_gcflnet_s0.json"))
        for run in campaign.plan_runs():
            assert f"results/{run.name}.json" in names
            assert f"runs/{run.name}/history.csv" in names and f"runs/{run.name}/metrics.json" in names
        assert "results/bench_cpu_dry.json" in names
        assert {r["status"] for r in summary["runs"]} == {"finished"}
        assert set(probe["step_s"]) == {r.model for r in campaign.plan_runs()}
        assert all(v > 0 for v in probe["step_s"].values())
        assert record["kind"] == "train" and record["epochs"] == 2 and len(record["history"]) == 2
        assert record["config"]["batch_size"] == 16 and record["config"]["channels"] == [4, 8, 16, 32]

    def test_released_weights_are_fp16_and_their_recorded_score_is_theirs(self, dry_run):
        from gcflnet_lib.data.dataset import load_split
        from gcflnet_lib.engine.evaluation import evaluate_model

        path = dry_run["out"] / "gcflnet-nuaa-sirst.pt"
        state = load_checkpoint(path)
        floats = [v for v in state["model"].values() if v.is_floating_point()]
        assert floats and all(v.dtype == torch.float16 for v in floats)
        assert state["weights_dtype"] == "fp16" and "optimizer" not in state
        model, meta = load_model_from_checkpoint(path)
        samples = load_split(dry_run["work"] / "data", "NUAA-SIRST", "test")
        assert len(samples) == 8
        again = evaluate_model(model, samples, "cpu", meta["norm"]["mean"], meta["norm"]["std"])
        for key in ("miou", "niou", "pd", "fa"):
            assert again[key] == pytest.approx(meta["metrics"][key], abs=1e-12)

    def test_log_prints_the_projection_before_any_run_starts(self, dry_run):
        lines = dry_run["stdout"].splitlines()
        projected = next(i for i, line in enumerate(lines) if "projected:" in line)
        first_start = next(i for i, line in enumerate(lines) if "] start " in line)
        assert projected < first_start
