"""``gcflnet bench``: the figures it writes, and its refusal of a GPU that is not there."""

import json

import pytest
import torch

from gcflnet_lib.cli import main
from gcflnet_lib.models import build_model


class TestBenchCommand:
    def test_quick_cpu_run_writes_figures_with_provenance(self, tmp_path, capsys):
        out = tmp_path / "bench.json"
        code = main(["bench", "--device", "cpu", "--quick", "--model", "unet", "--channels", "4,8",
                     "--crop-size", "32", "--inference-sizes", "32,64", "--inference-batches", "1,2",
                     "--json", str(out)])
        assert code == 0
        report = json.loads(out.read_text())
        assert report["kind"] == "bench" and report["command"].startswith("gcflnet bench --device cpu")
        assert report["device"].startswith("cpu")
        assert report["parameters"] == sum(p.numel() for p in build_model("unet", channels=(4, 8)).parameters())
        # FLOPs grow with the image area: 64x64 costs four times 32x32.
        gflops = report["gflops_forward_per_image"]
        assert gflops["64"] == pytest.approx(4 * gflops["32"], rel=1e-6)
        sizes = sorted({(m["size"], m["batch"]) for m in report["inference"]})
        assert sizes == [(32, 1), (32, 2), (64, 1), (64, 2)]
        assert all(m["images_per_s"] > 0 and 0 < m["mfu"] for m in report["inference"] + report["train"])
        assert "images/s" in capsys.readouterr().out

    @pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
    def test_cuda_without_a_gpu_is_one_line_error(self, tmp_path, capsys):
        out = tmp_path / "bench.json"
        assert main(["bench", "--device", "cuda", "--json", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--device cuda" in err and "no CUDA GPU" in err
        assert not out.exists()
