"""The opening "In short" block of docs/ABLATION.md and notebook 09: its words come from the intervals, it leads with
the default MSIC reading, it concludes nothing from incomplete analyses, and the committed block is what the
committed analyses give."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gcflnet_lib.ablation.overview import overview_markdown, overview_sources

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sources():
    found = overview_sources(ROOT)
    assert set(found) == {"nudt", "readings", "other", "budget"}
    return found


def _lines(text: str) -> dict[str, str]:
    """The bullet lines by their bold head ("GCFLNet as this project builds it", "With MSIC read as `crossed`", ...)."""
    return {line.split("**")[1]: line for line in text.splitlines() if line.startswith("- **")}


def test_the_default_reading_comes_first_and_the_crossed_one_is_named_as_such(sources):
    text = overview_markdown(**sources)
    assert text.startswith("**In short** (for NUDT-SIRST, widths 8..128,")
    bullets = [line for line in text.splitlines() if line.startswith("- **")]
    assert bullets[0].startswith("- **GCFLNet as this project builds it** (MSIC `unit_gain`")
    assert bullets[1].startswith("- **With MSIC read as `crossed`**")
    lines = _lines(text)
    gap = sources["readings"]["effects"]["gcflnet_vs"]["unet"]["miou"]
    assert f"mIoU {gap['estimate']:+.4f} [{gap['low']:+.4f}, {gap['high']:+.4f}]" in lines["GCFLNet as this project builds it"]


def test_the_words_follow_the_intervals(sources):
    readings = copy.deepcopy(sources["readings"])
    item = readings["effects"]["gcflnet_vs"]["unet"]["miou"]
    item.update(estimate=-0.05, low=-0.08, high=-0.02)  # behind beyond the interval
    line = _lines(overview_markdown(sources["nudt"], readings))["GCFLNet as this project builds it"]
    assert "mIoU -0.0500 [-0.0800, -0.0200] (behind)" in line
    item.update(low=-0.08, high=+0.01)
    line = _lines(overview_markdown(sources["nudt"], readings))["GCFLNet as this project builds it"]
    assert "mIoU -0.0500 [-0.0800, +0.0100] (no difference shown)" in line
    fa = readings["effects"]["gcflnet_vs"]["unet"]["fa"]
    fa.update(estimate=-30.0, low=-50.0, high=-10.0)  # fewer false alarms: ahead
    line = _lines(overview_markdown(sources["nudt"], readings))["GCFLNet as this project builds it"]
    assert "Fa -30.00 [-50.00, -10.00] x1e-6 (ahead)" in line


def test_incomplete_analyses_conclude_nothing(sources):
    readings = copy.deepcopy(sources["readings"])
    readings["runs"]["missing"] = ["gcflnet_s1"]
    nudt = copy.deepcopy(sources["nudt"])
    nudt["runs"]["missing"] = ["gcflnet_s1"]
    budget = copy.deepcopy(sources["budget"])
    budget["missing"] = ["gcflnet_s1"]
    lines = _lines(overview_markdown(nudt, readings, budget=budget))
    assert all("(ahead)" not in line and "(behind)" not in line for line in lines.values())
    assert "1 of its runs are missing, so nothing is concluded yet" in lines["GCFLNet as this project builds it"]
    assert "nothing concluded yet" in lines["With MSIC read as `crossed`"]
    assert "5 of 6 runs recorded" in lines["At 4x the steps"]
    assert "Not the paper's numbers" not in lines  # no GCFLNet cell to set beside the paper's


def test_a_finished_budget_study_says_what_it_keeps(sources, tmp_path):
    from test_budget import ONE_X, study

    # 4x: the U-Net catches up on mIoU (GCFLNet - U-Net: ahead -> no difference) and passes + EEM (direction).
    longer = {"unet": [(0.82, 20), (0.83, 22)], "gcflnet_eem": [(0.76, 40), (0.77, 41)], "gcflnet": [(0.81, 10), (0.83, 11)]}
    budget = study(tmp_path, ONE_X, longer)
    kept = sum(item["change"] == "kept" for item in budget["changes"].values())
    line = _lines(overview_markdown(sources["nudt"], sources["readings"], budget=budget))["At 4x the steps"]
    assert "at 4x GCFLNet reaches mIoU 0.8200 against the U-Net's 0.8250" in line
    assert f"keeps {kept} of the 6 pre-registered verdicts and overturns {6 - kept}: " in line
    assert "GCFLNet - U-Net on mIoU (GCFLNet ahead at 1x, no difference shown at 4x: a change of significance)" in line


def test_the_crossed_runs_skip_health_is_counted(sources):
    readings = copy.deepcopy(sources["readings"])
    crossed = [row for row in readings["health"] if row["reading"] == "crossed" and row.get("in_use") is not None]
    assert crossed, "the committed readings analysis measures crossed runs"
    line = _lines(overview_markdown(sources["nudt"], readings))["With MSIC read as `crossed`"]
    assert f"every one of the {len(crossed)} `crossed` runs" in line
    for row in crossed:  # all skips open: the line may no longer say they were shut
        row["skip0_dprob"] = row["skip1_dprob"] = 1.0
    line = _lines(overview_markdown(sources["nudt"], readings))["With MSIC read as `crossed`"]
    assert f"both finest skips in 0 and one of them in 0 of the {len(crossed)}" in line
    assert "does not use them" not in line


def test_the_committed_block_is_what_the_analyses_give():
    done = subprocess.run([sys.executable, str(ROOT / "scripts/ablation_report.py"), "--overview", "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_a_stale_block_is_named(tmp_path, monkeypatch):
    from importlib import util

    spec = util.spec_from_file_location("ablation_report", ROOT / "scripts" / "ablation_report.py")
    script = util.module_from_spec(spec)
    spec.loader.exec_module(script)
    (tmp_path / "docs").mkdir()
    (tmp_path / "results").mkdir()
    for name in ("ablation_nudt", "ablation_nudt_msic_unit_gain"):
        (tmp_path / "results" / f"{name}.json").write_text((ROOT / "results" / f"{name}.json").read_text())
    (tmp_path / "docs" / "ABLATION.md").write_text("# t\n<!-- ablation-overview:begin -->\nold\n<!-- ablation-overview:end -->\n")
    monkeypatch.setattr(script, "ROOT", tmp_path)
    assert script.overview(check_only=True) == 1
    assert script.overview(check_only=False) == 0 and script.overview(check_only=True) == 0
    written = (tmp_path / "docs" / "ABLATION.md").read_text()
    assert "old" not in written and "**In short**" in written
    assert json.loads((tmp_path / "results" / "ablation_nudt.json").read_text())  # inputs untouched
