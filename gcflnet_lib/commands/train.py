"""``gcflnet train``: train a model on a standard-layout dataset; the paper's settings are the defaults.

Runs unchanged under ``torchrun --nproc_per_node=N`` (DistributedDataParallel; NCCL on GPUs, gloo on CPUs).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from gcflnet_lib.commands.arguments import add_device
from gcflnet_lib.engine.config import AMP_DTYPES, TrainConfig

NAME = "train"
HELP = "Train GCFLNet (or a variant / the U-Net) on a standard-layout dataset; writes checkpoints and metrics to --out."


def int_list(text: str) -> tuple[int, ...]:
    """``"16,32,64"`` -> (16, 32, 64); argparse turns the error into a one-line usage message.

    An empty entry (``4,,8``, a trailing comma) is refused rather than skipped: it is most often a
    number lost while editing the command, and reading ``4,,8`` as ``4,8`` builds another model.
    """
    parts = text.split(",")
    if any(not part.strip() for part in parts) and text.strip():
        raise argparse.ArgumentTypeError(f"empty entry in {text!r}; expected comma-separated integers such as 16,32,64")
    try:
        values = tuple(int(part) for part in parts if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TrainConfig(data_root="", dataset="", out_dir="")
    data = parser.add_argument_group("data and output")
    data.add_argument("--data", required=True, metavar="ROOT", help="dataset root with images/, masks/, img_idx/")
    data.add_argument("--dataset", required=True, metavar="NAME", help="split files img_idx/{train,test}_NAME.txt")
    data.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder for checkpoints, history and metrics")
    data.add_argument("--resume", action="store_true",
                      help="continue the run in --out from its last.pt; flags left out keep the saved values, a new "
                      "schedule (--epochs, --lr, --milestones, ...) is accepted, other changes are refused")
    data.add_argument("--init", default=None, metavar="CHECKPOINT",
                      help="start a new run from these weights (a released name such as gcflnet-cpu-nuaa-sirst, or a "
                      ".pt) with a fresh optimizer and schedule; model flags left out take the checkpoint's")
    data.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    data.add_argument("--record", default=None, metavar="JSON",
                      help="also write a results record (command, commit, device, wall time, history, final metrics)")

    data.add_argument("--preset", default=None, metavar="NAME",
                      help="fill the settings not given from a named recipe: cpu (NUAA-SIRST on a 2-core CPU in under an hour), "
                      "cpu-nudt (the same number of steps on NUDT-SIRST) or paper")

    model = parser.add_argument_group("model")
    model.add_argument("--model", default=defaults.model,
                       help="gcflnet (default), unet, an ablation variant or unet_wide (the U-Net at gcflnet's size)")
    model.add_argument("--channels", type=int_list, default=None, metavar="C1,C2,...",
                       help="encoder widths per level (default 16,32,64,128,256)")
    add_reading_arguments(model)

    opt = parser.add_argument_group("optimisation (paper: AdamW, batch 16, 1500 epochs, multi-step decay)")
    opt.add_argument("--epochs", type=int, default=None, help=f"total epochs (default {defaults.epochs})")
    opt.add_argument("--batch-size", type=int, default=None,
                     help=f"global batch, split across processes (default {defaults.batch_size})")
    opt.add_argument("--crop-size", type=int, default=None, help=f"training crop side (default {defaults.crop_size})")
    opt.add_argument("--lr", type=float, default=None, help=f"AdamW learning rate (default {defaults.lr})")
    opt.add_argument("--weight-decay", type=float, default=defaults.weight_decay,
                     help=f"AdamW weight decay (default {defaults.weight_decay})")
    opt.add_argument("--decay-exclude", action="store_true",
                     help="no weight decay on norm and bias parameters and on the EFEU kernels (default: all decay)")
    opt.add_argument("--milestones", type=int_list, default=None, metavar="E1,E2,...",
                     help="epochs where the lr is multiplied by --gamma (default 50%% and 75%% of --epochs)")
    opt.add_argument("--gamma", type=float, default=defaults.gamma, help=f"lr decay factor (default {defaults.gamma})")
    opt.add_argument("--p-target", type=float, default=defaults.p_target,
                     help=f"probability a crop is centred on a target (default {defaults.p_target})")
    opt.add_argument("--seed", type=int, default=defaults.seed, help=f"seed for every random generator (default {defaults.seed})")

    run = parser.add_argument_group("schedule and hardware")
    run.add_argument("--eval-every", type=int, default=None,
                     help=f"evaluate on the test split every K epochs, 0 = only at the end (default {defaults.eval_every})")
    run.add_argument("--eval-batch-size", type=int, default=defaults.eval_batch_size,
                     help=f"test images of one size per forward pass (default {defaults.eval_batch_size})")
    run.add_argument("--health-every", type=int, default=defaults.health_every,
                     help="also log the skip health (kept ratio, shuffle test per skip level) every K epochs; "
                          "0 = at the evaluations only (default 0)")
    run.add_argument("--save-every", type=int, default=None,
                     help=f"write last.pt every K epochs (default {defaults.save_every})")
    add_device(run, defaults.device)
    run.add_argument("--amp", action=argparse.BooleanOptionalAction, default=defaults.amp,
                     help="mixed precision on GPU (default on; ignored on CPU)")
    run.add_argument("--amp-dtype", choices=AMP_DTYPES, default=defaults.amp_dtype,
                     help="bf16 (default) or fp16 for GPUs without bf16")
    run.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=defaults.channels_last,
                     help="train in the NHWC memory format, on GPU and CPU (default on)")
    run.add_argument("--compile", action="store_true", help="torch.compile the training model (= --speed-path compile)")
    run.add_argument("--speed-path", default=defaults.speed_path, metavar="|".join(speed_path_names()),
                     help="how each step runs: eager (default), compile, reduce-overhead (compile with CUDA graphs), "
                     "graph (the whole step in one CUDA graph) or compile-graph; one that fails warns and runs eagerly")
    run.add_argument("--threads", default="auto", metavar="N|auto",
                     help="CPU training: torch threads; auto (default) takes the cores other processes leave free, "
                     "re-checked every epoch")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="show a progress bar")


def speed_path_names() -> tuple[str, ...]:
    from gcflnet_lib.engine.speed_paths import PATHS

    return PATHS


def add_reading_arguments(group) -> None:
    """The flags of the paper's open readings (docs/PAPER_READING.md); the defaults are the original readings.

    Plain strings, not argparse ``choices``: an unknown value becomes one error line from ``TrainConfig``
    (or ``build_model``) that lists the known ones.
    """
    from gcflnet_lib.models.readings import READING_DEFAULTS, READINGS

    def known(key: str) -> str:
        return "|".join(READINGS[key][0])

    group.add_argument("--msic-reading", default=READING_DEFAULTS["msic_reading"], metavar=known("msic_reading"),
                       help="MSIC: which level each attention is computed from and applied to "
                            f"(default {READING_DEFAULTS['msic_reading']}, chosen by the rule of docs/ABLATION.md)")
    group.add_argument("--glfi-attention", default=READING_DEFAULTS["glfi_attention"], metavar=known("glfi_attention"),
                       help="GLFI attention: outer (default, can only pass), signed (can suppress) or channel")
    group.add_argument("--glfi-fc", action="store_true", help="add GLFI's fully connected layer on the pooled profiles")
    group.add_argument("--eem-fusion", default=READING_DEFAULTS["eem_fusion"], metavar=known("eem_fusion"),
                       help="how EEM fuses EFEU and CDC (default concat)")
    group.add_argument("--pad-mode", default=READING_DEFAULTS["pad_mode"], metavar=known("pad_mode"),
                       help="padding of the input to the model's stride and in evaluation (default zeros)")


PRESET_KEYS = ("channels", "epochs", "batch_size", "crop_size", "lr", "milestones", "eval_every", "save_every")
FLAG_OF_FIELD = {"data_root": "data", "out_dir": "out"}  # TrainConfig fields whose flag has another name


def scaled_preset_milestones(preset: dict, epochs: int | None, explicit: tuple[int, ...] | None,
                             chosen: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """A preset's milestones follow an explicit ``--epochs`` (same fractions of the run), unless given too."""
    from gcflnet_lib.engine.presets import milestones_for

    if explicit is not None or epochs is None or not preset.get("milestones"):
        return chosen
    return milestones_for(preset, epochs)


