"""``gcflnet train / evaluate / predict / bench`` end to end on synthetic data (CPU).

The learning check trains a small GCFLNet on a synthetic set and asserts on the ``metrics.json`` the
run writes; the other checks reuse that run or a one-epoch toy run. Bad input must give exit status 2
and one line on stderr naming the file or flag, and must leave existing files as they were.
"""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gcflnet_lib.cli import main
from gcflnet_lib.data.synthetic import write_dataset
from gcflnet_lib.engine.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parent.parent


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of ``gcflnet ARGV`` run in this process."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err, command, *fragments):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"gcflnet {command}: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def snapshot(folder: Path) -> dict:
    """The run files and their bytes; the ``.lock`` file (rewritten with the pid of each training that takes it) aside."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name != ".lock"}


# Small enough for ~1 minute on two CPU cores, big enough to learn: 120 train / 40 test images of
# 128 px, a 3-level GCFLNet with widths 4-8-16, 64 px crops, lr decayed once at epoch 13 (mIoU ~0.65).
LEARN_ARGS = ["--model", "gcflnet", "--channels", "4,8,16", "--epochs", "16", "--batch-size", "8", "--crop-size", "64",
              "--lr", "5e-3", "--milestones", "13", "--eval-every", "8", "--seed", "0", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    base = tmp_path_factory.mktemp("learn")
    root = write_dataset(base / "data", 160, size=128, seed=0, name="Synthetic", test_fraction=0.25)
    out = base / "run"
    assert main(["train", "--data", str(root), "--dataset", "Synthetic", "--out", str(out), *LEARN_ARGS]) == 0
    return {"root": root, "out": out, "base": base}


TOY_ARGS = ["--dataset", "Toy", "--model", "unet", "--channels", "4,8", "--batch-size", "2", "--crop-size", "32",
            "--eval-every", "0", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A 16-image toy set and a finished one-epoch U-Net run on it."""
    base = tmp_path_factory.mktemp("toy")
    root = write_dataset(base / "data", 16, size=48, seed=2, name="Toy")
    out = base / "run"
    assert main(["train", "--data", str(root), "--out", str(out), "--epochs", "1", *TOY_ARGS]) == 0
    return {"root": root, "out": out}


