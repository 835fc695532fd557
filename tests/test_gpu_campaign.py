"""The GPU campaign script: its scheduler arithmetic, and a CPU dry run that checks every file it writes."""

import importlib.util
import json
import re
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
        assert [(r.name, r.model, r.seed, r.dataset, r.priority, r.flags) for r in runs[:3]] == [
            ("gpu_nudt_gcflnet_unit_gain_s0", "gcflnet", 0, "NUDT-SIRST", 1, ("--msic-reading", "unit_gain")),
            ("gpu_nudt_unet_s0", "unet", 0, "NUDT-SIRST", 2, ()),
            ("gpu_nudt_gcflnet_crossed_s0", "gcflnet", 0, "NUDT-SIRST", 3, ("--msic-reading", "crossed"))]
        assert [r.model for r in runs[3:9]] == list(campaign.ABLATIONS)
        assert {(r.priority, r.dataset, r.seed, r.flags) for r in runs[3:9]} == {(4, "NUDT-SIRST", 0, ())}
        assert [(r.name, r.dataset, r.priority) for r in runs[9:11]] == [
            ("gpu_nuaa_gcflnet_s1", "NUAA-SIRST", 5), ("gpu_nuaa_gcflnet_s2", "NUAA-SIRST", 5)]
        assert [(r.name, r.priority) for r in runs[11:]] == [("gpu_nuaa_unet_wide_s0", 6)]
        assert [r.priority for r in runs] == sorted(r.priority for r in runs)
        assert len({r.name for r in runs}) == len(runs) == 12

    def test_the_new_reading_is_one_constant_that_this_code_knows_and_it_leads_nudt(self, tmp_path):
        from gcflnet_lib.nn.msic import MSIC_READINGS

        assert campaign.CAMPAIGN_MSIC_READING == "unit_gain" and campaign.CAMPAIGN_MSIC_READING in MSIC_READINGS
        assert campaign.parse_args(["--out", "x"]).msic_reading == campaign.CAMPAIGN_MSIC_READING
        first = campaign.plan_runs(readings_file=tmp_path / "absent.json", datasets=("NUDT-SIRST",))[0]
        assert (first.name, first.model, first.msic_reading) == (
            f"gpu_nudt_gcflnet_{campaign.CAMPAIGN_MSIC_READING}_s0", "gcflnet", campaign.CAMPAIGN_MSIC_READING)
        assert first.flags == ("--msic-reading", campaign.CAMPAIGN_MSIC_READING)
        # Should the rule choose crossed, the contrast is the first run itself, not a second one.
        runs = campaign.plan_runs(readings_file=tmp_path / "absent.json", msic_reading="crossed")
        assert [r.name for r in runs[:3]] == ["gpu_nudt_gcflnet_crossed_s0", "gpu_nudt_unet_s0", "gpu_nudt_gcflnet_eem_s0"]
        assert campaign.release_name(runs[0]) == "gcflnet-nudt-sirst.pt" and not any(r.keep_weights for r in runs)

    def test_releases_are_the_new_reading_and_the_unet_and_the_contrast_comes_back_unreleased(self, tmp_path):
        runs = campaign.plan_runs(readings_file=tmp_path / "absent.json")
        assert {r.name: campaign.release_name(r) for r in runs if campaign.release_name(r)} == {
            "gpu_nudt_gcflnet_unit_gain_s0": "gcflnet-nudt-sirst.pt", "gpu_nudt_unet_s0": "unet-nudt-sirst.pt"}
        assert {r.name: campaign.weights_name(r) for r in runs if campaign.weights_name(r)} == {
            "gpu_nudt_gcflnet_unit_gain_s0": "gcflnet-nudt-sirst.pt", "gpu_nudt_unet_s0": "unet-nudt-sirst.pt",
            "gpu_nudt_gcflnet_crossed_s0": "gpu_nudt_gcflnet_crossed_s0.fp16.pt"}

    def test_a_reading_unknown_to_this_code_skips_its_run_in_one_line_and_the_rest_goes_on(self, tmp_path):
        args = campaign.parse_args(["--dry-run", "--msic-reading", "paper_v2", "--out", str(tmp_path / "out"),
                                    "--work", str(tmp_path / "work"), "--datasets", "NUDT-SIRST"])
        planner = campaign.Campaign(args)
        first = planner.runs[0]
        assert (first.name, first.status) == ("gpu_nudt_gcflnet_paper_v2_s0", "skipped")
        assert "'paper_v2' is unknown to this code" in first.note
        assert planner.lead().name == "gpu_nudt_unet_s0"
        assert {r.status for r in planner.runs[1:]} == {"planned"} and len(planner.runs) == 9
        lines = [e["what"] for e in planner.info["events"]]
        assert len(lines) == 1 and lines[0].startswith("skip gpu_nudt_gcflnet_paper_v2_s0: MSIC reading 'paper_v2'")
        planner.log_file.close()
        assert len((tmp_path / "out" / "campaign.log").read_text().splitlines()) == 1

    def test_a_record_says_on_how_much_of_the_test_split_it_scored(self):
        assert campaign.carried_scope(664, 664, "NUDT-SIRST", "gcflnet-nudt-sirst.pt", True) == {
            "test_images": 664, "test_total": 664, "full": True}
        scope = campaign.carried_scope(128, 664, "NUDT-SIRST", "gcflnet-nudt-sirst.pt", True)
        assert not scope["full"] and "on 128 of the 664 test images" in scope["note"]
        assert scope["cpu_rescore"] == ("gcflnet evaluate --checkpoint gcflnet-nudt-sirst --data ../shared/datasets/NUDT-SIRST "
                                        "--dataset NUDT-SIRST --device cpu --json results/eval_cpu_gcflnet-nudt-sirst.json")
        kept = campaign.carried_scope(128, 664, "NUDT-SIRST", "gpu_nudt_gcflnet_crossed_s0.fp16.pt")
        assert kept["cpu_rescore"].startswith("gcflnet evaluate --checkpoint build/campaign-files/gpu_nudt_gcflnet_crossed_s0.fp16.pt ")
        assert kept["cpu_rescore"].endswith(" --json results/eval_cpu_gpu_nudt_gcflnet_crossed_s0.fp16.json")
        alone = campaign.carried_scope(128, 664, "NUDT-SIRST")
        assert "cpu_rescore" not in alone and "these are its only test metrics" in alone["note"]

    def test_a_call_can_keep_to_some_datasets(self, tmp_path):
        runs = campaign.plan_runs(readings_file=tmp_path / "absent.json", datasets=("NUDT-SIRST",))
        assert {r.dataset for r in runs} == {"NUDT-SIRST"} and len(runs) == 9
        with pytest.raises(SystemExit, match="--datasets IRSTD-1K: not a campaign dataset; known: NUDT-SIRST, NUAA-SIRST"):
            campaign.plan_runs(datasets=("IRSTD-1K",))

    def test_missing_dataset_folders_are_named(self, tmp_path):
        write_dataset(tmp_path / "NUDT-SIRST", 4, size=32, seed=0, name="NUDT-SIRST", test_fraction=0.5)
        runs = campaign.plan_runs(readings_file=tmp_path / "absent.json")
        assert campaign.missing_datasets(tmp_path, runs) == ["NUAA-SIRST"]
        assert campaign.missing_datasets(tmp_path, [r for r in runs if r.dataset == "NUDT-SIRST"]) == []

    def test_readings_that_beat_both_default_seeds_join_with_their_flags(self, tmp_path):
        rows = [{"reading": "glfi_signed", "model": "gcflnet", "flags": ["--glfi-attention", "signed"], "beats_default_seeds": True},
                {"reading": "eem_gate", "model": "gcflnet", "flags": ["--eem-fusion", "gate"], "beats_default_seeds": False},
                {"reading": "unet", "model": "unet", "flags": ["--model", "unet"], "beats_default_seeds": None}]
        (tmp_path / "readings.json").write_text(json.dumps({"rows": rows}))
        extra = campaign.plan_runs(readings_file=tmp_path / "readings.json")[12:]
        assert [(r.name, r.model, r.flags, r.priority) for r in extra] == [
            ("gpu_nuaa_gcflnet_glfi_signed_s0", "gcflnet", ("--glfi-attention", "signed"), 6)]
        assert campaign.release_name(extra[0]) is None
        args = campaign.parse_args(["--dry-run", "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work")])
        planner = campaign.Campaign(args)
        planner.data = {"NUAA-SIRST": tmp_path / "data"}
        extra[0].speed_path = "graph"
        command = planner.train_command(extra[0])
        assert command[-2:] == ["--glfi-attention", "signed"]
        assert command[command.index("--speed-path") + 1] == "graph" and command[command.index("--dataset") + 1] == "NUAA-SIRST"


    def test_runs_finished_earlier_can_be_skipped_and_unknown_names_are_refused(self):
        runs = campaign.plan_runs(("gpu_nudt_gcflnet_unit_gain_s0", "gpu_nudt_unet_s0"))
        assert [r.name for r in runs[:2]] == ["gpu_nudt_gcflnet_crossed_s0", "gpu_nudt_gcflnet_eem_s0"]
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


