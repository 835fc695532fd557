"""The paper's open readings as switches (issue 14): padding, MSIC, GLFI, EEM, unet_wide, weight decay groups,
config upgrades, checkpoints and the CLI flags."""

import itertools
from pathlib import Path

import pytest
import torch
from torch import nn

from gcflnet_lib.cli import main as cli_main
from gcflnet_lib.commands.model_info import count_parameters
from gcflnet_lib.data.synthetic import write_dataset
from gcflnet_lib.data.transforms import pad_to_multiple
from gcflnet_lib.engine import trainer
from gcflnet_lib.engine.checkpoint import load_checkpoint, load_model_from_checkpoint, save_checkpoint
from gcflnet_lib.engine.config import TrainConfig
from gcflnet_lib.engine.evaluation import predict_probabilities
from gcflnet_lib.engine.param_groups import group_weight_decay, parameter_groups, split_parameters
from gcflnet_lib.errors import CheckpointError, UserError
from gcflnet_lib.losses import deep_supervision_loss
from gcflnet_lib.models import READING_DEFAULTS, READINGS, build_model, config_differences, list_models, upgrade_config, widen
from gcflnet_lib.models.readings import LEGACY_MEANING, applicable_readings
from gcflnet_lib.models.registry import reading_of_weights
from gcflnet_lib.nn import EFEU, GLFI, MSIC, outer_attention
from gcflnet_lib.ops import pad_bottom_right

DATA = Path(__file__).resolve().parent / "data"
TINY = {"channels": (4, 8, 16)}
NON_DEFAULT = {"msic_reading": "literal", "glfi_attention": "signed", "glfi_fc": True, "eem_fusion": "gate",
               "pad_mode": "reflect"}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def reference():
    """Outputs, keys and a checkpoint of the 8 variants as built before the switches (make_pre_readings_reference.py)."""
    return torch.load(DATA / "pre_readings_reference.pt", weights_only=True)


class TestPadding:
    def test_modes_continue_the_image(self):
        x = torch.arange(6.0).reshape(1, 1, 2, 3)
        assert pad_bottom_right(x, 1, 2, "zeros")[0, 0].tolist() == [[0, 1, 2, 0, 0], [3, 4, 5, 0, 0], [0, 0, 0, 0, 0]]
        assert pad_bottom_right(x, 1, 2, "replicate")[0, 0].tolist() == [[0, 1, 2, 2, 2], [3, 4, 5, 5, 5], [3, 4, 5, 5, 5]]
        assert pad_bottom_right(x, 1, 2, "reflect")[0, 0].tolist() == [[0, 1, 2, 1, 0], [3, 4, 5, 4, 3], [0, 1, 2, 1, 0]]

    def test_reflect_larger_than_the_image_mirrors_again_and_a_single_pixel_is_replicated(self):
        x = torch.arange(3.0).reshape(1, 1, 1, 3)
        padded = pad_bottom_right(x, 2, 5, "reflect")
        assert padded.shape == (1, 1, 3, 8)
        assert padded[0, 0, 0].tolist() == [0, 1, 2, 1, 0, 1, 2, 1]
        assert torch.equal(padded[0, 0, 1], padded[0, 0, 0]) and torch.equal(padded[0, 0, 2], padded[0, 0, 0])

    def test_zeros_is_the_old_padding_and_bad_modes_are_refused(self):
        x = torch.randn(2, 1, 5, 7)
        padded, size = pad_to_multiple(x, 4)
        assert torch.equal(padded, nn.functional.pad(x, (0, 1, 0, 3))) and size == (5, 7)
        with pytest.raises(ValueError, match="pad_mode must be one of 'zeros', 'reflect', 'replicate', got 'wrap'"):
            pad_bottom_right(x, 1, 1, "wrap")

    def test_model_pads_its_way_and_evaluation_follows_the_model(self):
        image = torch.randn(1, 1, 19, 27)
        zeros = build_model("unet", channels=(4, 8, 16)).eval()
        reflect = build_model("unet", channels=(4, 8, 16), pad_mode="reflect").eval()
        reflect.load_state_dict(zeros.state_dict())
        assert reflect.pad_mode == "reflect" and reflect.config["pad_mode"] == "reflect"
        assert not torch.equal(zeros(image), reflect(image))  # both pad 19 x 27 to 20 x 28, differently
        images = [image[0, 0].numpy() * 50 + 100]
        by_model = predict_probabilities(reflect, images, "cpu", 100.0, 50.0)[0]
        forced = predict_probabilities(reflect, images, "cpu", 100.0, 50.0, pad_mode="zeros")[0]
        plain = predict_probabilities(zeros, images, "cpu", 100.0, 50.0)[0]
        assert (by_model != forced).any()
        assert (forced == plain).all()  # the same weights under the BasicIRSTD zero padding


