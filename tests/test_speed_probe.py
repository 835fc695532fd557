"""The speed probe: its choice of path, and children that measure, fail, die or hang without stopping it."""

import json
import sys
import textwrap

import pytest

from gcflnet_lib.engine import speed_probe as probe_mod
from gcflnet_lib.engine.speed_probe import ProbeSettings, choose_path, probe, with_mfu


def _train(path, step_ms, prepare_s=0.0, ok=True, model="gcflnet"):
    return {"kind": "train", "model": model, "path": path, "ok": ok, "step_s": step_ms / 1e3, "prepare_s": prepare_s,
            "images_per_s": 16 / (step_ms / 1e3)}


class TestChoice:
    def test_the_path_whose_run_ends_first_wins_compile_time_included(self):
        results = [_train("eager", 53.5, 2), _train("graph", 14.0, 5), _train("compile-graph", 8.0, 60)]
        assert choose_path(results, "gcflnet", 16400)[0] == "compile-graph"  # 131 + 60 s beats 230 + 5 s
        assert choose_path(results, "gcflnet", 5200)[0] == "graph"  # a short run does not repay the compile
        path, line = choose_path(results, "gcflnet", 5200)
        assert line.startswith("speed: graph for every run: 14.00 ms/step (eager 53.50)")

    def test_failed_paths_do_not_count_and_eager_is_the_fallback_in_one_line(self):
        results = [_train("eager", 50.0), _train("graph", 1.0, ok=False), _train("compile", 40.0, model="unet")]
        assert choose_path(results, "gcflnet", 100) == ("eager", "speed: no path beat eager for gcflnet (50.00 ms/step); eager")
        assert choose_path([], "gcflnet", 100) == ("eager", "speed: no path of gcflnet worked in the probe; eager")

    def test_mfu_divides_model_flops_by_the_measured_matmul_rate(self):
        flops = {"kind": "flops", "model": "gcflnet", "ok": True, "train_gflops_per_image": 40.0,
                 "forward_gflops_per_image": 13.0, "matmul_tflops": 800.0}
        inference = {"kind": "inference", "model": "gcflnet", "path": "eager", "ok": True, "images_per_s": 1600.0}
        out = with_mfu([_train("eager", 50.0), inference, flops], 16)
        assert out[0]["mfu"] == pytest.approx(320 * 40e9 / 800e12)
        assert out[1]["mfu"] == pytest.approx(1600 * 13e9 / 800e12)
        assert "mfu" not in with_mfu([_train("eager", 50.0)], 16)[0]  # no flops item, no MFU


CPU = ProbeSettings(device="cpu", batch=2, crop=32, channels=(4, 8), threads=1, warmup=1)


class TestOnTheCpu:
    def test_a_child_measures_every_item(self):
        items = [{"kind": "train", "model": "unet", "path": p} for p in ("eager", "graph")]
        items += [{"kind": "inference", "model": "unet", "path": p} for p in ("eager", "graph")]
        items += [{"kind": "flops", "model": "unet"}, {"kind": "streams", "model": "unet", "path": "graph", "k": 2}]
        lines = []
        results = probe(items, CPU, item_timeout_s=120, deadline_s=300, log=lines.append)
        assert [r["ok"] for r in results] == [True] * 5 + [False]
        assert results[-1]["error"] == "RuntimeError: CUDA streams need a GPU"  # on a CPU it fails, in one line
        assert all(r["step_s"] > 0 and r["prepare_s"] > 0 for r in results[:2])
        assert results[2]["images_per_s"] > 0 and results[2]["batch"] == 2
        assert results[4]["train_gflops_per_image"] > results[4]["forward_gflops_per_image"] > 0
        assert len(lines) == len(items) and lines[0].startswith("probe train unet eager: ")


FAKE_CHILD = textwrap.dedent("""
    import json, os, sys, time
    items = json.load(open(sys.argv[1]))
    with open(sys.argv[3], "a", buffering=1) as out:
        for item in items:
            if item["model"] == "dies":
                print("Segmentation fault (core dumped)", file=sys.stderr)
                sys.stderr.flush()
                os._exit(139)
            if item["model"] == "hangs":
                time.sleep(60)
            if item["model"] == "raises":
                out.write(json.dumps({**item, "ok": False, "error": "RuntimeError: capture failed"}) + "\\n")
                sys.exit(3)
            out.write(json.dumps({**item, "ok": True, "step_s": 0.01, "prepare_s": 0.1, "images_per_s": 1600.0}) + "\\n")
""")


class TestBrokenChildren:
    @pytest.fixture
    def fake(self, tmp_path):
        script = tmp_path / "child.py"
        script.write_text(FAKE_CHILD)
        return [sys.executable, str(script)]

    def test_death_hang_and_failure_each_cost_one_line_and_the_rest_is_measured(self, fake):
        names = ["a", "dies", "b", "hangs", "c", "raises", "d"]
        items = [{"kind": "train", "model": name, "path": "graph"} for name in names]
        lines = []
        results = probe(items, CPU, item_timeout_s=3, deadline_s=120, log=lines.append, command=fake, poll_s=0.05)
        assert [r["model"] for r in results] == names
        assert [r["ok"] for r in results] == [True, False, True, False, True, False, True]
        assert results[1]["error"] == "the probe process died (exit 139): Segmentation fault (core dumped)"
        assert results[3]["error"] == "timed out after 3 s"
        assert results[5]["error"] == "RuntimeError: capture failed"
        assert len(lines) == len(names)
        assert lines[1] == "probe train dies graph: FAILED the probe process died (exit 139): Segmentation fault (core dumped)"

    def test_an_item_running_at_the_deadline_is_stopped(self, fake):
        items = [{"kind": "train", "model": "a", "path": "eager"}, {"kind": "train", "model": "hangs", "path": "compile"},
                 {"kind": "train", "model": "b", "path": "eager"}]
        results = probe(items, CPU, item_timeout_s=60, deadline_s=4, log=lambda line: None, command=fake, poll_s=0.05)
        assert results[0]["ok"] and results[1]["error"].startswith("stopped after ")
        assert results[1]["error"].endswith(" s: probe time spent")
        assert results[2]["error"] == "not measured: probe time spent"

    def test_items_not_started_in_time_are_reported_not_measured(self, fake):
        items = [{"kind": "train", "model": "a", "path": "eager"}, {"kind": "train", "model": "b", "path": "eager"}]
        results = probe(items, CPU, item_timeout_s=3, deadline_s=0, log=lambda line: None, command=fake)
        assert [r["error"] for r in results] == ["not measured: probe time spent"] * 2


def test_child_entry_point_appends_json_lines(tmp_path):
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"kind": "flops", "model": "unet"}, {"kind": "train", "model": "nope", "path": "eager"}]))
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({**CPU.__dict__, "channels": [4, 8]}))
    out = tmp_path / "out.jsonl"
    assert probe_mod.main([str(items), str(settings), str(out)]) == 0  # on a CPU a failure does not end the child
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["ok"] and not rows[1]["ok"] and rows[1]["error"].startswith("ValueError: unknown model 'nope'")