def _probed(model, path, step_ms, ok=True, prepare_s=1.0):
    return {"kind": "train", "model": model, "path": path, "ok": ok, "step_s": step_ms / 1e3, "prepare_s": prepare_s}


class TestRunSpeeds:
    def test_other_models_are_timed_on_the_chosen_path_unless_it_compiles(self):
        assert campaign.stand_in_path("graph", {"eager", "graph"}) == "graph"
        assert campaign.stand_in_path("eager", {"eager"}) == "eager"
        assert campaign.stand_in_path("compile-graph", {"eager", "graph", "compile-graph"}) == "graph"
        assert campaign.stand_in_path("reduce-overhead", {"eager", "reduce-overhead"}) == "eager"

    def test_a_run_takes_its_measured_figure_an_estimate_or_eager(self):
        results = [_probed("gcflnet", "eager", 50), _probed("gcflnet", "graph", 20), _probed("gcflnet", "compile-graph", 10, prepare_s=60),
                   _probed("unet", "graph", 6), _probed("unet_wide", "graph", 8, ok=False), _probed("unet_wide", "eager", 30)]
        assert campaign.run_speed(results, "graph", "gcflnet", "unet") == ("graph", 0.006, 1.0, False)
        path, step, prepare, estimated = campaign.run_speed(results, "compile-graph", "gcflnet", "unet")
        assert (path, prepare, estimated) == ("compile-graph", 60, True) and step == pytest.approx(0.003)  # 6 ms x 10/20
        assert campaign.run_speed(results, "graph", "gcflnet", "unet_wide") == ("eager", 0.03, 1.0, False)
        assert campaign.run_speed(results, "graph", "gcflnet", "gcflnet_eem") is None  # never measured: skipped


