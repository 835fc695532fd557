"""Released checkpoints: short names for the trained models shipped in ``checkpoints/``.

Every command and notebook that takes a checkpoint accepts either a path or one of these names
(``gcflnet evaluate --checkpoint gcflnet-cpu-nuaa-sirst ...``). ``checkpoints/README.md`` is the model
card of each: data, split, exact command, commit, device, wall time and metrics.

    gcflnet-cpu-nuaa-sirst   GCFLNet, CPU recipe (``--preset cpu``: widths 8..128), MSIC ``unit_gain``, on a 2-core CPU
    unet-cpu-nuaa-sirst      the U-Net baseline, same recipe and seed
    gcflnet-cpu-nuaa-sirst-crossed  the earlier GCFLNet of that recipe, MSIC ``crossed``: its two finest skips are shut
    gcflnet-nuaa-sirst       GCFLNet, full width (16..256), 400 epochs on an H200; fp16 weights
    unet-nuaa-sirst          the U-Net baseline, full width, 400 epochs on an H200; fp16 weights
    gcflnet-cpu-nudt-sirst   GCFLNet, CPU recipe in NUDT-SIRST's form (``--preset cpu-nudt``), MSIC ``unit_gain``,
                             seed 0 of the unit_gain factorial trained again (its first weights were lost)
    unet-cpu-nudt-sirst      the U-Net baseline, same recipe and seed (``results/ablation_nudt/``)
    gcflnet-cpu-nudt-sirst-crossed  the earlier GCFLNet of that recipe, MSIC ``crossed`` (seed 0 of the first
                             factorial): its two finest skips are shut
    gcflnet-nudt-sirst       GCFLNet, full width, 400 epochs on NUDT-SIRST on an H200; fp16 weights (after a lease:
                             ``scripts/gpu_campaign.py`` writes it, docs/GPU_CAMPAIGN.md)
    unet-nudt-sirst          the U-Net baseline, the same on NUDT-SIRST

``GCFLNET_CHECKPOINTS`` names another folder holding the same files (for an installed, non-editable copy).
"""

from __future__ import annotations

import os
from pathlib import Path

from gcflnet_lib.errors import CheckpointError

RELEASES: dict[str, str] = {
    "gcflnet-cpu-nuaa-sirst": "gcflnet-cpu-nuaa-sirst.pt",
    "unet-cpu-nuaa-sirst": "unet-cpu-nuaa-sirst.pt",
    "gcflnet-nuaa-sirst": "gcflnet-nuaa-sirst.pt",
    "unet-nuaa-sirst": "unet-nuaa-sirst.pt",
    "gcflnet-cpu-nudt-sirst": "gcflnet-cpu-nudt-sirst.pt",
    "unet-cpu-nudt-sirst": "unet-cpu-nudt-sirst.pt",
    # The first CPU GCFLNets, trained with MSIC's `crossed` reading before the pre-registered rule chose
    # `unit_gain` (docs/ABLATION.md): kept loadable under names that say their reading (notebook 06 takes them apart).
    "gcflnet-cpu-nuaa-sirst-crossed": "gcflnet-cpu-nuaa-sirst-crossed.pt",
    "gcflnet-cpu-nudt-sirst-crossed": "gcflnet-cpu-nudt-sirst-crossed.pt",
    "gcflnet-nudt-sirst": "gcflnet-nudt-sirst.pt",
    "unet-nudt-sirst": "unet-nudt-sirst.pt",
}

# The dataset each release was trained (and is scored in the model card) on.
RELEASE_DATASETS: dict[str, str] = {name: "NUDT-SIRST" if "nudt" in name else "NUAA-SIRST" for name in RELEASES}

# What a notebook uses for CHECKPOINT = "auto", first present wins: the CPU recipe's models, which run
# fast on any machine, then the full-width ones (4x the FLOPs).
AUTO_RELEASE = {
    "gcflnet": ("gcflnet-cpu-nuaa-sirst", "gcflnet-nuaa-sirst"),
    "unet": ("unet-cpu-nuaa-sirst", "unet-nuaa-sirst"),
}
# The same, for a notebook whose data is NUDT-SIRST: the models trained on it come first.
AUTO_RELEASE_BY_DATASET = {
    "NUDT-SIRST": {"gcflnet": ("gcflnet-cpu-nudt-sirst", *AUTO_RELEASE["gcflnet"]),
                   "unet": ("unet-cpu-nudt-sirst", *AUTO_RELEASE["unet"])},
}


# release name -> its training record under results/ (``gcflnet train --record``), the model card's source
TRAINING_RECORDS: dict[str, str] = {
    "gcflnet-cpu-nuaa-sirst": "cpu_nuaa_gcflnet_unit_gain_s0.json",
    "unet-cpu-nuaa-sirst": "cpu_nuaa_unet_s0.json",
    "gcflnet-nuaa-sirst": "gpu_nuaa_gcflnet_s0.json",
    "unet-nuaa-sirst": "gpu_nuaa_unet_s0.json",
    "gcflnet-cpu-nudt-sirst": "cpu_nudt_gcflnet_unit_gain_s0.json",
    "unet-cpu-nudt-sirst": "ablation_nudt/unet_s0.json",
    "gcflnet-nudt-sirst": "gpu_nudt_gcflnet_unit_gain_s0.json",  # the GPU campaign's new-reading GCFLNet
    "unet-nudt-sirst": "gpu_nudt_unet_s0.json",
    "gcflnet-cpu-nuaa-sirst-crossed": "cpu_nuaa_gcflnet_s0.json",
    "gcflnet-cpu-nudt-sirst-crossed": "ablation_nudt/gcflnet_s0.json",
}

# A current release -> the earlier one of the same recipe it replaced, trained with MSIC's `crossed` reading.
CROSSED_PREDECESSORS: dict[str, str] = {
    "gcflnet-cpu-nuaa-sirst": "gcflnet-cpu-nuaa-sirst-crossed",
    "gcflnet-cpu-nudt-sirst": "gcflnet-cpu-nudt-sirst-crossed",
}


def checkpoint_dir() -> Path:
    """``$GCFLNET_CHECKPOINTS``, else ``checkpoints/`` at the root of this repository."""
    configured = os.environ.get("GCFLNET_CHECKPOINTS")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "checkpoints"


def release_path(name: str) -> Path:
    """The file of released checkpoint ``name``.

    Raises:
        CheckpointError: unknown name (the message lists the released ones), or its file is absent.
    """
    if name not in RELEASES:
        raise CheckpointError(f"{name}: not a released checkpoint; released: {', '.join(RELEASES)}")
    path = checkpoint_dir() / RELEASES[name]
    if not path.is_file():
        raise CheckpointError(f"{name}: released checkpoint file {path} is missing (set GCFLNET_CHECKPOINTS to its folder)")
    return path


def resolve_checkpoint(spec: str | os.PathLike) -> Path:
    """A checkpoint path from a path or a released name.

    A value naming an existing file is that file; a value without a folder or suffix is looked up as
    a released name; anything else is returned as a path for the loader to report.

    Raises:
        CheckpointError: a bare name that is neither a file nor a released checkpoint (lists the released ones).
    """
    text = os.fspath(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if text in RELEASES:
        return release_path(text)
    if os.sep not in text and "/" not in text and not path.suffix:
        raise CheckpointError(f"{text}: no such file and not a released checkpoint; released: {', '.join(RELEASES)}")
    return path


def available() -> dict[str, Path]:
    """Released names whose file is present, with their paths."""
    folder = checkpoint_dir()
    return {name: folder / file for name, file in RELEASES.items() if (folder / file).is_file()}
