"""scripts/measure_readings.py: the readings table, built only from run records, and where it is written."""

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "measure_readings.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("measure_readings", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_record(model="gcflnet", miou=0.6, fa=3e-5, minutes=10.0, **config):
    return {"kind": "train", "command": f"gcflnet train --model {model}", "git_commit": "abc", "device": "cpu (test)",
            "wall_time_s": minutes * 60, "epochs": 30,
            "config": {"data_root": "d", "dataset": "NUAA-SIRST", "out_dir": "o", "model": model,
                       "channels": [8, 16, 32, 64, 128], **config},
            "final": {"miou": miou, "niou": miou + 0.01, "pd": 0.9, "fa": fa}}


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "readings"
    folder.mkdir()
    (folder / "default.json").write_text(json.dumps(train_record()))
    (folder / "msic_literal.json").write_text(json.dumps(train_record(miou=0.65, fa=2e-5, msic_reading="literal")))
    (folder / "unet.json").write_text(json.dumps(train_record(model="unet", miou=0.55, minutes=5.0)))
    (folder / "pad_reflect.json").write_text(json.dumps({"metrics": {"miou": 0.61, "niou": 0.62, "pd": 0.91, "fa": 2e-5}}))
    return folder


class TestTable:
    def test_rows_follow_the_run_order_with_parameters_from_the_records_config(self, script, results):
        rows = script.table_rows(results)
        assert [r["reading"] for r in rows] == ["default", "msic_literal", "unet", "pad_reflect"]
        default, literal, unet, reflect = rows
        assert default["params"] == 1_429_288 and literal["params"] == 1_380_208 and unet["params"] == 519_788
        assert literal["paper_reading_row"] == 1 and unet["minutes"] == 5.0
        # The padding reading is the default run evaluated again: its parameters, no minutes of its own.
        assert reflect["params"] == default["params"] and reflect["minutes"] is None and reflect["paper_reading_row"] == 7

    def test_markdown_gives_the_difference_to_the_default(self, script, results):
        text = script.markdown(script.table_rows(results), 30)
        assert "| msic_literal | `--msic-reading literal` | 1,380,208 | 0.6500 |" in text and "| +0.0500 |" in text
        assert "| pad_reflect |" in text and "--epochs 30" in text

    def test_a_reading_wins_only_above_every_default_seed_in_miou_and_below_in_fa(self, script, results):
        (results / "default_seed1.json").write_text(json.dumps(train_record(miou=0.64, fa=1e-5)))
        rows = {r["reading"]: r for r in script.table_rows(results)}
        assert rows["default_seed1"]["seed"] == 1 and rows["default_seed1"]["beats_default_seeds"] is None
        assert rows["msic_literal"]["beats_default_seeds"] is False  # 0.65 > 0.64, but Fa 2e-5 > 1e-5
        assert rows["unet"]["beats_default_seeds"] is None and rows["pad_reflect"]["beats_default_seeds"] is None
        (results / "default_seed1.json").write_text(json.dumps(train_record(miou=0.64, fa=4e-5)))
        rows = {r["reading"]: r for r in script.table_rows(results)}
        assert rows["msic_literal"]["beats_default_seeds"] is True and rows["msic_literal"]["flags"] == ["--msic-reading", "literal"]

    def test_findings_are_counted_from_the_rows(self, script, results):
        (results / "default_seed1.json").write_text(json.dumps(train_record(miou=0.64, fa=4e-5)))
        padding = [{"miou_zeros": 0.7, "miou_reflect": 0.69, "fa_zeros": 4e-5, "fa_reflect": 5e-5}]
        text = script.findings(script.table_rows(results), padding)
        # defaults 0.60 / 3e-5 and 0.64 / 4e-5; msic_literal 0.65 / 2e-5 beats both
        assert "differ by 0.0400 in mIoU and 1.3x in Fa" in text and "`msic_literal`, differs by 0.0100" in text
        assert "Readings that beat both default seeds: `msic_literal` (of 1)." in text
        # the release (mIoU down, Fa up) and the default run (0.60 -> 0.61, Fa 3e-5 -> 2e-5)
        assert text.endswith("on 2 models: mIoU higher on 1, Fa higher on 1.")

    def test_padding_without_the_default_run_is_left_out(self, script, results):
        (results / "default.json").unlink()
        assert "pad_reflect" not in [r["reading"] for r in script.table_rows(results)]


class TestDocs:
    def test_measured_cells_replace_only_the_last_column_of_their_rows(self, script, results, tmp_path):
        page = tmp_path / "PAPER_READING.md"
        shutil.copy(REPO / "docs" / "PAPER_READING.md", page)
        before = page.read_text().split("\n")
        script.fill_paper_reading(page, script.table_rows(results))
        after = page.read_text().split("\n")
        assert len(before) == len(after)
        for old, new in zip(before, after):
            if new.split(" | ")[0] in ("| 1", "| 2", "| 7", "| 9"):
                assert old.rsplit(" | ", 1)[0] == new.rsplit(" | ", 1)[0] and new.endswith(" |")  # only the last cell
            else:
                assert old == new
        rows = {line.split(" | ")[0]: line for line in after if line.startswith("| ")}
        assert "`msic_literal`: mIoU 0.6500 (+0.0500)" in rows["| 1"] and "measured with row 1" in rows["| 2"]
        assert "`pad_reflect`: mIoU 0.6100 (+0.0100)" in rows["| 7"] and "`unet`: mIoU 0.5500" in rows["| 9"]


