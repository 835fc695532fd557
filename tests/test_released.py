"""Released checkpoints: short names, fp16 releases scored as stored, and the model card's numbers reproduced."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gcflnet_lib.data.dataset import Sample, load_split
from gcflnet_lib.engine.checkpoint import load_checkpoint, load_model_from_checkpoint, save_checkpoint
from gcflnet_lib.engine.evaluation import evaluate_model
from gcflnet_lib.engine.release import export_release, round_weights
from gcflnet_lib.errors import CheckpointError
from gcflnet_lib.models import build_model
from gcflnet_lib.models.readings import READING_DEFAULTS, upgrade_config
from gcflnet_lib.released import CROSSED_PREDECESSORS, RELEASES, available, checkpoint_dir, release_path, resolve_checkpoint
from gcflnet_lib.workbook import auto_checkpoint, load_trained_model

ROOT = Path(__file__).resolve().parents[1]


def _model_card():
    spec = importlib.util.spec_from_file_location("model_card", ROOT / "scripts" / "model_card.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_checkpoint(path: Path, name: str = "gcflnet") -> Path:
    torch.manual_seed(0)
    model = build_model(name, channels=(4, 8, 16))
    save_checkpoint(path, {"model": model.state_dict(), "model_config": model.config, "epoch": 3,
                           "norm": {"mean": 100.0, "std": 30.0}, "dataset": "Toy", "optimizer": {}})
    return path


class TestResolve:
    def test_an_existing_file_is_itself(self, tmp_path):
        path = _tiny_checkpoint(tmp_path / "run.pt")
        assert resolve_checkpoint(str(path)) == path

    def test_an_unknown_bare_name_lists_the_released_ones(self):
        with pytest.raises(CheckpointError) as err:
            resolve_checkpoint("gcflnet-cpu-nuaa")
        assert "gcflnet-cpu-nuaa:" in str(err.value) and all(name in str(err.value) for name in RELEASES)

    def test_a_missing_path_goes_to_the_loader_which_names_it(self, tmp_path):
        missing = tmp_path / "nope" / "final.pt"
        assert resolve_checkpoint(missing) == missing
        with pytest.raises(CheckpointError, match="no such checkpoint"):
            load_model_from_checkpoint(missing)

    def test_a_released_name_whose_file_is_absent_says_where_it_looked(self, tmp_path, monkeypatch):
        monkeypatch.setenv("GCFLNET_CHECKPOINTS", str(tmp_path))
        with pytest.raises(CheckpointError, match="is missing"):
            release_path("gcflnet-nuaa-sirst")
        assert available() == {}

    def test_names_resolve_through_the_folder_setting(self, tmp_path, monkeypatch):
        monkeypatch.setenv("GCFLNET_CHECKPOINTS", str(tmp_path))
        _tiny_checkpoint(tmp_path / RELEASES["gcflnet-cpu-nuaa-sirst"])
        assert resolve_checkpoint("gcflnet-cpu-nuaa-sirst") == tmp_path / "gcflnet-cpu-nuaa-sirst.pt"
        model, meta = load_model_from_checkpoint("gcflnet-cpu-nuaa-sirst")
        assert meta["epoch"] == 3 and tuple(model.config["channels"]) == (4, 8, 16)

    def test_notebook_auto_means_the_cpu_release_on_a_cpu_and_training_on_a_gpu(self, tmp_path, monkeypatch):
        monkeypatch.setenv("GCFLNET_CHECKPOINTS", str(tmp_path))
        assert auto_checkpoint("auto", "gcflnet", "cpu") == ""  # not released here: train briefly
        _tiny_checkpoint(tmp_path / RELEASES["gcflnet-nuaa-sirst"])
        assert auto_checkpoint("auto", "gcflnet", "cpu") == "gcflnet-nuaa-sirst"  # the full-width one, if alone
        _tiny_checkpoint(tmp_path / RELEASES["gcflnet-cpu-nuaa-sirst"])
        assert auto_checkpoint("auto", "gcflnet", "cpu") == "gcflnet-cpu-nuaa-sirst"
        assert auto_checkpoint("auto", "gcflnet", "cpu", "NUDT-SIRST") == "gcflnet-cpu-nuaa-sirst"  # none for NUDT here
        _tiny_checkpoint(tmp_path / RELEASES["gcflnet-cpu-nudt-sirst"])
        assert auto_checkpoint("auto", "gcflnet", "cpu", "NUDT-SIRST") == "gcflnet-cpu-nudt-sirst"
        assert auto_checkpoint("auto", "gcflnet", "cpu", "NUAA-SIRST") == "gcflnet-cpu-nuaa-sirst"
        assert auto_checkpoint("auto", "gcflnet", torch.device("cuda")) == ""
        assert auto_checkpoint("auto", "gcflnet_eem", "cpu") == ""
        assert auto_checkpoint("runs/x/final.pt", "gcflnet", "cpu") == "runs/x/final.pt"

    def test_a_notebook_refuses_a_release_of_another_variant(self, tmp_path, monkeypatch):
        monkeypatch.setenv("GCFLNET_CHECKPOINTS", str(tmp_path))
        _tiny_checkpoint(tmp_path / RELEASES["unet-cpu-nuaa-sirst"], name="unet")
        with pytest.raises(CheckpointError, match="needs 'gcflnet'"):
            load_trained_model("unet-cpu-nuaa-sirst", "gcflnet")

    def test_the_cli_names_an_unknown_release_in_one_line(self, tmp_path):
        done = subprocess.run([sys.executable, "-m", "gcflnet_lib", "evaluate", "--checkpoint", "gcflnet-tiny",
                               "--data", str(tmp_path)],
                              capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 2
        assert done.stderr.strip().count("\n") == 0 and "gcflnet-tiny: no such file and not a released" in done.stderr


class TestExportRelease:
    def test_fp16_release_keeps_the_config_drops_the_optimizer_and_scores_the_rounded_weights(self, tmp_path):
        source = _tiny_checkpoint(tmp_path / "final.pt")
        rng = torch.Generator().manual_seed(1)
        samples = [Sample(f"s{i}", (torch.rand(40, 48, generator=rng) * 255).numpy(),
                          (torch.rand(40, 48, generator=rng) > 0.97).numpy()) for i in range(3)]
        seen = []

        def score(model):
            seen.append({k: v.clone() for k, v in model.state_dict().items()})
            return evaluate_model(model, samples, "cpu", 100.0, 30.0)

        meta = export_release(source, tmp_path / "release.pt", store="fp16", score=score)
        state = load_checkpoint(tmp_path / "release.pt")
        assert state["weights_dtype"] == "fp16" and "optimizer" not in state and meta["source_epoch"] == 3
        assert all(v.dtype == torch.float16 for v in state["model"].values() if v.is_floating_point())
        # The scored model held exactly the fp16 values, widened back to fp32.
        original = load_checkpoint(source)["model"]
        for key, value in seen[0].items():
            if value.is_floating_point():
                assert torch.equal(value, original[key].half().float())
        model, loaded = load_model_from_checkpoint(tmp_path / "release.pt")
        again = evaluate_model(model, samples, "cpu", 100.0, 30.0)
        assert {k: again[k] for k in ("miou", "pd", "fa")} == {k: loaded["metrics"][k] for k in ("miou", "pd", "fa")}

    def test_integer_buffers_are_not_cast(self):
        state = {"w": torch.ones(2), "n": torch.tensor(7)}
        rounded = round_weights(state, torch.float16)
        assert rounded["w"].dtype == torch.float16 and rounded["n"].dtype == torch.int64


class TestModelCard:
    def test_card_tables_are_what_the_script_writes(self):
        card = (ROOT / "checkpoints" / "README.md").read_text()
        module = _model_card()
        assert module.card_tables() in card

    def test_the_comparison_counts_who_is_ahead_with_lower_fa_ahead(self):
        module = _model_card()
        curves = {"pd_at_fa_1e-05": 0.8, "auc_pd_fa": 0.5}
        gcflnet = {"miou": 0.7, "niou": 0.6, "pd": 0.9, "fa": 3e-5, **curves, "auc_pixel": 0.95}
        unet = {"miou": 0.6, "niou": 0.7, "pd": 0.9, "fa": 4e-5, **curves, "auc_pixel": 0.96}
        lines = module.comparison({"gcflnet-cpu-nuaa-sirst": gcflnet, "unet-cpu-nuaa-sirst": unet})
        assert lines == ["- CPU recipe, same seed: GCFLNet ahead on mIoU, Fa; U-Net ahead on nIoU, pixel AUC; "
                         "tied on Pd, Pd at Fa 1e-5, AUC (Fa <= 1e-4)."]
        assert module.comparison({"gcflnet-cpu-nuaa-sirst": gcflnet}) == []  # a pair needs both

    def test_every_released_file_is_small_and_has_a_card_row(self):
        card = (ROOT / "checkpoints" / "README.md").read_text()
        for name, path in available().items():
            limit = 10 if "-cpu-" in name else 16
            assert path.stat().st_size < limit * 2**20, name
            assert f"`{name}`" in card


RELEASED_NOW = sorted(available()) if checkpoint_dir().is_dir() else []
# On a CPU, notebook 08's default path scores the CPU GCFLNet release on the whole test split and checks mIoU,
# nIoU, Pd, Fa and both AUCs against the same card record (tests/test_notebooks.py); it is not scored twice.
SCORED_BY_NOTEBOOK_08 = "" if torch.cuda.is_available() else auto_checkpoint("auto", "gcflnet", "cpu")


# The crossed predecessors are the files released before under the current names, renamed byte for byte (the test
# below ties every card record to its file's SHA-256); their card numbers were reproduced under the old names, and
# scoring them again on 214 + 664 images would add minutes to every CI run for files that cannot change.
FROZEN = set(CROSSED_PREDECESSORS.values())


def test_every_card_record_scored_the_released_file():
    """The model card's evaluation and skip-health records of each release name the SHA-256 of the file as it is."""
    import hashlib

    for name, path in available().items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        for record in (ROOT / "results" / f"eval_cpu_{name}.json", ROOT / "results" / "health" / f"{name}.json"):
            assert json.loads(record.read_text())["checkpoint_sha256"] == digest, (name, record.name)


