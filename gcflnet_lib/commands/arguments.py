"""Flags that several sub-commands share, defined once so that they read and behave the same everywhere."""

from __future__ import annotations

import argparse

DEVICE_HELP = "auto (default), cpu, cuda or cuda:N"


def add_checkpoint(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint``: a file written by ``gcflnet train`` or a released name (``gcflnet_lib.released``)."""
    parser.add_argument("--checkpoint", required=True, metavar="C",
                        help="a .pt written by gcflnet train, or a released name such as gcflnet-cpu-nuaa-sirst")


def add_device(parser, default: str = "auto") -> None:
    """``--device``: where the model runs (``engine.device.resolve_device`` reads it)."""
    parser.add_argument("--device", default=default, help=DEVICE_HELP)


def add_threshold(parser: argparse.ArgumentParser, what: str = "a pixel is a detection when prob > threshold") -> None:
    """``--threshold``: the probability above which a pixel counts (the BasicIRSTD rule, ``prob > 0.5``)."""
    parser.add_argument("--threshold", type=float, default=0.5, help=f"{what} (default 0.5)")


def add_batch_size(parser: argparse.ArgumentParser, default: int) -> None:
    """``--batch-size`` of inference: images of one size go through the network together."""
    parser.add_argument("--batch-size", type=int, default=default,
                        help=f"images of one size per forward pass (default {default})")


def add_split(parser: argparse.ArgumentParser, what: str = "split to score") -> None:
    """``--data ROOT``, ``--dataset NAME`` (default: the checkpoint's) and ``--split`` (default test): which images."""
    parser.add_argument("--data", required=True, metavar="ROOT", help="dataset root with images/, masks/, img_idx/")
    parser.add_argument("--dataset", default=None, metavar="NAME",
                        help="split files img_idx/{split}_NAME.txt (default: the checkpoint's)")
    parser.add_argument("--split", default="test", help=f"{what} (default test)")
