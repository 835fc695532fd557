"""The conclusions that open the results pages (notebooks 00, 07, 08 and 10; 09's is ``gcflnet_lib.ablation.render``), in plain
words and generated from the records, never typed. Each states the budget it holds for (data, widths, steps, seeds)
before its evidence, and says so where a record cannot support a statement rather than guess.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gcflnet_lib.workbook.context import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "results"

# Full batches of 16 per epoch of each dataset's training split (drop_last): NUAA-SIRST 213 // 16, NUDT-SIRST 663 // 16.
STEPS_PER_EPOCH = {"NUAA-SIRST": 13, "NUDT-SIRST": 41}
STILL_RISING = 0.01  # mIoU gained over the last quarter of a run above which the curve has not flattened


def budget(record: Mapping[str, Any]) -> str:
    """"NUAA-SIRST, widths 8..128, 128x128 crops, batch 16, 200 epochs (2600 optimizer steps), seed 0, one run"."""
    config = record.get("config") or {}
    widths = config.get("channels") or [16, 32, 64, 128, 256]
    epochs = int(record.get("epochs") or config.get("epochs"))
    per_epoch = STEPS_PER_EPOCH.get(record.get("dataset")) if int(config.get("batch_size", 16)) == 16 else None
    steps = f" ({epochs * per_epoch} optimizer steps)" if per_epoch else ""
    return (f"{record.get('dataset')}, widths {widths[0]}..{widths[-1]}, {config.get('crop_size', 256)}x"
            f"{config.get('crop_size', 256)} crops, batch {config.get('batch_size', 16)}, {epochs} epochs{steps}, "
            f"seed {record.get('seed', config.get('seed'))}, one run")


def training_conclusion(record: Mapping[str, Any], label: str = "the released GCFLNet") -> str:
    """What a training record says: its last-epoch scores, how its test mIoU moved, and whether it was still rising
    over the last quarter of the run (so the recipe stopped before the curve flattened)."""
    final = record.get("final") or {}
    curve = [(int(row["epoch"]), float(row["miou"])) for row in record.get("history", []) if row.get("miou") is not None]
    head = f"**Conclusion** (for {budget(record)}):"
    if not final or not curve:
        return f"{head} the record holds no evaluated epoch, so nothing is concluded from it."
    parts = [f"{head} {label} reached mIoU {final['miou']:.4f}, Pd {final['pd']:.4f} and Fa {final['fa'] * 1e6:.2f}e-6 "
             f"on the {final.get('n_images', '?')} test images at its last epoch (no epoch picked on the test split)."]
    if len(curve) >= 2:
        (first_epoch, first), (last_epoch, last) = curve[0], curve[-1]
        low_epoch, low = min(curve, key=lambda point: point[1])
        mark = last_epoch * 3 // 4  # the last evaluation at or before three quarters of the run
        mark_epoch, before = [point for point in curve if point[0] <= mark][-1] if curve[0][0] <= mark else curve[0]
        shape = ("rising all the way" if all(b[1] >= a[1] for a, b in zip(curve, curve[1:])) else
                 f"not monotonically (lowest {low:.4f} at epoch {low_epoch})")
        parts.append(f"Its test mIoU went from {first:.4f} at epoch {first_epoch} to {last:.4f} at epoch {last_epoch}, "
                     f"{shape}.")
        gained = last - before
        parts.append(f"From epoch {mark_epoch} to the end it gained {gained:+.4f}: " +
                     ("still rising when the recipe stopped, so a longer run may reach more." if gained > STILL_RISING
                      else "flat by then, at this recipe."))
    return " ".join(parts)


def released_weights_note(meta: Mapping[str, Any], card: Mapping[str, Any] | None) -> str:
    """Why a release's model card differs from its training record: the record scores the run's float32 weights, the
    card the file as released (``weights_dtype`` ``"fp16"``: rounded to float16). Empty for float32 weights or
    without a card."""
    dtype = meta.get("weights_dtype", "fp32")
    if card is None or dtype == "fp32":
        return ""
    return (f"These are the training run's own evaluations, of its float32 weights; the released file stores them as "
            f"{dtype}, and scored as released it gives mIoU {card['miou']:.4f}, Pd {card['pd']:.4f} and Fa "
            f"{card['fa'] * 1e6:.2f}e-6 (its model card).")


def record_from_checkpoint(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A training record's fields from a checkpoint's metadata (``load_model_from_checkpoint``): its history, its
    settings, and as ``final`` the last evaluated row (the checkpoint of a finished run is scored at its last epoch)."""
    config = dict(meta.get("train_config") or {})
    history = list(meta.get("history") or [])
    evaluated = [row for row in history if row.get("miou") is not None]
    return {"dataset": meta.get("dataset"), "epochs": meta.get("epoch"), "seed": config.get("seed"), "config": config,
            "history": history, "final": dict(evaluated[-1]) if evaluated else {}}


