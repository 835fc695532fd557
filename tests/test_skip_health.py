"""Skip health (gcflnet_lib.diagnostics, engine.health, `gcflnet inspect`) and MSIC's unit_gain reading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gcflnet_lib.data.synthetic import write_dataset
from gcflnet_lib.diagnostics import DEAD_PROBABILITY_CHANGE, shuffle_pixels, shuffle_test, skip_blocks, skip_health
from gcflnet_lib.engine.checkpoint import save_checkpoint
from gcflnet_lib.models import build_model
from gcflnet_lib.nn import MSIC
from gcflnet_lib.nn.blocks import upsample_to

CHANNELS = (4, 8, 16)


def inputs(n=5, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 1, size, size, generator=generator)
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    masks[:, size // 2 - 2:size // 2 + 2, size // 2 - 2:size // 2 + 2] = True
    images[:, :, size // 2 - 2:size // 2 + 2, size // 2 - 2:size // 2 + 2] += 4.0  # a bright target
    return images, masks


def decisive(model):
    """An untrained network's output hovers near 0.5 whatever its input; scaling the heads makes its decisions
    sharp, as a trained network's are, so that a skip it uses moves probabilities by more than 0.05."""
    with torch.no_grad():
        for head in model.heads:
            head.weight.mul_(200.0)
    return model


def shut_channel_attention(model, levels):
    """Force the unit_gain MSIC's channel attention (on the skip) to ~0 at ``levels``: the gate shut."""
    with torch.no_grad():
        for level, block in skip_blocks(model):
            if level in levels:
                attention = block.channel.mlp
                attention[0].weight.fill_(1.0)  # hidden units > 0 for non-negative (post-ReLU) skip features
                attention[2].weight.fill_(-1e4)
    return model


class TestShuffle:
    def test_keeps_every_channel_s_values_and_moves_the_pixels(self):
        x = torch.randn(2, 3, 5, 6)
        out = shuffle_pixels(x, [torch.Generator().manual_seed(i) for i in range(2)])
        assert out.shape == x.shape and not torch.equal(out, x)
        torch.testing.assert_close(out.sort(dim=-1).values.flatten(2).sort(-1).values, x.flatten(2).sort(-1).values)
        torch.testing.assert_close(out.amax(dim=(2, 3)), x.amax(dim=(2, 3)))
        # one permutation for all channels: the channel vector at each position moves as a whole
        positions = {tuple(x[0, :, i, j].tolist()) for i in range(5) for j in range(6)}
        assert {tuple(out[0, :, i, j].tolist()) for i in range(5) for j in range(6)} == positions


class TestSkipHealth:
    def test_a_unet_skip_is_in_use_and_kept_whole(self):
        torch.manual_seed(0)
        model = decisive(build_model("unet", channels=CHANNELS))
        images, masks = inputs()
        health = skip_health(model, images, masks)
        assert [item.level for item in health] == [0, 1]
        assert [item.channels for item in health] == [4, 8]
        for item in health:
            assert item.kept_ratio == pytest.approx(1.0) and item.gain_target == pytest.approx(1.0)
            assert item.max_probability_change > DEAD_PROBABILITY_CHANGE and item.status == "in use"

    def test_removing_a_unet_skip_changes_the_output(self):
        torch.manual_seed(0)
        model = decisive(build_model("unet", channels=CHANNELS)).eval()
        images, masks = inputs()
        result = shuffle_test(model, images, masks, (0, 1))
        assert result.max_probability_change > 0.05 and result.changed_pixels >= 0

    def test_a_forced_shut_gate_is_reported_dead_and_the_others_in_use(self):
        torch.manual_seed(0)
        model = shut_channel_attention(decisive(build_model("gcflnet_msic", channels=CHANNELS, msic_reading="unit_gain")), {0})
        images, masks = inputs()
        health = {item.level: item for item in skip_health(model, images, masks)}
        assert health[0].status == "dead" and health[0].kept_ratio < 1e-3 and health[0].changed_pixels == 0
        assert health[1].status == "in use" and health[1].kept_ratio == pytest.approx(1.0, abs=1e-6)

    def test_numbers_do_not_depend_on_the_batch(self):
        torch.manual_seed(1)
        model = build_model("gcflnet", channels=CHANNELS, msic_reading="unit_gain")
        images, masks = inputs(n=5)
        one = [item.to_dict() for item in skip_health(model, images, masks, batch_size=1)]
        many = [item.to_dict() for item in skip_health(model, images, masks, batch_size=3)]
        for a, b in zip(one, many):
            assert a.keys() == b.keys()
            for key in a:
                if isinstance(a[key], str):
                    assert a[key] == b[key], key
                else:
                    assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key

    def test_a_model_without_skips_is_refused(self):
        with pytest.raises(ValueError, match="has no skip connections"):
            skip_health(nn.Conv2d(1, 1, 3), *inputs())

    def test_mismatched_images_and_masks_are_refused(self):
        model = build_model("unet", channels=CHANNELS)
        images, masks = inputs()
        with pytest.raises(ValueError, match="must match"):
            skip_health(model, images, masks[:2])


