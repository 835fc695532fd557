"""GLFI in use (gcflnet_lib.diagnostics.glfi_use, `gcflnet inspect`'s GLFI table): attention range and flatten test."""

from __future__ import annotations

import json

import pytest
import torch

from gcflnet_lib.diagnostics import DEAD_PROBABILITY_CHANGE, flatten_test, glfi_blocks, glfi_use
from gcflnet_lib.models import build_model
from gcflnet_lib.nn import GLFI
from test_skip_health import CHANNELS, decisive, gcflnet, inputs, toy_checkpoint, toy_data  # noqa: F401 (fixture)


def model_with(**options):
    torch.manual_seed(0)
    return decisive(build_model("gcflnet", channels=CHANNELS, **options)).eval()


@pytest.mark.parametrize("attention", ["outer", "signed"])
def test_parts_and_spatial_attention_rebuild_the_forward(attention):
    torch.manual_seed(0)
    block = GLFI(6, edge_channels=3, attention=attention).eval()
    features, edges = torch.relu(torch.randn(2, 6, 9, 7)), torch.randn(2, 3, 9, 7)
    local, fused = block.parts(features, edges)
    torch.testing.assert_close(local * block.spatial_attention(fused) + fused, block(features, edges))


def test_the_channel_reading_has_no_spatial_map():
    with pytest.raises(ValueError, match="'channel'"):
        GLFI(4, attention="channel").spatial_attention(torch.rand(1, 4, 3, 3))
    with pytest.raises(ValueError, match="only the 'outer' and 'signed' readings"):
        glfi_blocks(model_with(glfi_attention="channel"))


def test_a_model_without_glfi_is_refused():
    with pytest.raises(ValueError, match="has no GLFI"):
        glfi_use(build_model("unet", channels=CHANNELS), *inputs())


def test_range_and_spread_are_those_of_the_maps_the_model_computes():
    model = model_with()
    images, masks = inputs(n=3)
    uses = glfi_use(model, images, masks, batch_size=2)
    assert [item.level for item in uses] == list(range(len(CHANNELS)))
    seen = {}
    hooks = [block.register_forward_hook(lambda m, args, out, level=level: seen.__setitem__(
        level, m.spatial_attention(m.parts(*args)[1]))) for level, block in glfi_blocks(model)]
    with torch.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    for item in uses:
        attention = seen[item.level]
        assert item.attention_min == pytest.approx(float(attention.min()))
        assert 0.5 <= item.attention_min <= item.attention_max < 1.0
        spread = (attention.amax(dim=(2, 3)) - attention.amin(dim=(2, 3))).mean()
        assert item.mean_spread == pytest.approx(float(spread), rel=1e-5) and 0.0 < item.mean_spread <= 0.5
        assert item.iou_before == uses[0].iou_before  # one unflattened prediction for every level


def test_a_constant_attention_is_reported_flat_and_flattening_it_changes_nothing(monkeypatch):
    model = model_with()
    monkeypatch.setattr(GLFI, "spatial_attention", lambda self, fused: torch.full_like(fused, 0.7))
    uses = glfi_use(model, *inputs(n=3))
    for item in uses:
        assert item.mean_spread == 0.0 and item.attention_min == pytest.approx(0.7)
        assert item.max_probability_change < 1e-5 and item.iou_cost == 0.0 and item.status == "flat"


def test_an_attention_that_selects_is_in_use():
    # A decisive network (sharp heads, as trained ones are) whose attention varies: flattening it moves some output
    # probability by more than the flat threshold.
    model = model_with()
    uses = glfi_use(model, *inputs(n=3))
    assert max(item.max_probability_change for item in uses) >= DEAD_PROBABILITY_CHANGE
    assert any(item.status == "in use" for item in uses)


def test_numbers_do_not_depend_on_the_batch():
    model = model_with()
    images, masks = inputs(n=4)
    one, all_at_once = glfi_use(model, images, masks, batch_size=1), glfi_use(model, images, masks, batch_size=4)
    for a, b in zip(one, all_at_once):
        for key, value in a.to_dict().items():
            assert value == (b.to_dict()[key] if isinstance(value, str) else pytest.approx(b.to_dict()[key], rel=1e-5,
                                                                                           abs=1e-6)), key


def test_inspect_prints_and_records_the_glfi_table(toy_data, tmp_path):  # noqa: F811 (the fixture)
    checkpoint = toy_checkpoint(tmp_path / "g.pt", model_with())
    out = gcflnet("inspect", "--checkpoint", str(checkpoint), "--data", str(toy_data), "--images", "3", "--crop", "32",
                  "--json", str(tmp_path / "h.json"))
    assert out.returncode == 0, out.stderr
    assert "GLFI attention (A: its range" in out.stdout and "flat GLFI attention (no probability moves" in out.stdout
    report = json.loads((tmp_path / "h.json").read_text())
    assert [item["level"] for item in report["glfi"]] == list(range(len(CHANNELS)))
    assert all(item["status"] in ("flat", "in use") and 0.5 <= item["attention_min"] for item in report["glfi"])
    assert report["glfi_all"]["levels"] == list(range(len(CHANNELS))) and "every level flattened together" in out.stdout


def test_the_flatten_test_takes_several_levels_at_once_and_refuses_an_unknown_one():
    model = model_with()
    images, masks = inputs(n=3)
    uses = glfi_use(model, images, masks)
    together = flatten_test(model, images, masks, [item.level for item in uses])
    assert together.levels == tuple(range(len(CHANNELS))) and together.iou_before == uses[0].iou_before
    assert together.max_probability_change > 0.0
    assert flatten_test(model, images, masks, (0,)).max_probability_change == uses[0].max_probability_change
    with pytest.raises(ValueError, match="GLFI levels are"):
        flatten_test(model, images, masks, (7,))