def metrics_conclusion(metrics: Mapping[str, Any], label: str = "the released GCFLNet") -> str:
    """What a scored model's operating point and ROC say: targets found at 0.5 and their false alarms, the best Pd
    within the usual false-alarm budgets, and the AUC over the shared range."""
    n_targets = int(metrics.get("n_targets", 0))
    if not n_targets:
        return f"**Conclusion**: the split holds no target, so Pd and the ROC are undefined for {label}."
    found = round(float(metrics["pd"]) * n_targets)
    parts = [f"**Conclusion** ({metrics.get('n_images', '?')} test images, {n_targets} targets): at threshold 0.5 "
             f"{label} finds {found} of {n_targets} targets (Pd {metrics['pd']:.4f}) with Fa {metrics['fa'] * 1e6:.2f}e-6."]
    budgets = [(key, text) for key, text in (("pd_at_fa_1e-05", "1e-5"), ("pd_at_fa_1e-04", "1e-4"))
               if metrics.get(key) is not None and metrics[key] == metrics[key]]
    if budgets:
        parts.append("Its best Pd " + " and ".join(f"with Fa at most {text} is {metrics[key]:.4f}" for key, text in budgets)
                     + f"; the AUC over Fa in [0, 1e-4] is {metrics['auc_pd_fa']:.4f} and the pixel AUC "
                     f"{metrics['auc_pixel']:.4f}.")
    else:
        parts.append("No ROC was computed for it, so no other operating point is stated.")
    return " ".join(parts)


# The metrics on which notebook 10 compares detectors (higher is better for each), in the order the sentence lists them.
COMPARED_METRICS = {"miou": "mIoU", "niou": "nIoU", "pd": "Pd at its own decision", "pd_at_fa_1e-05": "Pd at Fa <= 1e-5",
                    "pd_at_fa_1e-04": "Pd at Fa <= 1e-4", "auc_pd_fa": "AUC (Fa <= 1e-4)", "auc_pixel": "pixel AUC"}
METHOD_LABELS = {"tophat": "Top-Hat", "max_median": "Max-Median", "tllcm": "TLLCM", "wslcm": "WSLCM", "ipi": "IPI",
                 "ript": "RIPT", "gcflnet": "GCFLNet", "unet": "U-Net"}


def _label(row: Mapping[str, Any]) -> str:
    return METHOD_LABELS.get(row["name"], row["name"])


def released_budget(records: Mapping[str, str | None], n_images: int, dataset: str,
                    results_dir: str | os.PathLike = RESULTS_DIR) -> str:
    """"the 214 NUAA-SIRST test images; GCFLNet and U-Net each trained on <budget>": each network's training
    (``budget`` of its record under ``results_dir``; "no training record" where there is none) and the test set.

    ``records``: network name (``gcflnet``, ``unet``) -> its training record's file name (``released.TRAINING_RECORDS``).
    """
    trained = {}
    for name, file_name in records.items():
        path = Path(results_dir) / file_name if file_name else None
        trained[name] = budget(json.loads(path.read_text())) if path is not None and path.is_file() else "no training record"
    if len(set(trained.values())) == 1:
        networks = " and ".join(METHOD_LABELS.get(name, name) for name in trained) + (
            " each" if len(trained) > 1 else "") + f" trained on {next(iter(trained.values()))}"
    else:
        networks = "; ".join(f"{METHOD_LABELS.get(name, name)} trained on {text}" for name, text in trained.items())
    return f"the {n_images} {dataset} test images; {networks}"


def networks_budget(records: Mapping[str, str | None], k: float, n_images: int, dataset: str,
                    results_dir: str | os.PathLike = RESULTS_DIR) -> str:
    """Notebook 10's budget: :func:`released_budget`, and the classical detectors' cut."""
    return (f"{released_budget(records, n_images, dataset, results_dir)}; the classical detectors at their papers' "
            f"settings, cut at mean + {k:g} std")


