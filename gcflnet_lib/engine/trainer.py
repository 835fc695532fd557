"""The training loop: SoftIoU with deep supervision, AdamW, multi-step lr decay, checkpoints, evaluation.

One call of ``train(config)`` is one run in ``config.out_dir``:

    config.json    the TrainConfig, written when the run starts (removed again, with a folder the run made,
                   if the run fails before its first checkpoint)
    history.csv    one row per epoch: epoch, lr, loss, times, and the metrics of evaluated epochs
    history.json   the same rows as JSON
    last.pt        checkpoint after the latest saved epoch (every ``save_every`` epochs and the last)
    final.pt       checkpoint after the last epoch, marked finished
    metrics.json   ``{"finished": true, "final": <metrics after the last epoch>, ...}``
    .lock          held (``flock``) by the training writing the folder; names its pid (``engine.runlock``)

history.csv/.json are written right after each ``last.pt``, so they never list an epoch that
``last.pt`` does not hold (with ``save_every`` K they advance K epochs at a time). ``--overwrite``
trains into ``.staged-run/`` inside the folder and moves the new files over the old run's only once
the first checkpoint is written, so a new run that fails early leaves the old one complete.

``--resume`` keeps the saved run's batches, seed and numerics and accepts a new schedule and new run
settings, saying so in one warning line (``engine.resume``); ``config.init`` starts a new run from
trained weights (``engine.finetune``). Temporary files left by a killed write are removed at the start.

The reported result is always the last epoch's; no epoch is chosen on the test split. Under torchrun
every rank trains on its share of each global batch (see ``engine.distributed``); rank 0 alone
evaluates and writes files.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from gcflnet_lib.data.dataset import Sample, load_split, norm_stats_for
from gcflnet_lib.engine import distributed as dist_utils
from gcflnet_lib.engine import speed_paths
from gcflnet_lib.engine.checkpoint import (
    RUN_STATE_KEYS,
    capture_rng_state,
    check_weight_types,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from gcflnet_lib.engine.config import TrainConfig, multistep_factor
from gcflnet_lib.engine.cpu_memory import keep_freed_memory
from gcflnet_lib.engine.cpu_threads import Retuner
from gcflnet_lib.engine.device import make_generator, resolve_device, seed_everything
from gcflnet_lib.engine.evaluation import evaluate_model, scalar_metrics
from gcflnet_lib.engine.finetune import load_init
from gcflnet_lib.engine.health import HEALTH_CROP_SIZE, health_of_samples
from gcflnet_lib.engine.overlap import dataset_inputs, refuse_overlap, resolved
from gcflnet_lib.engine.param_groups import group_weight_decay, parameter_groups
from gcflnet_lib.engine.pipeline import DeviceTrainSet
from gcflnet_lib.engine.resume import notice, refusal, resume_changes
from gcflnet_lib.engine.runlock import RunLock
from gcflnet_lib.engine.trainable import check_batchnorm_batch
from gcflnet_lib.errors import CheckpointError, DataError, OutputError, UserError
from gcflnet_lib.files import (
    atomic_write_csv,
    atomic_write_json,
    check_output_dir,
    describe_os_error,
    remove_stale_temps,
)
from gcflnet_lib.losses import deep_supervision_loss
from gcflnet_lib.models import build_model, config_differences
from gcflnet_lib.models.readings import plain
from gcflnet_lib.released import resolve_checkpoint

AMP_TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class NonFiniteLossError(UserError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


class RunFiles:
    """The files of a run folder."""

    NAMES = ("last.pt", "final.pt", "metrics.json", "history.csv", "history.json", "config.json")

    def __init__(self, out_dir: str | Path) -> None:
        self.out = Path(out_dir)
        self.last = self.out / "last.pt"
        self.final = self.out / "final.pt"
        self.metrics = self.out / "metrics.json"
        self.history_csv = self.out / "history.csv"
        self.history_json = self.out / "history.json"
        self.config = self.out / "config.json"

    def finished(self) -> bool:
        if self.final.exists():
            return True
        try:
            return bool(json.loads(self.metrics.read_text()).get("finished"))
        except (OSError, ValueError, AttributeError):
            return False

    def holds_run(self) -> bool:
        return self.last.exists() or self.finished()

    def remove(self) -> None:
        for name in self.NAMES:
            (self.out / name).unlink(missing_ok=True)


class StagedRun:
    """A new run trained under ``--overwrite`` into ``OUT/.staged-run`` until its first checkpoint exists.

    ``promote()`` then moves its files over the old run's: first the old run's "finished" markers go
    (final.pt, metrics.json), then last.pt, then history and config, each with ``os.replace``. Until then
    the old run in ``OUT`` is complete; a failed new run only leaves the staging folder, which ``discard()``
    (or, after a kill, the next training into ``OUT``) removes.
    """

    NAME = ".staged-run"

    def __init__(self, files: RunFiles) -> None:
        self.target = files
        stage = files.out / self.NAME
        shutil.rmtree(stage, ignore_errors=True)
        try:
            stage.mkdir()
        except OSError as exc:
            raise OutputError(describe_os_error(exc, stage)) from None
        self.files = RunFiles(stage)

    def promote(self) -> RunFiles:
        order = ("final.pt", "metrics.json", "last.pt", "history.json", "history.csv", "config.json")
        order += tuple(name for name in RunFiles.NAMES if name not in order)
        try:
            for name in order:
                staged, old = self.files.out / name, self.target.out / name
                if staged.exists():
                    os.replace(staged, old)
                else:
                    old.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(describe_os_error(exc, self.target.out)) from exc
        self.discard()
        return self.target

    def discard(self) -> None:
        shutil.rmtree(self.files.out, ignore_errors=True)


def _check_run_dir(config: TrainConfig, files: RunFiles, load: bool = True) -> dict[str, Any] | None:
    """Refuse to clobber a run; return the checkpoint to resume from (or None for a fresh run).

    Called twice: before any work without ``load`` (nothing is read or created), and again once the run
    folder is locked, when another training may have changed it meanwhile.
    """
    check_output_dir(files.out, "--out")
    # Outputs never overwrite inputs: a run folder inside the dataset's images/ masks/ img_idx/ is refused.
    refuse_overlap(files.out, "--out", dataset_inputs(config.data_root), "folder")
    if config.resume and config.overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    if config.init and not config.resume:
        _refuse_init_in_run(config.init, files)
    if config.resume:
        if not files.last.exists():
            raise CheckpointError(f"{files.last}: no checkpoint to resume from (--resume)")
        if not load:
            return None
        state = load_checkpoint(files.last, map_location="cpu")
        missing = [key for key in RUN_STATE_KEYS if key not in state]
        if missing:  # a released checkpoint copied in as last.pt: weights, but no run to continue
            raise CheckpointError(f"{files.last}: holds weights only (no {', '.join(missing)}), not a run to --resume; "
                                  f"start a new run from them with --init {files.last} and another --out")
        return state
    if files.holds_run() and not config.overwrite:
        kind = "a finished run" if files.finished() else "an unfinished run (last.pt)"
        raise UserError(f"{files.out}: holds {kind}; pass --resume to continue it or --overwrite to replace it")
    return None


def _refuse_init_in_run(spec: str, files: RunFiles) -> None:
    """Refuse ``--init`` naming one of the files this run writes (its old ``last.pt`` under ``--overwrite``)."""
    source = resolved(resolve_checkpoint(spec))
    for name in RunFiles.NAMES:
        if source == resolved(files.out / name):
            raise UserError(f"{spec}: --init is {files.out / name}, a file this training writes; "
                            "copy it elsewhere first or choose another --out")


def _load_data(config: TrainConfig) -> tuple[list[Sample], list[Sample]]:
    root = Path(config.data_root)
    if not root.is_dir():
        raise DataError(f"{root}: --data folder not found")
    return load_split(root, config.dataset, "train"), load_split(root, config.dataset, "test")


def model_from_config(config: TrainConfig) -> nn.Module:
    try:
        return build_model(config.model, **config.model_kwargs())
    except (ValueError, TypeError) as exc:
        raise UserError(f"--model {config.model}: {str(exc).strip().splitlines()[0]}") from exc


def _check_resume_fits(state: dict[str, Any], net: nn.Module, config: TrainConfig, path: Path) -> None:
    differences = config_differences(state["model_config"], getattr(net, "config", {}))
    if differences:
        saved_name = state["model_config"].get("name")
        raise CheckpointError(f"{path}: checkpoint is for model {saved_name!r} as saved, not as asked: "
                              f"{'; '.join(differences)} (check --model, --channels and the reading flags)")
    saved_exclude = bool((state.get("train_config") or {}).get("decay_exclude", False))
    if saved_exclude != config.decay_exclude:
        raise CheckpointError(f"{path}: checkpoint was trained with decay_exclude={saved_exclude}, "
                              f"this run asks for decay_exclude={config.decay_exclude} (--decay-exclude)")
    if state.get("dataset") != config.dataset:
        raise CheckpointError(f"{path}: checkpoint was trained on {state.get('dataset')!r}, not --dataset {config.dataset!r}")
    if int(state["epoch"]) > config.epochs:
        raise UserError(f"{path}: checkpoint already holds {state['epoch']} epochs, more than --epochs {config.epochs}")
    check_weight_types(state.get("model", {}), net, path)
    _state_what_wins(state, config, path)


def _state_what_wins(state: dict[str, Any], config: TrainConfig, path: Path) -> None:
    """Refuse settings a resumed run cannot change; name the accepted changes in one warning (``engine.resume``)."""
    saved = state.get("train_config") or {}
    accepted, refused = resume_changes(saved, config)
    if refused:
        raise UserError(refusal(path, refused))
    if not accepted:
        return
    moved = None
    try:
        before = dataclasses.replace(config, epochs=int(saved["epochs"]), milestones=saved.get("milestones"),
                                     resume=False, threads=None).resolved_milestones
        if before != config.resolved_milestones:
            moved = (before, config.resolved_milestones)
    except (KeyError, TypeError, ValueError, UserError):
        pass  # an older record without these keys: the schedule line is left out
    warnings.warn(notice(int(state["epoch"]), accepted, moved), stacklevel=3)


def _amp_settings(config: TrainConfig, device: torch.device) -> tuple[bool, torch.dtype]:
    dtype = AMP_TORCH_DTYPES[config.amp_dtype]
    enabled = bool(config.amp) and device.type == "cuda"
    if enabled and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise UserError(f"--amp-dtype bf16: {torch.cuda.get_device_name(device)} lacks bf16; use --amp-dtype fp16 or --no-amp")
    return enabled, dtype


def train(config: TrainConfig) -> dict[str, Any]:
    """Run (or resume) one training run as ``config`` describes; see the module docstring for its files.

    Returns:
        ``{"run_dir", "epochs", "history": [per-epoch rows], "final": metrics after the last epoch (None on
        ranks other than 0), "model": the trained model (bare, on the training device)}``.

    Raises:
        UserError (and its DataError/CheckpointError): bad data, flags, run folder or checkpoint.
        NonFiniteLossError: the loss went NaN/inf (names the epoch and step; last.pt is kept as it was).
    """
    ctx = dist_utils.context_from_env()
    device = resolve_device(config.device)
    owns_group = ctx.enabled and not torch.distributed.is_initialized()
    device = dist_utils.init_process_group(ctx, device)
    try:
        return _train(config, ctx, device)
    finally:
        if owns_group:
            dist_utils.destroy_process_group(ctx)


def _train(config: TrainConfig, ctx: dist_utils.DistContext, device: torch.device) -> dict[str, Any]:
    files = RunFiles(config.out_dir)
    _check_run_dir(config, files, load=False)
    check_batchnorm_batch(config)  # before a run folder exists
    train_samples, test_samples = _load_data(config)
    init = load_init(config.init, model_from_config(config)) if config.init and not config.resume else None
    lock = RunLock(files.out) if ctx.is_main else None
    try:
        stale = files.out / StagedRun.NAME
        if ctx.is_main and stale.exists():
            shutil.rmtree(stale, ignore_errors=True)
            warnings.warn(f"{stale}: removed a staged run left by an interrupted --overwrite training", stacklevel=2)
        if ctx.is_main:
            for name in RunFiles.NAMES:  # what a kill -9 during a save left behind, as big as a checkpoint
                remove_stale_temps(files.out / name)
        return _run(config, ctx, device, files, train_samples, test_samples, init)
    finally:
        if lock is not None:
            lock.release()


@dataclass
class _Run:
    """What one run holds while its epochs go by: the model and its optimizer state, the data, the files."""

    config: TrainConfig
    ctx: dist_utils.DistContext
    device: torch.device
    files: RunFiles
    net: nn.Module
    data: DeviceTrainSet
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    mean: float
    std: float
    amp_enabled: bool
    amp_dtype: torch.dtype
    part: Any = None  # this rank's slice of each global batch under torchrun
    init_info: dict[str, Any] | None = None
    start_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    fresh: bool = True
    staging: StagedRun | None = None
    write_files: RunFiles | None = None  # the staged folder until the first checkpoint of an --overwrite run

    @property
    def on_gpu(self) -> bool:
        return self.device.type == "cuda"


@dataclass
class _Step:
    """How a training step runs: eagerly, compiled on its first call, or as a captured whole-step graph."""

    model: nn.Module  # what the step calls: the net, its DDP wrapper, or their compiled form
    eager: nn.Module
    path: str
    graph_pending: bool
    compile_pending: bool
    mark_graph_steps: bool
    graph: Any = None
    reduce: Any = None


def _build(config: TrainConfig, ctx: dist_utils.DistContext, device: torch.device, files: RunFiles,
           train_samples: list[Sample], resume_state: dict[str, Any] | None,
           init: tuple[dict[str, Any], dict[str, Any]] | None) -> _Run:
    """The model (fresh, from ``--init`` weights, or checked against the run to resume), data and optimizer."""
    if resume_state is not None:
        mean, std = float(resume_state["norm"]["mean"]), float(resume_state["norm"]["std"])
    else:
        mean, std = norm_stats_for(config.dataset, train_samples)
    amp_enabled, amp_dtype = _amp_settings(config, device)
    seed_everything(config.seed)
    net = model_from_config(config)
    if resume_state is not None:
        _check_resume_fits(resume_state, net, config, files.last)
    elif init is not None:
        net.load_state_dict(init[0])  # weights only: optimizer, schedule and random streams start afresh
    if ctx.enabled:
        dist_utils.convert_sync_batchnorm(net, device)
    net.to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if config.channels_last:  # on a CPU too: oneDNN trains faster so (benchmarks/bench_cpu_layout.py)
        net.to(memory_format=torch.channels_last)
    data = DeviceTrainSet(train_samples, mean, std, device, config.crop_size, config.p_target)
    data.steps_per_epoch(config.batch_size)  # fails early on a batch larger than the split
    optimizer = torch.optim.AdamW(
        parameter_groups(net, config.weight_decay, config.decay_exclude),
        lr=config.lr,
        weight_decay=config.weight_decay,
        **({"fused": True} if device.type == "cuda" else {}),
    )
    milestones = config.resolved_milestones
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: multistep_factor(epoch, milestones, config.gamma))
    return _Run(
        config=config, ctx=ctx, device=device, files=files, net=net, data=data, optimizer=optimizer, scheduler=scheduler,
        scaler=torch.amp.GradScaler("cuda", enabled=amp_enabled and amp_dtype == torch.float16),
        # CPU generator: the transforms draw their random numbers on the CPU, so runs repeat on any device.
        generator=make_generator(torch.device("cpu"), config.seed),
        mean=mean, std=std, amp_enabled=amp_enabled, amp_dtype=amp_dtype,
        part=dist_utils.shard_slice(config.batch_size, ctx) if ctx.enabled else None,
        # Which weights the run started from: this run's --init, or what the resumed run recorded.
        init_info=init[1] if init is not None else (resume_state or {}).get("init"),
    )


def _restore(run: _Run, state: dict[str, Any]) -> None:
    """Continue a saved run: weights, optimizer, schedule, scaler and random streams, under this call's flags."""
    config = run.config
    run.start_epoch = int(state["epoch"])
    run.history = list(state.get("history", []))
    run.fresh = False
    run.net.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    # The flags of this invocation rule: lr, weight decay and milestones may differ from the saved run.
    run.scheduler.base_lrs = [config.lr for _ in run.optimizer.param_groups]
    for group in run.optimizer.param_groups:
        group["initial_lr"] = config.lr
        group["weight_decay"] = group_weight_decay(group, config.weight_decay)
        group["lr"] = config.lr * multistep_factor(run.start_epoch, config.resolved_milestones, config.gamma)
    if state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    if not restore_rng_state(state["rng"], run.generator):
        warnings.warn("crop generator state is from another device type; reseeded", stacklevel=3)
        run.generator.manual_seed(config.seed + run.start_epoch)


