"""gcflnet_lib.workbook.notebook_runs: run folders, reusable synthetic data, training data choice, Markdown tables."""

from __future__ import annotations

import math

import pytest

from gcflnet_lib.data.dataset import load_split
from gcflnet_lib.errors import DataError, UserError
from gcflnet_lib.workbook.notebook_runs import (
    ensure_synthetic_dataset,
    markdown_table,
    notebook_runs_dir,
    synthetic_dataset_dir,
    training_data,
)


class TestNotebookRunsDir:
    def test_beside_the_results_folder(self, tmp_path):
        assert notebook_runs_dir(tmp_path / "build" / "notebook_results", "09_ablation") == \
            (tmp_path / "build" / "runs" / "09_ablation").resolve()

    def test_name_with_a_slash_is_refused(self, tmp_path):
        with pytest.raises(ValueError, match="plain name"):
            notebook_runs_dir(tmp_path, "../09")


def test_synthetic_dataset_dir_names_every_setting(tmp_path):
    folders = {synthetic_dataset_dir(tmp_path, n, size, seed) for n in (4, 8) for size in (32, 64) for seed in (0, 1)}
    assert len(folders) == 8 and all(folder.parent == tmp_path for folder in folders)


class TestEnsureSyntheticDataset:
    def test_written_once_then_reused_and_rewritten_when_settings_change(self, tmp_path):
        root = ensure_synthetic_dataset(tmp_path / "syn", 6, 32, seed=1)
        assert [s.image.shape for s in load_split(root, "Synthetic", "train")] == [(32, 32)] * 3
        stamp = (root / "synthetic.json").stat().st_mtime_ns
        assert ensure_synthetic_dataset(tmp_path / "syn", 6, 32, seed=1) == root
        assert (root / "synthetic.json").stat().st_mtime_ns == stamp  # reused, not rewritten
        ensure_synthetic_dataset(tmp_path / "syn", 8, 32, seed=1)
        assert len(load_split(root, "Synthetic", "test")) == 4

    def test_a_folder_of_other_files_is_never_overwritten(self, tmp_path):
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "notes.txt").write_text("keep me")
        with pytest.raises(UserError, match="mine: holds files but no synthetic.json"):
            ensure_synthetic_dataset(tmp_path / "mine", 4, 32)
        assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"

    def test_a_file_in_the_way_is_an_error(self, tmp_path):
        (tmp_path / "f").write_text("x")
        with pytest.raises(UserError, match="found a file"):
            ensure_synthetic_dataset(tmp_path / "f", 4, 32)


class TestTrainingData:
    def test_synthetic_when_no_data_dir(self, tmp_path):
        root, dataset = training_data("", "ignored", tmp_path / "syn", 4, 32)
        assert dataset == "Synthetic" and (root / "img_idx" / "train_Synthetic.txt").is_file()

    def test_data_dir_without_the_split_names_the_file(self, tmp_path):
        ensure_synthetic_dataset(tmp_path / "syn", 4, 32)
        with pytest.raises(DataError, match="test_Other.txt|train_Other.txt"):
            training_data(tmp_path / "syn", "Other", tmp_path / "unused", 4, 32)
        assert training_data(tmp_path / "syn", "Synthetic", tmp_path / "unused", 4, 32) == \
            (tmp_path / "syn", "Synthetic")


class TestMarkdownTable:
    def test_formats_flags_numbers_and_nan(self):
        rows = [{"name": "unet", "eem": False, "miou": 0.12345, "fa": float("nan")},
                {"name": "gcflnet", "eem": True, "miou": 0.5, "fa": 2.5e-5}]
        text = markdown_table(rows, {"name": None, "eem": None, "miou": ".3f", "fa": ".1e"})
        assert text.splitlines() == [
            "| name | eem | miou | fa |",
            "|---|---|---|---|",
            "| unet | off | 0.123 | n/a |",
            "| gcflnet | on | 0.500 | 2.5e-05 |",
        ]

    def test_missing_column_names_key_and_row(self):
        with pytest.raises(KeyError, match="row 1 lacks column.*pd"):
            markdown_table([{"pd": 1.0}, {"miou": math.pi}], ["pd"])