@pytest.mark.parametrize("name", [name for name in RELEASED_NOW if name != SCORED_BY_NOTEBOOK_08 and name not in FROZEN])
def test_release_reproduces_its_model_card_numbers_exactly(name, request):
    """Evaluates the release on its dataset's test split (CPU, threshold 0.5) and compares with the card's JSON."""
    recorded = json.loads((ROOT / "results" / f"eval_cpu_{name}.json").read_text())["metrics"]
    model, meta = load_model_from_checkpoint(name)
    dataset = meta.get("dataset", "NUAA-SIRST")
    root = request.getfixturevalue({"NUAA-SIRST": "sirst_root", "NUDT-SIRST": "nudt_root"}[dataset])
    samples = load_split(root, dataset, "test")
    assert len(samples) == {"NUAA-SIRST": 214, "NUDT-SIRST": 664}[dataset]
    scored = evaluate_model(model, samples, "cpu", meta["norm"]["mean"], meta["norm"]["std"])
    for key in ("miou", "niou", "pd", "fa", "n_targets"):  # from the 8-bit maps: exact
        assert scored[key] == recorded[key], key
    # From the float probabilities, whose last bits may follow the CPU's kernels: the card's 4 decimals, with room.
    for key in ("auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05", "pd_at_fa_1e-04"):
        assert scored[key] == pytest.approx(recorded[key], abs=1e-6), key


