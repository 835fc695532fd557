"""Starting a new run from trained weights: ``gcflnet train --init CHECKPOINT`` (fine-tuning).

``CHECKPOINT`` is a released name (``gcflnet-cpu-nuaa-sirst``) or any checkpoint path, a run's
``final.pt`` or ``last.pt`` included. Only its weights are taken: the optimizer, the lr schedule and
the random streams start afresh from this run's flags, and the normalisation is this run's dataset's
(as for any new run). On the command line the model flags left out (``--model``, ``--channels``,
the readings) take the checkpoint's values; given ones must match it. The run's checkpoints,
``metrics.json`` and ``--record`` say which file it started from (path, SHA-256, epoch, dataset).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from gcflnet_lib.engine.checkpoint import check_weight_types, load_checkpoint
from gcflnet_lib.errors import CheckpointError
from gcflnet_lib.models import READING_DEFAULTS, config_differences, upgrade_config
from gcflnet_lib.provenance import file_sha256
from gcflnet_lib.released import resolve_checkpoint


def model_settings(model_config: dict[str, Any]) -> dict[str, Any]:
    """The ``TrainConfig`` model fields a checkpoint's ``model_config`` implies (name, widths, readings)."""
    config = upgrade_config(model_config)
    settings = {"model": config["name"], "channels": tuple(config["channels"]) if config.get("channels") else None}
    settings.update({key: config[key] for key in READING_DEFAULTS if key in config})
    return settings


def init_record(spec: str, path: Path, state: dict[str, Any]) -> dict[str, Any]:
    """Which weights a run started from, for its checkpoints, ``metrics.json`` and results record."""
    return {"checkpoint": str(spec), "path": str(path), "sha256": file_sha256(path), "epoch": state["epoch"],
            "dataset": state.get("dataset"), "model": state["model_config"].get("name")}


def load_init(spec: str, net: nn.Module) -> tuple[dict[str, Any], dict[str, Any]]:
    """The weights of checkpoint ``spec`` checked against ``net`` (not loaded into it), and their record.

    Raises:
        CheckpointError: unreadable or damaged file, weights of another model or of an integer type.
    """
    path = resolve_checkpoint(spec)
    state = load_checkpoint(path, map_location="cpu")
    differences = config_differences(state["model_config"], getattr(net, "config", {}))
    if differences:
        raise CheckpointError(f"{spec}: --init weights are for another model than this run builds: {'; '.join(differences)} "
                              "(leave out --model, --channels and the reading flags to take the checkpoint's)")
    check_weight_types(state["model"], net, path)
    return state["model"], init_record(spec, path, state)