class TestMSICReadings:
    @pytest.mark.parametrize("reading", ["crossed", "literal"])
    def test_shape_and_gradients(self, reading):
        msic = MSIC(6, 12, reading=reading)
        out = msic(torch.rand(2, 6, 10, 14), torch.rand(2, 12, 5, 7))
        assert out.shape == (2, 6, 10, 14)
        out.square().sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in msic.parameters())

    def test_literal_attends_each_level_with_its_own_attention_and_gates_them(self):
        msic = MSIC(4, 4, reading="literal").eval()
        low, high = torch.rand(1, 4, 6, 6), torch.rand(1, 4, 6, 6)
        up = msic.high_proj(high)
        high_refined = up * msic.spatial(up)
        low_refined = low * msic.channel(low)
        gate = torch.sigmoid(msic.gate(torch.cat([low_refined, high_refined], dim=1)))
        expected = msic.fuse(gate * low_refined + (1 - gate) * high_refined)
        torch.testing.assert_close(msic(low, high), expected)
        assert msic.fuse.body[0].in_channels == 4  # no concatenation reaches the decoder block

    def test_crossed_keeps_its_modules(self):
        names = [name for name, _ in MSIC(4, 8).named_children()]
        assert names == ["high_proj", "spatial", "channel", "fuse"]

    def test_unknown_reading_lists_the_known_ones(self):
        with pytest.raises(ValueError, match="msic_reading must be one of 'crossed', 'literal', 'unit_gain', got 'cross'"):
            MSIC(4, 8, reading="cross")


class TestGLFIAttention:
    def test_outer_attention_on_rectified_features_never_goes_below_half(self):
        glfi = GLFI(8, edge_channels=8)
        features, edges = torch.rand(2, 8, 12, 12), torch.rand(2, 8, 12, 12)
        fused = glfi.edge_fusion(features, edges)
        assert outer_attention(fused).min() >= 0.5

    def test_signed_attention_can_suppress(self):
        glfi = GLFI(8, edge_channels=8, attention="signed").train()
        fused = glfi.edge_fusion(torch.rand(2, 8, 12, 12), torch.rand(2, 8, 12, 12))
        attention = outer_attention(glfi.attention_norm(fused))
        assert attention.min() < 0.4 and attention.max() > 0.6

    def test_fc_maps_the_channels_of_both_profiles(self):
        x = torch.randn(2, 3, 5, 7)
        fc = nn.Linear(3, 3)
        row = fc(x.amax(dim=3).transpose(1, 2)).transpose(1, 2)[..., None]  # (B, C, H, 1)
        column = fc(x.mean(dim=2).transpose(1, 2)).transpose(1, 2)[:, :, None]  # (B, C, 1, W)
        torch.testing.assert_close(outer_attention(x, fc), torch.sigmoid(row @ column))

    @pytest.mark.parametrize("attention, fc", list(itertools.product(["outer", "signed", "channel"], [False, True])))
    def test_shape_and_gradients(self, attention, fc):
        glfi = GLFI(6, edge_channels=6, attention=attention, fc=fc)
        out = glfi(torch.rand(2, 6, 9, 11), torch.rand(2, 6, 9, 11))
        assert out.shape == (2, 6, 9, 11)
        out.square().sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in glfi.parameters())
        assert hasattr(glfi, "fc") == fc and hasattr(glfi, "attention_norm") == (attention == "signed")