def given_flags(argv: list[str] | None) -> set[str] | None:
    """The destinations of the flags given in ``argv`` (``["train", ...]``); None when unknown (a Python caller).

    The arguments are parsed again with every default suppressed, so abbreviations (``--epoch``) and
    ``--flag=value`` count exactly as argparse read them.
    """
    if not argv:
        return None
    parser = argparse.ArgumentParser(add_help=False)
    add_arguments(parser)
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    try:
        given, _ = parser.parse_known_args(argv[1:])
    except SystemExit:  # cannot happen after the real parse succeeded; then treat every flag as given
        return None
    return set(vars(given))


# TrainConfig fields whose flag has another name (the rest: --field-name, dest field_name).
FIELD_DESTS = {"data_root": "data", "out_dir": "out"}
MODEL_FIELDS = ("model", "channels", "msic_reading", "glfi_attention", "glfi_fc", "eem_fusion", "pad_mode")


def saved_train_config(out: str) -> dict | None:
    """The ``train_config`` stored in ``OUT/last.pt``, read lazily (mmap); None when there is none to read.

    A damaged or missing file gives None: the trainer then reports it, naming the file.
    """
    from pathlib import Path

    from gcflnet_lib.engine.checkpoint import peek_run_state

    state = peek_run_state(Path(out) / "last.pt")
    if state is None:
        return None  # none, damaged, or weights only (a release copied in): no run whose settings could be kept
    saved = state.get("train_config")
    return saved if isinstance(saved, dict) else None


