"""Results records name their command, commit and device (scripts/results_table.py relies on it)."""

import json
from pathlib import Path

import pytest

from gcflnet_lib.cli import main
from gcflnet_lib.data.synthetic import write_dataset
from gcflnet_lib.provenance import command_line, device_description, git_commit, replace_generated_block


class TestProvenance:
    def test_command_line_quotes_arguments(self):
        assert command_line(["/x/bin/gcflnet", "train", "--out", "a b"]) == "gcflnet train --out 'a b'"

    def test_cpu_description_names_the_cores(self):
        assert device_description("cpu").startswith("cpu (")

    def test_git_commit_outside_a_repository_is_none(self, tmp_path):
        assert git_commit(tmp_path) is None


class TestGeneratedBlock:
    def test_block_is_replaced_between_the_markers_and_the_prose_kept(self, tmp_path):
        doc = tmp_path / "README.md"
        doc.write_text("intro\n<!-- t:begin -->\nold\nrows\n<!-- t:end -->\noutro\n")
        replace_generated_block(doc, "<!-- t:begin -->", "<!-- t:end -->", "| new |")
        assert doc.read_text() == "intro\n<!-- t:begin -->\n| new |\n<!-- t:end -->\noutro\n"

    @pytest.mark.parametrize("text", ["no markers\n", "<!-- t:end -->\n<!-- t:begin -->\n", "<!-- t:begin -->\n"])
    def test_missing_or_swapped_markers_are_refused_naming_the_file(self, tmp_path, text):
        doc = tmp_path / "card.md"
        doc.write_text(text)
        with pytest.raises(ValueError, match=r"card\.md: needs the markers <!-- t:begin --> and <!-- t:end -->"):
            replace_generated_block(doc, "<!-- t:begin -->", "<!-- t:end -->", "x")
        assert doc.read_text() == text


class TestTrainRecord:
    def test_record_holds_last_epoch_metrics_and_provenance(self, tmp_path):
        write_dataset(tmp_path / "syn", n=12, size=32, seed=3, name="Syn")
        record_path = tmp_path / "results" / "run.json"
        code = main(["train", "--data", str(tmp_path / "syn"), "--dataset", "Syn", "--out", str(tmp_path / "run"),
                     "--model", "unet", "--channels", "4,8", "--epochs", "2", "--batch-size", "2", "--crop-size", "32",
                     "--eval-every", "1", "--no-progress", "--record", str(record_path)])
        assert code == 0
        record = json.loads(record_path.read_text())
        run_metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert record["kind"] == "train" and record["model"] == "unet" and record["epochs"] == 2
        assert record["command"].startswith("gcflnet train --data ") and record["command"].endswith(str(record_path))
        assert record["device"].startswith("cpu")
        assert record["wall_time_s"] > 0
        # The record reports the last epoch, the same numbers the run folder holds.
        assert record["final"]["miou"] == pytest.approx(run_metrics["final"]["miou"])
        assert [row["epoch"] for row in record["history"]] == [1, 2]


class TestNoLegacyAuc:
    def test_no_committed_record_calls_the_own_range_area_auc(self, script_module):
        """The old area over each curve's own Fa range is kept only as ``own_range_area`` (issue: ROC and AUC)."""
        rename = script_module("rename_legacy_auc")
        results = Path(__file__).resolve().parents[1] / "results"
        assert rename.legacy_files(results) == []

    def test_renaming_reaches_every_depth_and_keeps_the_rest(self, script_module):
        rename = script_module("rename_legacy_auc")
        record = {"final": {"auc": 0.6, "miou": 0.7}, "history": [{"auc": 0.5}, {"loss": 1.0}], "auc_pd_fa": 0.8}
        renamed = rename.renamed(record)
        assert renamed == {"final": {"own_range_area": 0.6, "miou": 0.7}, "history": [{"own_range_area": 0.5}, {"loss": 1.0}],
                           "auc_pd_fa": 0.8}
        assert rename.holds_legacy_key(record) and not rename.holds_legacy_key(renamed)
