"""Rename the old ROC measure in committed records: every ``"auc"`` key becomes ``"own_range_area"``.

Until December 2026 the metrics called ``auc`` the area under Pd against Fa normalised by the largest Fa on
each model's own curve, over thresholds 0.02 .. 0.98. Two models were then measured on two different axes
(``gcflnet_lib.metrics`` and notebook 08 say why that misled), so the project no longer calls it AUC. Records
whose weights still exist (the releases) are scored again with the new curves (``auc_pd_fa``, ``auc_pixel``,
``pd_at_fa_*``); the others keep the old number under a name that says what it is.

    python scripts/rename_legacy_auc.py            # list the files that hold the old key
    python scripts/rename_legacy_auc.py --write    # rename it in place (atomic writes)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gcflnet_lib.files import atomic_write_text  # noqa: E402

LEGACY_KEY, NEW_KEY = "auc", "own_range_area"


def renamed(value):
    """``value`` with every dict key ``"auc"`` renamed ``"own_range_area"``, at any depth."""
    if isinstance(value, dict):
        return {(NEW_KEY if key == LEGACY_KEY else key): renamed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [renamed(item) for item in value]
    return value


def holds_legacy_key(value) -> bool:
    if isinstance(value, dict):
        return LEGACY_KEY in value or any(holds_legacy_key(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_legacy_key(item) for item in value)
    return False


def legacy_files(results: Path) -> list[Path]:
    return [path for path in sorted(results.rglob("*.json")) if holds_legacy_key(json.loads(path.read_text()))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(ROOT / "results"), help="folder of records (default results/)")
    parser.add_argument("--write", action="store_true", help="rename the key in place")
    args = parser.parse_args(argv)
    for path in legacy_files(Path(args.results)):
        if args.write:
            # indent=2 as the records are written; NaN never occurs (they are strict JSON, null for undefined)
            atomic_write_text(path, json.dumps(renamed(json.loads(path.read_text())), indent=2) + "\n")
        print(f"{'renamed' if args.write else 'holds'} {LEGACY_KEY!r}: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
