"""Training presets: the CPU recipe's values, explicit flags winning, milestones following --epochs."""

import pytest

from gcflnet_lib.cli import build_parser
from gcflnet_lib.commands.train import config_from_args
from gcflnet_lib.engine.config import TrainConfig
from gcflnet_lib.engine.presets import PRESETS, milestones_for
from gcflnet_lib.errors import UserError


def _config(extra: str):
    return config_from_args(build_parser().parse_args(f"train --data x --dataset y --out z {extra}".split()))


class TestPresets:
    def test_cpu_preset_fills_what_was_not_given(self):
        config = _config("--preset cpu")
        assert config.channels == (8, 16, 32, 64, 128) and config.crop_size == 128 and config.epochs == 200
        assert config.lr == 2e-3 and config.resolved_milestones == (133, 173) and config.batch_size == 16

    def test_explicit_flags_win_and_milestones_follow_epochs(self):
        config = _config("--preset cpu --epochs 30 --lr 1e-3 --crop-size 64")
        assert (config.epochs, config.lr, config.crop_size) == (30, 1e-3, 64)
        assert config.resolved_milestones == (20, 26)
        assert _config("--preset cpu --epochs 30 --milestones 10").resolved_milestones == (10,)

    def test_without_a_preset_the_paper_defaults_hold(self):
        config = _config("")
        assert config.channels is None and config.epochs == 1500 and config.crop_size == 256

    def test_python_api_matches_the_cli(self):
        config = TrainConfig.from_preset("cpu", data_root="x", dataset="y", out_dir="z", epochs=30, threads="auto")
        assert config == _config("--preset cpu --epochs 30")

    def test_unknown_preset_lists_the_known_ones(self):
        with pytest.raises(UserError, match="--preset gpu: unknown preset; known presets: paper, cpu"):
            _config("--preset gpu")

    def test_milestones_for_keeps_fractions(self):
        assert milestones_for(PRESETS["cpu"], 300) == (200, 260)
        assert milestones_for(PRESETS["paper"], 300) is None
