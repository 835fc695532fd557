"""gcflnet_lib.models: the registry, the 8 ablation variants, padding, outputs, input checks, learning, model-info."""

import copy
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from gcflnet_lib.cli import main as cli_main
from gcflnet_lib.commands.model_info import count_flops, count_parameters
from gcflnet_lib.losses import deep_supervision_loss
from gcflnet_lib.models import GCFLNet, UNet, build_model, list_models
from gcflnet_lib.nn import CDC, EEM, EFEU, GLFI, MSIC, ConcatSkip
from gcflnet_lib.ops.layout import is_channels_last

SMALL = {"channels": (8, 16, 32)}
ABLATIONS = ["gcflnet_eem", "gcflnet_glfi", "gcflnet_msic", "gcflnet_eem_glfi", "gcflnet_eem_msic", "gcflnet_glfi_msic"]
MODULES_OF_SWITCH = {"eem": (EEM, EFEU, CDC), "glfi": (GLFI,), "msic": (MSIC,)}


@pytest.fixture(autouse=True)
def _one_thread_and_a_seed():
    """Small convolutions on a busy 2-core machine run many times faster on one thread than on two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _switches(name: str) -> dict[str, bool]:
    if name == "gcflnet":
        return dict.fromkeys(MODULES_OF_SWITCH, True)
    return {switch: switch in name.split("_")[1:] for switch in MODULES_OF_SWITCH}


class TestRegistry:
    def test_names_are_those_of_the_interfaces(self):
        assert sorted(list_models()) == sorted(["gcflnet", "unet", *ABLATIONS])
        assert list_models()[0] == "unet" and list_models()[-1] == "gcflnet"
        assert list_models(baselines=True) == [*list_models(), "unet_wide"]

    def test_unknown_name_lists_the_known_names(self):
        with pytest.raises(ValueError, match=r"unknown model 'gcfl'; known models: unet, .*gcflnet, unet_wide$"):
            build_model("gcfl")

    def test_switch_that_contradicts_the_name_is_rejected(self):
        with pytest.raises(ValueError, match="model 'unet' has eem=False"):
            build_model("unet", eem=True)
        assert build_model("gcflnet_eem", eem=True, **SMALL).config["eem"] is True

    def test_unknown_argument_is_rejected(self):
        with pytest.raises(ValueError, match="unknown argument.*widths.*accepted: in_channels, channels"):
            build_model("gcflnet", widths=(8, 16))

    def test_unet_is_the_all_off_variant(self):
        model = build_model("unet", **SMALL)
        assert isinstance(model, UNet)
        assert sum(isinstance(m, ConcatSkip) for m in model.modules()) == 2
        with pytest.raises(ValueError, match="UNet has no EEM"):
            UNet(eem=True)

    def test_defaults(self):
        model = build_model("gcflnet")
        assert model.in_channels == 1 and model.channels == (16, 32, 64, 128, 256) and model.deep_supervision
        assert count_parameters(model) <= 6_000_000


@pytest.mark.parametrize("name", list_models())
class TestVariants:
    def test_switch_removes_its_modules(self, name):
        model = build_model(name, **SMALL)
        switches = _switches(name)
        assert {k: v for k, v in model.config.items() if k in switches} == switches
        for switch, classes in MODULES_OF_SWITCH.items():
            present = [m for m in model.modules() if isinstance(m, classes)]
            assert bool(present) == switches[switch], (switch, [type(m).__name__ for m in present])

    def test_odd_size_in_eval_and_train_mode(self, name):
        model = build_model(name, **SMALL)
        x = torch.randn(1, 1, 257, 311)
        model.eval()
        assert model(x).shape == (1, 1, 257, 311)
        model.train()
        outputs = model(torch.randn(2, 1, 37, 29))
        assert isinstance(outputs, list) and len(outputs) == 2  # one head per decoder level
        assert all(out.shape == (2, 1, 37, 29) for out in outputs)

    def test_every_parameter_receives_a_gradient(self, name):
        model = build_model(name, **SMALL).train()
        target = (torch.rand(2, 1, 24, 20) > 0.9).float()
        if model.config["msic"]:
            # unit_gain MSIC starts with the attentions' last layers at zero, so the layers before them get no
            # gradient on the first step (by design: MSIC starts as the identity); after one step they do.
            deep_supervision_loss(model(torch.randn(2, 1, 24, 20)), target).backward()
            torch.optim.SGD(model.parameters(), lr=0.1).step()
            model.zero_grad()
        deep_supervision_loss(model(torch.randn(2, 1, 24, 20)), target).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not missing

    def test_config_rebuilds_the_same_model(self, name):
        torch.manual_seed(0)
        model = build_model(name, **SMALL).eval()
        config = json.loads(json.dumps(model.config))
        assert config["name"] == name
        rebuilt = build_model(**config).eval()
        rebuilt.load_state_dict(model.state_dict())
        x = torch.randn(1, 1, 20, 20)
        torch.testing.assert_close(rebuilt(x), model(x))


class TestGCFLNet:
    def test_parameter_counts_differ_across_all_eight_variants(self):
        counts = {name: count_parameters(build_model(name, **SMALL)) for name in list_models()}
        assert len(set(counts.values())) == 8, counts

    def test_default_model_at_an_odd_size(self):
        model = build_model("gcflnet").eval()
        with torch.no_grad():
            assert model(torch.randn(1, 1, 257, 311)).shape == (1, 1, 257, 311)

    @pytest.mark.parametrize("size", [(1, 1), (16, 16), (17, 33)])
    def test_small_and_unaligned_sizes(self, size):
        model = build_model("gcflnet", **SMALL).eval()
        assert model(torch.randn(2, 1, *size)).shape == (2, 1, *size)

    def test_deep_supervision_off_gives_one_output_in_train_mode(self):
        model = build_model("gcflnet", deep_supervision=False, **SMALL).train()
        outputs = model(torch.randn(2, 1, 16, 16))
        assert len(outputs) == 1 and outputs[0].shape == (2, 1, 16, 16)
        assert len(model.heads) == 1

    def test_eval_output_is_the_last_train_output(self):
        model = build_model("gcflnet", **SMALL)
        x = torch.randn(2, 1, 20, 24)
        model.eval()  # BatchNorm running statistics in both calls
        final = model(x)
        model.train()
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eval()
        torch.testing.assert_close(model(x)[-1], final)

    def test_padding_is_invisible_to_the_prediction_inside(self):
        """Zero padding happens at the bottom/right: a 16x16 image and its 15x15 crop agree far from the cut."""
        model = build_model("unet", channels=(8, 16)).eval()
        image = torch.randn(1, 1, 16, 16)
        full, cropped = model(image), model(image[..., :15, :15])
        assert cropped.shape == (1, 1, 15, 15)
        assert torch.isfinite(cropped).all() and not torch.equal(full[..., :15, :15], cropped)

    def test_deterministic_under_a_fixed_seed(self):
        outputs = []
        for _ in range(2):
            torch.manual_seed(123)
            model = build_model("gcflnet", **SMALL).eval()
            outputs.append(model(torch.randn(1, 1, 32, 32)))
        torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)

    def test_channels_last_gives_the_same_output(self):
        model = build_model("gcflnet", **SMALL).eval()
        x = torch.randn(2, 1, 32, 40)
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        torch.testing.assert_close(model(x.to(memory_format=torch.channels_last)), expected, rtol=1e-4, atol=1e-5)

    @pytest.mark.parametrize("name", ["gcflnet", "gcflnet_eem", "gcflnet_glfi", "gcflnet_msic", "unet"])
    def test_a_channels_last_network_feeds_every_convolution_channels_last(self, name):
        """A layout flip before a convolution costs a copy there and slows every op between (ops/layout.py)."""
        model = build_model(name, **SMALL).to(memory_format=torch.channels_last)
        flipped = []

        def check(module, inputs):
            x = inputs[0]
            if x.shape[1] > 1 and x.shape[2] * x.shape[3] > 1 and not is_channels_last(x):
                flipped.append(module.name)

        for module_name, module in model.named_modules():
            if isinstance(module, nn.Conv2d):
                module.name = module_name
                module.register_forward_pre_hook(check)
        model(torch.rand(2, 1, 32, 32).to(memory_format=torch.channels_last))
        assert flipped == []

    def test_a_channels_last_training_step_matches_the_plain_one(self):
        torch.manual_seed(0)
        plain = build_model("gcflnet", **SMALL).train()
        nhwc = copy.deepcopy(plain).to(memory_format=torch.channels_last)
        x, y = torch.rand(2, 1, 32, 32), (torch.rand(2, 1, 32, 32) > 0.9).float()
        losses = []
        for model, batch in ((plain, x), (nhwc, x.contiguous(memory_format=torch.channels_last))):
            loss = deep_supervision_loss(model(batch), y)
            loss.backward()
            losses.append(loss.detach())
        torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-6)
        for (key, a), b in zip(plain.named_parameters(), nhwc.parameters()):
            torch.testing.assert_close(b.grad, a.grad, rtol=1e-3, atol=1e-5, msg=key)

    @pytest.mark.parametrize("options", [{"glfi_attention": "channel"}, {"eem_fusion": "gate"}, {"dilations": (2,)}])
    def test_options_reach_the_modules(self, options):
        model = build_model("gcflnet", **SMALL, **options)
        assert model(torch.randn(2, 1, 16, 16))[-1].shape == (2, 1, 16, 16)
        glfi = next(m for m in model.modules() if isinstance(m, GLFI))
        eem = next(m for m in model.modules() if isinstance(m, EEM))
        assert glfi.attention == options.get("glfi_attention", "outer")
        assert eem.fusion == options.get("eem_fusion", "concat")
        assert len(glfi.branches) == 1 + len(options.get("dilations", (2, 3)))

    def test_compiles_as_one_graph(self):
        """No data-dependent Python control flow or .item() in forward: fullgraph compilation succeeds."""
        model = build_model("gcflnet", **SMALL).train()
        x = torch.randn(2, 1, 20, 20)
        compiled = torch.compile(model, backend="eager", fullgraph=True)
        try:
            for expected, actual in zip(model(x), compiled(x)):
                torch.testing.assert_close(actual, expected)
        finally:
            # Dynamo's state after an eager-backend compile made the next inductor compile in the same process fail
            # (TensorReferenceAnalysis lacks python_mod), so test_speed_paths skipped when it shared this worker.
            torch._dynamo.reset()

    def test_bad_construction_arguments(self):
        with pytest.raises(ValueError, match="at least 2 positive widths"):
            GCFLNet(channels=(8,))
        with pytest.raises(ValueError, match="glfi_attention must be one of"):
            GCFLNet(channels=(8, 16), glfi_attention="self")


class TestPredictAndInputChecks:
    def test_predict_returns_probabilities_and_restores_the_mode(self):
        model = build_model("gcflnet", **SMALL).train()
        x = torch.randn(2, 1, 20, 20)
        probabilities = model.predict(x)
        assert model.training
        assert probabilities.shape == (2, 1, 20, 20) and not probabilities.requires_grad
        assert probabilities.min() >= 0 and probabilities.max() <= 1
        model.eval()
        torch.testing.assert_close(probabilities, torch.sigmoid(model(x)))

    @pytest.mark.parametrize(
        "x, message",
        [
            (torch.randn(1, 3, 16, 16), "^expected 1 input channel, got 3$"),
            (torch.randn(1, 16, 16), r"^expected \(B, C, H, W\) input, got shape \(1, 16, 16\)"),
            (torch.zeros(1, 1, 16, 16, dtype=torch.uint8), "^expected a floating-point input, got torch.uint8"),
        ],
    )
    def test_bad_input_in_forward_and_predict(self, x, message):
        model = build_model("gcflnet", **SMALL)
        with pytest.raises(ValueError, match=message):
            model(x)
        with pytest.raises(ValueError, match=message):
            model.predict(x)

    def test_plural_channel_message(self):
        with pytest.raises(ValueError, match="^expected 3 input channels, got 1$"):
            build_model("unet", in_channels=3, channels=(8, 16))(torch.randn(1, 1, 8, 8))

    @pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
    def test_non_finite_input_in_predict(self, bad_value):
        x = torch.randn(1, 1, 16, 16)
        x[0, 0, 3, 4] = bad_value
        with pytest.raises(ValueError, match="NaN or infinite"):
            build_model("gcflnet", **SMALL).predict(x)


def _synthetic_batch(n: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy images with one bright 3-5 px blob each, and the blobs' masks."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images, masks = [], []
    for _ in range(n):
        cy, cx = torch.randint(6, size - 6, (2,), generator=generator).tolist()
        radius = 1.5 + torch.rand(1, generator=generator).item()
        mask = ((y - cy) ** 2 + (x - cx) ** 2) <= radius**2
        images.append(0.3 * torch.randn(size, size, generator=generator) + 2.0 * mask)
        masks.append(mask)
    return torch.stack(images)[:, None], torch.stack(masks)[:, None].float()


class TestLearning:
    @pytest.mark.parametrize("name", ["gcflnet", "unet"])
    def test_short_fit_lowers_the_soft_iou_loss(self, name):
        torch.manual_seed(0)
        generator = torch.Generator().manual_seed(0)
        images, masks = _synthetic_batch(8, 64, generator)
        model = build_model(name, **SMALL).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-2, weight_decay=1e-4)
        losses = []
        for _ in range(40):
            optimizer.zero_grad()
            loss = deep_supervision_loss(model(images), masks)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[0] > 0.95  # p ~ 0.5 everywhere: the soft IoU of a sparse mask is near 0
        assert sum(losses[-3:]) / 3 < 0.5, losses


class TestBenchmarkScript:
    def test_prints_one_row_per_model(self, capsys):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_models.py"
        spec = importlib.util.spec_from_file_location("bench_models", path)
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        assert bench.main(["--models", "unet,gcflnet_msic", "--size", "32", "--repeats", "2", "--warmup", "0"]) == 0
        rows = capsys.readouterr().out.strip().splitlines()[2:]
        assert [row.split()[0] for row in rows] == ["unet", "gcflnet_msic"]
        assert all(float(row.split()[1]) > 0 for row in rows)


class TestModelInfoCommand:
    def test_prints_every_variant_with_its_parameter_count(self, capsys):
        assert cli_main(["model-info", "--model", "all", "--size", "32", "--channels", "8,16,32"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        rows = {line.split()[0]: line.split() for line in lines[1:-1]}
        assert list(rows) == list_models(baselines=True)
        for name, row in rows.items():
            model = build_model(name, **SMALL)
            assert int(row[1].replace(",", "")) == count_parameters(model)
            assert float(row[3]) > 0
            assert row[4] == ",".join(map(str, model.channels))
        assert rows["unet_wide"][4] == "13,26,52"
        assert lines[-1] == "readings: glfi_attention=outer glfi_fc=False eem_fusion=concat msic_reading=unit_gain pad_mode=zeros"

    def test_flops_grow_with_the_pixel_count(self):
        model = build_model("gcflnet", **SMALL)
        small, large = count_flops(model, 32), count_flops(model, 64)
        assert small > 0 and large == pytest.approx(4 * small, rel=0.02)

    def test_flops_of_a_single_convolution(self):
        model = build_model("unet", channels=(8, 16))
        assert count_flops(model, 16) > 2 * 16 * 16 * 8 * 1 * 9  # at least the first 3x3 conv

    def test_unknown_model_is_a_user_error(self, capsys):
        assert cli_main(["model-info", "--model", "resnet"]) == 2
        assert "--model: unknown model 'resnet'" in capsys.readouterr().err
