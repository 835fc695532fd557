#!/usr/bin/env python3
"""Write the compact dataset copies a GPU lease carries, check them, and say whether the tree still fits.

    python scripts/pack_campaign_data.py                          # NUDT-SIRST into .campaign/
    python scripts/pack_campaign_data.py --datasets NUDT-SIRST NUAA-SIRST

Each ``--source/NAME`` is copied to ``--out/NAME`` by ``gcflnet_lib.data.compact`` (equal-channel RGB images as
one gray plane, the rest byte for byte), read back through the project's readers, and the sizes printed with
the total that travels to the device: the tracked files plus the carried folder, at most 64 MiB. Exit status
1 when the total is over the limit (carry fewer datasets: ``gpu_campaign.py --datasets``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TRAVEL_LIMIT = 64 * 2**20  # the device tool's limit on what travels (tracked files, untracked, carried)


def tracked_bytes(root: Path = ROOT) -> int | None:
    """Bytes of the files git tracks in ``root`` (what travels besides the carried folders), None without git."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sum((root / name).stat().st_size for name in listed.decode().split("\0") if name and (root / name).is_file())


def travel_line(tracked: int | None, carried: int) -> tuple[str, bool]:
    """The line about what travels, and whether it fits the limit."""
    if tracked is None:
        return f"carried {carried / 2**20:.1f} MiB (tracked files unknown: no git)", carried <= TRAVEL_LIMIT
    total = tracked + carried
    fits = total <= TRAVEL_LIMIT
    return (f"travels: tracked {tracked / 2**20:.1f} MiB + carried {carried / 2**20:.1f} MiB = {total / 2**20:.1f} MiB "
            f"of {TRAVEL_LIMIT / 2**20:.0f} MiB" + ("" if fits else " - OVER the limit: carry fewer datasets")), fits


def main(argv: list[str] | None = None) -> int:
    from gcflnet_lib.data.compact import folder_bytes, pack_dataset, verify_pack

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(ROOT.parent / "shared" / "datasets"),
                        help="folder holding the datasets (default ../shared/datasets)")
    parser.add_argument("--out", default=str(ROOT / ".campaign"), help="the carried folder (default .campaign, git-ignored)")
    parser.add_argument("--datasets", nargs="+", default=["NUDT-SIRST"], metavar="NAME")
    args = parser.parse_args(argv)
    out = Path(args.out)
    for name in args.datasets:
        source = Path(args.source) / name
        if not (source / "img_idx" / f"train_{name}.txt").is_file():
            print(f"pack_campaign_data: error: {source}: not a standard-layout {name} folder", file=sys.stderr)
            return 2
        report = pack_dataset(source, out / name, name)
        verify_pack(source, out / name, name, report)
        print(report.line())
    line, fits = travel_line(tracked_bytes(), folder_bytes(out))
    print(line)
    return 0 if fits else 1


if __name__ == "__main__":
    raise SystemExit(main())
