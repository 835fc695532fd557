"""benchmarks/bench_cpu_layout.py: its three forms train, its switch of the layout calls is undone, its figures add up."""

import pytest
import torch

import gcflnet_lib.nn.glfi as glfi_module
from gcflnet_lib.ops import match_layout


@pytest.fixture
def bench(script_module):
    return script_module("bench_cpu_layout", "benchmarks")


class TestBenchCpuLayout:
    def test_layout_kept_false_lets_nchw_through_and_restores_the_library_calls(self, bench):
        x = torch.rand(1, 3, 4, 4).to(memory_format=torch.channels_last)
        plain = torch.rand(1, 3, 4, 4)
        with bench.layout_kept(False):
            assert glfi_module.match_layout(plain, x) is plain
        assert glfi_module.match_layout is match_layout
        assert glfi_module.match_layout(plain, x) is not plain

    def test_compare_times_every_form(self, bench):
        row = bench.compare("gcflnet", (2, 4, 8, 16, 32), crop=32, batch=2, rounds=1, steps=1)
        assert all(row[f"s_per_step_{form}"] > 0 for form in bench.FORMS)
        assert abs(row["speedup"] - row["s_per_step_nchw"] / row["s_per_step_nhwc"]) < 0.01 * row["speedup"] + 1e-3
        assert glfi_module.match_layout is match_layout
        assert bench.table([row]).splitlines()[1].split()[0] == "gcflnet"
