"""The README's speed-path table is made from the campaign's speed record alone (scripts/results_table.py)."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _record(dry_run=False):
    """A record shaped like the campaign's speed.json (figures invented for the test, not measured)."""
    return {"kind": "speed", "dry_run": dry_run, "device": "GPU-X", "torch": "2.x", "command": "python3 scripts/gpu_campaign.py",
            "git_commit": "abc", "settings": {"batch": 16, "crop": 256}, "chosen_path": "graph",
            "why": "speed: graph for every run: 10.00 ms/step",
            "train": [{"kind": "train", "model": "gcflnet", "path": "eager", "ok": True, "step_s": 0.04, "prepare_s": 1.0,
                       "images_per_s": 400.0, "mfu": 0.02},
                      {"kind": "train", "model": "gcflnet", "path": "compile", "ok": False, "error": "RuntimeError: boom"}],
            "inference": [{"kind": "inference", "model": "gcflnet", "path": "graph", "ok": True, "images_per_s": 5000.0,
                           "batch": 32, "prepare_s": 0.5}],
            "concurrency": {"streams_in_one_process": [{"kind": "streams", "model": "gcflnet", "k": 2, "ok": True, "gain": 1.5}],
                            "processes": [{"t_s": 10, "running": 2, "gain": 1.1}, {"t_s": 20, "running": 2, "gain": 1.3}]}}


def test_rows_come_from_the_record_and_rehearsals_are_left_out(tmp_path, script_module):
    table = script_module("results_table")
    (tmp_path / "speed_gpu.json").write_text(json.dumps(_record()))
    (tmp_path / "speed_dry.json").write_text(json.dumps(_record(dry_run=True)))
    text = table.speed_paths_table(table.load_records(tmp_path, "speed"))
    assert "| GPU-X | gcflnet | train, batch 16, 256x256 | eager | 40.0 | 400 | 2.0% | 1.0 | `speed_gpu.json` |" in text
    assert "| compile | failed: RuntimeError: boom |" in text
    assert "| inference, batch 32 | graph | | 5000 |  | 0.5 |" in text
    assert "path chosen: graph (graph for every run: 10.00 ms/step)" in text
    assert "2 gcflnet models on 2 CUDA streams in one process: 1.50x one alone" in text
    assert "gain 1.10 to 1.30 over one after another (2 measurements)" in text
    assert "speed_dry.json" not in text


def test_without_a_real_record_there_is_no_section(script_module):
    table = script_module("results_table")
    assert table.speed_paths_table([]) == "" and table.speed_paths_table([{**_record(True), "_file": "x"}]) == ""
    assert not table.load_records(ROOT / "results", "speed")  # none measured yet: the README shows no numbers for it
