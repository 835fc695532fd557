"""The paper's ablation (Section 4, Table 2): the 8 combinations of EEM, GLFI and MSIC, trained alike and scored.

:func:`run_ablation` trains every variant in this process through the experiment runner
(``gcflnet_lib.engine.experiments``, which also runs the NUDT-SIRST queue and the readings measurement) under one
shared :class:`~gcflnet_lib.engine.TrainConfig` (only ``model`` differs), each in ``out_dir/<variant>``, and
returns one row per variant, read back from the run folders (:func:`row_from_run`):

    name, eem, glfi, msic      the variant and its switches (registry order: unet ... gcflnet)
    params                     trainable parameters
    miou, niou, pd, fa         last-epoch test metrics (BasicIRSTD protocol; fa a fraction of pixels)
    auc_pd_fa                  the last epoch's Pd-Fa AUC over Fa in [0, 1e-4] (gcflnet_lib.metrics)
    first_loss, final_loss     mean SoftIoU loss of the first and of the last epoch
    train_seconds              training wall time
    reused                     True when a finished run with the same settings was read instead of retrained

:func:`switch_effects` reads the table the way the paper's discussion does: for each module, the
mean change of each metric when it is switched on, over the four settings of the other two.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gcflnet_lib.engine import TrainConfig
from gcflnet_lib.engine.experiments import Job, read_record, run_queue
from gcflnet_lib.engine.experiments import finished_run_matches as _finished_run_matches
from gcflnet_lib.errors import UserError
from gcflnet_lib.models.registry import VARIANTS

SWITCHES = ("eem", "glfi", "msic")
METRICS = ("miou", "niou", "pd", "fa", "auc_pd_fa")


def variants() -> dict[str, dict[str, bool]]:
    """``{name: {"eem": bool, "glfi": bool, "msic": bool}}`` for the 8 variants, in the registry's order."""
    return {name: dict(switches) for name, switches in VARIANTS.items()}


def finished_run_matches(run_dir: str | os.PathLike, config) -> bool:
    """True when ``run_dir`` holds a finished run of ``config``'s learning settings, scored with every metric of
    :data:`METRICS`, on split files not rewritten since (``engine.experiments.finished_run_matches``)."""
    return _finished_run_matches(run_dir, config, METRICS)


def row_from_run(run_dir: str | os.PathLike, reused: bool = False) -> dict[str, Any]:
    """One table row from a finished run folder (``metrics.json`` and ``history.json``).

    Raises:
        UserError: the folder holds no finished run.
    """
    run_dir = Path(run_dir)
    summary = read_record(run_dir / "metrics.json")
    history = read_record(run_dir / "history.json")
    if not isinstance(summary, dict) or not summary.get("finished") or not history:
        raise UserError(f"{run_dir}: holds no finished training run (metrics.json, history.json)")
    config = summary["model_config"]
    final = summary["final"]
    row: dict[str, Any] = {"name": config["name"]}
    row.update({switch: bool(config.get(switch, False)) for switch in SWITCHES})
    row["params"] = int(summary["parameters"])
    row.update({metric: float(final[metric]) for metric in METRICS})
    row["first_loss"] = float(history[0]["loss"])
    row["final_loss"] = float(history[-1]["loss"])
    row["train_seconds"] = float(summary.get("train_time_s", math.nan))
    row["reused"] = bool(reused)
    return row