def init_model_settings(spec: str) -> dict:
    """The model fields the ``--init`` checkpoint implies; {} when it cannot be read (the trainer reports why)."""
    from gcflnet_lib.engine.checkpoint import load_checkpoint
    from gcflnet_lib.engine.finetune import model_settings
    from gcflnet_lib.errors import UserError
    from gcflnet_lib.released import resolve_checkpoint

    try:
        return model_settings(load_checkpoint(resolve_checkpoint(spec))["model_config"])
    except (UserError, KeyError, TypeError, ValueError):
        return {}


def fill_left_out(config: TrainConfig, given: set[str] | None, fallback: dict) -> TrainConfig:
    """``config`` with each field whose flag was not given taken from ``fallback`` (the saved run's, the --init model's).

    With ``--preset``, the preset's keys count as given.
    """
    import dataclasses

    if given is None or not fallback:
        return config
    if "preset" in given:
        given = given | set(PRESET_KEYS)
    values = {}
    for field in dataclasses.fields(TrainConfig):
        if field.name in ("resume", "overwrite", "out_dir", "data_root", "dataset"):
            continue  # required, or what this invocation asks for
        if FIELD_DESTS.get(field.name, field.name) not in given and field.name in fallback:
            values[field.name] = fallback[field.name]
    return dataclasses.replace(config, **values) if values else config


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's settings: explicit flags first, then the ``--preset``'s values, then ``TrainConfig``'s defaults.

    With ``--resume``, flags left out take the saved run's values instead (``engine.resume``); with
    ``--init``, model flags left out take the checkpoint's.
    """
    from gcflnet_lib.engine.presets import preset_values

    defaults = TrainConfig(data_root="", dataset="", out_dir="")
    preset = preset_values(args.preset) if getattr(args, "preset", None) else {}
    chosen = {}
    for key in PRESET_KEYS:
        value = getattr(args, key)
        chosen[key] = value if value is not None else preset.get(key, getattr(defaults, key))
    chosen["milestones"] = scaled_preset_milestones(preset, args.epochs, args.milestones, chosen["milestones"])
    # Every TrainConfig field from its flag (the same name, but for --data and --out), or from the preset.
    config = TrainConfig(**{field.name: chosen[field.name] if field.name in chosen
                            else getattr(args, FLAG_OF_FIELD.get(field.name, field.name), getattr(defaults, field.name))
                            for field in dataclasses.fields(TrainConfig)})
    given = given_flags(getattr(args, "argv", None))
    if args.resume and not args.overwrite:
        return fill_left_out(config, given, saved_train_config(args.out) or {})
    if config.init:
        return fill_left_out(config, given, {key: value for key, value in init_model_settings(config.init).items()
                                             if key in MODEL_FIELDS})
    return config


def format_metrics(metrics: dict) -> str:
    """One line: mIoU, nIoU, Pd, Fa (x1e-6), the Pd-Fa AUC over Fa <= 1e-4 and the pixel AUC."""
    return (
        f"mIoU={metrics['miou']:.4f} nIoU={metrics['niou']:.4f} Pd={metrics['pd']:.4f} "
        f"Fa={metrics['fa'] * 1e6:.2f}e-6 AUC(Fa<=1e-4)={metrics['auc_pd_fa']:.4f} pixelAUC={metrics['auc_pixel']:.4f}"
    )


def oom_advice(args: argparse.Namespace) -> str:
    """What the CLI adds to an out-of-memory error: the flags that size a training step, and what to lower."""
    batch = args.batch_size if args.batch_size is not None else "(default)"
    crop = args.crop_size if args.crop_size is not None else "(default)"
    return (f"at --batch-size {batch} and --crop-size {crop} (evaluation: --eval-batch-size {args.eval_batch_size}); "
            "lower them")


def record_inputs(config: TrainConfig) -> list:
    """What ``--record`` must not overwrite: the dataset's folders, the run's own files, the --init checkpoint."""
    from pathlib import Path

    from gcflnet_lib.engine.overlap import Input, dataset_inputs
    from gcflnet_lib.engine.runlock import LOCK_NAME
    from gcflnet_lib.engine.trainer import RunFiles, StagedRun
    from gcflnet_lib.released import resolve_checkpoint

    out = Path(config.out_dir)
    own = [Input("the run's own file", out / name) for name in (*RunFiles.NAMES, LOCK_NAME)]
    own.append(Input("the run's staging folder", out / StagedRun.NAME))
    init = [Input("the --init checkpoint", resolve_checkpoint(config.init))] if config.init else []
    return [*dataset_inputs(config.data_root), *own, *init]


def run(args: argparse.Namespace) -> int:
    from gcflnet_lib.engine.distributed import context_from_env
    from gcflnet_lib.files import check_output_file
    from gcflnet_lib.engine.overlap import refuse_overlap
    from gcflnet_lib.engine.trainer import train

    config = config_from_args(args)
    if args.record:
        check_output_file(args.record, "--record")  # before the run, not after hours of training
        refuse_overlap(args.record, "--record", record_inputs(config))  # --record R/final.pt would replace the model
    from gcflnet_lib.provenance import git_commit

    commit_at_start = git_commit()  # the code that trains; HEAD may move during a long run
    started = time.perf_counter()
    result = train(config)
    wall_time_s = time.perf_counter() - started
    if context_from_env().is_main and result["final"] is not None:
        print(f"{result['run_dir']}: epoch {result['epochs']}: {format_metrics(result['final'])}")
        if args.record:
            write_record(args.record, config, result, wall_time_s, getattr(args, "command_line", None), commit_at_start)
    return 0


def write_record(path: str, config: TrainConfig, result: dict, wall_time_s: float, command: str | None = None,
                 commit: str | None = None) -> None:
    """One results/*.json record: what ran, where, how long, and the last-epoch metrics (never a best epoch).

    ``commit``: the git commit when the run started (default: HEAD now).
    """
    from dataclasses import asdict

    from gcflnet_lib.engine.device import resolve_device
    from gcflnet_lib.files import atomic_write_json
    from gcflnet_lib.provenance import provenance

    record = {
        "kind": "train",
        **provenance(resolve_device(config.device), command),
        **({"git_commit": commit} if commit else {}),
        "wall_time_s": round(wall_time_s, 2),
        "model": config.model,
        "dataset": config.dataset,
        "epochs": result["epochs"],
        "seed": config.seed,
        "config": asdict(config),
        **({"init": result["init"]} if result.get("init") else {}),
        "final": result["final"],
        "history": result["history"],
    }
    atomic_write_json(path, record)
