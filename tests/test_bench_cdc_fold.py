"""benchmarks/bench_cdc_fold.py: the two forms it times compute the same thing, and patching is undone."""

import importlib.util
from pathlib import Path

import torch

import gcflnet_lib.nn.cdc as cdc_module

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cdc_fold.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_cdc_fold", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestBenchCdcFold:
    def test_two_pass_form_equals_the_library_op(self):
        bench = _load()
        generator = torch.Generator().manual_seed(3)
        x = torch.randn(1, 3, 11, 14, generator=generator)
        weight = torch.randn(5, 3, 3, 3, generator=generator)
        torch.testing.assert_close(bench.two_pass_cdc(x, weight, 0.7, 2, 2), cdc_module.central_difference_conv2d(x, weight, 0.7, 2, 2),
                                   rtol=1e-5, atol=1e-5)

    def test_compare_times_both_and_restores_the_library_op(self):
        bench = _load()
        library_op = cdc_module.central_difference_conv2d
        row = bench.compare((2, 4, 8, 16, 32), crop=32, batch=2, rounds=1, steps=1)
        assert cdc_module.central_difference_conv2d is library_op
        assert row["images_per_s_folded"] > 0 and row["images_per_s_two_pass"] > 0
        assert abs(row["speedup"] - row["images_per_s_folded"] / row["images_per_s_two_pass"]) < 0.01