class TestSwitchCombinations:
    @pytest.mark.parametrize(
        "msic_reading, glfi_attention, glfi_fc, eem_fusion, pad_mode",
        list(itertools.product(*(READINGS[key][0] for key in
                                 ("msic_reading", "glfi_attention", "glfi_fc", "eem_fusion", "pad_mode")))),
    )
    def test_shapes_and_config_round_trip(self, msic_reading, glfi_attention, glfi_fc, eem_fusion, pad_mode):
        readings = dict(msic_reading=msic_reading, glfi_attention=glfi_attention, glfi_fc=glfi_fc,
                        eem_fusion=eem_fusion, pad_mode=pad_mode)
        model = build_model("gcflnet", **TINY, **readings).train()
        outputs = model(torch.randn(2, 1, 13, 22))
        assert [out.shape for out in outputs] == [(2, 1, 13, 22)] * 2
        assert {key: model.config[key] for key in readings} == readings
        rebuilt = build_model(**model.config)
        assert rebuilt.config == model.config
        assert rebuilt.state_dict().keys() == model.state_dict().keys()

    def test_every_parameter_learns_under_the_non_default_readings(self):
        model = build_model("gcflnet", **TINY, **NON_DEFAULT).train()
        target = (torch.rand(2, 1, 24, 20) > 0.9).float()
        deep_supervision_loss(model(torch.randn(2, 1, 24, 20)), target).backward()
        assert not [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]

    @pytest.mark.parametrize("key, value", [("msic_reading", "cross"), ("glfi_attention", "global"),
                                            ("eem_fusion", "sum"), ("pad_mode", "wrap")])
    def test_unknown_reading_is_refused_listing_the_known_ones(self, key, value):
        known = ", ".join(repr(v) for v in READINGS[key][0])
        with pytest.raises(ValueError, match=f"^{key} must be one of {known}, got '{value}'$"):
            build_model("gcflnet", **{key: value})

    def test_a_reading_of_a_missing_module_is_refused(self):
        with pytest.raises(ValueError, match="model 'unet' has no MSIC, so msic_reading='literal' would change nothing"):
            build_model("unet", msic_reading="literal")
        with pytest.raises(ValueError, match="model 'gcflnet_msic' has no GLFI, so glfi_fc=True"):
            build_model("gcflnet_msic", glfi_fc=True)
        assert build_model("unet", pad_mode="replicate", **TINY).config["pad_mode"] == "replicate"
        assert applicable_readings({"eem": False, "glfi": True, "msic": False}, NON_DEFAULT) == {
            "glfi_attention": "signed", "glfi_fc": True, "pad_mode": "reflect"}