@pytest.mark.parametrize("name", RELEASED_NOW)
def test_release_reproduces_its_skip_health(name, request):
    """``gcflnet inspect``'s measurement of the release, computed again, equals results/health/NAME.json (the
    model card's skip-health rows), and a GCFLNet whose finest skips are shut says so."""
    from gcflnet_lib.engine.health import health_of_samples

    recorded = json.loads((ROOT / "results" / "health" / f"{name}.json").read_text())
    model, meta = load_model_from_checkpoint(name)
    dataset = meta.get("dataset", "NUAA-SIRST")
    root = request.getfixturevalue({"NUAA-SIRST": "sirst_root", "NUDT-SIRST": "nudt_root"}[dataset])
    report = health_of_samples(model, load_split(root, dataset, "test"), meta["norm"]["mean"], meta["norm"]["std"])
    assert report.names == recorded["images"]
    for mine, theirs in zip(report.levels, recorded["levels"]):
        assert mine.status == theirs["status"] and mine.changed_pixels == theirs["changed_pixels"]
        assert mine.kept_ratio == pytest.approx(theirs["kept_ratio"], rel=1e-4, abs=1e-6)
        assert mine.max_probability_change == pytest.approx(theirs["max_probability_change"], rel=1e-3, abs=1e-5)
    assert report.fine.iou_after == pytest.approx(recorded["fine"]["iou_after"], abs=1e-9)
    config = upgrade_config(meta["model_config"])  # a config without the keyword: its legacy meaning, crossed
    if config["msic"] and config["msic_reading"] == "crossed":
        assert report.dead_levels == [0, 1]  # the defect these releases carry, kept visible (docs/ABLATION.md)
    if config["msic"] and config["msic_reading"] == "unit_gain":  # the reading built to keep them open (issue 32)
        assert report.dead_levels == [] and report.fine.iou_cost >= 0.2
    if not meta["model_config"].get("msic"):
        assert report.dead_levels == [] and recorded["fine"]["iou_cost"] >= 0.2