class TestArguments:
    def test_dry_run_shrinks_everything_and_uses_the_cpu(self):
        args = campaign.parse_args(["--dry-run", "--out", "x"])
        assert (args.device, args.epochs, args.eval_every) == ("cpu", 2, 0)
        assert args.probe_paths == ["eager", "graph"]
        assert campaign.parse_args(["--out", "x"]).probe_paths == list(campaign.GPU_PATHS)

    def test_an_unknown_speed_path_is_a_usage_error(self, capsys):
        with pytest.raises(SystemExit):
            campaign.parse_args(["--out", "x", "--speed-path", "fast"])
        assert "speed path 'fast' is not one of eager, compile" in capsys.readouterr().err

    def test_a_dataset_missing_from_the_copy_stops_the_call_in_one_line_before_probing(self, tmp_path):
        write_dataset(tmp_path / "root" / "NUDT-SIRST", 4, size=32, seed=0, name="NUDT-SIRST", test_fraction=0.5)
        done = subprocess.run([sys.executable, str(SCRIPT), "--data-root", str(tmp_path / "root"), "--out", str(tmp_path / "out"),
                               "--work", str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.strip().count("\n") == 0
        assert f"{tmp_path / 'root' / 'NUAA-SIRST'}: missing from this copy" in done.stderr
        assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()

    def test_without_a_gpu_the_real_campaign_refuses_in_one_line(self, capsys, tmp_path):
        if torch.cuda.is_available():
            pytest.skip("a GPU is visible: the refusal path cannot be reached")
        write_dataset(tmp_path / "NUDT-SIRST", 4, size=32, seed=0, name="NUDT-SIRST", test_fraction=0.5)
        assert campaign.main(["--out", str(tmp_path / "out"), "--data-root", str(tmp_path), "--datasets", "NUDT-SIRST"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "no CUDA GPU" in err and "--dry-run" in err


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    from gcflnet_lib.data.compact import pack_dataset

    base = tmp_path_factory.mktemp("campaign")
    for name in ("NUDT-SIRST", "NUAA-SIRST"):
        write_dataset(base / "data" / name, 32, size=64, seed=5, name=name, test_fraction=0.5)
    # NUDT-SIRST as the packer carries it: the whole training split, part of the test split (12 of 16).
    write_dataset(base / "source" / "NUDT-SIRST", 32, size=64, seed=5, name="NUDT-SIRST", test_fraction=0.5)
    pack_dataset(base / "source" / "NUDT-SIRST", base / "data" / "NUDT-SIRST", "NUDT-SIRST", test_images=12)
    out, work = base / "out", base / "work"
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--data-root", str(base / "data"), "--out", str(out),
                           "--work", str(work)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {"out": out, "work": work, "stdout": done.stdout}


def _archive(dry_run):
    with tarfile.open(dry_run["out"] / "campaign_results.tar.gz") as archive:
        names = set(archive.getnames())
        read = {name: json.load(archive.extractfile(name)) for name in names if name.endswith(".json")}
    return names, read


class TestDryRun:
    def test_out_holds_at_most_8_small_files(self, dry_run):
        files = sorted(p.name for p in dry_run["out"].iterdir())
        assert files == ["campaign.log", "campaign_results.tar.gz", "gcflnet-nudt-sirst.pt",
                         "gpu_nudt_gcflnet_crossed_s0.fp16.pt", "unet-nudt-sirst.pt"]
        assert all(p.stat().st_size < 16 * 2**20 for p in dry_run["out"].iterdir())

    def test_archive_holds_every_runs_record_history_and_the_bench(self, dry_run):
        names, read = _archive(dry_run)
        for run in campaign.plan_runs():
            assert f"results/{run.name}.json" in names
            assert f"runs/{run.name}/history.csv" in names and f"runs/{run.name}/metrics.json" in names
        assert "results/bench_cpu_dry.json" in names
        assert {r["status"] for r in read["campaign.json"]["runs"]} == {"finished"}
        for name, dataset in (("gpu_nudt_gcflnet_unit_gain_s0", "NUDT-SIRST"), ("gpu_nuaa_gcflnet_s1", "NUAA-SIRST")):
            record = read[f"results/{name}.json"]
            assert record["kind"] == "train" and record["epochs"] == 2 and len(record["history"]) == 2
            assert record["dataset"] == dataset and record["config"]["batch_size"] == 16
            assert record["config"]["channels"] == [4, 8, 16, 32]

    def test_every_run_trains_on_the_path_the_probe_chose_and_is_projected_with_its_step_time(self, dry_run):
        _, read = _archive(dry_run)
        probe, summary = read["probe.json"], read["campaign.json"]
        assert probe["chosen_path"] in ("eager", "graph")
        probed = {(r["model"], r["path"]): r for r in probe["results"] if r["kind"] == "train"}
        assert {("gcflnet", "eager"), ("gcflnet", "graph")} <= set(probed)
        for run in summary["runs"]:
            assert run["speed_path"] == probe["chosen_path"]
            assert run["step_s"] == probed[(run["model"], run["speed_path"])]["step_s"] > 0
            assert read[f"results/{run['name']}.json"]["config"]["speed_path"] == probe["chosen_path"]
        first = summary["runs"][0]
        steps = summary["projection"]["steps_per_run"][first["name"]]
        assert summary["projection"]["per_run_s"][first["name"]] == pytest.approx(
            first["step_s"] * steps + summary["projection"]["overhead_s"][first["name"]], abs=0.1)  # both rounded to 0.1 s

    def test_the_speed_record_holds_each_path_inference_mfu_and_concurrency(self, dry_run):
        _, read = _archive(dry_run)
        speed = read["speed.json"]
        assert speed["kind"] == "speed" and speed["dry_run"] is True and speed["device"].startswith("cpu")
        assert speed["chosen_path"] == read["probe.json"]["chosen_path"] and speed["why"].startswith("speed: ")
        paths = {r["path"]: r for r in speed["train"] if r["model"] == "gcflnet"}
        assert {"eager", "graph"} <= set(paths) and all(r["ok"] and r["mfu"] > 0 for r in paths.values())
        assert [r["path"] for r in speed["inference"]] == ["eager", "graph"]
        assert all(r["images_per_s"] > 0 and r["mfu"] > 0 for r in speed["inference"])
        assert set(speed["concurrency"]) == {"streams_in_one_process", "processes"}
        assert "scripts/gpu_campaign.py --dry-run" in speed["command"]

    def test_released_weights_are_fp16_and_their_recorded_score_is_theirs(self, dry_run):
        from gcflnet_lib.data.dataset import load_split
        from gcflnet_lib.engine.evaluation import evaluate_model

        path = dry_run["out"] / "gcflnet-nudt-sirst.pt"
        state = load_checkpoint(path)
        floats = [v for v in state["model"].values() if v.is_floating_point()]
        assert floats and all(v.dtype == torch.float16 for v in floats)
        assert state["weights_dtype"] == "fp16" and "optimizer" not in state and state["dataset"] == "NUDT-SIRST"
        model, meta = load_model_from_checkpoint(path)
        samples = load_split(dry_run["work"] / "data" / "NUDT-SIRST", "NUDT-SIRST", "test")
        assert len(samples) == 8
        again = evaluate_model(model, samples, "cpu", meta["norm"]["mean"], meta["norm"]["std"])
        for key in ("miou", "niou", "pd", "fa"):
            assert again[key] == pytest.approx(meta["metrics"][key], abs=1e-12)

    def test_log_prints_the_choice_and_the_projection_before_any_run_starts(self, dry_run):
        lines = dry_run["stdout"].splitlines()
        chosen = next(i for i, line in enumerate(lines) if "] speed: " in line)
        projected = next(i for i, line in enumerate(lines) if "projected:" in line)
        first_start = next(i for i, line in enumerate(lines) if "] start " in line)
        assert chosen < projected < first_start

    def test_on_nudt_sirst_gcflnet_with_the_new_reading_is_listed_and_started_first(self, dry_run):
        lines = dry_run["stdout"].splitlines()
        planned = [m.group(1) for m in (re.search(r"\] plan  p\d+ (\S+)", line) for line in lines) if m]
        started = [m.group(1) for m in (re.search(r"\] start (\S+)", line) for line in lines) if m]
        new = f"gpu_nudt_gcflnet_{campaign.CAMPAIGN_MSIC_READING}_s0"
        assert planned[:3] == [new, "gpu_nudt_unet_s0", "gpu_nudt_gcflnet_crossed_s0"] and started[0] == new
        _, read = _archive(dry_run)
        assert read[f"results/{new}.json"]["config"]["msic_reading"] == campaign.CAMPAIGN_MSIC_READING
        assert read["results/gpu_nudt_gcflnet_crossed_s0.json"]["config"]["msic_reading"] == "crossed"
        assert read["campaign.json"]["msic_reading"] == campaign.CAMPAIGN_MSIC_READING

    def test_every_record_keeps_the_skip_health_of_its_final_weights(self, dry_run):
        _, read = _archive(dry_run)
        for run in read["campaign.json"]["runs"]:
            health = read[f"results/{run['name']}.json"]["skip_health"]
            assert "error" not in health, (run["name"], health)
            assert [level["level"] for level in health["levels"]] == [0, 1, 2]  # widths 4,8,16,32: three skips
            assert all(level["kept_ratio"] >= 0 for level in health["levels"])
            assert health["dead_levels"] == [level["level"] for level in health["levels"] if level["status"] == "dead"]
            assert health["fine"]["levels"] == [0, 1] and health["split"] == "test"
            assert health["crops"] == len(health["images"]) > 0
            assert run["skip_health"]["dead_levels"] == health["dead_levels"]
        assert "skip health of gpu_nudt_unet_s0: kept ratio level 0 1" in dry_run["stdout"]  # a plain skip keeps all

    def test_records_say_their_test_metrics_are_on_part_of_the_split_and_name_the_cpu_score(self, dry_run):
        _, read = _archive(dry_run)
        assert read["campaign.json"]["test_scope"]["NUDT-SIRST"] == {"test_images": 8, "test_total": 16}
        release = read["results/gpu_nudt_gcflnet_unit_gain_s0.json"]["test_scope"]
        assert (release["test_images"], release["test_total"], release["full"]) == (8, 16, False)
        assert release["cpu_rescore"].startswith("gcflnet evaluate --checkpoint gcflnet-nudt-sirst --data ")
        contrast = read["results/gpu_nudt_gcflnet_crossed_s0.json"]["test_scope"]
        assert "--checkpoint build/campaign-files/gpu_nudt_gcflnet_crossed_s0.fp16.pt " in contrast["cpu_rescore"]
        assert "only test metrics" in read["results/gpu_nudt_gcflnet_eem_s0.json"]["test_scope"]["note"]
        assert read["campaign.json"]["releases"]["gcflnet-nudt-sirst.pt"]["test_scope"]["test_images"] == 8
        assert not read["campaign.json"]["releases"]["gpu_nudt_gcflnet_crossed_s0.fp16.pt"]["release"]
