"""The conclusions that open the results pages (notebooks 07 and 08; 09's is ``gcflnet_lib.ablation.render``), in plain
words and generated from the records, never typed. Each states the budget it holds for (data, widths, steps, seeds)
before its evidence, and says so where a record cannot support a statement rather than guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
