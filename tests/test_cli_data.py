"""`gcflnet synth` and `gcflnet score`, run in-process through cli.main and once as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from gcflnet_lib.cli import main
from gcflnet_lib.data.dataset import load_split
from gcflnet_lib.data.io import write_png
from gcflnet_lib.metrics import IRSTDMetrics, pd_fa_image

REPO = Path(__file__).resolve().parents[1]
SIRST = Path(os.environ.get("GCFLNET_SIRST", REPO / ".." / "shared" / "datasets" / "NUAA-SIRST"))
needs_sirst = pytest.mark.skipif(
    not (SIRST / "img_idx").is_dir(), reason=f"NUAA-SIRST not found at {SIRST} (set GCFLNET_SIRST to its folder)"
)


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "synth"
    assert main(["synth", "--out", str(root), "--n", "10", "--size", "48", "--seed", "2", "--name", "Toy", "--quiet"]) == 0
    return root


@pytest.fixture
def copy_of(synth_root, tmp_path):
    """A private copy of the synthetic set that a test may break."""

    def make():
        import shutil

        return Path(shutil.copytree(synth_root, tmp_path / "data"))

    return make


def pd_fa_targets(mask) -> int:
    return pd_fa_image(mask, mask)[1]


def run_score(root, pred, tmp_path, *extra):
    out = tmp_path / "scores.json"
    code = main(["score", "--data", str(root), "--dataset", "Toy", "--pred", str(pred), "--json", str(out), *extra])
    return code, out


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


class TestSynthCommand:
    def test_writes_the_layout(self, synth_root):
        assert sorted(p.name for p in (synth_root / "img_idx").iterdir()) == ["test_Toy.txt", "train_Toy.txt"]
        assert len(list((synth_root / "images").glob("*.png"))) == 10
        assert len(load_split(synth_root, "Toy", "test")) == 5

    def test_refuses_a_non_empty_folder_and_keeps_it(self, synth_root, capsys):
        before = sorted(p.name for p in synth_root.rglob("*"))
        assert main(["synth", "--out", str(synth_root), "--n", "4", "--size", "32", "--quiet"]) == 2
        line = one_error_line(capsys)
        assert line.startswith(f"gcflnet synth: error: {synth_root}") and "not empty" in line and "--overwrite" in line
        assert sorted(p.name for p in synth_root.rglob("*")) == before

    def test_overwrite_replaces(self, tmp_path, capsys):
        out = tmp_path / "s"
        assert main(["synth", "--out", str(out), "--n", "4", "--size", "32", "--quiet"]) == 0
        assert main(["synth", "--out", str(out), "--n", "6", "--size", "32", "--quiet", "--overwrite"]) == 0
        assert len(list((out / "images").iterdir())) == 6 and "wrote 6 images" in capsys.readouterr().out

    @pytest.mark.parametrize("args", [["--n", "1"], ["--size", "4"], ["--scr", "5", "2"], ["--test-fraction", "0"]])
    def test_bad_arguments(self, tmp_path, capsys, args):
        assert main(["synth", "--out", str(tmp_path / "s"), "--quiet", *args]) == 2
        assert one_error_line(capsys).startswith("gcflnet synth: error:")
        assert not (tmp_path / "s").exists()


class TestScoreCommand:
    def test_masks_against_themselves(self, synth_root, tmp_path, capsys):
        code, out = run_score(synth_root, synth_root / "masks", tmp_path)
        assert code == 0
        report = json.loads(out.read_text())
        assert {"miou", "niou", "pd", "fa", "n_images", "n_targets", "auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05",
                "pd_at_fa_1e-04", "roc"} <= report.keys()
        assert "auc" not in report and {"thresholds", "pd", "fa", "tpr", "fpr"} == report["roc"].keys()
        assert (report["miou"], report["pd"], report["fa"], report["n_images"]) == (1.0, 1.0, 0.0, 5)
        printed = capsys.readouterr().out
        assert "mIoU" in printed and "Fa (x1e-6)" in printed

    def test_split_without_targets_scores_nan_and_says_so_in_one_line(self, copy_of, tmp_path, capsys):
        root = copy_of()
        names = (root / "img_idx" / "test_Toy.txt").read_text().split()
        for name in names:  # no target left in the test split
            mask = root / "masks" / f"{name}.png"
            write_png(mask, np.zeros_like(cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)))
        code, out = run_score(root, root / "masks", tmp_path)
        assert code == 0
        report = json.loads(out.read_text())
        assert report["n_targets"] == 0 and all(report[key] is None for key in ("pd", "auc_pd_fa", "auc_pixel", "pd_at_fa_1e-04"))
        note = one_error_line(capsys)
        assert "note:" in note and "no target" in note and "NaN" in note

    def test_probability_maps_score_like_the_library(self, synth_root, tmp_path):
        rng = np.random.default_rng(0)
        pred_dir = tmp_path / "pred"
        pred_dir.mkdir()
        metrics = IRSTDMetrics(threshold=0.3)
        for sample in load_split(synth_root, "Toy", "test"):
            noisy = np.clip(sample.mask * 200 + rng.integers(0, 90, sample.mask.shape), 0, 255).astype(np.uint8)
            write_png(pred_dir / f"{sample.name}.png", noisy)
            metrics.update(noisy.astype(np.float32) / 255, sample.mask)
        code, out = run_score(synth_root, pred_dir, tmp_path, "--threshold", "0.3")
        assert code == 0
        report, expected = json.loads(out.read_text()), metrics.compute()
        for key in ("miou", "niou", "pd", "fa", "auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05", "n_targets"):
            assert report[key] == pytest.approx(expected[key])
        assert 0 < report["fa"] and report["miou"] < 1

    def test_binary_or_probability_is_decided_for_the_whole_folder(self, synth_root, tmp_path):
        samples = load_split(synth_root, "Toy", "test")
        pred_dir = tmp_path / "pred"
        pred_dir.mkdir()
        faint = next(sample for sample in samples if sample.mask.any())
        for sample in samples:
            # 8-bit probability maps; one is nearly empty: values 0 and 1 only, p = 1/255 on its targets
            scale = 1 if sample is faint else 230
            write_png(pred_dir / f"{sample.name}.png", (sample.mask * scale).astype(np.uint8))
        code, out = run_score(synth_root, pred_dir, tmp_path)
        report = json.loads(out.read_text())
        assert code == 0 and report["pred_format"] == "probability"
        missed = pd_fa_targets(faint.mask)
        assert report["pd"] == pytest.approx((report["n_targets"] - missed) / report["n_targets"]) and missed > 0
        code, out = run_score(synth_root, pred_dir, tmp_path, "--pred-format", "binary")
        assert code == 0 and json.loads(out.read_text())["pd"] == 1.0
        for sample in samples:  # now every map is a 0/1 mask: auto reads the folder as binary
            write_png(pred_dir / f"{sample.name}.png", sample.mask.astype(np.uint8))
        code, out = run_score(synth_root, pred_dir, tmp_path)
        report = json.loads(out.read_text())
        assert code == 0 and report["pred_format"] == "binary" and report["pd"] == 1.0 and report["miou"] == 1.0

    def test_missing_predictions_are_counted_and_named(self, synth_root, tmp_path, capsys):
        pred_dir = tmp_path / "pred"
        pred_dir.mkdir()
        (pred_dir / "000005.png").write_bytes((synth_root / "masks" / "000005.png").read_bytes())
        code, out = run_score(synth_root, pred_dir, tmp_path)
        assert code == 2 and not out.exists()
        line = one_error_line(capsys)
        assert f"{pred_dir}: 4 of 5 predictions missing" in line and "000006.png, 000007.png" in line

    def test_prediction_of_the_wrong_size(self, synth_root, tmp_path, capsys):
        pred_dir = tmp_path / "pred"
        pred_dir.mkdir()
        for name in load_split(synth_root, "Toy", "test"):
            write_png(pred_dir / f"{name.name}.png", np.zeros((48, 47), np.uint8))
        code, out = run_score(synth_root, pred_dir, tmp_path)
        assert code == 2 and not out.exists() and "prediction is 48x47" in one_error_line(capsys)

    @pytest.mark.parametrize(
        "damage, expected",
        [
            ("missing mask", "masks/000007.png: mask missing for image"),
            ("size mismatch", "masks/000007.png: mask is 48x50 but image"),
            ("empty split", "img_idx/test_Toy.txt: split file is empty"),
            ("missing split", "img_idx/test_Toy.txt: split file not found"),
            ("absent image", "images/ghost.png: image not found"),
            ("corrupt png", "images/000007.png: cannot decode image"),
        ],
    )
    def test_loader_errors_are_one_line_naming_the_file(self, copy_of, tmp_path, capsys, damage, expected):
        root = copy_of()
        split = root / "img_idx" / "test_Toy.txt"
        if damage == "missing mask":
            (root / "masks" / "000007.png").unlink()
        elif damage == "size mismatch":
            write_png(root / "masks" / "000007.png", np.zeros((48, 50), np.uint8))
        elif damage == "empty split":
            split.write_text("")
        elif damage == "missing split":
            split.unlink()
        elif damage == "absent image":
            split.write_text(split.read_text() + "ghost\n")
        elif damage == "corrupt png":
            (root / "images" / "000007.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
        code, out = run_score(root, root / "masks", tmp_path)
        line = one_error_line(capsys)
        assert code == 2 and not out.exists()
        assert line.startswith(f"gcflnet score: error: {root}") and expected in line

    @needs_sirst
    def test_nuaa_sirst_masks_score_perfectly(self, tmp_path, capsys):
        out = tmp_path / "sirst.json"
        args = ["score", "--data", str(SIRST), "--dataset", "NUAA-SIRST", "--pred", str(SIRST / "masks"), "--json", str(out)]
        assert main(args) == 0
        report = json.loads(out.read_text())
        assert (report["miou"], report["niou"], report["pd"], report["fa"]) == (1.0, 1.0, 1.0, 0.0)
        assert report["n_images"] == 214 and report["n_targets"] >= 214
        assert "Misc_111" in capsys.readouterr().err  # the known mask defect is reported, not hidden


def test_real_process_exit_status_and_output(tmp_path):
    """The installed entry point as a subprocess: `python -m gcflnet_lib` (same main as the `gcflnet` script)."""
    out = tmp_path / "s"
    command = [sys.executable, "-m", "gcflnet_lib", "synth", "--out", str(out), "--n", "4", "--size", "32", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "wrote 4 images" in done.stdout and len(list((out / "masks").iterdir())) == 4
