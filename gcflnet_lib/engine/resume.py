"""What ``--resume`` does with settings that differ from the saved run's: which win, and which are refused.

``gcflnet train --resume`` continues the run in ``--out`` from ``last.pt``. On the command line, a flag
left out takes the saved run's value (``gcflnet_lib.commands.train``), so repeating the first command with
``--resume`` added, or giving only ``--data``, ``--dataset`` and ``--out``, continues exactly. A flag
given with another value than the saved one is one of two kinds:

- **accepted** (:data:`ACCEPTED`): the schedule from the resumed epoch on (``--epochs``, ``--lr``,
  ``--milestones``, ``--gamma``, ``--weight-decay``) and how the run is carried out (evaluation and save
  intervals, device, threads, ``--compile``, ``--channels-last``, where ``--data`` lies). One warning
  line lists them, with the saved values.
- **refused** (:data:`REFUSED`): what defines the run itself, its batches (``--batch-size``,
  ``--crop-size``, ``--p-target``), its random streams (``--seed``: the saved generators are restored,
  so another seed would change nothing), its numerics (``--amp``, ``--amp-dtype``) and its starting
  weights (``--init``). The refusal names each flag with the saved and the given value.

The model, its readings, ``--dataset`` and ``--decay-exclude`` are refused by the trainer's own checks.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

ACCEPTED = ("epochs", "lr", "milestones", "gamma", "weight_decay", "eval_every", "save_every", "health_every",
            "eval_batch_size",
            "device", "threads", "compile", "channels_last", "data_root", "progress")
REFUSED = ("batch_size", "crop_size", "p_target", "seed", "amp", "amp_dtype", "init")
_FLAG_NAMES = {"data_root": "--data"}
_QUIET = ("progress",)  # accepted without a word: it changes nothing the run computes


class Change(NamedTuple):
    """A setting whose given value differs from the saved run's."""

    flag: str
    saved: Any
    given: Any

    def __str__(self) -> str:
        return f"{self.flag} {show(self.given)} (saved {show(self.saved)})"


def flag_of(key: str) -> str:
    """The command-line flag of a ``TrainConfig`` field: ``crop_size`` -> ``--crop-size``."""
    return _FLAG_NAMES.get(key, "--" + key.replace("_", "-"))


def show(value: Any) -> str:
    """A setting as typed on the command line: ``(1, 5)`` -> ``1,5``, ``None`` -> ``default``."""
    if value is None:
        return "default"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _same(key: str, saved: Any, given: Any) -> bool:
    if isinstance(saved, (list, tuple)) and isinstance(given, (list, tuple)):
        return list(saved) == list(given)
    if key == "data_root" and saved is not None and given is not None:
        # The same folder reached by another path (relative, absolute, a link) is the same data.
        return saved == given or os.path.realpath(saved) == os.path.realpath(given)
    return saved == given


def resume_changes(saved: Mapping[str, Any], config) -> tuple[list[Change], list[Change]]:
    """``(accepted, refused)``: the settings of ``config`` (a ``TrainConfig``) that differ from ``saved``.

    ``saved`` is the run's stored ``train_config``; keys it lacks (a run of an older version) are not compared.
    """
    given = dataclasses.asdict(config)
    accepted = [Change(flag_of(key), saved[key], given[key]) for key in ACCEPTED
                if key in saved and key not in _QUIET and not _same(key, saved[key], given[key])]
    refused = [Change(flag_of(key), saved[key], given[key]) for key in REFUSED
               if key in saved and not _same(key, saved[key], given[key])]
    return accepted, refused


def refusal(path: os.PathLike | str, refused: list[Change]) -> str:
    """The one-line message for settings ``--resume`` cannot change."""
    return (f"{path}: --resume continues the saved run, but {', '.join(map(str, refused))} differ from it; "
            "leave them out to continue it, or start a new run (--overwrite or another --out)")


def notice(start_epoch: int, accepted: list[Change], milestones: tuple[tuple[int, ...], tuple[int, ...]] | None) -> str:
    """The one warning line for accepted changes; ``milestones`` = (saved, now) when the lr schedule moved."""
    moved = f"; lr milestones now {show(milestones[1])} (saved {show(milestones[0])})" if milestones else ""
    return (f"--resume: continuing from epoch {start_epoch} with {', '.join(map(str, accepted))}{moved}; "
            f"these apply from epoch {start_epoch + 1} on")