class TestLegacyReadingsUnchanged:
    """The readings the project started with (``LEGACY_MEANING``) build the same models as before, and old configs load
    as them, whatever today's defaults are (``msic_reading`` moved to ``unit_gain`` by the pre-registered rule)."""

    def test_only_msic_moved_from_the_readings_the_project_started_with(self):
        assert {k: v for k, v in READING_DEFAULTS.items() if LEGACY_MEANING[k] != v} == {"msic_reading": "unit_gain"}

    @pytest.mark.parametrize("name", list_models())
    def test_same_state_dict_keys_and_outputs_as_before(self, name, reference):
        torch.manual_seed(0)
        switches = {key: reference["variants"][name]["config"][key] for key in ("eem", "glfi", "msic")}
        model = build_model(name, channels=tuple(reference["channels"]),
                            **applicable_readings(switches, LEGACY_MEANING)).eval()
        before = reference["variants"][name]
        assert list(model.state_dict()) == before["keys"]
        with torch.no_grad():
            # 1e-6: the last bit of float32 differs between CPUs' kernels (seen: 6e-8 on an AVX-512 host); a change
            # of the model moves outputs of this size (0.1-0.6) by far more.
            torch.testing.assert_close(model(reference["input"]), before["output"], rtol=0, atol=1e-6)

    @pytest.mark.parametrize("name", list_models())
    def test_old_configs_rebuild_with_the_defaults(self, name, reference):
        old = reference["variants"][name]["config"]
        assert "attention" in old and "msic_reading" not in old
        upgraded = upgrade_config(old)
        assert "attention" not in upgraded and upgraded["glfi_attention"] == old["attention"]
        switches = {key: old[key] for key in ("eem", "glfi", "msic")}
        assert {key: upgraded[key] for key in READING_DEFAULTS} == {**READING_DEFAULTS,
                                                                   **applicable_readings(switches, LEGACY_MEANING)}
        assert build_model(**upgraded).config == upgraded
        assert config_differences(old, build_model(**upgraded).config) == []
        if old["msic"]:  # built today without the keyword, it is the new default, and the difference is named
            assert config_differences(old, build_model(**old).config) == [
                "msic_reading='crossed' (saved) vs msic_reading='unit_gain' (asked)"]
        else:
            assert config_differences(old, build_model(**old).config) == []

    def test_old_checkpoint_loads_and_gives_the_same_output(self, reference):
        model, meta = load_model_from_checkpoint(DATA / "pre_readings_checkpoint.pt")
        assert "msic_reading" not in meta["model_config"]  # meta shows the config as stored
        assert model.config["msic_reading"] == "crossed" and model.config["glfi_attention"] == "outer"
        with torch.no_grad():
            torch.testing.assert_close(model(reference["input"]), reference["variants"]["gcflnet"]["output"], rtol=0, atol=1e-6)

    def test_the_old_keyword_name_still_works_but_not_with_the_new_one(self):
        assert build_model("gcflnet", attention="channel", **TINY).config["glfi_attention"] == "channel"
        with pytest.raises(ValueError, match="'attention' is the old name of 'glfi_attention'"):
            build_model("gcflnet", attention="channel", glfi_attention="outer")


class TestWideUNet:
    @pytest.mark.parametrize("channels", [(16, 32, 64, 128, 256), (8, 16, 32, 64, 128)])
    def test_parameter_count_within_ten_percent_of_gcflnet(self, channels):
        wide = build_model("unet_wide", channels=channels)
        gcflnet, unet = count_parameters(build_model("gcflnet", channels=channels)), count_parameters(build_model("unet", channels=channels))
        assert abs(count_parameters(wide) - gcflnet) <= 0.1 * gcflnet
        assert count_parameters(wide) > 2 * unet

    def test_widths_and_config(self):
        wide = build_model("unet_wide")
        assert wide.channels == (26, 52, 104, 208, 416) == widen((16, 32, 64, 128, 256))
        assert wide.config["name"] == "unet_wide" and wide.config["channels"] == [16, 32, 64, 128, 256]
        assert not any(wide.config[s] for s in ("eem", "glfi", "msic"))
        assert build_model(**wide.config).channels == wide.channels

    def test_forward_and_registry(self):
        model = build_model("unet_wide", channels=(4, 8)).eval()
        assert model(torch.randn(1, 1, 9, 10)).shape == (1, 1, 9, 10)
        assert "unet_wide" in list_models(baselines=True) and "unet_wide" not in list_models()
        with pytest.raises(ValueError, match="model 'unet_wide' has msic=False"):
            build_model("unet_wide", msic=True)


class TestParameterGroups:
    def test_default_is_one_group_of_every_parameter(self):
        model = build_model("gcflnet", **TINY)
        (group,) = parameter_groups(model, 0.01)
        assert group == {"params": list(model.parameters()), "weight_decay": 0.01}

    def test_norm_bias_and_efeu_are_excluded_and_the_rest_decays(self):
        model = build_model("gcflnet", **TINY, **NON_DEFAULT)
        decay, no_decay = split_parameters(model)
        modules = dict(model.named_modules())
        for name in no_decay:
            owner, _, leaf = name.rpartition(".")
            module = modules[owner]
            assert leaf == "bias" or isinstance(module, (nn.BatchNorm2d, EFEU)), name
        for name in decay:
            owner, _, leaf = name.rpartition(".")
            assert leaf != "bias" and not isinstance(modules[owner], (nn.BatchNorm2d, EFEU)), name
        assert any(n.endswith("efeu.kx") for n in no_decay) and any(n.endswith("efeu.ky") for n in no_decay)
        assert any(n.endswith("fc.weight") for n in decay) and any(n.endswith("gate.weight") for n in decay)
        assert sorted(decay + no_decay) == sorted(n for n, _ in model.named_parameters())

        groups = parameter_groups(model, 0.05, exclude=True)
        assert [(g["name"], g["weight_decay"]) for g in groups] == [("decay", 0.05), ("no_decay", 0.0)]
        assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
        assert [group_weight_decay(g, 0.2) for g in groups] == [0.2, 0.0]
        optimizer = torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.05)
        assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05, 0.0]