def comparison_conclusion(rows: list[Mapping[str, Any]], budget_text: str) -> str:
    """What notebook 10's table says: on which metrics the best network leads the best classical detector and on
    which a classical detector leads, with both values and the margin, for the image set every row was scored on.

    ``rows``: ``gcflnet_lib.workbook.compare`` rows (``kind`` "deep" or "classical", ``n_images``, ``n_targets`` and
    the metrics of :data:`COMPARED_METRICS`). ``budget_text``: what the networks are (data, widths, steps, seeds).
    Rows on different image sets, or a table without a network or a classical row, give no comparison; a metric
    that is undefined (NaN) for some row is named and left out.
    """
    head = f"**Conclusion** (for {budget_text}):"
    networks = [row for row in rows if row.get("kind") == "deep"]
    classical = [row for row in rows if row.get("kind") == "classical"]
    if not networks or not classical:
        missing = "network" if not networks else "classical detector"
        return f"{head} the table has no {missing} row, so no comparison is drawn."
    image_sets = sorted({(int(row["n_images"]), int(row["n_targets"])) for row in rows})
    if len(image_sets) != 1:
        return (f"{head} its rows were scored on different image sets ({', '.join(f'{n} images' for n, _ in image_sets)}), "
                "so no comparison is drawn.")
    (n_images, n_targets), = image_sets
    network_leads, classical_leads, ties, undefined = [], [], [], []
    for key, text in COMPARED_METRICS.items():
        if any(not float(row[key]) == float(row[key]) for row in rows):
            undefined.append(text)
            continue
        net = max(networks, key=lambda row: float(row[key]))
        other = max(classical, key=lambda row: float(row[key]))
        margin = float(net[key]) - float(other[key])
        if margin == 0:
            ties.append(f"{text} ({float(net[key]):.3f})")
        else:
            ahead, behind = (net, other) if margin > 0 else (other, net)
            item = (f"{text} ({_label(ahead)} {float(ahead[key]):.3f} against {_label(behind)} {float(behind[key]):.3f}, "
                    f"by {abs(margin):.3f})")
            (network_leads if margin > 0 else classical_leads).append((text, item))
    parts = [f"{head} on the same {n_images} test images ({n_targets} targets),"]
    if network_leads:
        parts.append("the best network leads the best classical detector on " +
                     "; ".join(item for _, item in network_leads) + ".")
    else:
        parts.append("no network leads the best classical detector on any metric.")
    if classical_leads:
        parts.append("A classical detector leads on " + "; ".join(item for _, item in classical_leads) + ".")
    else:
        parts.append("No classical detector leads on any metric.")
    if ties:
        parts.append("Tied: " + "; ".join(ties) + ".")
    if undefined:
        parts.append("Undefined for some row, so left out: " + ", ".join(undefined) + ".")
    if network_leads and classical_leads:
        parts.append(f"Here a learned model buys {', '.join(text for text, _ in network_leads)}, and not "
                     f"{', '.join(text for text, _ in classical_leads)}.")
    parts.append("Each network is one training run, so no margin here carries a seed interval.")
    return " ".join(parts)


def dead_skips_sentence(health: Mapping[str, Any] | None, label: str) -> str:
    """One sentence from a skip-health record (``results/health/<release>.json``): which skip levels are dead, or
    that all are in use; empty when there is no record. ``label`` opens the sentence ("The released GCFLNet")."""
    if not health or not health.get("levels"):
        return ""
    dead = [int(level["level"]) for level in health["levels"] if level.get("status") == "dead"]
    if not dead:
        return f"{label} uses every skip level (shuffling any of them changes its predictions)."
    levels = " and ".join(str(level) for level in dead)
    change = max(float(level["max_probability_change"]) for level in health["levels"] if level.get("status") == "dead")
    return (f"{label} has shut skip level{'s' if len(dead) > 1 else ''} {levels} (0 is the finest): shuffling "
            f"{'their' if len(dead) > 1 else 'its'} pixels moves no output probability by more than {change:.0e} "
            f"(skip-health record; notebook 06 shows why).")


def pair_conclusion(first: Mapping[str, Any], second: Mapping[str, Any] | None, budget_text: str,
                    names: tuple[str, str] = ("the released GCFLNet", "its U-Net partner"),
                    health_note: str = "") -> str:
    """What notebook 00's two released models say side by side: each one's mIoU, Pd and Fa on the same images, and
    which is ahead on which metric (``results.who_is_ahead``), for one seed each, so no verdict."""
    from gcflnet_lib.workbook.results import who_is_ahead

    head = f"**Conclusion** (for {budget_text}):"

    def scores(metrics: Mapping[str, Any]) -> str:
        return f"mIoU {metrics['miou']:.4f}, Pd {metrics['pd']:.4f} and Fa {metrics['fa'] * 1e6:.2f}e-6"

    parts = [f"{head} on {first['n_images']} test images ({first['n_targets']} targets) {names[0]} reaches {scores(first)}."]
    if second is None:
        parts.append(f"No {names[1]} was scored, so no comparison is drawn.")
    elif (second["n_images"], second["n_targets"]) != (first["n_images"], first["n_targets"]):
        parts.append(f"{names[1]} was scored on other images ({second['n_images']}), so no comparison is drawn.")
    else:
        short = ("GCFLNet", "U-Net")
        parts.append(f"{names[1][0].upper() + names[1][1:]} reaches {scores(second)}: "
                     f"{who_is_ahead(first, second, short)}.")
        parts.append("One seed each, so this is what was measured, not a verdict; notebook 09 measures the modules "
                     "over seeds with intervals.")
    if health_note:
        parts.append(health_note)
    return " ".join(parts)