def run_ablation(
    data_root: str | os.PathLike,
    dataset: str,
    out_dir: str | os.PathLike,
    *,
    names: Sequence[str] | None = None,
    reuse: bool = True,
    progress: bool = False,
    **train_options: Any,
) -> list[dict[str, Any]]:
    """Train and score the ablation variants alike; one row per variant (see the module docstring).

    Args:
        data_root, dataset: the standard-layout dataset (train split to learn, test split to score).
        out_dir: parent folder; variant ``NAME`` runs in ``out_dir/NAME`` (an earlier run there is replaced).
        names: the variants, default all 8 (``gcflnet_lib.models.list_models()`` order).
        reuse: read back a variant whose folder already holds a finished run with the same learning
            settings instead of training it again (so an interrupted GPU sweep continues where it stopped).
        progress: one tqdm bar per run.
        **train_options: further ``TrainConfig`` fields shared by every variant: ``epochs``, ``channels``,
            ``batch_size``, ``crop_size``, ``lr``, ``device``, ``seed``, ``eval_every``, ``amp`` ...

    Raises:
        UserError: an unknown variant name or a bad training option (the message names it).
    """
    known = variants()
    chosen = list(known) if names is None else list(names)
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise UserError(f"names: unknown variant(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                        f"choose from {', '.join(known)}")
    for reserved in ("model", "data_root", "dataset", "out_dir", "resume", "overwrite"):
        if reserved in train_options:
            raise UserError(f"{reserved}: set by run_ablation itself, not a shared training option")
    train_options.setdefault("eval_every", 0)
    train_options.setdefault("save_every", max(1, int(train_options.get("epochs", 1500))))
    out_dir = Path(out_dir)
    jobs = []
    for name in chosen:  # every variant's settings checked before anything is written
        try:
            config = TrainConfig(data_root=str(data_root), dataset=dataset, out_dir=str(out_dir / name), model=name,
                                 overwrite=True, progress=progress, **train_options)
        except TypeError as exc:
            raise UserError(f"run_ablation: {exc}") from None
        jobs.append(Job(name, config=config))
    if not reuse:
        for job in jobs:
            (Path(job.config.out_dir) / "metrics.json").unlink(missing_ok=True)  # no finished run to read back
    states = run_queue(jobs, out_dir, out_dir, say=lambda line: None, required_metrics=METRICS)
    return [row_from_run(job.config.out_dir, reused=states[job.name] == "done") for job in jobs]


def switch_effects(rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = ("params", *METRICS)
                   ) -> dict[str, dict[str, float]]:
    """For each module, the mean change of each metric when it is switched on, the other two held fixed.

    Pairs rows that differ only in that switch (4 pairs per switch for the full table) and averages
    ``row_on[metric] - row_off[metric]``; NaN metrics are left out of the mean (NaN when no pair is left).

    Returns:
        ``{"eem": {"params": ..., "miou": ...}, "glfi": {...}, "msic": {...}}``.

    Raises:
        ValueError: a switch has no on/off pair in ``rows``.
    """
    by_switches = {tuple(bool(row[s]) for s in SWITCHES): row for row in rows}
    effects: dict[str, dict[str, float]] = {}
    for index, switch in enumerate(SWITCHES):
        pairs = [(row, by_switches[key[:index] + (False,) + key[index + 1:]])
                 for key, row in by_switches.items()
                 if key[index] and key[:index] + (False,) + key[index + 1:] in by_switches]
        if not pairs:
            raise ValueError(f"rows hold no pair of variants that differ only in {switch}")
        effects[switch] = {}
        for metric in metrics:
            deltas = [float(on[metric]) - float(off[metric]) for on, off in pairs]
            deltas = [d for d in deltas if not math.isnan(d)]
            effects[switch][metric] = sum(deltas) / len(deltas) if deltas else math.nan
    return effects


# A variant whose false alarms cover this share of all pixels predicts (nearly) every pixel: it is no detector.
DEGENERATE_FA = 0.1


def degenerate(row: Mapping[str, Any], max_fa: float = DEGENERATE_FA) -> str:
    """Why a scored variant is no detector, or ``""``: ``"predicts nearly every pixel"`` when its false alarms
    cover at least ``max_fa`` of all pixels (``row["fa"]``, a fraction), ``"predicts nothing"`` when it finds
    no target and raises no false alarm (``pd == 0`` and ``fa == 0``). NaN metrics are not degenerate by themselves.
    """
    fa, pd = float(row["fa"]), float(row["pd"])
    if fa >= max_fa:
        return "predicts nearly every pixel"
    if pd == 0.0 and fa == 0.0:
        return "predicts nothing"
    return ""


def agreement_verdict(agrees: bool, compared: Sequence[Mapping[str, Any]], max_fa: float = DEGENERATE_FA) -> str:
    """``"yes"`` or ``"no"`` for whether a comparison agrees with the paper, or ``"inconclusive"`` when any row
    it compares is :func:`degenerate` (a difference between two models that predict every pixel says nothing)."""
    if any(degenerate(row, max_fa) for row in compared):
        return "inconclusive"
    return "yes" if agrees else "no"