def _legacy_state(config):
    return {"model_config": config, "train_config": {}, "dataset": "Toy", "epoch": 1}


class TestCheckpointReadings:
    def test_expected_reading_mismatch_names_both(self, tmp_path):
        model = build_model("gcflnet", **TINY)
        path = save_checkpoint(tmp_path / "c.pt", {"model": model.state_dict(), "model_config": model.config,
                                                   "epoch": 1, "norm": {"mean": 0.0, "std": 1.0}})
        with pytest.raises(CheckpointError, match=r"msic_reading='unit_gain' \(saved\) vs msic_reading='literal' \(asked\)"):
            load_model_from_checkpoint(path, expect={"msic_reading": "literal"})
        loaded, _ = load_model_from_checkpoint(path, expect={"msic_reading": "unit_gain"})
        assert loaded.config == model.config

    def test_weights_of_another_reading_are_named(self, tmp_path):
        model = build_model("gcflnet", **TINY)
        config = {**model.config, "msic_reading": "literal"}
        path = save_checkpoint(tmp_path / "c.pt", {"model": model.state_dict(), "model_config": config,
                                                   "epoch": 1, "norm": {"mean": 0.0, "std": 1.0}})
        # crossed and unit_gain have parameters of the same shapes: the weights cannot say which, so both are named
        with pytest.raises(CheckpointError, match="weights were saved with msic_reading='crossed' or "
                                                  "msic_reading='unit_gain', but the checkpoint's model_config says "
                                                  "msic_reading='literal'"):
            load_model_from_checkpoint(path)
        assert reading_of_weights(model.config, build_model("gcflnet", **TINY, eem_fusion="gate").state_dict()) == (
            "eem_fusion", ("gate",))

    def test_resume_with_another_reading_is_refused_naming_both(self, tmp_path):
        saved = build_model("gcflnet", **TINY).config
        net = build_model("gcflnet", **TINY, glfi_attention="signed")
        config = TrainConfig(data_root="d", dataset="Toy", out_dir="o", glfi_attention="signed")
        with pytest.raises(CheckpointError, match=r"glfi_attention='outer' \(saved\) vs glfi_attention='signed' \(asked\)"):
            trainer._check_resume_fits(_legacy_state(saved), net, config, tmp_path / "last.pt")

    def test_resume_of_an_old_run_fits_its_legacy_readings_not_the_new_default(self, tmp_path, reference):
        old = reference["variants"]["gcflnet"]["config"]  # saved before msic_reading existed: crossed
        net = build_model("gcflnet", channels=tuple(reference["channels"]), msic_reading="crossed")
        config = TrainConfig(data_root="d", dataset="Toy", out_dir="o", msic_reading="crossed")
        trainer._check_resume_fits(_legacy_state(old), net, config, tmp_path / "last.pt")  # no error
        with pytest.raises(CheckpointError, match="decay_exclude=False, this run asks for decay_exclude=True"):
            trainer._check_resume_fits(_legacy_state(old), net, TrainConfig(data_root="d", dataset="Toy", out_dir="o",
                                                                            decay_exclude=True, msic_reading="crossed"),
                                       tmp_path / "last.pt")
        default = build_model("gcflnet", channels=tuple(reference["channels"]))
        with pytest.raises(CheckpointError, match=r"msic_reading='crossed' \(saved\) vs msic_reading='unit_gain' \(asked\)"):
            trainer._check_resume_fits(_legacy_state(old), default, TrainConfig(data_root="d", dataset="Toy", out_dir="o"),
                                       tmp_path / "last.pt")