def copy_run(toy, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(toy["out"], out)
    return out


class TestLearning:
    def test_reaches_miou_above_one_half(self, learned):
        metrics = json.loads((learned["out"] / "metrics.json").read_text())
        assert metrics["finished"] is True and metrics["epochs"] == 16
        assert metrics["final"]["miou"] > 0.5, metrics["final"]
        assert metrics["final"]["pd"] > 0.5

    def test_history_shows_learning_and_the_last_epoch_is_reported(self, learned):
        history = json.loads((learned["out"] / "history.json").read_text())
        assert [row["epoch"] for row in history] == list(range(1, 17))
        assert history[-1]["loss"] < history[0]["loss"] - 0.3
        evaluated = [row for row in history if "miou" in row]
        assert [row["epoch"] for row in evaluated] == [8, 16]
        final = json.loads((learned["out"] / "metrics.json").read_text())["final"]
        assert final["miou"] == evaluated[-1]["miou"] > evaluated[0]["miou"]
        assert history[0]["lr"] == 5e-3 and history[-1]["lr"] == pytest.approx(5e-4)
        assert (learned["out"] / "history.csv").read_text().splitlines()[0].startswith("epoch,lr,loss")

    def test_checkpoints(self, learned):
        final = load_checkpoint(learned["out"] / "final.pt")
        last = load_checkpoint(learned["out"] / "last.pt")
        assert final["finished"] is True and last["finished"] is False and final["epoch"] == last["epoch"] == 16
        assert final["model_config"]["channels"] == [4, 8, 16] and final["dataset"] == "Synthetic"
        assert set(final["rng"]) >= {"python", "numpy", "torch", "cuda", "crop_generator"}
        assert final["train_config"]["lr"] == 5e-3 and final["norm"]["std"] > 0


class TestEvaluate:
    def test_reports_the_training_metrics_and_score_agrees_on_saved_maps(self, learned, capsys):
        out, base = learned["out"], learned["base"]
        code, stdout, _ = run_cli(capsys, "evaluate", "--checkpoint", out / "final.pt", "--data", learned["root"],
                                  "--dataset", "Synthetic", "--json", base / "eval.json", "--save-maps", base / "maps",
                                  "--device", "cpu")
        assert code == 0 and "mIoU=" in stdout
        report = json.loads((base / "eval.json").read_text())["metrics"]
        trained = json.loads((out / "metrics.json").read_text())["final"]
        for key in ("miou", "niou", "pd", "fa", "auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05"):
            assert report[key] == pytest.approx(trained[key], abs=1e-9), key
        maps = sorted((base / "maps").iterdir())
        assert len(maps) == 40 and cv2.imread(str(maps[0]), cv2.IMREAD_UNCHANGED).dtype == np.uint8
        code, _, _ = run_cli(capsys, "score", "--data", learned["root"], "--dataset", "Synthetic", "--pred", base / "maps",
                             "--json", base / "score.json")
        assert code == 0
        scored = json.loads((base / "score.json").read_text())
        scored = scored.get("metrics", scored)
        for key in ("miou", "niou", "pd", "fa"):  # the curves differ: evaluate sweeps the float maps, score the 8-bit ones
            assert scored[key] == report[key], key
        assert 0.0 <= scored["auc_pd_fa"] <= 1.0 and 0.0 <= scored["auc_pixel"] <= 1.0


    def test_pad_mode_is_the_checkpoints_unless_given_and_is_recorded(self, learned, capsys):
        from gcflnet_lib.data.dataset import load_split
        from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint
        from gcflnet_lib.engine.evaluation import evaluate_model

        out, base = learned["out"], learned["base"]
        argv = ["evaluate", "--checkpoint", out / "final.pt", "--data", learned["root"], "--device", "cpu"]
        assert run_cli(capsys, *argv, "--json", base / "zeros.json")[0] == 0
        assert run_cli(capsys, *argv, "--json", base / "reflect.json", "--pad-mode", "reflect")[0] == 0
        zeros, reflect = (json.loads((base / f"{n}.json").read_text()) for n in ("zeros", "reflect"))
        assert (zeros["pad_mode"], reflect["pad_mode"]) == ("zeros", "reflect")
        digest = hashlib.sha256((out / "final.pt").read_bytes()).hexdigest()
        assert zeros["checkpoint_sha256"] == reflect["checkpoint_sha256"] == digest  # which file was scored
        model, meta = load_model_from_checkpoint(out / "final.pt", "cpu")
        samples = load_split(learned["root"], "Synthetic", "test")
        expected = evaluate_model(model, samples, "cpu", meta["norm"]["mean"], meta["norm"]["std"], pad_mode="reflect")
        assert reflect["metrics"]["miou"] == expected["miou"] and reflect["metrics"]["fa"] == expected["fa"]
        with pytest.raises(SystemExit) as refused:
            run_cli(capsys, *argv, "--pad-mode", "mirror")
        assert refused.value.code == 2 and "--pad-mode: invalid choice: 'mirror'" in capsys.readouterr().err


class TestPredict:
    def test_any_size_and_mode(self, learned, tmp_path, capsys):
        images = tmp_path / "in"
        images.mkdir()
        source = sorted((learned["root"] / "images").iterdir())[-1]
        gray = cv2.imread(str(source), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(images / "gray.png"), gray)
        cv2.imwrite(str(images / "odd.png"), gray[:100, :77])
        cv2.imwrite(str(images / "colour.png"), cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
        cv2.imwrite(str(images / "deep.png"), gray.astype(np.uint16) * 257)
        (images / "notes.txt").write_text("not an image, skipped in a folder")
        out = tmp_path / "out"
        code, stdout, _ = run_cli(capsys, "predict", "--checkpoint", learned["out"] / "final.pt", "--input", images,
                                  "--out", out, "--device", "cpu")
        assert code == 0 and "4 image(s)" in stdout
        assert sorted(p.name for p in (out / "prob").iterdir()) == ["colour.png", "deep.png", "gray.png", "odd.png"]
        probs = {name: cv2.imread(str(out / "prob" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
                 for name in ("gray", "odd", "colour", "deep")}
        assert probs["odd"].shape == (100, 77) and probs["gray"].shape == gray.shape
        # Colour and 16-bit copies of the same picture give the same map.
        assert np.array_equal(probs["gray"], probs["colour"]) and np.array_equal(probs["gray"], probs["deep"])
        overlay = cv2.cvtColor(cv2.imread(str(out / "overlay" / "gray.png"), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        red = (overlay == [255, 0, 0]).all(axis=-1)
        detected = probs["gray"] >= 128
        assert detected.any() and np.array_equal(red & ~(gray == 255)[..., None].all(-1), detected & ~(gray == 255))
        np.testing.assert_array_equal(overlay[~detected][:, 1], gray[~detected])

    def test_single_file(self, learned, tmp_path, capsys):
        source = sorted((learned["root"] / "images").iterdir())[0]
        code, _, _ = run_cli(capsys, "predict", "--checkpoint", learned["out"] / "final.pt", "--input", source,
                             "--out", tmp_path / "out", "--device", "cpu")
        assert code == 0
        assert (tmp_path / "out" / "prob" / source.name).is_file() and (tmp_path / "out" / "overlay" / source.name).is_file()

    def test_non_image_file(self, toy, tmp_path, capsys):
        bogus = tmp_path / "notes.png"
        bogus.write_text("this is text")
        code, _, err = run_cli(capsys, "predict", "--checkpoint", toy["out"] / "final.pt", "--input", bogus,
                               "--out", tmp_path / "out", "--device", "cpu")
        assert code == 2
        assert_one_line_error(err, "predict", str(bogus))
        assert not (tmp_path / "out").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["notes.png"]


class TestResume:
    def test_interrupted_and_resumed_equals_uninterrupted(self, toy, tmp_path, capsys):
        common = ["--data", toy["root"], *TOY_ARGS, "--model", "gcflnet", "--milestones", "3", "--seed", "5"]
        assert run_cli(capsys, "train", "--out", tmp_path / "straight", "--epochs", "4", *common)[0] == 0
        # The first leg ends at epoch 2, so its milestone is 2 (one beyond --epochs is refused); the resumed leg's
        # --milestones 3 then rules, as in the straight run.
        assert run_cli(capsys, "train", "--out", tmp_path / "resumed", "--epochs", "2", *common, "--milestones", "2")[0] == 0
        assert load_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 2
        assert run_cli(capsys, "train", "--out", tmp_path / "resumed", "--epochs", "4", "--resume", *common)[0] == 0
        straight = load_checkpoint(tmp_path / "straight" / "final.pt")
        resumed = load_checkpoint(tmp_path / "resumed" / "final.pt")
        assert resumed["epoch"] == 4
        for key, value in straight["model"].items():
            assert torch.equal(resumed["model"][key], value), key
        for a, b in zip(straight["optimizer"]["state"].values(), resumed["optimizer"]["state"].values()):
            assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
        # Same losses and lrs per epoch (the 2-epoch run also evaluated at its last epoch, so rows differ there).
        def trajectory(rows):
            return [(r["epoch"], r["lr"], r["loss"]) for r in rows]

        assert trajectory(straight["history"]) == trajectory(resumed["history"])

    def test_a_cpu_run_trains_channels_last_and_plain_gives_the_same_run_up_to_rounding(self, toy, tmp_path, capsys):
        common = ["--data", toy["root"], *TOY_ARGS, "--model", "gcflnet", "--epochs", "2", "--seed", "3"]
        assert run_cli(capsys, "train", "--out", tmp_path / "nhwc", *common)[0] == 0
        assert run_cli(capsys, "train", "--out", tmp_path / "nchw", "--no-channels-last", *common)[0] == 0
        nhwc, nchw = (load_checkpoint(tmp_path / name / "final.pt") for name in ("nhwc", "nchw"))
        conv_weight = next(key for key, value in nchw["model"].items() if value.dim() == 4 and value.shape[1] > 1)
        assert nhwc["model"][conv_weight].is_contiguous(memory_format=torch.channels_last)
        assert not nhwc["model"][conv_weight].is_contiguous() and nchw["model"][conv_weight].is_contiguous()
        assert nhwc["train_config"]["channels_last"] is True and nchw["train_config"]["channels_last"] is False
        for a, b in zip(nhwc["history"], nchw["history"]):
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        for key, value in nchw["model"].items():
            torch.testing.assert_close(nhwc["model"][key], value, rtol=1e-3, atol=1e-4, msg=key)

    def test_overwrite_replaces_a_finished_run(self, toy, tmp_path, capsys):
        out = copy_run(toy, tmp_path)
        code, _, _ = run_cli(capsys, "train", "--data", toy["root"], "--out", out, "--epochs", "2", "--overwrite", *TOY_ARGS)
        assert code == 0 and load_checkpoint(out / "final.pt")["epoch"] == 2


class TestBadInput:
    def test_data_without_split_file(self, toy, tmp_path, capsys):
        root = tmp_path / "data"
        shutil.copytree(toy["root"], root)
        (root / "img_idx" / "train_Toy.txt").unlink()
        code, _, err = run_cli(capsys, "train", "--data", root, "--out", tmp_path / "run", "--epochs", "1", *TOY_ARGS)
        assert code == 2
        assert_one_line_error(err, "train", "train_Toy.txt")
        assert not (tmp_path / "run").exists()

    def test_resume_without_checkpoint(self, toy, tmp_path, capsys):
        code, _, err = run_cli(capsys, "train", "--data", toy["root"], "--out", tmp_path / "run", "--epochs", "1",
                               "--resume", *TOY_ARGS)
        assert code == 2
        assert_one_line_error(err, "train", str(tmp_path / "run" / "last.pt"), "no checkpoint")

    @pytest.mark.parametrize("change", [["--model", "gcflnet"], ["--channels", "8,16"]])
    def test_resume_with_another_model(self, toy, tmp_path, capsys, change):
        out = copy_run(toy, tmp_path)
        before = snapshot(out)
        code, _, err = run_cli(capsys, "train", "--data", toy["root"], "--out", out, "--epochs", "2", "--resume",
                               *TOY_ARGS, *change)
        assert code == 2
        assert_one_line_error(err, "train", str(out / "last.pt"), "checkpoint is for model")
        assert snapshot(out) == before

    def test_corrupt_checkpoint(self, toy, tmp_path, capsys):
        out = copy_run(toy, tmp_path)
        (out / "last.pt").write_bytes(b"PK\x03\x04 truncated")
        before = snapshot(out)
        code, _, err = run_cli(capsys, "train", "--data", toy["root"], "--out", out, "--epochs", "2", "--resume", *TOY_ARGS)
        assert code == 2
        assert_one_line_error(err, "train", str(out / "last.pt"), "not a readable checkpoint")
        assert snapshot(out) == before
        code, _, err = run_cli(capsys, "evaluate", "--checkpoint", out / "last.pt", "--data", toy["root"], "--device", "cpu")
        assert code == 2
        assert_one_line_error(err, "evaluate", str(out / "last.pt"))

    def test_finished_run_is_not_overwritten(self, toy, tmp_path, capsys):
        out = copy_run(toy, tmp_path)
        before = snapshot(out)
        code, _, err = run_cli(capsys, "train", "--data", toy["root"], "--out", out, "--epochs", "1", *TOY_ARGS)
        assert code == 2
        assert_one_line_error(err, "train", str(out), "finished run", "--resume", "--overwrite")
        assert snapshot(out) == before

    def test_batch_larger_than_the_dataset(self, toy, tmp_path, capsys):
        code, _, err = run_cli(capsys, "train", "--data", toy["root"], "--out", tmp_path / "run", "--epochs", "1",
                               *TOY_ARGS, "--batch-size", "64")
        assert code == 2
        assert_one_line_error(err, "train", "--batch-size 64", "8 images")

    @pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
    @pytest.mark.parametrize("command", ["train", "bench"])
    def test_cuda_without_gpu(self, toy, tmp_path, capsys, command):
        argv = {"train": ["train", "--data", toy["root"], "--out", tmp_path / "run", "--epochs", "1", *TOY_ARGS],
                "bench": ["bench", "--quick", "--json", tmp_path / "b.json"]}[command]
        code, _, err = run_cli(capsys, *argv, "--device", "cuda")
        assert code == 2
        assert_one_line_error(err, command, "--device cuda")
        assert not (tmp_path / "run").exists() and not (tmp_path / "b.json").exists()

    def test_exit_status_from_a_real_process(self, tmp_path):
        done = subprocess.run(
            [sys.executable, "-m", "gcflnet_lib", "train", "--data", str(tmp_path / "missing"), "--dataset", "Toy",
             "--out", str(tmp_path / "run"), "--device", "cpu"],
            capture_output=True, text=True, timeout=120, cwd=REPO,
        )
        assert done.returncode == 2
        assert_one_line_error(done.stderr, "train", str(tmp_path / "missing"))


class TestBench:
    def test_quick_cpu_figures(self, toy, tmp_path, capsys):
        out = tmp_path / "bench.json"
        code, stdout, _ = run_cli(capsys, "bench", "--device", "cpu", "--quick", "--json", out, "--model", "unet",
                                  "--channels", "4,8", "--crop-size", "32", "--batch-size", "4",
                                  "--inference-sizes", "32,64", "--data", toy["root"], "--dataset", "Toy")
        assert code == 0 and "images/s" in stdout
        report = json.loads(out.read_text())
        assert [row["dtype"] for row in report["train"]] == ["fp32"]  # bf16 only on CUDA
        assert report["train"][0]["batch"] == 2  # --quick caps the CPU batch
        assert [(row["size"], row["requested_batch"], row["batch"]) for row in report["inference"]] == [
            (32, 1, 1), (32, 32, 2), (64, 1, 1), (64, 32, 2)]
        assert all(row["images_per_s"] > 0 and 0 < row["mfu"] for row in report["train"] + report["inference"])
        flops = report["gflops_forward_per_image"]
        assert flops["64"] == pytest.approx(4 * flops["32"], rel=0.05)
        assert report["parameters"] > 0 and report["matmul_tflops"]["fp32"] > 0
        assert report["epoch"]["steps"] == 2 and report["epoch"]["estimated"] and report["epoch"]["seconds"] > 0
