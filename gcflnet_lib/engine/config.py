"""Training configuration: the paper's settings as defaults, every one a CLI flag.

The paper fixes batch 16, 1500 epochs, SoftIoU with deep supervision, AdamW and "a multi-stage
learning rate decay"; it gives no learning rate, weight decay, milestones or crop size. This project
reads them as: lr 1e-3 (a common AdamW start for IRSTD U-Nets), weight decay 1e-2 (AdamW's own
default), decay by 0.1 at 50% and 75% of the epochs, 256x256 crops (as ARCHITECTURE.md fixes).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from gcflnet_lib.engine.cpu_threads import parse_threads
from gcflnet_lib.engine.presets import milestones_for, preset_values
from gcflnet_lib.engine.speed_paths import PATHS
from gcflnet_lib.errors import UserError
from gcflnet_lib.models.readings import READING_DEFAULTS, READINGS, applicable_readings
from gcflnet_lib.models.registry import MODELS

AMP_DTYPES = ("bf16", "fp16")
DEFAULT_MILESTONE_FRACTIONS = (0.5, 0.75)


@dataclass
class TrainConfig:
    """Everything a training run depends on.

    Attributes:
        data_root: standard-layout dataset root (``images/``, ``masks/``, ``img_idx/``).
        dataset: dataset name, picks ``img_idx/{train,test}_<dataset>.txt`` and the normalisation.
        out_dir: run folder (``last.pt``, ``final.pt``, ``metrics.json``, ``history.csv``/``.json``).
        model: registry name (``gcflnet``, ``unet``, ablations), see ``gcflnet_lib.models.list_models``.
        channels: encoder widths per level; ``None`` keeps the model's default (16, 32, 64, 128, 256).
        msic_reading, glfi_attention, glfi_fc, eem_fusion, pad_mode: the model's readings of the paper
            (``gcflnet_lib.models.readings``, ``docs/PAPER_READING.md``); the defaults are the project's
            original readings.
        epochs: total epochs (paper 1500); one epoch = ``len(train) // batch_size`` steps.
        batch_size: global batch (paper 16); split across processes under torchrun.
        crop_size: side of the random training crops (256); smaller images are zero-padded.
        lr: AdamW learning rate.
        weight_decay: AdamW decoupled weight decay.
        decay_exclude: no weight decay on norm and bias parameters and on the EFEU kernels
            (``gcflnet_lib.engine.param_groups``); off by default: every parameter decays.
        milestones: epochs at which the lr is multiplied by ``gamma``; ``None`` -> 50% and 75% of ``epochs``.
        gamma: lr decay factor at each milestone.
        p_target: probability that a training crop is centred on a target pixel rather than anywhere.
        eval_every: evaluate on the test split every K epochs (0: only after the last epoch).
        save_every: write ``last.pt`` every K epochs (and always after the last).
        health_every: also measure the skip health every K epochs (0: at the evaluations only). Skip health,
            the kept ratio and shuffle test of every skip connection on ten test crops centred on targets
            (``gcflnet_lib.engine.health``), goes into the history at every evaluation and at these epochs.
        seed: seeds python, numpy, torch and the crop generator.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision on GPU (ignored on CPU).
        amp_dtype: ``bf16`` (default; Ampere and newer) or ``fp16`` (with a GradScaler, for older GPUs).
        channels_last: train in the NHWC memory format (GPU and CPU; the same values up to rounding, faster).
        compile: ``torch.compile`` the training model (the same as ``speed_path="compile"``).
        speed_path: how each training step runs (``gcflnet_lib.engine.speed_paths``): ``eager`` (default),
            ``compile``, ``reduce-overhead``, ``graph`` (one CUDA graph of the whole step) or
            ``compile-graph``; a path that fails to compile or capture warns in one line and the run goes
            on eagerly. On a CPU the graph paths run their step uncaptured.
        eval_batch_size: test images of one padded size evaluated together, at most this many.
        resume: continue from ``out_dir/last.pt``.
        overwrite: start afresh in an ``out_dir`` that holds a run (its run files are replaced).
        progress: show a tqdm bar (one per run, updated per epoch).
        threads: CPU training only: torch threads, ``"auto"`` (the cores other processes leave free,
            re-checked every epoch; ``engine.cpu_threads``), a count, or None to leave torch's setting
            alone (the Python default; the CLI's is "auto").
        init: start a new run from the weights of this checkpoint (a released name or a path) with a
            fresh optimizer and schedule (``engine.finetune``); None starts from random weights.
    """

    data_root: str
    dataset: str
    out_dir: str
    model: str = "gcflnet"
    channels: tuple[int, ...] | None = None
    # The readings' defaults have one home, models.readings.READINGS.
    msic_reading: str = READING_DEFAULTS["msic_reading"]
    glfi_attention: str = READING_DEFAULTS["glfi_attention"]
    glfi_fc: bool = READING_DEFAULTS["glfi_fc"]
    eem_fusion: str = READING_DEFAULTS["eem_fusion"]
    pad_mode: str = READING_DEFAULTS["pad_mode"]
    epochs: int = 1500
    batch_size: int = 16
    crop_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-2
    decay_exclude: bool = False
    milestones: tuple[int, ...] | None = None
    gamma: float = 0.1
    p_target: float = 0.5
    eval_every: int = 10
    save_every: int = 1
    health_every: int = 0
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    amp_dtype: str = "bf16"
    channels_last: bool = True
    compile: bool = False
    speed_path: str = "eager"
    eval_batch_size: int = 8
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    threads: str | int | None = None
    init: str | None = None

    def __post_init__(self) -> None:
        if self.channels is not None:
            self.channels = tuple(int(c) for c in self.channels)
        if self.milestones is not None:
            self.milestones = tuple(int(m) for m in self.milestones)
        self.validate()

    def validate(self) -> None:
        """Raise ``UserError`` naming the flag for any value out of range."""
        positive = {
            "--epochs": self.epochs,
            "--batch-size": self.batch_size,
            "--crop-size": self.crop_size,
            "--save-every": self.save_every,
            "--eval-batch-size": self.eval_batch_size,
        }
        for flag, value in positive.items():
            if int(value) < 1:
                raise UserError(f"{flag} must be at least 1 (got {value})")
        if self.crop_size % 32:
            raise UserError(f"--crop-size must be a multiple of 32 (got {self.crop_size})")
        # NaN fails every comparison and inf passes "positive": both would reach AdamW (a traceback, or a NaN loss
        # blamed on the learning rate), so finiteness is checked first, by name.
        for flag, value in (("--lr", self.lr), ("--weight-decay", self.weight_decay), ("--gamma", self.gamma),
                            ("--p-target", self.p_target)):
            if not math.isfinite(float(value)):
                raise UserError(f"{flag} must be a finite number (got {value})")
        if not self.lr > 0:
            raise UserError(f"--lr must be positive (got {self.lr})")
        if self.weight_decay < 0:
            raise UserError(f"--weight-decay must be >= 0 (got {self.weight_decay})")
        if not 0 < self.gamma <= 1:
            raise UserError(f"--gamma must be in (0, 1] (got {self.gamma})")
        if not 0 <= self.p_target <= 1:
            raise UserError(f"--p-target must be in [0, 1] (got {self.p_target})")
        if self.eval_every < 0:
            raise UserError(f"--eval-every must be >= 0 (got {self.eval_every})")
        if self.health_every < 0:
            raise UserError(f"--health-every must be >= 0 (got {self.health_every})")
        if self.channels is not None and (len(self.channels) < 2 or min(self.channels) < 1):
            raise UserError(f"--channels needs at least two positive widths (got {','.join(map(str, self.channels))})")
        if self.milestones is not None and any(m < 1 for m in self.milestones):
            raise UserError(f"--milestones must be positive epochs (got {','.join(map(str, self.milestones))})")
        if self.threads is not None:
            try:
                self.threads = parse_threads(self.threads)
            except ValueError as exc:
                raise UserError(f"--threads: {exc}") from None

        for key, (known, _, _) in READINGS.items():
            value = getattr(self, key)
            if value not in known:
                known_text = ", ".join(str(k) for k in known)
                raise UserError(f"--{key.replace('_', '-')} must be one of {known_text} (got {value})")
        if self.milestones is not None and max(self.milestones, default=0) > self.epochs:
            beyond = ",".join(str(m) for m in self.milestones if m > self.epochs)
            raise UserError(f"--milestones {beyond} lies beyond --epochs {self.epochs} (the lr would never decay there)")

        if self.speed_path not in PATHS:
            raise UserError(f"--speed-path must be one of {', '.join(PATHS)} (got {self.speed_path})")
        if self.compile and self.speed_path not in ("eager", "compile"):
            raise UserError(f"--compile and --speed-path {self.speed_path} exclude each other (--compile is --speed-path compile)")
        if self.amp_dtype not in AMP_DTYPES:
            raise UserError(f"--amp-dtype must be one of {', '.join(AMP_DTYPES)} (got {self.amp_dtype})")

    @property
    def resolved_speed_path(self) -> str:
        """The speed path the run takes: ``--compile`` is ``compile``."""
        return "compile" if self.compile and self.speed_path == "eager" else self.speed_path

    @property
    def resolved_milestones(self) -> tuple[int, ...]:
        """Milestones in epochs; the default follows ``epochs`` (so extending a run moves them)."""
        if self.milestones is not None:
            return tuple(sorted(self.milestones))
        return tuple(sorted({max(1, round(self.epochs * f)) for f in DEFAULT_MILESTONE_FRACTIONS}))

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``build_model`` besides the name: the widths and the readings not at their default.

        Defaults, and readings of a module the model does not have, are left out, so that a model without the module
        a reading changes (``unet``) still builds, also from a config saved when that reading's default was another
        (a U-Net record of the ``crossed`` era).
        """
        kwargs: dict[str, Any] = {} if self.channels is None else {"channels": self.channels}
        changed = {key: getattr(self, key) for key, default in READING_DEFAULTS.items() if getattr(self, key) != default}
        kwargs.update(applicable_readings(MODELS.get(self.model, {}), changed))
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (lists for tuples), safe for JSON and for ``torch.load(weights_only=True)``."""
        data = dataclasses.asdict(self)
        for key in ("channels", "milestones"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_preset(cls, name: str, **settings: Any) -> TrainConfig:
        """A config from preset ``name`` (``gcflnet_lib.engine.presets``); ``settings`` override its values.

        ``TrainConfig.from_preset("cpu", data_root="NUAA-SIRST", dataset="NUAA-SIRST", out_dir="runs/cpu")``
        """
        values = preset_values(name)
        if "epochs" in settings and "milestones" not in settings and values.get("milestones"):
            settings["milestones"] = milestones_for(values, settings["epochs"])
        return cls(**{**values, **settings})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of ``to_dict``; unknown keys (from a newer version) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def multistep_factor(epoch: int, milestones: tuple[int, ...], gamma: float) -> float:
    """lr multiplier after ``epoch`` finished epochs: ``gamma ** (number of milestones <= epoch)``.

    A closed form (used through ``LambdaLR``) rather than ``MultiStepLR``'s incremental one, so a
    resumed run with other milestones lands on the right lr.
    """
    return gamma ** sum(1 for m in milestones if m <= epoch)