class TestTraining:
    def test_trains_and_resumes_with_every_non_default_reading(self, tmp_path):
        root = write_dataset(tmp_path / "data", 8, size=48, seed=0, name="Toy")
        settings = dict(data_root=str(root), dataset="Toy", out_dir=str(tmp_path / "run"), model="gcflnet",
                        channels=(4, 8), batch_size=2, crop_size=32, eval_every=0, progress=False,
                        decay_exclude=True, **NON_DEFAULT)
        trainer.train(TrainConfig(epochs=1, **settings))
        state = load_checkpoint(tmp_path / "run" / "last.pt")
        assert {k: state["model_config"][k] for k in NON_DEFAULT} == NON_DEFAULT
        assert [g["weight_decay"] for g in state["optimizer"]["param_groups"]] == [0.01, 0.0]
        result = trainer.train(TrainConfig(epochs=2, resume=True, **settings))
        assert result["epochs"] == 2
        state = load_checkpoint(tmp_path / "run" / "last.pt")
        assert [g["weight_decay"] for g in state["optimizer"]["param_groups"]] == [0.01, 0.0]
        with pytest.raises(CheckpointError, match=r"msic_reading='literal' \(saved\) vs msic_reading='crossed' \(asked\)"):
            trainer.train(TrainConfig(epochs=3, resume=True, **{**settings, "msic_reading": "crossed"}))


class TestConfigAndCLI:
    def test_train_config_passes_only_readings_off_their_default(self):
        assert TrainConfig(data_root="d", dataset="D", out_dir="o").model_kwargs() == {}
        config = TrainConfig(data_root="d", dataset="D", out_dir="o", channels=(4, 8), msic_reading="literal",
                             glfi_fc=True)
        assert config.model_kwargs() == {"channels": (4, 8), "msic_reading": "literal", "glfi_fc": True}
        assert TrainConfig.from_dict(config.to_dict()) == config
        # A U-Net record of the crossed era: its MSIC reading changes nothing, so it is not passed (and the U-Net builds)
        unet = TrainConfig(data_root="d", dataset="D", out_dir="o", model="unet", msic_reading="crossed")
        assert unet.model_kwargs() == {} and build_model("unet", **unet.model_kwargs()).config["msic"] is False
        with pytest.raises(UserError, match=r"^--glfi-attention must be one of outer, channel, signed \(got self\)$"):
            TrainConfig(data_root="d", dataset="D", out_dir="o", glfi_attention="self")

    def test_train_flags_reach_the_config(self, monkeypatch, tmp_path):
        seen = {}

        def fake_train(config):
            seen["config"] = config
            return {"final": None, "run_dir": "", "epochs": 0}

        monkeypatch.setattr(trainer, "train", fake_train)
        argv = ["train", "--data", str(tmp_path), "--dataset", "D", "--out", str(tmp_path / "run"), "--model", "unet_wide",
                "--pad-mode", "replicate", "--decay-exclude", "--preset", "cpu"]
        assert cli_main(argv) == 0
        config = seen["config"]
        assert (config.model, config.pad_mode, config.decay_exclude, config.msic_reading) == ("unet_wide", "replicate", True, "unit_gain")
        assert build_model(config.model, **config.model_kwargs()).channels == (13, 26, 52, 104, 208)

    def test_unknown_reading_flag_is_one_line(self, capsys, tmp_path):
        argv = ["train", "--data", str(tmp_path), "--dataset", "D", "--out", str(tmp_path / "run"),
                "--msic-reading", "both"]
        assert cli_main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines == ["gcflnet train: error: --msic-reading must be one of crossed, literal, unit_gain (got both)"]

    def test_model_info_shows_the_readings(self, capsys):
        argv = ["model-info", "--model", "gcflnet", "--size", "16", "--channels", "4,8", "--msic-reading", "literal",
                "--glfi-fc"]
        assert cli_main(argv) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines[-1] == "readings: glfi_attention=outer glfi_fc=True eem_fusion=concat msic_reading=literal pad_mode=zeros"
        params = int(lines[1].split()[1].replace(",", ""))
        assert params == count_parameters(build_model("gcflnet", channels=(4, 8), msic_reading="literal", glfi_fc=True))
