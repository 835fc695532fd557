"""gcflnet_lib.workbook: notebook setup, results, helpers to look inside models, and the workbook runner."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from gcflnet_lib import workbook
from gcflnet_lib.workbook import pages, runner
from gcflnet_lib.errors import CheckpointError, DataError, UserError


def _layout(root: Path, folders=("images", "masks", "img_idx")) -> Path:
    for folder in folders:
        (root / folder).mkdir(parents=True)
    return root


class TestResolveDevice:
    def test_auto_and_cpu(self):
        expected = "cuda" if torch.cuda.is_available() else "cpu"
        assert workbook.resolve_device("auto").type == expected
        assert workbook.resolve_device("cpu") == torch.device("cpu")

    def test_not_a_device(self):
        with pytest.raises(UserError, match=r"DEVICE gpu0: not a device name"):
            workbook.resolve_device("gpu0")

    @pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
    def test_cuda_without_gpu(self):
        with pytest.raises(UserError, match="DEVICE cuda: no CUDA GPU is visible"):
            workbook.resolve_device("cuda")


class TestSeedEverything:
    def test_same_seed_same_draws(self):
        workbook.seed_everything(5)
        first = (torch.rand(3), np.random.rand(3))
        workbook.seed_everything(5)
        second = (torch.rand(3), np.random.rand(3))
        assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])

    @pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
    def test_bad_seed(self, seed):
        with pytest.raises(UserError, match="SEED="):
            workbook.seed_everything(seed)


class TestCheckDataDir:
    def test_empty_means_synthetic(self):
        assert workbook.check_data_dir("") is None and workbook.check_data_dir(None) is None

    def test_missing_folder(self, tmp_path):
        missing = tmp_path / "nope"
        with pytest.raises(DataError) as info:
            workbook.check_data_dir(str(missing))
        message = str(info.value)
        assert message.startswith(str(missing)) and "does not exist" in message and "\n" not in message

    def test_file_instead_of_folder(self, tmp_path):
        path = tmp_path / "file.txt"
        path.write_text("x")
        with pytest.raises(DataError, match="is a file"):
            workbook.check_data_dir(path)

    def test_missing_layout_folders_are_named(self, tmp_path):
        root = _layout(tmp_path / "data", folders=("images",))
        with pytest.raises(DataError, match=r"lacks masks/, img_idx/"):
            workbook.check_data_dir(root)

    def test_valid_layout(self, tmp_path):
        root = _layout(tmp_path / "data")
        assert workbook.check_data_dir(str(root)) == root.resolve()


class TestSetup:
    def test_context(self):
        ctx = workbook.setup(device="cpu", seed=3, data_dir="")
        assert ctx.device == torch.device("cpu") and ctx.seed == 3 and ctx.synthetic
        assert ctx.rng.integers(1000) == np.random.default_rng(3).integers(1000)

    def test_bad_data_dir_fails_first(self, tmp_path):
        with pytest.raises(DataError, match="does not exist"):
            workbook.setup(device="no-such-device", data_dir=tmp_path / "missing")


class TestLoadSamples:
    def test_synthetic(self):
        ctx = workbook.setup(seed=1)
        samples = workbook.load_samples(ctx, n=3, size=32)
        assert len(samples) == 3
        assert samples[0].image.shape == (32, 32) and samples[0].image.dtype == np.float32
        assert samples[0].mask.dtype == bool
        again = workbook.load_samples(workbook.setup(seed=1), n=3, size=32)
        assert np.array_equal(samples[2].image, again[2].image)
        with pytest.raises(ValueError, match="n must be >= 1"):
            workbook.load_samples(ctx, n=0)

    @pytest.mark.filterwarnings("ignore:.*known defect of the public release")
    def test_real_split_first_n(self, sirst_root):
        ctx = workbook.setup(data_dir=sirst_root)
        samples = workbook.load_samples(ctx, "NUAA-SIRST", "test", n=2)
        names = (sirst_root / "img_idx" / "test_NUAA-SIRST.txt").read_text().split()
        assert [s.name for s in samples] == names[:2]


class TestRecordResults:
    def test_converts_numpy_and_torch(self, tmp_path):
        path = workbook.record_results("01_topic", {
            "a": np.float32(0.5), "b": torch.tensor(2), "c": np.arange(3), "d": {"e": (1, 2)}, "f": tmp_path,
        }, tmp_path / "results")
        assert path == tmp_path / "results" / "01_topic.json"
        assert json.loads(path.read_text()) == {"a": 0.5, "b": 2, "c": [0, 1, 2], "d": {"e": [1, 2]}, "f": str(tmp_path)}
        assert workbook.load_results("01_topic", tmp_path / "results")["a"] == 0.5
        assert [p.name for p in path.parent.iterdir()] == ["01_topic.json"]  # no temporary file left

    def test_refuses_non_finite_naming_the_key(self, tmp_path):
        with pytest.raises(ValueError, match=r"01_topic.d\.e is nan"):
            workbook.record_results("01_topic", {"d": {"e": float("nan")}}, tmp_path)
        assert not (tmp_path / "01_topic.json").exists()

    def test_refuses_bad_names_and_types(self, tmp_path):
        with pytest.raises(ValueError, match="plain file stem"):
            workbook.record_results("../x", {"a": 1}, tmp_path)
        with pytest.raises(ValueError, match="non-empty dict"):
            workbook.record_results("x", {}, tmp_path)
        with pytest.raises(TypeError, match="x.a has type object"):
            workbook.record_results("x", {"a": object()}, tmp_path)

    def test_missing_results(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="recorded no results"):
            workbook.load_results("99_none", tmp_path)


class TestModelHelpers:
    def test_crop_batch_centres_on_targets(self):
        samples = workbook.load_samples(workbook.setup(seed=0), n=4, size=64)
        samples = [s for s in samples if s.mask.any()]
        images, masks = workbook.crop_batch(samples, size=32, p_target=1.0, seed=0)
        assert images.shape == masks.shape == (len(samples), 1, 32, 32)
        assert bool((masks.flatten(1).amax(1) == 1).all())
        again, _ = workbook.crop_batch(samples, size=32, p_target=1.0, seed=0)
        assert torch.equal(images, again)

    def test_quick_train_runs_the_paper_objective(self):
        from gcflnet_lib.models import build_model

        samples = workbook.load_samples(workbook.setup(seed=0), n=4, size=64)
        torch.manual_seed(0)
        fit = workbook.quick_train(build_model("unet", channels=(4, 8)), samples, steps=3, crop_size=32, batch_size=2)
        assert len(fit.losses) == 3 and all(0 < loss < 1 for loss in fit.losses)
        assert not fit.model.training and fit.std > 0
        with pytest.raises(ValueError, match="steps"):
            workbook.quick_train(fit.model, samples, steps=0)

    def test_capture_outputs_records_and_removes_hooks(self):
        layer = torch.nn.Conv2d(1, 2, 3, padding=1)
        model = torch.nn.Sequential(layer, torch.nn.ReLU())
        x = torch.randn(1, 1, 5, 5)
        with workbook.capture_outputs({"conv": layer}, inputs=True) as seen:
            model(x)
        assert torch.equal(seen["conv"], layer(x).detach()) and torch.equal(seen["conv.inputs"][0], x)
        assert not layer._forward_hooks


@pytest.fixture
def checkpoints(tmp_path):
    from gcflnet_lib.engine.checkpoint import save_checkpoint
    from gcflnet_lib.models import build_model

    paths = {}
    for name in ("gcflnet", "unet"):
        model = build_model(name, channels=(4, 8))
        paths[name] = save_checkpoint(tmp_path / f"{name}.pt", {
            "model": model.state_dict(), "model_config": model.config, "epoch": 1, "norm": {"mean": 90.0, "std": 20.0},
        })
    return paths


class TestCheckpoints:
    def test_matching_checkpoint(self, checkpoints):
        ctx = workbook.setup()
        fit = workbook.model_for_notebook(ctx, "gcflnet", checkpoints["gcflnet"])
        assert fit.model.config["name"] == "gcflnet" and not fit.model.training
        assert (fit.mean, fit.std, fit.losses) == (90.0, 20.0, [])

    def test_other_variant_refused(self, checkpoints):
        with pytest.raises(CheckpointError) as info:
            workbook.load_trained_model(checkpoints["unet"], "gcflnet")
        message = str(info.value)
        assert message.startswith(str(checkpoints["unet"])) and "'unet'" in message and "'gcflnet'" in message

    def test_missing_checkpoint(self, tmp_path):
        with pytest.raises(CheckpointError, match="does not exist"):
            workbook.load_trained_model(tmp_path / "none.pt", "gcflnet")


# ---------------------------------------------------------------------------------------------- runner


def _tiny_notebook(path: Path, body: str) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell('SMOKE = False\nRESULTS_DIR = ""')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(body)]
    nbformat.write(notebook, path)


@pytest.fixture
def tiny_workbook(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    folder = tmp_path / "notebooks"
    folder.mkdir()
    record = "import json, os, pathlib\n" \
             "pathlib.Path(RESULTS_DIR).mkdir(parents=True, exist_ok=True)\n" \
             "pathlib.Path(RESULTS_DIR, '{name}.json').write_text(json.dumps({{'smoke': SMOKE, 'value': 0.25, 'cwd': os.getcwd()}}))"
    _tiny_notebook(folder / "01_ok.ipynb", record.format(name="01_ok"))
    _tiny_notebook(folder / "02_fails.ipynb", "raise ValueError('broken on purpose')")
    return folder


class TestRunner:
    def test_list_notebooks(self, tiny_workbook):
        assert [p.stem for p in pages.list_notebooks(tiny_workbook)] == ["01_ok", "02_fails"]
        assert [p.stem for p in pages.list_notebooks(tiny_workbook, ["02"])] == ["02_fails"]
        with pytest.raises(UserError, match="--only 07"):
            pages.list_notebooks(tiny_workbook, ["07"])

    def test_run_workbook_reports_each_notebook(self, tiny_workbook, tmp_path):
        build = tmp_path / "build"
        runs = runner.run_workbook(tiny_workbook, build, smoke=True, progress=False)
        ok, failed = runs
        assert (ok.name, ok.status, failed.name, failed.status) == ("01_ok", "ok", "02_fails", "failed")
        assert ok.results["smoke"] is True and ok.results["cwd"] == str(tiny_workbook)
        assert "ValueError: broken on purpose" in failed.error
        # The cell is named as the executed page shows it (its prompt: parameters 1, papermill's injected cell 2)
        # and by its first line.
        assert failed.error.startswith("cell In [3] (raise ValueError('broken on purpose')): ValueError"), failed.error
        for name in ("01_ok", "02_fails"):
            assert (build / f"{name}.ipynb").is_file() and (build / f"{name}.html").is_file()
        assert not list(build.glob(".*partial*"))
        table = runner.summary_table(runs)
        assert "01_ok" in table and "value=0.25" in table and "broken on purpose" in table

    def test_main_exit_status(self, tiny_workbook, tmp_path, capsys):
        build = tmp_path / "build"
        assert runner.main(["run", "--smoke", "--notebooks", str(tiny_workbook), "--build", str(build),
                              "--only", "01", "--no-html"]) == 0
        assert not (build / "01_ok.html").exists()
        assert runner.main(["run", "--full", "--notebooks", str(tiny_workbook), "--build", str(build)]) == 1
        assert json.loads((build / "notebook_results" / "01_ok.json").read_text())["smoke"] is False
        captured = capsys.readouterr()
        assert "02_fails" in captured.err and "1 of 2 notebook(s) failed" in captured.err
        assert "02_fails failed at cell In [3] (raise ValueError('broken on purpose')): ValueError" in captured.err
        assert (build / "01_ok.html").is_file() and (build / "02_fails.html").is_file()  # the other pages too
        assert runner.main(["run", "--notebooks", str(tiny_workbook), "--only", "99"]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "--only 99: no such notebook" in error, error

    def test_default_passes_smoke_auto_as_a_learner_runs_it(self, tiny_workbook, tmp_path):
        # The README's first command runs what a notebook opened in JupyterLab runs: its own SMOKE = "auto".
        build = tmp_path / "build"
        times = tmp_path / "times.json"
        assert runner.main(["run", "--notebooks", str(tiny_workbook), "--build", str(build), "--only", "01",
                              "--no-html", "--record-times", str(times)]) == 0
        assert json.loads((build / "notebook_results" / "01_ok.json").read_text())["smoke"] == "auto"
        (entries,) = runner.load_run_times(times).values()
        assert entries["01_ok"]["smoke"] == "auto"
        assert runner.main(["run", "--smoke", "--notebooks", str(tiny_workbook), "--build", str(build), "--only", "01",
                              "--no-html"]) == 0
        assert json.loads((build / "notebook_results" / "01_ok.json").read_text())["smoke"] is True

    def test_record_times_keeps_the_last_time_of_each_notebook_that_ran(self, tiny_workbook, tmp_path):
        times = tmp_path / "times.json"
        assert runner.main(["run", "--smoke", "--notebooks", str(tiny_workbook), "--build", str(tmp_path / "b"),
                              "--no-html", "--record-times", str(times)]) == 1
        (device, entries), = runner.load_run_times(times).items()
        assert device == ("cuda" if torch.cuda.is_available() else "cpu")
        assert list(entries) == ["01_ok"]  # only the notebook that ran; the failed one has no time
        entry = entries["01_ok"]
        assert entry["smoke"] is True and entry["seconds"] > 0 and entry["date"].count("-") == 2 and entry["machine"]

    def test_smoke_and_full_are_exclusive(self, capsys):
        with pytest.raises(SystemExit):
            runner.main(["run", "--smoke", "--full"])


def test_format_results_keeps_scalars():
    assert runner.format_results({"a": 0.123456, "b": [1], "c": True, "d": 3, "e": "x"}) == "a=0.1235, d=3"


def test_run_workbook_script_delegates():
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "scripts" / "run_workbook.py"
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--smoke" in result.stdout and "--full" in result.stdout


def _sirst(root: Path) -> Path:
    _layout(root)
    (root / "img_idx" / "test_NUAA-SIRST.txt").write_text("a\n")
    return root


class TestAutoResolution:
    def test_find_sirst_order_env_then_shared_then_data(self, tmp_path):
        repo = tmp_path / "repo"
        repo.mkdir()
        assert workbook.find_sirst({}, repo) is None
        local = _sirst(repo / "data" / "NUAA-SIRST")
        assert workbook.find_sirst({}, repo) == local.resolve()
        shared = _sirst(tmp_path / "shared" / "datasets" / "NUAA-SIRST")
        assert workbook.find_sirst({}, repo) == shared.resolve()
        elsewhere = _sirst(tmp_path / "elsewhere")
        assert workbook.find_sirst({"GCFLNET_SIRST": str(elsewhere)}, repo) == elsewhere.resolve()
        # A set variable is the only place looked at: naming a folder without the split file finds nothing (how a
        # run hides the datasets), rather than another copy; an empty one counts as unset.
        assert workbook.find_sirst({"GCFLNET_SIRST": str(tmp_path / "nope")}, repo) is None
        assert workbook.find_sirst({"GCFLNET_SIRST": " "}, repo) == shared.resolve()

    def test_resolve_data_dir(self, tmp_path):
        repo = tmp_path / "repo"
        repo.mkdir()
        value, note = workbook.resolve_data_dir("auto", {}, repo)
        assert value == "" and "not found" in note and "synthetic" in note and "\n" not in note
        found = _sirst(tmp_path / "x")
        value, note = workbook.resolve_data_dir("auto", {"GCFLNET_SIRST": str(found)}, repo)
        assert value == str(found.resolve()) and str(found.resolve()) not in note  # the page shows no machine path
        assert note.endswith("NUAA-SIRST at ../x")  # relative to the repository, beside which it lies
        assert workbook.resolve_data_dir("/some/path", {}, repo) == ("/some/path", "")
        value, note = workbook.resolve_data_dir("auto", {"GCFLNET_SIRST": str(tmp_path / "nope")}, repo)
        assert value == "" and "$GCFLNET_SIRST names a folder without" in note and "synthetic" in note
        assert str(tmp_path) not in note and "\n" not in note
        assert workbook.resolve_data_dir("", {}, repo) == ("", "")

    def test_shown_path_is_relative_to_the_repository_or_only_a_name(self, tmp_path):
        repo = tmp_path / "work" / "repo"
        assert workbook.shown_path(repo / "data" / "synthetic", repo) == "data/synthetic"
        assert workbook.shown_path(tmp_path / "work" / "shared" / "NUAA-SIRST", repo) == "../shared/NUAA-SIRST"
        assert workbook.shown_path(tmp_path / "far" / "NUDT-SIRST", repo) == "NUDT-SIRST"

    def test_setup_states_the_known_defects_once_instead_of_warning_per_file(self, tmp_path, capsys):
        import warnings

        from gcflnet_lib.data.dataset import KnownDefectWarning

        with warnings.catch_warnings():
            workbook.setup(device="cpu", data_dir=_sirst(tmp_path / "s"), dataset="NUAA-SIRST")
            assert "Misc_111's 400x592 mask resized" in capsys.readouterr().out
            with warnings.catch_warnings(record=True) as caught:
                warnings.warn("fixed", KnownDefectWarning)
            assert caught == []

    def test_infer_dataset(self, tmp_path):
        assert workbook.infer_dataset(None) == "Synthetic"
        assert workbook.infer_dataset(_sirst(tmp_path / "s")) == "NUAA-SIRST"
        assert workbook.infer_dataset(tmp_path / "s", "Other") == "Other"
        with pytest.raises(DataError, match="set DATASET"):
            workbook.infer_dataset(_layout(tmp_path / "empty"))

    def test_resolve_smoke(self):
        assert workbook.resolve_smoke("auto", "cpu") is True
        assert workbook.resolve_smoke("auto", torch.device("cuda")) is False
        assert workbook.resolve_smoke(False, "cpu") is False and workbook.resolve_smoke(True, "cuda") is True
        with pytest.raises(UserError, match="SMOKE='yes'"):
            workbook.resolve_smoke("yes", "cpu")

    def test_setup_announces_what_auto_chose(self, capsys):
        context = workbook.setup("cpu", 0, data_dir="", smoke="auto", checkpoint="")
        assert context.smoke is True and context.dataset == "Synthetic" and context.checkpoint == ""
        assert context.auto_fast is True and workbook.setup("cpu", 0, smoke=True, verbose=False).auto_fast is False
        assert 'SMOKE "auto" on CPU: the fast path' in capsys.readouterr().out

    def test_setup_stops_on_a_missing_checkpoint_in_one_line(self, tmp_path):
        missing = tmp_path / "none.pt"
        with pytest.raises(CheckpointError) as info:
            workbook.setup("cpu", 0, data_dir="", checkpoint=str(missing))
        assert str(missing) in str(info.value) and "CHECKPOINT" in str(info.value) and "\n" not in str(info.value)

    def test_estimate_and_warning(self, capsys):
        calls = []
        assert workbook.estimate_seconds(lambda: calls.append(1), 100, trials=2) >= 0.0 and len(calls) == 3
        assert workbook.format_duration(30) == "30 s" and workbook.format_duration(600) == "10 min"
        assert workbook.format_duration(7200) == "2.0 h"
        full_cpu = workbook.setup("cpu", 0, smoke=False, verbose=False)
        line = workbook.warn_full_size_on_cpu(full_cpu, "training", 3600)
        assert "60 min" in line and line in capsys.readouterr().out
        assert workbook.warn_full_size_on_cpu(workbook.setup("cpu", 0, smoke=True, verbose=False), "training", 3600) == ""
        from gcflnet_lib.models import build_model

        step = workbook.training_step(build_model("gcflnet", channels=(4, 8)), 2, 32)
        assert workbook.estimate_seconds(step, 10, trials=1) > 0.0


def test_model_card_metrics(tmp_path):
    from gcflnet_lib.released import RELEASES

    found = [name for name in RELEASES if workbook.model_card_metrics(name) is not None]
    assert found, "no results/eval_cpu_<release>.json"
    assert set(workbook.model_card_metrics(found[0])) >= {"pd", "fa", "miou", "niou", "n_images"}
    assert workbook.model_card_metrics("no-such-release") is None
    assert workbook.model_card_metrics("../x") is None


def test_gpu_training_records_are_the_cuda_train_records_of_the_models(tmp_path):
    def record(name, **fields):
        (tmp_path / f"{name}.json").write_text(json.dumps(fields))

    record("gpu_a", kind="train", model="gcflnet", dataset="D", epochs=4, wall_time_s=9.5, device="GPU X",
           config={"device": "cuda"})
    record("cpu_a", kind="train", model="gcflnet", dataset="D", epochs=4, wall_time_s=99.0, device="cpu",
           config={"device": "cpu"})
    record("gpu_b", kind="train", model="unet", dataset="D", epochs=4, wall_time_s=5.0, device="GPU X",
           config={"device": "cuda"})
    record("bench", kind="bench", model="gcflnet")
    (tmp_path / "broken.json").write_text("{")
    assert workbook.gpu_training_records(["gcflnet"], tmp_path) == [
        {"name": "gpu_a", "model": "gcflnet", "dataset": "D", "epochs": 4, "wall_time_s": 9.5, "device": "GPU X"}]
    assert [r["name"] for r in workbook.gpu_training_records(["gcflnet", "unet"], tmp_path)] == ["gpu_a", "gpu_b"]


class TestDissectionModels:
    """What notebooks 04-06 take apart: the released models on any device, or the one named, or none."""

    def test_auto_takes_the_cpu_release_and_the_full_width_one_beside_it(self, monkeypatch, tmp_path):
        for name in ("gcflnet-cpu-nuaa-sirst.pt", "gcflnet-nuaa-sirst.pt"):
            (tmp_path / name).write_bytes(b"x")
        monkeypatch.setenv("GCFLNET_CHECKPOINTS", str(tmp_path))
        models = workbook.dissection_checkpoints("auto", "NUAA-SIRST")
        assert list(models.values()) == ["gcflnet-cpu-nuaa-sirst", "gcflnet-nuaa-sirst"]
        assert "CPU recipe" in list(models)[0] and "full width" in list(models)[1]

    def test_auto_without_the_full_width_file_keeps_the_cpu_one(self, monkeypatch, tmp_path):
        (tmp_path / "gcflnet-cpu-nuaa-sirst.pt").write_bytes(b"x")
        monkeypatch.setenv("GCFLNET_CHECKPOINTS", str(tmp_path))
        assert list(workbook.dissection_checkpoints("auto").values()) == ["gcflnet-cpu-nuaa-sirst"]

    def test_crossed_puts_the_cpu_releases_crossed_predecessor_first(self, monkeypatch, tmp_path):
        for name in ("gcflnet-cpu-nuaa-sirst.pt", "gcflnet-nuaa-sirst.pt", "gcflnet-cpu-nuaa-sirst-crossed.pt",
                     "gcflnet-cpu-nudt-sirst-crossed.pt"):
            (tmp_path / name).write_bytes(b"x")
        monkeypatch.setenv("GCFLNET_CHECKPOINTS", str(tmp_path))
        models = workbook.dissection_checkpoints("auto", "NUAA-SIRST", crossed=True)
        assert list(models.values()) == ["gcflnet-cpu-nuaa-sirst-crossed", "gcflnet-nuaa-sirst", "gcflnet-cpu-nuaa-sirst"]
        assert "crossed" in list(models)[0] and "crossed" not in list(models)[2]
        assert list(workbook.dissection_checkpoints("auto", "NUAA-SIRST").values()) == ["gcflnet-cpu-nuaa-sirst",
                                                                                        "gcflnet-nuaa-sirst"]
        on_nudt = workbook.dissection_checkpoints("auto", "NUDT-SIRST", crossed=True)  # its own crossed file first
        assert list(on_nudt.values())[0] == "gcflnet-cpu-nudt-sirst-crossed"
        (tmp_path / "gcflnet-cpu-nuaa-sirst-crossed.pt").unlink()  # without the file, the current ones alone
        assert list(workbook.dissection_checkpoints("auto", "NUAA-SIRST", crossed=True).values()) == [
            "gcflnet-nuaa-sirst", "gcflnet-cpu-nuaa-sirst"]

    def test_empty_trains_here_and_a_missing_path_stops(self, tmp_path):
        assert workbook.dissection_checkpoints("") == {}
        with pytest.raises(CheckpointError, match="does not exist"):
            workbook.dissection_checkpoints(tmp_path / "none.pt")

    def test_samples_with_targets_on_synthetic_scenes(self):
        ctx = workbook.setup(verbose=False)
        samples = workbook.samples_with_targets(ctx, "Synthetic", n=3, size=64)
        assert len(samples) == 3 and all(s.mask.any() for s in samples)


def test_scores_whole_split_only_off_for_forced_smoke():
    ctx = workbook.setup(smoke="auto", device="cpu", verbose=False)
    assert workbook.scores_whole_split(ctx, "gcflnet-cpu-nuaa-sirst")
    assert not workbook.scores_whole_split(ctx, "")
    forced = workbook.setup(smoke=True, device="cpu", verbose=False)
    assert not workbook.scores_whole_split(forced, "gcflnet-cpu-nuaa-sirst")
    full = workbook.setup(smoke=False, device="cpu", verbose=False)
    assert workbook.scores_whole_split(full, "")