class TestUnitGainMSIC:
    def test_is_the_identity_modulation_at_initialisation(self):
        torch.manual_seed(0)
        msic = MSIC(8, 16, reading="unit_gain").eval()
        low, high = torch.rand(2, 8, 12, 12), torch.randn(2, 16, 6, 6)
        assert torch.equal(msic.skip_output(low, high), low)
        expected = msic.fuse(torch.cat([low, upsample_to(msic.high_proj(high), low)], dim=1))
        assert torch.equal(msic(low, high), expected)

    def test_applies_the_paper_s_assignment_once_trained(self):
        """Spatial attention re-weights the high-level features, channel attention the low-level ones."""
        torch.manual_seed(0)
        msic = MSIC(4, 8, reading="unit_gain").eval()
        for parameter in msic.parameters():
            nn.init.normal_(parameter)
        low, high = torch.rand(1, 4, 8, 8), torch.rand(1, 8, 4, 4)
        seen = {}
        msic.fuse.register_forward_pre_hook(lambda module, args: seen.setdefault("x", args[0]))
        with torch.no_grad():
            msic(low, high)
        low_part, high_part = seen["x"].split(4, dim=1)
        projected = upsample_to(msic.high_proj(high), low)
        torch.testing.assert_close(low_part, 2 * low * msic.channel(low))
        torch.testing.assert_close(high_part, 2 * projected * msic.spatial(projected))

    def test_starts_open_where_crossed_starts_half_shut(self):
        torch.manual_seed(0)
        images, masks = inputs()
        kept = {reading: skip_health(build_model("gcflnet_msic", channels=CHANNELS, msic_reading=reading), images,
                                     masks)[0].kept_ratio for reading in ("crossed", "unit_gain")}
        assert kept["unit_gain"] == pytest.approx(1.0, abs=1e-6) and kept["crossed"] < 0.95


def gcflnet(*arguments, cwd=None):
    return subprocess.run([sys.executable, "-m", "gcflnet_lib", *arguments], capture_output=True, text=True, cwd=cwd,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("health") / "data", 8, size=64, seed=0, name="Synthetic")


def toy_checkpoint(path, model):
    return save_checkpoint(path, {"model": model.state_dict(), "model_config": model.config, "epoch": 1,
                                  "norm": {"mean": 100.0, "std": 30.0}, "dataset": "Synthetic", "history": []})


