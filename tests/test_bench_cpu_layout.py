"""benchmarks/bench_cpu_layout.py: its three forms train, its switch of the layout calls is undone, its figures add up."""

import pytest
import torch

import gcflnet_lib.nn.glfi as glfi_module
from gcflnet_lib.ops import cat_channels, is_channels_last


@pytest.fixture
def bench(script_module):
    return script_module("bench_cpu_layout", "benchmarks")


class TestBenchCpuLayout:
    def test_layout_kept_false_lets_nchw_through_and_restores_the_library_calls(self, bench):
        x = torch.rand(1, 3, 4, 4).to(memory_format=torch.channels_last)
        image = torch.rand(1, 1, 4, 4)
        with bench.layout_kept(False):
            assert not is_channels_last(glfi_module.cat_channels([x, image]))
            assert not glfi_module.is_channels_last(x)
        assert glfi_module.cat_channels is cat_channels and glfi_module.is_channels_last is is_channels_last
        assert is_channels_last(glfi_module.cat_channels([x, image]))

    def test_compare_times_every_form(self, bench):
        row = bench.compare("gcflnet", (2, 4, 8, 16, 32), crop=32, batch=2, rounds=1, steps=1)
        assert all(row[f"s_per_step_{form}"] > 0 for form in bench.FORMS)
        assert abs(row["speedup"] - row["s_per_step_nchw"] / row["s_per_step_nhwc"]) < 0.01 * row["speedup"] + 1e-3
        assert glfi_module.cat_channels is cat_channels
        assert bench.table([row]).splitlines()[1].split()[0] == "gcflnet"
