"""The conclusions that open the results pages are computed from the records (gcflnet_lib.workbook.conclusions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gcflnet_lib.workbook.conclusions import (comparison_conclusion, dead_skips_sentence, metrics_conclusion,
                                             networks_budget, pair_conclusion, training_conclusion)

ROOT = Path(__file__).resolve().parents[1]


def record(epochs=200, curve=((25, 0.60), (100, 0.62), (150, 0.64), (200, 0.70))):
    return {"dataset": "NUAA-SIRST", "epochs": epochs, "seed": 0,
            "config": {"channels": [8, 16, 32, 64, 128], "crop_size": 128, "batch_size": 16, "epochs": epochs},
            "final": {"miou": curve[-1][1], "pd": 0.9, "fa": 2e-5, "n_images": 214},
            "history": [{"epoch": e, "miou": m} for e, m in curve]}


def test_the_budget_comes_first_and_the_numbers_from_the_record():
    text = training_conclusion(record())
    assert text.startswith("**Conclusion** (for NUAA-SIRST, widths 8..128, 128x128 crops, batch 16, 200 epochs "
                           "(2600 optimizer steps), seed 0, one run):")
    assert "mIoU 0.7000, Pd 0.9000 and Fa 20.00e-6 on the 214 test images" in text
    assert "from 0.6000 at epoch 25 to 0.7000 at epoch 200, rising all the way" in text
    assert "From epoch 150 to the end it gained +0.0600: still rising" in text


def test_a_flat_end_and_a_dip_are_said_as_such():
    text = training_conclusion(record(curve=((25, 0.6), (50, 0.5), (150, 0.695), (200, 0.70))))
    assert "not monotonically (lowest 0.5000 at epoch 50)" in text and "flat by then" in text


def test_a_record_without_an_evaluated_epoch_concludes_nothing():
    empty = record()
    empty["history"] = []
    assert "nothing is concluded" in training_conclusion(empty)


def test_the_released_run_and_its_card():
    released = json.loads((ROOT / "results/cpu_nuaa_gcflnet_s0.json").read_text())
    text = training_conclusion(released)
    assert f"mIoU {released['final']['miou']:.4f}" in text and "200 epochs (2600 optimizer steps)" in text
    card = json.loads((ROOT / "results/eval_cpu_gcflnet-cpu-nuaa-sirst-crossed.json").read_text())["metrics"]
    text = metrics_conclusion(card)
    found = round(card["pd"] * card["n_targets"])
    assert f"finds {found} of {card['n_targets']} targets" in text
    assert f"with Fa at most 1e-5 is {card['pd_at_fa_1e-05']:.4f}" in text


def test_no_target_no_pd():
    assert "undefined" in metrics_conclusion({"n_targets": 0, "n_images": 3, "pd": 0.0, "fa": 0.0})


def row(name, kind, miou=0.5, pd=0.9, n_images=214, **curve):
    values = {"niou": miou, "fa": 1e-5, "pd_at_fa_1e-05": 0.8, "pd_at_fa_1e-04": 0.9, "auc_pd_fa": 0.85, "auc_pixel": 0.9}
    values.update(curve)
    return {"name": name, "kind": kind, "miou": miou, "pd": pd, "n_images": n_images, "n_targets": 263, **values}


def test_comparison_names_who_leads_on_what_and_by_how_much():
    rows = [row("tllcm", "classical", miou=0.34, pd=0.962, auc_pixel=0.95),
            row("tophat", "classical", miou=0.46, pd=0.93, auc_pixel=0.99),
            row("gcflnet", "deep", miou=0.70, pd=0.90, auc_pixel=0.90)]
    text = comparison_conclusion(rows, "BUDGET")
    assert text.startswith("**Conclusion** (for BUDGET): on the same 214 test images (263 targets),")
    assert "leads the best classical detector on mIoU (GCFLNet 0.700 against Top-Hat 0.460, by 0.240)" in text
    assert "A classical detector leads on Pd at its own decision (TLLCM 0.962 against GCFLNet 0.900, by 0.062)" in text
    assert "pixel AUC (Top-Hat 0.990 against GCFLNet 0.900, by 0.090)" in text
    assert "Tied: Pd at Fa <= 1e-5 (0.800)" in text
    assert "a learned model buys mIoU, nIoU, and not Pd at its own decision, pixel AUC" in text
    assert "one training run, so no margin here carries a seed interval" in text


@pytest.mark.parametrize("rows, said", [
    ([row("tllcm", "classical")], "no network row, so no comparison is drawn"),
    ([row("gcflnet", "deep")], "no classical detector row, so no comparison is drawn"),
    ([row("tllcm", "classical", n_images=6), row("gcflnet", "deep")], "different image sets (6 images, 214 images)"),
])
def test_a_comparison_it_cannot_draw_is_said_not_guessed(rows, said):
    text = comparison_conclusion(rows, "B")
    assert said in text and "leads" not in text


def test_an_undefined_metric_is_named_and_left_out():
    text = comparison_conclusion([row("tllcm", "classical", auc_pixel=float("nan")), row("gcflnet", "deep")], "B")
    assert "Undefined for some row, so left out: pixel AUC." in text and "pixel AUC (" not in text


def test_the_budget_comes_from_the_training_records(tmp_path):
    released = json.loads((ROOT / "results/cpu_nuaa_gcflnet_s0.json").read_text())
    (tmp_path / "g.json").write_text(json.dumps(released))
    other = dict(released, epochs=50)
    (tmp_path / "u.json").write_text(json.dumps(other))
    same = networks_budget({"gcflnet": "g.json", "unet": "g.json"}, 10, 214, "NUAA-SIRST", tmp_path)
    assert same.startswith("the 214 NUAA-SIRST test images; GCFLNet and U-Net each trained on NUAA-SIRST, widths 8..128")
    assert same.endswith("cut at mean + 10 std") and "200 epochs (2600 optimizer steps), seed 0, one run" in same
    differ = networks_budget({"gcflnet": "g.json", "unet": "u.json", "x": None}, 10, 214, "NUAA-SIRST", tmp_path)
    assert "U-Net trained on NUAA-SIRST" in differ and "50 epochs (650 optimizer steps)" in differ
    assert "x trained on no training record" in differ


def test_the_release_pair_and_its_dead_skips():
    health = json.loads((ROOT / "results/health/gcflnet-cpu-nuaa-sirst-crossed.json").read_text())
    dead = [level["level"] for level in health["levels"] if level["status"] == "dead"]
    sentence = dead_skips_sentence(health, "The released GCFLNet")
    assert dead == [0, 1] and sentence.startswith("The released GCFLNet has shut skip levels 0 and 1 (0 is the finest)")
    unet = json.loads((ROOT / "results/health/unet-cpu-nuaa-sirst.json").read_text())
    assert dead_skips_sentence(unet, "The U-Net") == "The U-Net uses every skip level (shuffling any of them changes its predictions)."
    assert dead_skips_sentence(None, "x") == ""
    first = {"miou": 0.70, "pd": 0.90, "fa": 2e-5, "n_images": 214, "n_targets": 263, "niou": 0.7}
    second = {"miou": 0.71, "pd": 0.95, "fa": 3e-5, "n_images": 214, "n_targets": 263, "niou": 0.7}
    text = pair_conclusion(first, second, "B", health_note=sentence)
    assert text.startswith("**Conclusion** (for B): on 214 test images (263 targets) the released GCFLNet reaches "
                           "mIoU 0.7000, Pd 0.9000 and Fa 20.00e-6.")
    assert "GCFLNet ahead on Fa; U-Net ahead on mIoU, Pd; tied on nIoU." in text and text.endswith(sentence)
    assert "no comparison is drawn" in pair_conclusion(first, None, "B")
    assert "other images (24)" in pair_conclusion(first, dict(second, n_images=24), "B")


def test_a_release_stored_in_fp16_says_why_its_card_differs_from_its_record():
    from gcflnet_lib.workbook.conclusions import released_weights_note

    card = {"miou": 0.6629, "pd": 0.8973, "fa": 86.37e-6}
    note = released_weights_note({"weights_dtype": "fp16"}, card)
    assert note.startswith("These are the training run's own evaluations, of its float32 weights")
    assert "stores them as fp16" in note and "mIoU 0.6629, Pd 0.8973 and Fa 86.37e-6" in note
    assert released_weights_note({"weights_dtype": "fp32"}, card) == ""
    assert released_weights_note({}, card) == ""  # an older checkpoint: float32
    assert released_weights_note({"weights_dtype": "fp16"}, None) == ""  # no card to set beside it
