#!/usr/bin/env python
"""Write a weights-only release of a training checkpoint (``gcflnet_lib.engine.release.export_release``).

    python scripts/release_checkpoint.py runs/cpu_nuaa_gcflnet_s0/final.pt checkpoints/gcflnet-cpu-nuaa-sirst.pt
    python scripts/release_checkpoint.py runs/x/final.pt checkpoints/x.pt --store fp16

Then score it as released (``gcflnet evaluate --checkpoint NAME ... --json results/eval_cpu_NAME.json``) and
rewrite the model card (``python scripts/model_card.py --write``).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gcflnet_lib.engine.release import export_release, release_size_mb  # noqa: E402
from gcflnet_lib.errors import UserError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a checkpoint written by gcflnet train (final.pt)")
    parser.add_argument("target", help="the release file to write")
    parser.add_argument("--store", choices=("fp32", "fp16"), default="fp32", help="dtype of the stored weights (default fp32)")
    args = parser.parse_args()
    try:
        meta = export_release(args.source, args.target, store=args.store)
    except UserError as exc:
        print(f"release_checkpoint: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.target}: {release_size_mb(args.target):.2f} MB, {meta['model_config']['name']}, epoch {meta['source_epoch']}, "
          f"weights {args.store}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
