"""The README is the front door: short, its generated parts what the records give, every link alive."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_the_readme_is_at_most_200_lines():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


def test_generated_blocks_are_what_the_records_give():
    done = subprocess.run([sys.executable, str(ROOT / "scripts/readme_summary.py"), "--check"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


def test_the_summary_is_at_most_8_lines_and_names_its_sources():
    text = README.read_text(encoding="utf-8")
    block = text[text.index("<!-- summary:begin -->") + 22:text.index("<!-- summary:end -->")].strip().splitlines()
    assert 1 <= len(block) <= 8
    assert all(line.startswith("- **") and "](" in line for line in block)  # each line links to its evidence


def test_every_relative_link_of_the_readme_and_the_docs_resolves():
    broken = []
    for page in [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "checkpoints/README.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_the_generated_ablation_blocks_have_one_home():
    """The ablation's statistics live in docs/ABLATION.md only; the README summarises them."""
    assert "<!-- ablation" not in README.read_text(encoding="utf-8")
    assert "<!-- results-table:begin -->" in (ROOT / "docs/RESULTS.md").read_text(encoding="utf-8")
    assert "<!-- readings:begin -->" in (ROOT / "docs/PAPER_READING.md").read_text(encoding="utf-8")


def test_the_claims_sentence_counts_verdicts_and_shows_the_interval_only_when_there_is_one():
    sys.path.insert(0, str(ROOT / "scripts"))
    import readme_summary

    analysis = {"verdicts": {"a": {"verdict": "supported"}, "b": {"verdict": "contradicted"},
                             "c": {"verdict": "supported"}},
                "table": [{"variant": "gcflnet", "miou": 0.8}, {"variant": "unet", "miou": 0.75}],
                "effects": {"gcflnet_vs": {"unet": {"miou": {"estimate": 0.05, "low": 0.01, "high": 0.09}}}}}
    sentence = readme_summary._claims_and_gcflnet(analysis)
    assert sentence == ("of the 3 claims, 2 supported, 1 contradicted; GCFLNet's mIoU 0.8000 against the U-Net's "
                        "0.7500 (difference +0.0500 [+0.0100, +0.0900], 95 % interval)")
    analysis["effects"]["gcflnet_vs"]["unet"]["miou"] = {"estimate": 0.05, "low": None, "high": None}
    assert readme_summary._claims_and_gcflnet(analysis).endswith("(difference +0.0500, no interval: a cell with one seed)")
