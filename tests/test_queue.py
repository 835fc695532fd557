"""The experiment runner (gcflnet_lib.engine.experiments): its resumable training queue, and the ablation queue's plan."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gcflnet_lib.engine.experiments import CrossData, Job, job_state, resume_note, run_queue, train_command
from gcflnet_lib.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from ablation_queue import ablation_jobs, budget_jobs  # noqa: E402

from gcflnet_lib.ablation.plans import PLANS  # noqa: E402

TINY = ("--epochs", "1", "--channels", "4,8", "--crop-size", "32", "--batch-size", "4", "--eval-every", "0")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("queue") / "data"
    subprocess.run([sys.executable, "-m", "gcflnet_lib", "synth", "--out", str(out), "--n", "16", "--size", "64",
                    "--quiet"], check=True)
    return out


def tiny_job(name, data, *extra):
    return Job(name, ("--model", "unet", "--data", str(data), "--dataset", "Synthetic", "--device", "cpu", *TINY, *extra),
               {"variant": "unet", "seed": 0})


class TestAblationPlan:
    def test_order_seed0_then_seed1_then_unet_wide(self):
        names = [job.name for job in ablation_jobs("D")]
        assert len(names) == 18 and len(set(names)) == 18
        assert names[:2] == ["unet_s0", "gcflnet_s0"]
        assert all(name.endswith("_s0") for name in names[:8]) and all(name.endswith("_s1") for name in names[8:16])
        assert names[16:] == ["unet_wide_s0", "unet_wide_s1"]

    def test_jobs_differ_only_in_model_and_seed(self):
        jobs = ablation_jobs("D")
        flags = {tuple(f for i, f in enumerate(job.train_flags) if job.train_flags[i - 1] not in ("--model", "--seed"))
                 for job in jobs}
        assert len(flags) == 1
        assert "--preset" in jobs[0].train_flags and "cpu-nudt" in jobs[0].train_flags
        assert jobs[1].labels == {"variant": "gcflnet", "seed": 0, "eem": True, "glfi": True, "msic": True}

    def test_a_second_msic_reading_trains_only_the_four_msic_cells_with_it(self):
        jobs = ablation_jobs("D", msic_reading="unit_gain")
        assert [job.name for job in jobs] == [f"{v}_s{s}" for s in (0, 1)
                                              for v in ("gcflnet", "gcflnet_msic", "gcflnet_eem_msic", "gcflnet_glfi_msic")]
        for job in jobs:
            flags = dict(zip(job.train_flags[::2], job.train_flags[1::2]))
            assert flags["--msic-reading"] == "unit_gain" and job.labels["msic_reading"] == "unit_gain"

    def test_the_budget_study_trains_three_cells_longer_with_the_schedule_at_the_same_fractions(self):
        from gcflnet_lib.engine.presets import milestones_for, preset_values

        jobs = budget_jobs("D", PLANS["NUDT-SIRST"], 4, msic_reading="unit_gain")
        assert [job.name for job in jobs] == ["unet_s0", "gcflnet_eem_s0", "gcflnet_s0", "unet_s1", "gcflnet_eem_s1",
                                              "gcflnet_s1"]
        for job in jobs:
            flags = dict(zip(job.train_flags[::2], job.train_flags[1::2]))
            assert flags["--epochs"] == "256" and flags["--preset"] == "cpu-nudt"
            assert ("--msic-reading" in flags) == (job.labels["variant"] == "gcflnet")
        assert milestones_for(preset_values("cpu-nudt"), 256) == (172, 220)  # 43 and 55 of 64, moved

    def test_nuaa_plan_is_the_factorial_with_its_own_recipe(self):
        jobs = ablation_jobs("D", PLANS["NUAA-SIRST"])
        assert [job.name for job in jobs] == [job.name for job in ablation_jobs("D")][:16]
        for job in jobs:
            flags = dict(zip(job.train_flags[::2], job.train_flags[1::2]))
            assert (flags["--preset"], flags["--dataset"], flags["--data"]) == ("cpu", "NUAA-SIRST", "D")

    def test_nuaa_dry_run_lists_sixteen_runs_and_refuses_a_missing_folder(self, tmp_path):
        data = tmp_path / "nuaa"
        data.mkdir()
        command = [sys.executable, str(ROOT / "scripts/ablation_queue.py"), "--dataset", "NUAA-SIRST", "--dry-run",
                   "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results")]
        done = subprocess.run([*command, "--data", str(data)], capture_output=True, text=True, check=True)
        lines = done.stdout.splitlines()
        assert len(lines) == 16 and all("--preset cpu --model" in line and "NUAA-SIRST" in line for line in lines)
        missing = subprocess.run([*command, "--data", str(tmp_path / "x")], capture_output=True, text=True)
        assert missing.returncode == 2 and "NUAA-SIRST folder not found" in missing.stderr.splitlines()[-1]

    def test_replicate_lists_its_jobs_into_the_replicas_folder(self, tmp_path):
        data = tmp_path / "nudt"
        data.mkdir()
        command = [sys.executable, str(ROOT / "scripts/ablation_queue.py"), "--dry-run", "--data", str(data)]
        # a results folder of its own: the committed replicas folder holds gcflnet_msic_s0 already ("done")
        done = subprocess.run([*command, "--results", str(tmp_path / "replicas"), "--replicate", "gcflnet_msic_s0"],
                              capture_output=True, text=True, check=True)
        (line,) = done.stdout.splitlines()
        assert line.startswith("gcflnet_msic_s0    new ") and "runs/ablation_nudt_replicas/gcflnet_msic_s0" in line
        both = subprocess.run([*command, "--replicate", "unet_s0", "--only", "unet_s0"], capture_output=True, text=True)
        assert both.returncode == 2 and "give one of them" in both.stderr.splitlines()[-1]
        unknown = subprocess.run([*command, "--replicate", "unet_s7"], capture_output=True, text=True)
        assert unknown.returncode == 2 and "--replicate: unknown job(s) unet_s7" in unknown.stderr.splitlines()[-1]

    def test_dry_run_trains_nothing(self, tmp_path):
        data = tmp_path / "nudt"
        data.mkdir()
        done = subprocess.run([sys.executable, str(ROOT / "scripts/ablation_queue.py"), "--dry-run", "--data", str(data),
                               "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results")],
                              capture_output=True, text=True, check=True)
        assert len(done.stdout.splitlines()) == 18 and " new " in done.stdout.splitlines()[0]
        assert not (tmp_path / "results").exists()

    def test_missing_data_folder_is_one_line(self, tmp_path):
        done = subprocess.run([sys.executable, str(ROOT / "scripts/ablation_queue.py"), "--data", str(tmp_path / "x")],
                              capture_output=True, text=True)
        assert done.returncode == 2 and "NUDT-SIRST folder not found" in done.stderr


class TestQueue:
    def test_records_with_cross_scores_then_skips_finished(self, tiny_data, tmp_path):
        runs, results = tmp_path / "runs", tmp_path / "results"
        jobs = [tiny_job("a", tiny_data), tiny_job("b", tiny_data, "--seed", "1")]
        cross = [CrossData("again", str(tiny_data), "Synthetic")]
        seen = []
        states = run_queue(jobs, runs, results, cross, workers=2, on_record=lambda job, rec: seen.append(job.name),
                           say=lambda line: None)
        assert states == {"a": "finished", "b": "finished"} and sorted(seen) == ["a", "b"]
        record = json.loads((results / "a.json").read_text())
        assert record["status"] == "finished" and record["variant"] == "unet" and record["epochs"] == 1
        assert record["cross"]["again"]["dataset"] == "Synthetic"
        assert set(record["cross"]["again"]["metrics"]) >= {"miou", "niou", "pd", "fa"}
        assert record["cross"]["again"]["command"].startswith("gcflnet evaluate --checkpoint")
        again = run_queue(jobs, runs, results, cross, workers=1, say=lambda line: None)
        assert again == {"a": "done", "b": "done"}

    def test_a_failing_run_is_recorded_and_the_queue_goes_on(self, tiny_data, tmp_path):
        runs, results = tmp_path / "runs", tmp_path / "results"
        jobs = [tiny_job("broken", tiny_data, "--lr", "-1"), tiny_job("fine", tiny_data)]
        states = run_queue(jobs, runs, results, workers=1, say=lambda line: None)
        assert states == {"broken": "failed", "fine": "finished"}
        failure = json.loads((results / "broken.failed.json").read_text())
        assert failure["returncode"] == 2 and failure["log_tail"] and "--lr" in failure["log_tail"][-1]
        assert run_queue(jobs[:1], runs, results, say=lambda line: None) == {"broken": "failed"}  # not retried by default

    def test_a_half_written_run_folder_starts_afresh_and_says_so(self, tiny_data, tmp_path):
        job = tiny_job("cut", tiny_data)
        runs = tmp_path / "runs"
        run_dir = runs / "cut"
        assert job_state(job, runs, tmp_path / "results") == "new"
        assert resume_note(job, runs, "new") == "new, starting afresh"
        run_dir.mkdir(parents=True)
        (run_dir / "last.pt").write_bytes(b"")  # cut while writing: never resumed from
        assert job_state(job, runs, tmp_path / "results") == "new"
        assert resume_note(job, runs, "new") == f"{run_dir / 'last.pt'} unreadable, starting afresh"
        (runs / "cut.log").write_text("+ gcflnet train ...\n")
        shutil.rmtree(run_dir)  # the machine's run folders were lost between sessions
        assert resume_note(job, runs, "new") == "folder gone, starting afresh"
        command = train_command(job, run_dir, resume=False)
        assert "--overwrite" in command and "--resume" not in command

    def test_an_evaluate_job_scores_a_finished_run_and_is_then_done(self, tiny_data, tmp_path):
        runs, results = tmp_path / "runs", tmp_path / "results"
        assert run_queue([tiny_job("base", tiny_data)], runs, results, say=lambda line: None) == {"base": "finished"}
        padded = Job("base_reflect", evaluate_flags=("--checkpoint", str(runs / "base" / "final.pt"), "--data",
                                                     str(tiny_data), "--dataset", "Synthetic", "--device", "cpu",
                                                     "--pad-mode", "reflect"))
        assert padded.kind == "evaluate" and job_state(padded, runs, results) == "new"
        assert run_queue([padded], runs, results, say=lambda line: None) == {"base_reflect": "finished"}
        report = json.loads((results / "base_reflect.json").read_text())
        assert set(report["metrics"]) >= {"miou", "niou", "pd", "fa"}
        assert not (runs / "base_reflect" / "final.pt").exists()  # nothing was trained for it
        assert run_queue([padded], runs, results, say=lambda line: None) == {"base_reflect": "done"}

    def test_in_process_jobs_train_one_at_a_time_and_are_done_while_their_settings_hold(self, tiny_data, tmp_path):
        from gcflnet_lib.engine import TrainConfig

        config = TrainConfig(data_root=str(tiny_data), dataset="Synthetic", out_dir=str(tmp_path / "here"), model="unet",
                             channels=(4, 8), epochs=1, crop_size=32, batch_size=4, eval_every=0, device="cpu",
                             overwrite=True, progress=False)
        job = Job("here", config=config)
        assert job.kind == "in-process"
        with pytest.raises(UserError, match="workers=2: in-process jobs train one at a time"):
            run_queue([job], tmp_path, tmp_path, workers=2)
        assert run_queue([job], tmp_path, tmp_path, say=lambda line: None) == {"here": "finished"}
        assert run_queue([job], tmp_path, tmp_path, say=lambda line: None) == {"here": "done"}
        assert job_state(job, tmp_path, tmp_path, metrics=("no_such_metric",)) == "new"
        longer = Job("here", config=TrainConfig(**{**config.to_dict(), "epochs": 2}))
        assert job_state(longer, tmp_path, tmp_path) == "new"

    def test_missing_cross_dataset_is_refused_before_work(self, tiny_data, tmp_path):
        with pytest.raises(UserError, match="cross-dataset folder for NUAA-SIRST not found"):
            run_queue([tiny_job("a", tiny_data)], tmp_path / "runs", tmp_path / "results",
                      [CrossData("nuaa", str(tmp_path / "absent"), "NUAA-SIRST")])
        assert not (tmp_path / "runs").exists()


class TestResumeAcrossSessions:
    def test_a_job_killed_mid_run_resumes_at_the_saved_epoch_and_ends_with_the_unbroken_runs_weights(
            self, tiny_data, tmp_path, monkeypatch):
        import os
        import re
        import time

        import torch

        from gcflnet_lib.engine import experiments
        from gcflnet_lib.engine.experiments import saved_epoch

        # One thread in every child (OMP_NUM_THREADS caps --threads auto), so that both runs add up the same way.
        monkeypatch.setattr(experiments, "usable_cores", lambda: 1)
        job = tiny_job("long", tiny_data, "--epochs", "6", "--save-every", "1")
        say = []
        unbroken = tmp_path / "unbroken"
        assert run_queue([job], unbroken / "runs", unbroken / "results", say=say.append) == {"long": "finished"}
        assert "(new, starting afresh)" in say[0]

        # The same job, its training killed (as a session's end kills it) once an epoch is saved.
        runs, results = tmp_path / "broken" / "runs", tmp_path / "broken" / "results"
        run_dir = runs / "long"
        run_dir.mkdir(parents=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(train_command(job, run_dir, resume=False), env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 120
            while (saved_epoch(run_dir) or 0) < 1 and child.poll() is None and time.time() < deadline:
                time.sleep(0.02)
            child.kill()
        finally:
            child.wait()
        killed_at = saved_epoch(run_dir)
        assert killed_at is not None and 1 <= killed_at < 6, f"killed at epoch {killed_at} (return code {child.returncode})"
        assert not (run_dir / "final.pt").exists()

        # Restarted with the same command: it says where it resumed, and ends where the unbroken run ended.
        say.clear()
        assert run_queue([job], runs, results, say=say.append) == {"long": "finished"}
        match = re.search(r"start long \(resumed at epoch (\d+)\)", say[0])
        assert match and int(match.group(1)) == killed_at, say[0]
        assert " --resume " in (runs / "long.log").read_text().splitlines()[0]
        final = torch.load(run_dir / "final.pt", map_location="cpu", weights_only=True)["model"]
        reference = torch.load(unbroken / "runs" / "long" / "final.pt", map_location="cpu", weights_only=True)["model"]
        assert final.keys() == reference.keys()
        assert all(torch.equal(final[key], reference[key]) for key in reference)
        record = json.loads((results / "long.json").read_text())
        assert [row["epoch"] for row in record["history"]] == list(range(1, 7))
