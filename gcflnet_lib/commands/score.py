"""``gcflnet score``: score saved predictions against a split's masks (mIoU, nIoU, Pd, Fa, ROC curves, AUCs)."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

from gcflnet_lib.commands.arguments import add_threshold

NAME = "score"
HELP = "Score a folder of predicted maps (PRED_DIR/NAME.png) against the masks of a dataset split."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="ROOT", help="dataset root with images/, masks/, img_idx/")
    parser.add_argument("--dataset", required=True, metavar="NAME", help="split files are img_idx/{split}_NAME.txt")
    parser.add_argument("--split", default="test", help="split to score (default test)")
    parser.add_argument(
        "--pred", required=True, metavar="PRED_DIR",
        help="NAME.png per image: 8-bit probability (value/255) or a binary 0/1 or 0/255 mask",
    )
    add_threshold(parser)
    parser.add_argument(
        "--pred-format", choices=("auto", "probability", "binary"), default="auto",
        help="how to read the maps: auto (default; binary only if every map holds just 0 and 1), probability, binary",
    )
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the metrics and ROC curve as JSON")


def format_table(metrics: dict) -> str:
    """The headline metrics as a small two-column table (Fa in units of 1e-6, as papers print it)."""
    rows = [
        ("images", f"{metrics['n_images']}"),
        ("targets", f"{metrics['n_targets']}"),
        ("mIoU", f"{metrics['miou']:.4f}"),
        ("nIoU", f"{metrics['niou']:.4f}"),
        ("Pd", f"{metrics['pd']:.4f}"),
        ("Fa (x1e-6)", f"{metrics['fa'] * 1e6:.2f}"),
        ("Pd at Fa 1e-5", f"{metrics['pd_at_fa_1e-05']:.4f}"),
        ("Pd at Fa 1e-4", f"{metrics['pd_at_fa_1e-04']:.4f}"),
        ("AUC, Fa <= 1e-4", f"{metrics['auc_pd_fa']:.4f}"),
        ("pixel ROC AUC", f"{metrics['auc_pixel']:.4f}"),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def _json_safe(value):
    """NaN (undefined metric) -> null, so the file is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def run(args: argparse.Namespace) -> int:
    from gcflnet_lib.data.layout import read_split
    from gcflnet_lib.data.pred_maps import check_probability_maps
    from gcflnet_lib.files import atomic_write_json, check_output_file
    from gcflnet_lib.engine.overlap import Input, dataset_inputs, refuse_overlap
    from gcflnet_lib.errors import UserError
    from gcflnet_lib.metrics import no_target_note, score_folder

    if not 0.0 <= args.threshold <= 1.0:
        raise UserError(f"--threshold must be in [0, 1] (got {args.threshold})")
    if args.json:
        check_output_file(args.json, "--json")
        # Outputs never overwrite inputs: --json on a mask, or into the --pred folder, is refused.
        refuse_overlap(args.json, "--json", [Input("the --pred folder", Path(args.pred)), *dataset_inputs(args.data)])
    if Path(args.pred).is_dir():
        check_probability_maps(args.pred, read_split(args.data, args.dataset, args.split))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        metrics = score_folder(
            args.data, args.dataset, args.split, args.pred, threshold=args.threshold, pred_format=args.pred_format
        )
    for message in dict.fromkeys(str(warning.message) for warning in caught):
        print(f"gcflnet {NAME}: warning: {message}", file=sys.stderr)
    print(
        f"{args.dataset} {args.split} split, predictions {args.pred} read as {metrics['pred_format']} maps, "
        f"threshold {args.threshold}"
    )
    print(format_table(metrics))
    if no_target_note(metrics):
        print(f"gcflnet {NAME}: note: {no_target_note(metrics)}", file=sys.stderr)
    if args.json:
        report = {"dataset": args.dataset, "split": args.split, "pred": str(args.pred), "threshold": args.threshold, **metrics}
        atomic_write_json(args.json, _json_safe(report))
        print(f"wrote {args.json}")
    return 0
