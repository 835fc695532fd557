#!/usr/bin/env python3
"""Write the compact dataset copies a GPU lease carries, check them, and say whether the tree still fits.

    python scripts/pack_campaign_data.py                          # NUDT-SIRST into .campaign/
    python scripts/pack_campaign_data.py --datasets NUDT-SIRST NUAA-SIRST
    python scripts/pack_campaign_data.py --test-images all         # the whole test split (does not fit today)

Each ``--source/NAME`` is copied to ``--out/NAME`` by ``gcflnet_lib.data.compact`` (equal-channel RGB images as
one gray plane, the rest byte for byte): the whole training split and ``--test-images`` of the test split
(default 128, spread evenly; ``carried.json`` in the copy says how many of how many), read back through the
project's readers. Then the total that travels to the device: the files that travel without being carried
(what git tracks, and untracked files it does not ignore) plus the carried folder, at most 64 MiB. Exit
status 1 when the total is over the limit (carry fewer datasets: ``gpu_campaign.py --datasets``, or fewer
test images); a total within the limit but with less than 8 MiB to spare says so and exits 0.

The test metrics the device computes on such a copy are on part of the test split; the full split is scored
on the CPU from the returned weights (docs/GPU_CAMPAIGN.md names the command).
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
MARGIN = 8 * 2**20  # kept free for releases committed before the call (two CPU releases of 2-4 MiB each)
DEFAULT_TEST_IMAGES = 128  # NUDT-SIRST: the 663 training images and 128 of the 664 test images fit with the margin


def tree_bytes(root: Path = ROOT) -> int | None:
    """Bytes of the files that travel from ``root`` besides the carried folders: the files git tracks and the
    untracked files it does not ignore (``git ls-files --cached --others --exclude-standard``); None without git."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                                capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = dict.fromkeys(name for name in listed.decode().split("\0") if name)
    return sum((root / name).stat().st_size for name in names if (root / name).is_file())


def travel_bytes(root: Path, carried: Path) -> tuple[int | None, int]:
    """The packer's measure: ``(tree_bytes(root), bytes under carried)``; their sum must stay within TRAVEL_LIMIT."""
    from gcflnet_lib.data.compact import folder_bytes

    return tree_bytes(root), folder_bytes(carried) if carried.is_dir() else 0


def travel_line(tracked: int | None, carried: int) -> tuple[str, bool]:
    """The line about what travels, and whether it fits the limit."""
    if tracked is None:
        return f"carried {carried / 2**20:.1f} MiB (the tree unknown: no git)", carried <= TRAVEL_LIMIT
    total = tracked + carried
    fits = total <= TRAVEL_LIMIT
    spare = TRAVEL_LIMIT - total
    if not fits:
        tail = " - OVER the limit: carry fewer datasets or fewer test images"
    elif spare < MARGIN:
        tail = f", {spare / 2**20:.1f} MiB to spare - less than the {MARGIN / 2**20:.0f} MiB margin for new releases"
    else:
        tail = f", {spare / 2**20:.1f} MiB to spare"
    return (f"travels: tree {tracked / 2**20:.1f} MiB + carried {carried / 2**20:.1f} MiB = {total / 2**20:.1f} MiB "
            f"of {TRAVEL_LIMIT / 2**20:.0f} MiB" + tail), fits


def _test_images(text: str) -> int | None:
    if text == "all":
        return None
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count or 'all'") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"{count}: at least 1 test image (or 'all')")
    return count


def main(argv: list[str] | None = None) -> int:
    from gcflnet_lib.data.compact import pack_dataset, verify_pack

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(ROOT.parent / "shared" / "datasets"),
                        help="folder holding the datasets (default ../shared/datasets)")
    parser.add_argument("--out", default=str(ROOT / ".campaign"), help="the carried folder (default .campaign, git-ignored)")
    parser.add_argument("--datasets", nargs="+", default=["NUDT-SIRST"], metavar="NAME")
    parser.add_argument("--test-images", type=_test_images, default=DEFAULT_TEST_IMAGES, metavar="N|all",
                        help=f"test images carried per dataset, spread evenly over the split (default {DEFAULT_TEST_IMAGES})")
    args = parser.parse_args(argv)
    out = Path(args.out)
    for name in args.datasets:
        source = Path(args.source) / name
        if not (source / "img_idx" / f"train_{name}.txt").is_file():
            print(f"pack_campaign_data: error: {source}: not a standard-layout {name} folder", file=sys.stderr)
            return 2
        report = pack_dataset(source, out / name, name, args.test_images)
        verify_pack(source, out / name, name, report)
        print(report.line())
    line, fits = travel_line(*travel_bytes(ROOT, out))
    print(line)
    return 0 if fits else 1


if __name__ == "__main__":
    raise SystemExit(main())
