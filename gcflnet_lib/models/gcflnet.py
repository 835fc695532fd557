"""GCFLNet: a U-Net with residual blocks, EEM + GLFI in the encoder, MSIC on the skips and deep supervision.

Encoder level ``l`` (full resolution at l = 0, halved by 2x2 max pooling before each further level):

    F_l = ResidualBlock(F_{l-1})            the "basic convolutional block"
    E_l = EEM(F_l, image resized to level l)            if eem
    F_l = GLFI(F_l, E_l)                               if glfi (E_l is None without eem)
    F_l = PointwiseFusion(F_l, E_l)                    if eem and not glfi

Decoder, from the bottleneck up: ``D_l = MSIC(F_l, D_{l+1})`` (or the U-Net ``ConcatSkip`` without
msic), with a 1x1 head on every decoder level (deep supervision). With all three switches off this is
the U-Net baseline of the paper's ablation.

Any input size works: the input is padded at the bottom and right to a multiple of
``2 ** (levels - 1)`` (with zeros unless ``pad_mode`` says otherwise) and every output is cropped back.

Where the paper leaves a choice open, a keyword picks the reading (``docs/PAPER_READING.md`` lists them
with the paper's words): ``msic_reading``, ``glfi_attention``, ``glfi_fc``, ``eem_fusion``, ``pad_mode``.
Their defaults are the readings this project started with, so older checkpoints rebuild unchanged.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gcflnet_lib.models.readings import READING_DEFAULTS
from gcflnet_lib.nn import (
    EEM,
    EEM_FUSIONS,
    GLFI,
    GLFI_ATTENTIONS,
    MSIC,
    MSIC_READINGS,
    ConcatSkip,
    PointwiseFusion,
    ResidualBlock,
    upsample_to,
)
from gcflnet_lib.ops import PAD_MODES, pad_to_multiple_of
from gcflnet_lib.ops._checks import check_choice

DEFAULT_CHANNELS = (16, 32, 64, 128, 256)
SWITCHES = ("eem", "glfi", "msic")


def variant_name(eem: bool, glfi: bool, msic: bool) -> str:
    """Registry name of a switch combination: "gcflnet" (all on), "unet" (all off), else "gcflnet_<on...>"."""
    on = [name for name, flag in zip(SWITCHES, (eem, glfi, msic)) if flag]
    if len(on) == len(SWITCHES):
        return "gcflnet"
    return "gcflnet_" + "_".join(on) if on else "unet"


class GCFLNet(nn.Module):
    """Gradient-compensated feature learning network for infrared small target segmentation.

    Args:
        in_channels: channels of the input image (1 for infrared).
        channels: widths of the encoder levels, finest first; ``len(channels)`` is the number of levels.
        deep_supervision: add a 1x1 head on every decoder level; in train mode ``forward`` returns them all.
        eem, glfi, msic: the ablation switches (edge enhancement, global-local interaction, skip compensation).
        theta: CDC's theta inside EEM.
        dilations: dilation rates of GLFI's dilated branches.
        glfi_attention: GLFI attention reading, ``"outer"`` (B,C,H,1) x (B,C,1,W) on rectified features,
            ``"signed"`` (the same on standardised features, so it can suppress) or ``"channel"`` (C x C).
        glfi_fc: add GLFI's fully connected layer on the pooled profiles.
        eem_fusion: how EEM fuses EFEU and CDC, ``"concat"`` or ``"gate"``.
        msic_reading: which level each MSIC attention is computed from and applied to, and at which gain:
            ``"unit_gain"`` (default), ``"crossed"`` or ``"literal"`` (see ``gcflnet_lib.nn.msic``).
        pad_mode: how the input is padded to a multiple of ``2 ** (levels - 1)``: ``"zeros"``,
            ``"reflect"`` or ``"replicate"``.

    ``forward(x)`` takes (B, in_channels, H, W) floating point and returns
    - in train mode: a list of (B, 1, H, W) logits, coarsest decoder level first, final output last
      (a list of one when ``deep_supervision`` is False);
    - in eval mode: the final (B, 1, H, W) logits.
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        deep_supervision: bool = True,
        eem: bool = True,
        glfi: bool = True,
        msic: bool = True,
        theta: float = 0.7,
        dilations: Sequence[int] = (2, 3),
        glfi_attention: str = READING_DEFAULTS["glfi_attention"],
        glfi_fc: bool = READING_DEFAULTS["glfi_fc"],
        eem_fusion: str = READING_DEFAULTS["eem_fusion"],
        msic_reading: str = READING_DEFAULTS["msic_reading"],
        pad_mode: str = READING_DEFAULTS["pad_mode"],
    ):
        super().__init__()
        # Checked even where the module is off, so a misspelt reading never passes unnoticed.
        check_choice(glfi_attention, GLFI_ATTENTIONS, "glfi_attention")
        check_choice(eem_fusion, EEM_FUSIONS, "eem_fusion")
        check_choice(msic_reading, MSIC_READINGS, "msic_reading")
        check_choice(pad_mode, PAD_MODES, "pad_mode")
        channels = tuple(int(c) for c in channels)
        if len(channels) < 2 or min(channels) < 1:
            raise ValueError(f"channels must list at least 2 positive widths, got {channels}")
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        self.in_channels = int(in_channels)
        self.channels = channels
        self.levels = len(channels)
        self.size_multiple = 2 ** (self.levels - 1)
        self.deep_supervision = bool(deep_supervision)
        self.pad_mode = pad_mode
        self._config = {
            "name": variant_name(eem, glfi, msic),
            "in_channels": self.in_channels,
            "channels": list(channels),
            "deep_supervision": self.deep_supervision,
            "eem": bool(eem),
            "glfi": bool(glfi),
            "msic": bool(msic),
            "theta": float(theta),
            "dilations": [int(d) for d in dilations],
            "glfi_attention": glfi_attention,
            "glfi_fc": bool(glfi_fc),
            "eem_fusion": eem_fusion,
            "msic_reading": msic_reading,
            "pad_mode": pad_mode,
        }

        widths_in = (self.in_channels, *channels[:-1])
        self.encoder = nn.ModuleList(ResidualBlock(c_in, c_out) for c_in, c_out in zip(widths_in, channels))
        self.eem = (
            nn.ModuleList(EEM(c, self.in_channels, theta=theta, fusion=eem_fusion) for c in channels) if eem else None
        )
        edge_widths = channels if eem else (0,) * self.levels
        self.glfi = (
            nn.ModuleList(
                GLFI(c, e, dilations=dilations, attention=glfi_attention, fc=glfi_fc)
                for c, e in zip(channels, edge_widths)
            )
            if glfi
            else None
        )
        self.edge_fusion = nn.ModuleList(PointwiseFusion(c, c) for c in channels) if eem and not glfi else None

        # decoder[k] produces level levels-2-k: coarsest first, full resolution last.
        decoder_levels = range(self.levels - 2, -1, -1)
        self.decoder = nn.ModuleList(
            MSIC(channels[level], channels[level + 1], reading=msic_reading)
            if msic
            else ConcatSkip(channels[level], channels[level + 1])
            for level in decoder_levels
        )
        head_levels = decoder_levels if self.deep_supervision else (0,)
        self.heads = nn.ModuleList(nn.Conv2d(channels[level], 1, kernel_size=1) for level in head_levels)

    @property
    def config(self) -> dict:
        """Everything ``build_model(**config)`` needs to rebuild this architecture (JSON-serialisable)."""
        return {key: list(value) if isinstance(value, list) else value for key, value in self._config.items()}

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` with a one-line reason unless ``x`` is a floating (B, in_channels, H, W) tensor."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"expected a torch.Tensor of shape (B, C, H, W), got {type(x).__name__}")
        if x.dim() != 4:
            hint = "; add a batch dimension with x.unsqueeze(0)" if x.dim() == 3 else ""
            raise ValueError(f"expected (B, C, H, W) input, got shape {tuple(x.shape)}{hint}")
        if x.shape[1] != self.in_channels:
            plural = "" if self.in_channels == 1 else "s"
            raise ValueError(f"expected {self.in_channels} input channel{plural}, got {x.shape[1]}")
        if not x.is_floating_point():
            raise ValueError(f"expected a floating-point input, got {x.dtype}; convert with .float() and normalise it")
        if x.shape[-2] < 1 or x.shape[-1] < 1:
            raise ValueError(f"expected a non-empty image, got shape {tuple(x.shape)}")

    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        features, image, skips = x, x, []
        for level in range(self.levels):
            if level > 0:
                features = F.max_pool2d(features, 2)
                image = F.avg_pool2d(image, 2)
            features = self.encoder[level](features)
            edges = self.eem[level](features, image) if self.eem is not None else None
            if self.glfi is not None:
                features = self.glfi[level](features, edges)
            elif self.edge_fusion is not None:
                features = self.edge_fusion[level](features, edges)
            skips.append(features)
        return skips

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        self.check_input(x)
        height, width = x.shape[-2:]
        padded = pad_to_multiple_of(x, self.size_multiple, self.pad_mode)

        skips = self._encode(padded)
        decoded = skips[-1]
        all_heads = self.training and self.deep_supervision
        logits = []
        for step, block in enumerate(self.decoder):
            decoded = block(skips[self.levels - 2 - step], decoded)
            if all_heads:
                logits.append(self.heads[step](decoded))
        if not all_heads:
            logits.append(self.heads[-1](decoded))

        cropped = [upsample_to(out, padded)[..., :height, :width] for out in logits]
        return cropped if self.training else cropped[-1]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities (B, 1, H, W) in [0, 1], computed in eval mode under ``torch.inference_mode``.

        The module's train/eval mode is restored afterwards. Rejects NaN or infinite input.
        """
        self.check_input(x)
        if not torch.isfinite(x).all():
            raise ValueError("input holds NaN or infinite values")
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                return torch.sigmoid(self(x))
        finally:
            self.train(was_training)


class UNet(GCFLNet):
    """The paper's ablation baseline: GCFLNet with EEM, GLFI and MSIC all off (same blocks, heads, padding)."""

    def __init__(self, **kwargs):
        for switch in SWITCHES:
            if kwargs.pop(switch, False):
                raise ValueError(f"UNet has no {switch.upper()}; use build_model with a gcflnet variant instead")
        super().__init__(eem=False, glfi=False, msic=False, **kwargs)