class TestInspectCommand:
    def test_reports_a_forced_shut_skip_as_dead(self, toy_data, tmp_path):
        torch.manual_seed(0)
        model = shut_channel_attention(build_model("gcflnet_msic", channels=CHANNELS, msic_reading="unit_gain"), {0, 1})
        checkpoint = toy_checkpoint(tmp_path / "shut.pt", model)
        out = gcflnet("inspect", "--checkpoint", str(checkpoint), "--data", str(toy_data), "--images", "3",
                      "--crop", "32", "--json", str(tmp_path / "h.json"))
        assert out.returncode == 0, out.stderr
        assert "dead skips (no probability moves by 0.05 when their spatial detail is shuffled): level 0, level 1" in out.stdout
        report = json.loads((tmp_path / "h.json").read_text())
        assert [level["status"] for level in report["levels"]] == ["dead", "dead"]
        assert report["fine"]["levels"] == [0, 1] and report["fine"]["changed_pixels"] == 0
        assert len(report["images"]) == 3

    def test_a_unet_has_no_dead_skip(self, toy_data, tmp_path):
        torch.manual_seed(0)
        checkpoint = toy_checkpoint(tmp_path / "unet.pt", decisive(build_model("unet", channels=CHANNELS)))
        out = gcflnet("inspect", "--checkpoint", str(checkpoint), "--data", str(toy_data), "--images", "3", "--crop", "32")
        assert out.returncode == 0, out.stderr
        assert out.stdout.rstrip().endswith("shuffled): none")

    @pytest.mark.parametrize("case", ["empty_folder", "foreign_checkpoint", "small_image", "crop_not_multiple"])
    def test_bad_input_gets_one_line_and_exit_2(self, case, toy_data, tmp_path):
        torch.manual_seed(0)
        checkpoint = toy_checkpoint(tmp_path / "unet.pt", build_model("unet", channels=CHANNELS))
        data, extra, named = str(toy_data), [], None
        if case == "empty_folder":
            (tmp_path / "empty").mkdir()
            data, named = str(tmp_path / "empty"), str(tmp_path / "empty")
        elif case == "foreign_checkpoint":
            (tmp_path / "foreign.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
            checkpoint, named = tmp_path / "foreign.pt", str(tmp_path / "foreign.pt")
        elif case == "small_image":
            checkpoint = toy_checkpoint(tmp_path / "deep.pt", build_model("unet", channels=(4, 8, 16, 32, 64)))
            data = str(write_dataset(tmp_path / "small", 4, size=8, seed=0, name="Synthetic"))
            named = "smaller than the network's stride 16"
        else:
            extra, named = ["--crop", "33"], "--crop 33"
        out = gcflnet("inspect", "--checkpoint", str(checkpoint), "--data", data, "--images", "2", *extra)
        assert out.returncode == 2
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and named in lines[0], out.stderr


class TestTrainingLogsHealth:
    def test_train_records_the_reading_and_logs_skip_health_at_evaluations_and_every_k(self, tmp_path):
        data = write_dataset(tmp_path / "data", 8, size=64, seed=0, name="Synthetic")
        run = tmp_path / "run"
        out = gcflnet("train", "--data", str(data), "--dataset", "Synthetic", "--model", "gcflnet_msic",
                      "--msic-reading", "unit_gain", "--channels", "4,8,16", "--epochs", "3", "--batch-size", "2",
                      "--crop-size", "32", "--eval-every", "3", "--health-every", "2", "--device", "cpu",
                      "--no-progress", "--out", str(run), "--record", str(tmp_path / "record.json"))
        assert out.returncode == 0, out.stderr
        record = json.loads((tmp_path / "record.json").read_text())
        assert record["config"]["msic_reading"] == "unit_gain" and record["config"]["health_every"] == 2
        assert torch.load(run / "final.pt", weights_only=True)["model_config"]["msic_reading"] == "unit_gain"
        logged = [row["epoch"] for row in record["history"] if "skip0_kept" in row]
        assert logged == [2, 3]  # every 2 epochs, and at the evaluation (the last epoch)
        last = record["history"][-1]
        assert {"skip0_kept", "skip1_kept", "skip0_dprob", "skip1_iou_cost", "fine_dprob", "fine_iou_cost"} <= set(last)
        assert 0.0 < last["skip0_kept"] < 2.0  # 2 * sigmoid bounds the gain
