"""The budget study (docs/ABLATION.md, "The budget study"): 1x against Kx, read as pre-registered."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats

from gcflnet_lib.ablation.budget import (BUDGET_VARIANTS, analyse_budget, budget_conclusion, budget_markdown,
                                         plot_budget, verdict_of)
from gcflnet_lib.ablation.plans import PLANS
from gcflnet_lib.files import json_safe
from test_ablation_report import make_record, write

ROOT = Path(__file__).resolve().parents[1]
PLAN = PLANS["NUDT-SIRST"]


def metrics(miou, fa):
    return {"miou": miou, "niou": miou, "pd": 0.95, "fa": fa * 1e-6}


def record(variant, seed, values, **recipe):
    history = [{"epoch": 64, "miou": values[0], "train_time_s": 1500.0, "eval_time_s": 30.0}]
    return {**make_record(variant, seed, metrics(*values), **recipe), "device": "cpu (test)", "history": history}


def study(tmp_path, one_x, longer, reading="unit_gain"):
    """Write 1x records (the measured factorial and the reading's) and 4x ones, {variant: [(miou, fa) per seed]}."""
    for variant, values in one_x.items():
        folder = tmp_path / (PLAN.reading_records(reading) if variant == "gcflnet" else PLAN.records)
        extra = {"msic_reading": reading} if variant == "gcflnet" else {}
        write(folder, [record(variant, seed, v, **extra) for seed, v in enumerate(values)])
    for variant, values in longer.items():
        extra = {"msic_reading": reading} if variant == "gcflnet" else {}
        records = [record(variant, seed, v, epochs=256, milestones=[172, 220], **extra) for seed, v in enumerate(values)]
        for each in records:
            each["history"] = [{"epoch": 128, "miou": each["final"]["miou"] - 0.05, "train_time_s": 3000.0},
                               {"epoch": 256, "miou": each["final"]["miou"], "train_time_s": 3000.0, "eval_time_s": 60.0}]
        write(tmp_path / "results/ablation_nudt_budget4x", records)
    return analyse_budget(PLAN, 4, reading, tmp_path)


ONE_X = {"unet": [(0.70, 60), (0.72, 62)], "gcflnet_eem": [(0.75, 40), (0.77, 42)], "gcflnet": [(0.76, 30), (0.78, 31)]}


def test_contrast_interval_pools_the_three_cells_of_its_budget(tmp_path):
    found = study(tmp_path, ONE_X, {})
    item = found["budgets"]["1x"]["contrasts"]["gcflnet-unet:miou"]
    s2 = sum((a - b) ** 2 / 2 for a, b in ((0.70, 0.72), (0.75, 0.77), (0.76, 0.78))) / 3  # each cell: var of 2 seeds
    half = stats.t.ppf(0.975, 3) * math.sqrt(s2 * (1 / 2 + 1 / 2))
    assert item["estimate"] == pytest.approx(0.06) and item["high"] - item["estimate"] == pytest.approx(half)
    assert found["budgets"]["1x"]["df"] == 3


def test_verdicts_count_lower_fa_as_ahead_and_an_interval_across_zero_as_no_difference():
    ahead = {"estimate": 0.1, "low": 0.05, "high": 0.15, "missing": [], "no_interval": []}
    across = {"estimate": 0.1, "low": -0.05, "high": 0.25, "missing": [], "no_interval": []}
    assert verdict_of(ahead, "miou") == "first ahead" and verdict_of(ahead, "fa") == "second ahead"
    assert verdict_of(across, "miou") == "no difference shown"
    assert verdict_of({**ahead, "low": math.nan, "no_interval": ["unet"]}, "miou") is None


def test_while_runs_are_missing_nothing_is_said_about_the_longer_budget(tmp_path):
    found = study(tmp_path, ONE_X, {"unet": [(0.80, 20)]})
    assert found["missing"] == ["gcflnet_eem_s0", "gcflnet_s0", "unet_s1", "gcflnet_eem_s1", "gcflnet_s1"]
    text = budget_conclusion(found)
    assert "1 of the 6 runs at 4x are recorded" in text and "nothing is yet said" in text and "overturns" not in text
    assert text.startswith("**Conclusion** (for NUDT-SIRST, widths 8..128, 128x128 crops, batch 16, 2624 optimizer "
                           "steps (64 epochs) against 10496 (256 epochs), seeds 0 and 1, GCFLNet with MSIC `unit_gain`)")
    assert all(item["change"] is None for item in found["changes"].values())


def test_with_one_run_missing_no_contrast_is_judged_kept_even_where_its_own_cells_are_complete(tmp_path):
    # + EEM - U-Net has both seeds at both budgets; GCFLNet's seed 1 at 4x is missing.
    longer = {"unet": [(0.80, 20), (0.82, 22)], "gcflnet_eem": [(0.84, 10), (0.85, 11)], "gcflnet": [(0.83, 12)]}
    found = study(tmp_path, ONE_X, longer)
    assert found["missing"] == ["gcflnet_s1"]
    assert found["budgets"]["4x"]["contrasts"]["gcflnet_eem-unet:miou"]["estimate"] == pytest.approx(0.035)
    assert all(item["change"] is None and item["sign_changes"] is None for item in found["changes"].values())
    assert "nothing is yet said" in budget_conclusion(found) and "| kept |" not in budget_markdown(found)


def test_kept_and_overturned_verdicts_are_named(tmp_path):
    # 4x: the U-Net catches up on mIoU (GCFLNet - U-Net: ahead -> no difference) and passes + EEM (direction).
    longer = {"unet": [(0.82, 20), (0.83, 22)], "gcflnet_eem": [(0.76, 40), (0.77, 41)], "gcflnet": [(0.81, 10), (0.83, 11)]}
    found = study(tmp_path, ONE_X, longer)
    changes = {key: item["change"] for key, item in found["changes"].items()}
    assert changes["gcflnet-unet:miou"] == "overturned (significance)"
    assert changes["gcflnet_eem-unet:miou"] == "overturned (direction)"
    assert changes["gcflnet-unet:fa"] == "kept" and changes["gcflnet-gcflnet_eem:fa"] == "kept"
    assert found["changes"]["gcflnet_eem-unet:miou"]["sign_changes"] is True
    text = budget_conclusion(found)
    kept = sum(change == "kept" for change in changes.values())
    assert f"The longer budget keeps {kept} of the 6 verdicts of the recipe: " in text and "GCFLNet ahead of U-Net on Fa" in text
    assert f"It overturns {6 - kept}: " in text
    assert "+ EEM - U-Net on mIoU (+ EEM ahead at 1x, U-Net ahead at 4x: a change of direction)" in text
    assert "GCFLNet - U-Net on mIoU (GCFLNet ahead at 1x, no difference shown at 4x: a change of significance)" in text
    assert "The estimate changes sign for" in text
    headline = text.split("At 4x GCFLNet reaches mIoU ")[1].split(". ")[0]
    assert headline.startswith("0.8200 against the U-Net's 0.8250, a difference of -0.0050 [")
    assert headline.endswith("(no difference shown)")  # the headline's own verdict
    # the time of a run is its history's: 2 x 3000 s of training and 60 s of evaluation, resumed or not
    assert found["budgets"]["4x"]["runs"]["unet_s0"]["minutes"] == pytest.approx(101.0)
    assert "a 1x run of these cells took 26 to 26 min" in budget_markdown(found)


def test_the_json_form_renders_as_the_analysis_and_the_figure_is_drawn(tmp_path):
    longer = {"unet": [(0.80, 20), (0.84, 22)], "gcflnet_eem": [(0.76, 40)], "gcflnet": [(0.81, 10), (0.83, 11)]}
    found = study(tmp_path, ONE_X, longer)
    stored = json.loads(json.dumps(json_safe(found)))
    assert budget_markdown(stored, "f.png") == budget_markdown(found, "f.png")
    assert "(no interval)" in budget_markdown(found) and "(one seed)" in budget_markdown(found)
    plot_budget(stored, tmp_path / "b.png")
    assert (tmp_path / "b.png").stat().st_size > 1000


def test_a_longer_gcflnet_of_another_reading_is_refused_naming_the_records(tmp_path):
    longer = {"gcflnet": [(0.81, 10)]}
    study(tmp_path, ONE_X, longer)
    other = record("gcflnet_msic", 0, (0.8, 10), epochs=256, milestones=[172, 220], msic_reading="crossed")
    write(tmp_path / "results/ablation_nudt_budget4x", [other])
    from gcflnet_lib.errors import UserError

    with pytest.raises(UserError, match="mix MSIC readings"):
        analyse_budget(PLAN, 4, "unit_gain", tmp_path)


def test_the_variants_are_the_queues():
    from importlib import util

    spec = util.spec_from_file_location("ablation_queue", ROOT / "scripts" / "ablation_queue.py")
    queue = util.module_from_spec(spec)
    spec.loader.exec_module(queue)
    assert queue.BUDGET_VARIANTS == BUDGET_VARIANTS


def test_the_committed_block_is_what_the_records_give():
    done = subprocess.run([sys.executable, str(ROOT / "scripts/ablation_report.py"), "--budget", "4", "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_a_missing_longer_run_is_estimated_from_its_other_seed_when_that_one_is_measured(tmp_path):
    # The 1x runs take 1530 s (25.5 min) and the recorded 4x seed 0 of U-Net 101 min: U-Net seed 1 is priced as its
    # seed 0 at 4x whatever its own 1x time, while + EEM and GCFLNet, with no 4x run, scale with their steps
    # (4 x 25.5 = 102 min).
    found = study(tmp_path, ONE_X, {"unet": [(0.80, 20)]})
    found["budgets"]["1x"]["runs"]["unet_s1"]["minutes"] = 51.0  # seed 1 ran twice as long at 1x
    text = budget_markdown(found)
    assert ("(not recorded yet, gcflnet_eem_s0, gcflnet_eem_s1, gcflnet_s0, gcflnet_s1: estimated as 4 x the 1x run; "
            "unet_s1: estimated as the other seed's 4x run)") in text
    assert "a 4x run 101 to 102 min, 10.2 h for all six" in text  # 2 x 101 + 4 x 102 = 610 min


def test_the_longer_runs_skip_health_is_shown_and_a_shut_level_is_named(tmp_path):
    study(tmp_path, ONE_X, {})
    folder = tmp_path / "results/ablation_nudt_budget4x"
    runs = []
    for variant, dprobs in (("unet", (1.0, 0.9, 1.0, 1.0)), ("gcflnet", (0.01, 0.04, 1.0, 0.6))):
        extra = {"msic_reading": "unit_gain"} if variant == "gcflnet" else {}
        each = record(variant, 0, (0.8, 20), epochs=256, milestones=[172, 220], **extra)
        health = {f"skip{k}_{key}": value for k, d in enumerate(dprobs)
                  for key, value in (("dprob", d), ("iou_cost", 0.1 * d))}
        # the last row without health (an epoch between two measurements) must not hide the measured one
        each["history"] = [{"epoch": 248, "miou": 0.79, "train_time_s": 10.0, **health},
                           {"epoch": 256, "miou": 0.8, "train_time_s": 10.0, "skip0_dprob": None}]
        runs.append(each)
    write(folder, runs)
    found = analyse_budget(PLAN, 4, "unit_gain", tmp_path)
    assert found["budgets"]["4x"]["runs"]["gcflnet_s0"]["health"]["epoch"] == 248
    text = budget_markdown(found)
    assert ("Every skip level is in use (shuffling it moves some output probability by 0.05 or more) in 1 of the 2 runs "
            "at 4x that logged skip health; shut: gcflnet_s0 levels 0, 1.") in budget_conclusion(found)
    assert "| `gcflnet_s0` | 248 | 0.01, +0.001 **shut** | 0.04, +0.004 **shut** | 1.00, +0.100 | 0.60, +0.060 | " \
           "**not all in use** |" in text
    assert "| `unet_s0` | 248 | 1.00, +0.100 | 0.90, +0.090 | 1.00, +0.100 | 1.00, +0.100 | in use |" in text
    # runs that logged none: no table and no sentence
    assert "Skip health" not in budget_markdown(study(tmp_path / "none", ONE_X, {"unet": [(0.8, 20)]}))


def test_what_fits_an_evening_is_computed_not_assumed(tmp_path):
    from gcflnet_lib.ablation.budget import fitting_runs, study_cost

    found = study(tmp_path, ONE_X, {"unet": [(0.80, 20), (0.81, 21)]})
    found["budgets"]["1x"]["runs"]["gcflnet_s1"]["minutes"] = 300.0  # one 1x run longer than an evening
    cost = study_cost(found)
    assert cost["short_fits"] == ["gcflnet_eem_s0", "gcflnet_eem_s1", "gcflnet_s0", "unet_s0", "unet_s1"]
    assert cost["longer"]["gcflnet_s1"] == pytest.approx(1200.0) and "gcflnet_s1" not in cost["longer_fits"]
    text = budget_markdown(found)
    assert "can reproduce of the 1x runs gcflnet_eem_s0, gcflnet_eem_s1, gcflnet_s0, unet_s0, unet_s1, and of the " \
           "4x runs gcflnet_eem_s0, gcflnet_eem_s1, gcflnet_s0, unet_s0, unet_s1;" in text
    assert fitting_runs([], {"a": 1}, "4x") == "none of the 4x runs"
    assert fitting_runs(["a"], {"a": 1}, "1x") == "every 1x run"


def glfi_levels(changes, dprobs):
    return [{"level": level, "attention_min": 0.5, "attention_max": 0.99, "mean_spread": 0.1 * (level + 1),
             "max_probability_change": dprob, "iou_before": 0.8, "iou_after": 0.8 + change,
             "iou_cost": -change, "status": "flat" if dprob < 0.05 else "in use"}
            for level, (change, dprob) in enumerate(zip(changes, dprobs))]


def test_the_inspected_glfi_attention_is_read_into_the_block(tmp_path):
    longer = {"unet": [(0.80, 20), (0.84, 22)], "gcflnet_eem": [(0.76, 40)], "gcflnet": [(0.81, 10), (0.83, 11)]}
    study(tmp_path, ONE_X, longer)
    assert "GLFI" not in budget_markdown(study(tmp_path, ONE_X, longer))  # nothing inspected: nothing said
    folder = tmp_path / "results/ablation_nudt_budget4x_inspect"
    folder.mkdir()
    (folder / "gcflnet_s0.json").write_text(json.dumps({"levels": [], "glfi": glfi_levels([0.0, 0.01], [0.2, 0.01]),
                                                      "glfi_all": glfi_levels([0.02], [0.3])[0]}))
    found = study(tmp_path, ONE_X, longer)
    assert found["budgets"]["4x"]["runs"]["gcflnet_s1"]["glfi"] is None
    text = budget_conclusion(found)
    assert "final weights of 1 of the 2 GCFLNets at 4x" in text and "mean spread 0.10 to 0.20" in text
    assert "never lowers the crop IoU (+0.000 to +0.010)" in text and "at 1 of the 2 levels" in text
    assert "every level flattened together changes it by +0.020." in text
    block = budget_markdown(found)
    assert "| `gcflnet_s0` | 1 | 0.500, 0.990 | 0.200 | 0.010 | +0.0100 | flat |" in block
    assert "| `gcflnet_s0` | all together | | | 0.300 | +0.0200 | |" in block
    # one level that loses IoU when flattened: the text no longer says "never lowers"
    (folder / "gcflnet_s1.json").write_text(json.dumps({"levels": [], "glfi": glfi_levels([-0.05], [0.6]),
                                                      "glfi_all": glfi_levels([-0.08], [0.9])[0]}))
    text = budget_conclusion(study(tmp_path, ONE_X, longer))
    assert "changes the crop IoU by -0.050 to +0.010, and" in text and "2 of the 2 GCFLNets" in text
    assert "every level flattened together changes it by -0.080 to +0.020." in text