def _stage(run: _Run) -> None:
    """Where the run writes: its folder, or for ``--overwrite`` of a complete run a staged folder inside it, so
    the old run stays complete until the new one has a checkpoint."""
    if run.fresh and run.ctx.is_main and run.config.overwrite:
        if run.files.holds_run():
            run.staging = StagedRun(run.files)
        else:
            run.files.remove()  # leftovers of a run that never wrote a checkpoint
    run.write_files = run.staging.files if run.staging is not None else run.files


def _step_for(run: _Run) -> _Step:
    """The step as ``--speed-path`` asks for it (DDP under torchrun; compiled or graph paths where they apply)."""
    model: nn.Module = run.net
    if run.ctx.enabled:
        model = torch.nn.parallel.DistributedDataParallel(run.net, device_ids=[run.device.index] if run.on_gpu else None)
    path = run.config.resolved_speed_path
    step = _Step(
        model=model, eager=model, path=path,
        graph_pending=speed_paths.uses_graph(path) and _graph_path_applies(path, run.ctx, run.scaler, run.device),
        compile_pending=speed_paths.compile_mode(path) is not None and not speed_paths.uses_graph(path),
        mark_graph_steps=path == "reduce-overhead" and run.on_gpu,
        reduce=dist_utils.all_reduce_sum if run.ctx.enabled else None,
    )
    if step.compile_pending:
        step.model = speed_paths.compile_model(model, path)
    return step