def test_the_current_cpu_gcflnets_use_their_finest_skips_and_their_predecessors_do_not():
    """The CPU GCFLNet releases the README names (``gcflnet-cpu-*-sirst``) were trained with the default MSIC
    reading, and shuffling their two finest skips costs at least 0.2 crop IoU (the U-Nets lose 0.45-0.73); the
    ``crossed`` predecessors kept beside them lose nothing (their skip-health records, as the model card shows)."""
    for current, earlier in CROSSED_PREDECESSORS.items():
        health = {name: json.loads((ROOT / "results" / "health" / f"{name}.json").read_text()) for name in (current, earlier)}
        assert RELEASES[current] in {path.name for path in available().values()}, current
        assert upgrade_config(health[current]["model_config"])["msic_reading"] == READING_DEFAULTS["msic_reading"]
        assert health[current]["fine"]["iou_cost"] >= 0.2 and health[earlier]["fine"]["iou_cost"] == 0.0, current
        assert [level["status"] for level in health[current]["levels"]].count("dead") == 0
        assert upgrade_config(health[earlier]["model_config"])["msic_reading"] == "crossed"


def _smallest_release() -> str | None:
    present = available()
    return min(present, key=lambda name: present[name].stat().st_size) if present else None


@pytest.mark.skipif(_smallest_release() is None, reason="no released checkpoint in checkpoints/")
def test_predict_with_a_released_name_takes_any_size_and_mode(tmp_path):
    """``gcflnet predict --checkpoint NAME`` on gray, RGB, RGBA and 16-bit images of odd sizes."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    images = {
        "gray_37x53.png": rng.integers(0, 255, (37, 53), dtype=np.uint8),
        "rgb_64x100.png": rng.integers(0, 255, (64, 100, 3), dtype=np.uint8),
        "rgba_50x41.png": rng.integers(0, 255, (50, 41, 4), dtype=np.uint8),
        "gray16_33x70.png": rng.integers(0, 65535, (33, 70), dtype=np.uint16),
    }
    folder = tmp_path / "in"
    folder.mkdir()
    for name, array in images.items():
        cv2.imwrite(str(folder / name), array)
    done = subprocess.run([sys.executable, "-m", "gcflnet_lib", "predict", "--checkpoint", _smallest_release(),
                           "--input", str(folder), "--out", str(tmp_path / "out"), "--device", "cpu"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    for name, array in images.items():
        written = sorted((tmp_path / "out").rglob(f"{Path(name).stem}*"))
        assert written, name
        maps = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in written]
        assert any(m is not None and m.shape[:2] == array.shape[:2] for m in maps), name
