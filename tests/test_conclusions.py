"""The conclusions that open the results pages are computed from the records (gcflnet_lib.workbook.conclusions)."""

from __future__ import annotations

import json
from pathlib import Path

from gcflnet_lib.workbook.conclusions import metrics_conclusion, training_conclusion

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
    card = json.loads((ROOT / "results/eval_cpu_gcflnet-cpu-nuaa-sirst.json").read_text())["metrics"]
    text = metrics_conclusion(card)
    found = round(card["pd"] * card["n_targets"])
    assert f"finds {found} of {card['n_targets']} targets" in text
    assert f"with Fa at most 1e-5 is {card['pd_at_fa_1e-05']:.4f}" in text


def test_no_target_no_pd():
    assert "undefined" in metrics_conclusion({"n_targets": 0, "n_images": 3, "pd": 0.0, "fa": 0.0})