def _checkpoint_state(run: _Run, epoch: int, finished: bool) -> dict[str, Any]:
    return {
        "model": run.net.state_dict(),
        "model_config": plain(run.net.config),
        "optimizer": speed_paths.plain_optimizer_state(run.optimizer.state_dict()),
        "scheduler": run.scheduler.state_dict(),
        "scaler": run.scaler.state_dict(),
        "rng": capture_rng_state(run.generator),
        "epoch": epoch,
        "train_config": run.config.to_dict(),
        "norm": {"mean": float(run.mean), "std": float(run.std)},
        "dataset": run.config.dataset,
        "history": run.history,
        "finished": finished,
        "world_size": run.ctx.world_size,
        **({"init": run.init_info} if run.init_info else {}),
    }


def _forward_backward(run: _Run, step: _Step, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if step.mark_graph_steps:
        torch.compiler.cudagraph_mark_step_begin()  # inductor's graphs may reuse the last step's outputs
    with torch.autocast(run.device.type, dtype=run.amp_dtype, enabled=run.amp_enabled):
        outputs = model(x)
    # Outside autocast: the SoftIoU sums are taken in float32.
    loss = deep_supervision_loss(outputs, y, all_reduce=step.reduce)
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    return loss


def _train_step(run: _Run, step: _Step, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One optimizer step on a batch; the first one builds the graph or compiled form the path asks for."""
    if step.graph_pending:
        precision = speed_paths.Precision(run.device.type, run.amp_dtype if run.amp_enabled else None)
        step.graph = _first_graph_step(step.path, run.net, run.optimizer, x, y, precision)
        step.graph_pending = False
    if step.graph is not None:
        return step.graph(x, y)  # forward, loss, backward and AdamW in one replay
    if step.compile_pending:
        loss, step.model = _first_compiled_step(partial(_forward_backward, run, step), step.model, step.eager, run.net, x, y)
        step.compile_pending = False
    else:
        loss = _forward_backward(run, step, step.model, x, y)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    return loss


def _train_one_epoch(run: _Run, step: _Step, epoch: int) -> dict[str, Any]:
    """Train one epoch; its history row (epoch, lr, mean loss, time). A NaN or inf loss stops the run."""
    config = run.config
    epoch_start = time.perf_counter()
    lr = run.optimizer.param_groups[0]["lr"]
    if isinstance(lr, torch.Tensor):  # the graph paths: LambdaLR's value, not its float32 copy on the GPU
        lr = config.lr * multistep_factor(epoch, config.resolved_milestones, config.gamma)
    step.model.train()
    losses = []
    for x, y in run.data.epoch(config.batch_size, run.generator, run.part):
        if config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        losses.append(_train_step(run, step, x, y).detach())
    run.scheduler.step()
    if step.graph is not None:
        step.graph.sync_learning_rates()
    # One host sync per epoch: the finite check runs over all the epoch's losses at once.
    loss_values = torch.stack(losses).float().cpu()
    finite = torch.isfinite(loss_values)
    if not bool(finite.all()):
        index = int((~finite).nonzero()[0, 0]) + 1
        kept = f"{run.files.last} is kept as it was" if run.files.last.exists() else "no checkpoint was written"
        raise NonFiniteLossError(
            f"loss is {float(loss_values[index - 1])} at epoch {epoch + 1}, step {index}; "
            f"training stopped and {kept} (try a lower --lr)"
        )
    return {"epoch": epoch + 1, "lr": lr, "loss": float(loss_values.mean()),
            "train_time_s": round(time.perf_counter() - epoch_start, 4)}


def _evaluate_and_save(run: _Run, row: dict[str, Any], test_samples: list[Sample]) -> dict[str, Any] | None:
    """Score the epoch when it is due (returns the metrics of the last epoch), add its row, and checkpoint
    when due: ``last.pt`` first, then the history, so the history never runs ahead of the checkpoint."""
    config, done = run.config, row["epoch"]
    is_last = done == config.epochs
    final = None
    evaluated = is_last or (config.eval_every and done % config.eval_every == 0)
    if run.ctx.is_main and (evaluated or (config.health_every and done % config.health_every == 0)):
        row.update(_skip_health_columns(run, test_samples))
    if evaluated:
        if run.ctx.is_main:
            eval_start = time.perf_counter()
            # The curves (hundreds of thresholds) only at the end: history rows keep the numbers at 0.5.
            result = evaluate_model(_net_to_evaluate(run), test_samples, run.device, run.mean, run.std,
                                    config.eval_batch_size, curves=is_last)
            row.update(scalar_metrics(result))
            row["eval_time_s"] = round(time.perf_counter() - eval_start, 4)
            final = result if is_last else None
        dist_utils.barrier(run.ctx)
    run.history.append(row)
    if run.ctx.is_main and (is_last or done % config.save_every == 0):
        save_checkpoint(run.write_files.last, _checkpoint_state(run, done, finished=False))
        atomic_write_csv(run.write_files.history_csv, run.history)
        atomic_write_json(run.write_files.history_json, run.history)
        if run.staging is not None:
            run.write_files, run.staging = run.staging.promote(), None
    return final


def _skip_health_columns(run: _Run, test_samples: list[Sample]) -> dict[str, Any]:
    """The skip-health columns of a history row (``gcflnet_lib.engine.health``); {} where they cannot be measured
    (a model without skips, a test split without targets or with images under 128x128)."""
    net = _net_to_evaluate(run)
    stride = int(getattr(net, "size_multiple", 1))
    smallest = min((min(sample.image.shape[:2]) for sample in test_samples), default=0)
    size = min(HEALTH_CROP_SIZE, smallest // stride * stride)  # small test images: crops of their size
    try:
        return health_of_samples(net, test_samples, run.mean, run.std, size=size).row() if size > 0 else {}
    except (ValueError, DataError):
        return {}


def _net_to_evaluate(run: _Run) -> nn.Module:
    """The network to score: on a CPU a plain-layout copy of a channels-last one.

    ``gcflnet evaluate`` loads the saved weights into a plain (NCHW) network; a channels-last network gives the
    same maps only up to rounding, so a CPU run scores an NCHW copy and its record's metrics are the checkpoint's
    to the last digit. (On a GPU the network is left as it is: a captured CUDA graph holds its weights' memory.)
    """
    if run.on_gpu or not run.config.channels_last:
        return run.net
    return copy.deepcopy(run.net).to(memory_format=torch.contiguous_format)


def _progress_postfix(history: list[dict[str, Any]]) -> dict[str, str]:
    """The progress bar's numbers: the latest loss, and the latest evaluated mIoU, Pd and Fa."""
    shown = {"loss": f"{history[-1]['loss']:.4f}"}
    latest = next((r for r in reversed(history) if "miou" in r), None)
    if latest is not None:
        shown.update(miou=f"{latest['miou']:.4f}", pd=f"{latest['pd']:.4f}", fa=f"{latest['fa'] * 1e6:.1f}e-6")
    return shown


def _finish(run: _Run, final: dict[str, Any] | None, test_samples: list[Sample], run_start: float) -> dict[str, Any]:
    """``final.pt`` and ``metrics.json`` (rank 0), then the result of :func:`train`."""
    config, net = run.config, run.net
    if run.ctx.is_main:
        if final is None:  # resumed at (or past) the last epoch: score the weights as they are
            final = evaluate_model(net, test_samples, run.device, run.mean, run.std, config.eval_batch_size)
        save_checkpoint(run.files.final, _checkpoint_state(run, config.epochs, finished=True))
        atomic_write_json(run.files.metrics, {
            "finished": True,
            "epochs": config.epochs,
            "final": final,
            "model_config": plain(net.config),
            "dataset": config.dataset,
            "norm": {"mean": float(run.mean), "std": float(run.std)},
            "parameters": sum(p.numel() for p in net.parameters()),
            "device": str(run.device),
            "world_size": run.ctx.world_size,
            "train_time_s": round(time.perf_counter() - run_start, 3),
            "train_config": config.to_dict(),
            **({"init": run.init_info} if run.init_info else {}),
        })
    dist_utils.barrier(run.ctx)
    return {"run_dir": str(run.files.out), "epochs": config.epochs, "history": run.history, "final": final, "model": net,
            "init": run.init_info}


def _run(config: TrainConfig, ctx: dist_utils.DistContext, device: torch.device, files: RunFiles,
         train_samples: list[Sample], test_samples: list[Sample],
         init: tuple[dict[str, Any], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Build, restore, stage, then one epoch after another (evaluate and save when due), then finish."""
    resume_state = _check_run_dir(config, files)
    run = _build(config, ctx, device, files, train_samples, resume_state, init)
    if resume_state is not None:
        _restore(run, resume_state)
    del resume_state
    _stage(run)
    dist_utils.barrier(ctx)
    step = _step_for(run)
    if ctx.is_main:
        atomic_write_json(run.write_files.config, config.to_dict())
    # A new run that fails before its first checkpoint (out of memory, a NaN loss, Ctrl-C) leaves no half
    # run folder: config.json goes again, and the lock removes a folder it created.
    fresh_config = run.write_files.config if ctx.is_main and run.fresh and run.staging is None else None
    bar = tqdm(total=config.epochs, initial=run.start_epoch, desc=f"train {config.model}", unit="epoch",
               disable=not (config.progress and ctx.is_main), dynamic_ncols=True)
    final: dict[str, Any] | None = None
    run_start = time.perf_counter()
    retune = Retuner(config.threads) if device.type == "cpu" and config.threads is not None else None
    if device.type == "cpu":
        keep_freed_memory()  # no page faults from glibc re-mapping the step's buffers (engine/cpu_memory.py)
    try:
        for epoch in range(run.start_epoch, config.epochs):
            if retune is not None:
                retune()  # follow the cores other processes leave free
            row = _train_one_epoch(run, step, epoch)
            if retune is not None:
                row["threads"] = retune.threads
            final = _evaluate_and_save(run, row, test_samples) or final
            bar.update(1)
            bar.set_postfix(_progress_postfix(run.history))
    except BaseException:
        if fresh_config is not None and not files.last.exists():
            fresh_config.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
        if run.staging is not None:
            run.staging.discard()
    return _finish(run, final, test_samples, run_start)


def _first_compiled_step(forward_backward, compiled: nn.Module, eager: nn.Module, net: nn.Module, x, y):
    """The first step of a ``--compile`` run; if compiling fails, warn and redo the step eagerly.

    torch.compile compiles lazily (the backward at the first backward call) and fails for some ops on
    some backends. A failed attempt has changed no weights, only BatchNorm running statistics, which
    are restored, so the eager run continues exactly as if --compile had not been given.
    """
    buffers = {name: value.clone() for name, value in net.named_buffers()}
    try:
        return forward_backward(compiled, x, y), compiled
    except Exception as exc:  # noqa: BLE001 - any compiler failure; a real model error re-raises below
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        warnings.warn(f"--compile: torch.compile failed ({type(exc).__name__}: {first_line}); training continues "
                      "without it", stacklevel=2)
        with torch.no_grad():
            for name, value in net.named_buffers():
                value.copy_(buffers[name])
        return forward_backward(eager, x, y), eager


def _graph_path_applies(path: str, ctx: dist_utils.DistContext, scaler, device: torch.device) -> bool:
    """Whether ``path``'s whole-step graph can run here; if not, one warning and the run goes on eagerly."""
    why = None
    if ctx.enabled:
        why = "not under torchrun (the gradients' all-reduce is not in the graph)"
    elif scaler.is_enabled():
        why = "not with --amp-dtype fp16 (the GradScaler reads its inf check on the host)"
    if why is not None:
        warnings.warn(f"--speed-path {path}: {why}; training continues eagerly", stacklevel=3)
        return False
    if device.type != "cuda":
        warnings.warn(f"--speed-path {path}: no CUDA device; the step runs uncaptured on the static buffers", stacklevel=3)
    return True


def _first_graph_step(path: str, net: nn.Module, optimizer, x, y, precision):
    """The whole-step graph of ``path`` built on the first batch, or None after a one-line warning.

    ``GraphStep`` writes the weights, buffers and optimizer state back after its warm-up, also when the
    capture fails, so an eager run that follows continues exactly where it would have started.
    """
    settings = [(group["lr"], group.get("capturable", False)) for group in optimizer.param_groups]
    try:
        return speed_paths.build_step(path, net, optimizer, x, y, precision)
    except Exception as exc:  # noqa: BLE001 - any compiler or capture failure; a model error re-raises eagerly
        for group, (lr, capturable) in zip(optimizer.param_groups, settings):  # the eager step's own settings
            group["lr"], group["capturable"] = lr, capturable
        warnings.warn(f"--speed-path {path}: {speed_paths.one_line(exc)}; training continues eagerly", stacklevel=2)
        return None