class TestReleasedPairs:
    """A release's reflect record is paired with its model-card record only when both scored the same file."""

    def report(self, sha=None, epoch=150, miou=0.6):
        return {"checkpoint_sha256": sha, "epoch": epoch, "model_config": {"name": "gcflnet"},
                "metrics": {"miou": miou, "niou": miou, "pd": 0.9, "fa": 4e-5}}

    def test_same_weights_by_hash_when_both_have_one_else_by_epoch_and_config(self, script):
        assert script.same_weights(self.report("a"), self.report("a", epoch=1))
        assert not script.same_weights(self.report("a"), self.report("b"))
        assert script.same_weights(self.report(), self.report("b"))
        assert not script.same_weights(self.report(), self.report("b", epoch=200))

    def test_a_reflect_record_of_a_replaced_release_is_stale_and_refused_in_the_table(self, script, tmp_path, monkeypatch):
        monkeypatch.setattr(script, "ROOT", tmp_path)
        monkeypatch.setattr(script, "RELEASED", ("gcflnet-cpu-nuaa-sirst",))
        (tmp_path / "results" / "readings").mkdir(parents=True)
        zeros = tmp_path / "results" / "eval_cpu_gcflnet-cpu-nuaa-sirst.json"
        reflect = tmp_path / "results" / "readings" / "released_gcflnet-cpu-nuaa-sirst_reflect.json"
        assert script.stale_reflect("gcflnet-cpu-nuaa-sirst", reflect.parent)
        zeros.write_text(json.dumps(self.report("new", miou=0.7)))
        reflect.write_text(json.dumps(self.report("new", miou=0.71)))
        assert not script.stale_reflect("gcflnet-cpu-nuaa-sirst", reflect.parent)
        assert [(r["miou_zeros"], r["miou_reflect"]) for r in script.released_padding_rows(reflect.parent)] == [(0.7, 0.71)]
        reflect.write_text(json.dumps(self.report("old", miou=0.71)))
        assert script.stale_reflect("gcflnet-cpu-nuaa-sirst", reflect.parent)
        with pytest.raises(SystemExit, match="released_gcflnet-cpu-nuaa-sirst_reflect.json: scored other weights than"):
            script.released_padding_rows(reflect.parent)


def test_readings_become_jobs_of_the_experiment_runner(script, tmp_path):
    args = argparse.Namespace(data="DATA", epochs=3, runs="runs/readings", results="results/readings")
    jobs = script.jobs_to_run(["default", "unet", "pad_reflect"], args, tmp_path)
    assert [(job.name, job.kind) for job in jobs] == [("default", "train"), ("unet", "train"), ("pad_reflect", "evaluate")]
    assert jobs[0].train_flags[:4] == ("--preset", "cpu", "--epochs", "3") and "gcflnet" in jobs[0].train_flags
    assert jobs[1].train_flags.count("--model") == 1 and "unet" in jobs[1].train_flags
    assert "--out" not in jobs[0].train_flags and "--record" not in jobs[0].train_flags  # the runner's to set
    assert jobs[2].evaluate_flags[:2] == ("--checkpoint", "runs/readings/default/final.pt")
    assert jobs[2].evaluate_flags[-2:] == ("--pad-mode", "reflect")


def test_an_unknown_reading_is_refused_naming_the_known_ones():
    done = subprocess.run([sys.executable, str(SCRIPT), "--only", "msic_cross"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "--only: unknown reading msic_cross; known: default, default_seed1, msic_literal" in done.stderr


def test_committed_table_is_what_the_script_writes(script):
    """results/readings.json and the docs/PAPER_READING.md block are generated from results/readings/*.json, never typed."""
    records = REPO / "results" / "readings"
    if not records.is_dir():
        pytest.skip("no reading has been measured yet (results/readings/ is absent)")
    rows = script.table_rows(records)
    committed = json.loads((REPO / "results" / "readings.json").read_text())
    assert committed["rows"] == json.loads(json.dumps(rows))
    page = (REPO / "docs" / "PAPER_READING.md").read_text()
    block = page[page.index(script.BEGIN) + len(script.BEGIN): page.index(script.END)].strip()
    padding = script.released_padding_rows(records)
    assert committed["padding_on_released"] == json.loads(json.dumps(padding))
    assert block == script.markdown(rows, committed["epochs"]) + script.released_markdown(padding) + "\n\n" \
        + script.findings(rows, padding)
