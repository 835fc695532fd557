"""gcflnet_lib.ablation: the 8-variant sweep on a tiny synthetic set, reuse of finished runs, switch effects."""

from __future__ import annotations

import json
import math
import os
import time

import pytest
import torch

from gcflnet_lib.ablation import SWITCHES, finished_run_matches, row_from_run, run_ablation, switch_effects, variants
from gcflnet_lib.data.synthetic import write_dataset
from gcflnet_lib.errors import UserError
from gcflnet_lib.models import list_models

TINY = {"epochs": 2, "channels": (4, 8), "batch_size": 4, "crop_size": 32, "device": "cpu", "lr": 3e-3, "seed": 0}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    torch.set_num_threads(1)
    return write_dataset(tmp_path_factory.mktemp("abl") / "syn", 12, size=48, seed=3)


@pytest.fixture(scope="module")
def sweep(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("abl_runs")
    return out, run_ablation(data_root, "Synthetic", out, **TINY)


class TestRunAblation:
    def test_one_row_per_variant_in_registry_order(self, sweep):
        _, rows = sweep
        assert [row["name"] for row in rows] == list_models()
        for row in rows:
            assert {s: row[s] for s in SWITCHES} == variants()[row["name"]]
            assert row["reused"] is False

    def test_metrics_in_range_and_parameters_match_the_models(self, sweep):
        from gcflnet_lib.models import build_model

        _, rows = sweep
        for row in rows:
            for metric in ("miou", "niou", "pd", "fa", "auc_pd_fa"):
                assert math.isnan(row[metric]) or 0.0 <= row[metric] <= 1.0, (row["name"], metric)
            assert row["first_loss"] > 0 and row["final_loss"] > 0 and row["train_seconds"] > 0
            expected = sum(p.numel() for p in build_model(row["name"], channels=TINY["channels"]).parameters())
            assert row["params"] == expected

    def test_eem_and_glfi_add_parameters_whatever_the_other_switches(self, sweep):
        _, rows = sweep
        effects = switch_effects(rows, metrics=("params",))
        by_key = {tuple(row[s] for s in SWITCHES): row["params"] for row in rows}
        for index, switch in enumerate(SWITCHES[:2]):
            for key, params in by_key.items():
                if key[index]:
                    off = key[:index] + (False,) + key[index + 1:]
                    assert params > by_key[off], (switch, key)
            assert effects[switch]["params"] > 0

    def test_finished_runs_are_reused_and_changed_settings_retrain(self, sweep, data_root):
        out, rows = sweep
        stamp = (out / "unet" / "final.pt").stat().st_mtime_ns
        again = run_ablation(data_root, "Synthetic", out, names=["unet"], **TINY)
        assert again[0]["reused"] is True and again[0]["miou"] == rows[0]["miou"]
        assert (out / "unet" / "final.pt").stat().st_mtime_ns == stamp
        changed = run_ablation(data_root, "Synthetic", out, names=["unet"], **{**TINY, "epochs": 1})
        assert changed[0]["reused"] is False
        assert len(json.loads((out / "unet" / "history.json").read_text())) == 1

    def test_rewritten_data_is_not_reused(self, data_root, tmp_path):
        run_ablation(data_root, "Synthetic", tmp_path, names=["unet"], **TINY)
        from gcflnet_lib.engine import TrainConfig

        config = TrainConfig(data_root=str(data_root), dataset="Synthetic", out_dir=str(tmp_path / "unet"),
                             model="unet", **TINY)
        assert finished_run_matches(tmp_path / "unet", config)
        later = time.time() + 5
        os.utime(data_root / "img_idx" / "train_Synthetic.txt", (later, later))
        try:
            assert not finished_run_matches(tmp_path / "unet", config)
        finally:
            now = time.time() - 3600
            os.utime(data_root / "img_idx" / "train_Synthetic.txt", (now, now))

    def test_unknown_variant_and_reserved_option_are_refused(self, data_root, tmp_path):
        with pytest.raises(UserError, match="unknown variant.*'gcflnet_xyz'"):
            run_ablation(data_root, "Synthetic", tmp_path, names=["gcflnet_xyz"], **TINY)
        with pytest.raises(UserError, match="model: set by run_ablation"):
            run_ablation(data_root, "Synthetic", tmp_path, names=["unet"], model="unet", **TINY)
        with pytest.raises(UserError, match="run_ablation: .*bogus"):
            run_ablation(data_root, "Synthetic", tmp_path, names=["unet"], bogus=1, **TINY)
        with pytest.raises(UserError, match="--epochs must be at least 1"):
            run_ablation(data_root, "Synthetic", tmp_path, names=["unet"], **{**TINY, "epochs": 0})
        assert not any(tmp_path.iterdir())

    def test_row_from_an_unfinished_folder_is_an_error(self, tmp_path):
        with pytest.raises(UserError, match="holds no finished training run"):
            row_from_run(tmp_path)


def _row(eem, glfi, msic, **values):
    return {"eem": eem, "glfi": glfi, "msic": msic, **values}


class TestSwitchEffects:
    def test_mean_change_over_the_pairs_that_differ_in_one_switch(self):
        # miou = 0.1 + 0.2*eem + 0.05*glfi - 0.02*msic + 0.1*eem*glfi: eem's mean effect 0.2 + 0.1/2.
        rows = [_row(e, g, m, miou=0.1 + 0.2 * e + 0.05 * g - 0.02 * m + 0.1 * e * g, params=10 + e + 2 * g + 3 * m)
                for e in (False, True) for g in (False, True) for m in (False, True)]
        effects = switch_effects(rows, metrics=("miou", "params"))
        assert effects["eem"]["miou"] == pytest.approx(0.25)
        assert effects["glfi"]["miou"] == pytest.approx(0.10)
        assert effects["msic"]["miou"] == pytest.approx(-0.02)
        assert [effects[s]["params"] for s in SWITCHES] == pytest.approx([1, 2, 3])

    def test_nan_metrics_are_left_out(self):
        rows = [_row(False, False, False, pd=0.5), _row(True, False, False, pd=0.7),
                _row(False, True, False, pd=float("nan")), _row(True, True, False, pd=0.9),
                _row(False, False, True, pd=float("nan"))]
        effects = switch_effects(rows, metrics=("pd",))
        assert effects["eem"]["pd"] == pytest.approx(0.2)  # the pair (glfi on) holding NaN is skipped
        assert effects["glfi"]["pd"] == pytest.approx(0.2)
        assert math.isnan(effects["msic"]["pd"])  # its only pair holds the NaN

    def test_missing_pair_is_an_error(self):
        with pytest.raises(ValueError, match="differ only in glfi"):
            switch_effects([_row(False, False, False, pd=0.1), _row(True, False, False, pd=0.2),
                            _row(False, False, True, pd=0.1)], metrics=("pd",))


class TestDegenerateVariants:
    def test_every_pixel_nothing_and_a_detector(self):
        from gcflnet_lib.ablation import degenerate

        assert degenerate({"fa": 0.97, "pd": 1.0}) == "predicts nearly every pixel"
        assert degenerate({"fa": 0.0, "pd": 0.0}) == "predicts nothing"
        assert degenerate({"fa": 2e-5, "pd": 0.9}) == ""
        assert degenerate({"fa": 0.05, "pd": 1.0}, max_fa=0.01) == "predicts nearly every pixel"

    def test_a_comparison_with_a_degenerate_variant_is_inconclusive(self):
        from gcflnet_lib.ablation import agreement_verdict

        good, everything = {"fa": 1e-5, "pd": 0.9}, {"fa": 0.5, "pd": 1.0}
        assert agreement_verdict(True, [good, everything]) == "inconclusive"
        assert agreement_verdict(False, [{"fa": 0.0, "pd": 0.0}, good]) == "inconclusive"
        assert agreement_verdict(True, [good, good]) == "yes" and agreement_verdict(False, [good, good]) == "no"
