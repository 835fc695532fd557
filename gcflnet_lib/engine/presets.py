"""Named training presets: a width, crop, schedule and epoch count chosen for a kind of machine.

A preset fills the training settings a user did not give; every explicit flag still wins
(``gcflnet train --preset cpu --epochs 20`` trains the CPU recipe for 20 epochs). From Python:
``TrainConfig.from_preset("cpu", data_root=..., dataset=..., out_dir=...)``.

- ``paper``: the ``TrainConfig`` defaults, listed so that the name can be asked for: batch 16 and
  1500 epochs from the paper, with this project's full widths 16..256 and 256x256 crops (the paper
  gives neither).
- ``cpu``: a recipe that learns NUAA-SIRST on a 2-core CPU in under an hour (the released GCFLNet run,
  ``results/cpu_nuaa_gcflnet_s0.json``: 200 epochs in 39 minutes of wall time on 2 threads). Why each value:
    * widths 8..128 (half the default 16..256, about 1/4 of the parameters and FLOPs): the 4..64 model trains
      1.7x faster but has 1/4 of the capacity; 8..128 still has every module of the full model;
    * 128x128 crops: 3.6x faster than 256 per image on the CPU and, with half the crops centred on a
      target, still hold whole targets (NUAA-SIRST targets are under 20 px) and plenty of clutter;
    * batch 16 (the paper's) and 200 epochs (2600 AdamW steps): the 150-epoch version of this recipe
      (the record ``results/cpu_nuaa_gcflnet_s0.json`` at commit 2ebe98b) ended at Fa 40.7e-6 with Fa still
      falling (its evaluations at epochs 100, 125, 150: Fa 68.4, 53.1, 40.7e-6); 200 epochs ended at 21.8e-6;
    * lr 2e-3: a short schedule wants a larger step than the paper-length default of 1e-3, decayed
      x0.1 at epochs 133 and 173 (2/3 and 13/15 of the run, so a run cut to 30 epochs with ``--epochs``
      decays at 20 and 26) and the last 67 epochs settle;
    * evaluation every 25 epochs, a checkpoint every 5 (a checkpoint costs time on a CPU too).
- ``cpu-nudt``: the ``cpu`` recipe in NUDT-SIRST's form, the recipe of the ablation queue
  (``scripts/ablation_queue.py``). NUDT-SIRST trains on 663 images, 41 full batches of 16 per epoch against
  NUAA-SIRST's 13 (213 images), so the same 200 epochs would be 3.2x the optimizer steps and the time.
  Every value but the schedule is the ``cpu`` recipe's; the schedule keeps the number of AdamW steps:
    * 64 epochs = 2624 steps (NUAA-SIRST's ``cpu``: 200 x 13 = 2600);
    * milestones 43 and 55: the same 2/3 and 13/15 of the run as 133 and 173 of 200;
    * evaluation every 16 epochs (four points on the learning curve; one NUDT-SIRST evaluation scores
      664 images of 256x256, three times NUAA-SIRST's pixels), a checkpoint every 2 epochs (82 steps, about
      the ``cpu`` recipe's 65).
"""

from __future__ import annotations

from typing import Any

from gcflnet_lib.errors import UserError

# What the two CPU recipes share: the width, the crops, the batch and the step size.
_CPU_NETWORK: dict[str, Any] = {"channels": (8, 16, 32, 64, 128), "batch_size": 16, "crop_size": 128, "lr": 2e-3}

PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "channels": (16, 32, 64, 128, 256),
        "epochs": 1500,
        "batch_size": 16,
        "crop_size": 256,
        "lr": 1e-3,
    },
    "cpu": {
        **_CPU_NETWORK,
        "epochs": 200,
        "milestones": (133, 173),
        "eval_every": 25,
        "save_every": 5,
    },
    "cpu-nudt": {  # the cpu recipe with a schedule of the same number of steps on NUDT-SIRST (docstring)
        **_CPU_NETWORK,
        "epochs": 64,
        "milestones": (43, 55),
        "eval_every": 16,
        "save_every": 2,
    },
}


def preset_values(name: str) -> dict[str, Any]:
    """The settings of preset ``name`` (a copy).

    Raises:
        UserError: unknown name; the message lists the known ones.
    """
    if name not in PRESETS:
        raise UserError(f"--preset {name}: unknown preset; known presets: {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def milestones_for(preset: dict[str, Any], epochs: int) -> tuple[int, ...] | None:
    """The preset's milestones moved to the same fractions of a run of ``epochs`` (None if it has none)."""
    if not preset.get("milestones"):
        return None
    fractions = [m / preset["epochs"] for m in preset["milestones"]]
    return tuple(sorted({max(1, round(f * epochs)) for f in fractions}))
