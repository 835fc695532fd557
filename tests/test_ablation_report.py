"""The ablation's analysis: factorial effects and intervals, verdicts, refused folders, the committed report."""

import json
import math
import subprocess
import sys
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gcflnet_lib.ablation import report
from gcflnet_lib.ablation.plans import PLANS, plan_for
from gcflnet_lib.errors import UserError
from gcflnet_lib.files import json_safe
from gcflnet_lib.models.registry import VARIANTS

ROOT = Path(__file__).resolve().parents[1]
RECIPE = {"dataset": "NUDT-SIRST", "channels": [8, 16, 32, 64, 128], "epochs": 64, "batch_size": 16, "crop_size": 128,
          "lr": 0.002, "milestones": [43, 55], "channels_last": True}


def make_record(model, seed, metrics, cross=None, cross_key="nuaa", **recipe):
    switches = VARIANTS.get(model, {"eem": False, "glfi": False, "msic": False})
    config = {**RECIPE, **recipe, "model": model, "seed": seed, "out_dir": f"runs/{model}_s{seed}", "threads": "auto"}
    other = {"nuaa": "NUAA-SIRST", "nudt": "NUDT-SIRST"}[cross_key]
    return {"status": "finished", "name": f"{model}_s{seed}", "model": model, "seed": seed, "dataset": config["dataset"],
            "wall_time_s": 600.0 + seed, "config": config, "final": metrics, **switches,
            "cross": {cross_key: {"dataset": other, "metrics": cross or metrics}}}


def write(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        (folder / f"{record['name']}.json").write_text(json.dumps(record))
    return folder


def random_factorial(rng, seeds=(0, 1), variants=tuple(VARIANTS), **record):
    records = []
    for name in variants:
        for seed in seeds:
            m = {"miou": float(rng.uniform(0.5, 0.8)), "niou": float(rng.uniform(0.5, 0.8)),
                 "pd": float(rng.uniform(0.8, 1.0)), "fa": float(rng.uniform(5e-6, 50e-6))}
            records.append(make_record(name, seed, m, **record))
    return records


class TestFactorialStatistics:
    def test_main_effects_and_intervals_equal_the_saturated_regression(self, tmp_path):
        records = random_factorial(np.random.default_rng(3))
        found = report.effects(records)
        # Least squares on +-1 codes with every interaction: 16 runs, 8 coefficients, 8 residual df.
        rows, y = [], []
        for record in records:
            codes = [1.0 if record[s] else -1.0 for s in report.SWITCHES]
            a, b, c = codes
            rows.append([1, a, b, c, a * b, a * c, b * c, a * b * c])
            y.append(record["final"]["miou"])
        x, y = np.array(rows), np.array(y)
        beta, residual, *_ = np.linalg.lstsq(x, y, rcond=None)
        s2 = float(residual[0]) / (len(y) - x.shape[1])
        se = 2 * math.sqrt(s2 / len(y))  # an effect is twice its coefficient
        half = stats.t.ppf(0.975, 8) * se
        for index, switch in enumerate(report.SWITCHES, start=1):
            item = found["main"][switch]["miou"]
            assert item["estimate"] == pytest.approx(2 * beta[index], abs=1e-12)
            assert item["high"] - item["estimate"] == pytest.approx(half, rel=1e-9)
        for index, key in zip((4, 5, 6), ("eemxglfi", "eemxmsic", "glfixmsic")):
            assert found["interactions"][key]["miou"]["estimate"] == pytest.approx(2 * beta[index], abs=1e-12)
        assert found["pooled_df"]["miou"] == 8

    def test_main_effect_is_the_mean_change_over_the_other_switches(self):
        records = random_factorial(np.random.default_rng(4), seeds=(0,))
        table = report.cells(records)
        by_cell = {tuple(r[s] for s in report.SWITCHES): table[r["model"]][0]["pd"] for r in records}
        changes = [by_cell[(True, g, m)] - by_cell[(False, g, m)] for g, m in product((False, True), repeat=2)]
        assert report.effects(records)["main"]["eem"]["pd"]["estimate"] == pytest.approx(sum(changes) / 4)

    def test_alone_interval_uses_both_cells(self):
        records = random_factorial(np.random.default_rng(5))
        table = report.cells(records)
        s2, df = report.pooled_variance(table, "fa")
        item = report.effects(records)["alone"]["glfi"]["fa"]
        mean = lambda v: (table[v][0]["fa"] + table[v][1]["fa"]) / 2  # noqa: E731
        assert item["estimate"] == pytest.approx(mean("gcflnet_glfi") - mean("unet"))
        assert item["high"] - item["estimate"] == pytest.approx(stats.t.ppf(0.975, df) * math.sqrt(s2), rel=1e-9)

    def test_fa_is_reported_in_units_of_1e6(self):
        records = [make_record("unet", 0, {"miou": 0.5, "niou": 0.5, "pd": 0.9, "fa": 12.5e-6})]
        assert report.cells(records)["unet"][0]["fa"] == pytest.approx(12.5)


class TestVerdicts:
    @staticmethod
    def interval(low, high):
        return {"estimate": (low + high) / 2, "low": low, "high": high, "missing": [], "no_interval": []}

    def test_lower_fa_counts_as_better(self):
        intervals = {"miou": self.interval(0.01, 0.03), "pd": self.interval(0.001, 0.02), "fa": self.interval(-9, -1)}
        assert report.verdict(intervals, ("miou", "pd", "fa")) == "supported"

    def test_one_metric_worse_beyond_its_interval_contradicts(self):
        intervals = {"miou": self.interval(0.01, 0.03), "pd": self.interval(-0.05, -0.01), "fa": self.interval(-9, -1)}
        assert report.verdict(intervals, ("miou", "pd", "fa")) == "contradicted"

    def test_an_interval_across_zero_is_inconclusive(self):
        intervals = {"miou": self.interval(-0.01, 0.03), "fa": self.interval(-9, -1)}
        assert report.verdict(intervals, ("miou", "fa")) == "inconclusive"

    def test_a_missing_interval_is_inconclusive(self):
        nan = {"estimate": 0.1, "low": math.nan, "high": math.nan, "missing": [], "no_interval": ["unet"]}
        assert report.verdict({"miou": nan}, ("miou",)) == "inconclusive"

    def test_clear_gains_support_every_alone_claim(self):
        rng = np.random.default_rng(6)
        records = []
        for name, flags in VARIANTS.items():
            modules = sum(flags.values())
            for seed in (0, 1):
                noise = rng.normal(0, 1e-4)
                records.append(make_record(name, seed, {"miou": 0.5 + 0.05 * modules + noise, "niou": 0.5 + 0.05 * modules,
                                                        "pd": 0.8 + 0.03 * modules + noise,
                                                        "fa": (40 - 10 * modules + 100 * noise) * 1e-6}))
        verdicts = report.claim_verdicts(report.effects(records))
        assert {k: v["verdict"] for k, v in verdicts.items()} == dict.fromkeys(report.CLAIMS, "supported")


class TestRecordsFolder:
    def test_mixed_recipes_are_refused_naming_the_record(self, tmp_path):
        records = random_factorial(np.random.default_rng(7), seeds=(0,))
        records[2] = make_record(records[2]["model"], 0, records[2]["final"], epochs=30)
        with pytest.raises(UserError, match=rf"{records[2]['name']}\.json \(epochs=30 not 64\)"):
            report.load_records(write(tmp_path / "r", records))

    def test_how_a_step_runs_is_not_the_recipe(self, tmp_path):
        records = random_factorial(np.random.default_rng(9), seeds=(0,))
        records[1] = make_record(records[1]["model"], 0, records[1]["final"], speed_path="eager", init=None)
        assert len(report.load_records(write(tmp_path / "r", records))[0]) == len(records)

    def test_other_dataset_is_refused(self, tmp_path):
        records = random_factorial(np.random.default_rng(8), seeds=(0,))
        records[0] = make_record("unet", 0, records[0]["final"], dataset="NUAA-SIRST")
        with pytest.raises(UserError, match="unet_s0.json \\(dataset='NUAA-SIRST' not 'NUDT-SIRST'\\)"):
            report.load_records(write(tmp_path / "r", records))

    def test_missing_folder_and_empty_folder(self, tmp_path):
        with pytest.raises(UserError, match="records folder not found"):
            report.load_records(tmp_path / "nothing")
        (tmp_path / "empty").mkdir()
        with pytest.raises(UserError, match="holds no ablation record"):
            report.load_records(tmp_path / "empty")

    def test_missing_cells_are_named_and_get_no_estimate(self, tmp_path):
        records = [r for r in random_factorial(np.random.default_rng(9)) if r["model"] != "gcflnet_msic"]
        analysis = report.analyse(write(tmp_path / "r", records))
        assert analysis["effects"]["main"]["eem"]["miou"]["missing"] == ["gcflnet_msic"]
        assert math.isnan(analysis["effects"]["main"]["eem"]["miou"]["estimate"])
        assert analysis["runs"]["missing"] == ["gcflnet_msic_s0", "unet_wide_s0", "gcflnet_msic_s1", "unet_wide_s1"]
        assert not math.isnan(analysis["effects"]["alone"]["eem"]["miou"]["low"])  # its two cells are complete

    def test_interval_only_where_both_seeds_exist(self, tmp_path):
        records = [r for r in random_factorial(np.random.default_rng(10)) if r["name"] != "gcflnet_eem_s1"]
        found = report.effects(records)
        assert found["alone"]["eem"]["pd"]["no_interval"] == ["gcflnet_eem"]
        assert math.isnan(found["alone"]["eem"]["pd"]["low"]) and not math.isnan(found["alone"]["eem"]["pd"]["estimate"])
        assert not math.isnan(found["alone"]["glfi"]["pd"]["low"])
        assert found["pooled_df"]["pd"] == 7

    def test_failed_runs_are_listed(self, tmp_path):
        folder = write(tmp_path / "r", random_factorial(np.random.default_rng(11), seeds=(0,)))
        (folder / "gcflnet_s1.failed.json").write_text(json.dumps({"name": "gcflnet_s1", "status": "failed"}))
        analysis = report.analyse(folder)
        assert analysis["runs"]["failed"] == ["gcflnet_s1"]
        assert "gcflnet_s1" not in analysis["runs"]["missing"]
        assert "Failed (see their `.failed.json` logs): gcflnet_s1" in report.report_markdown(analysis)


NUAA = {"cross_key": "nudt", "dataset": "NUAA-SIRST", "epochs": 200, "milestones": [133, 173]}


def anchor_root(tmp_path):
    """A repository root holding the NUAA-SIRST plan's anchor records (last-epoch metrics only)."""
    for index, (_, name) in enumerate(PLANS["NUAA-SIRST"].anchor_records):
        path = tmp_path / "root" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"final": {"miou": 0.75 + index / 100, "niou": 0.7, "pd": 0.95, "fa": 14e-6}}))
    return tmp_path / "root"


class TestPlans:
    def test_nuaa_plan_has_the_factorial_alone_and_scores_on_nudt(self, tmp_path):
        records = random_factorial(np.random.default_rng(21), **NUAA)
        analysis = report.analyse(write(tmp_path / "r", records), PLANS["NUAA-SIRST"], root=anchor_root(tmp_path))
        assert [row["variant"] for row in analysis["table"]] == list(report.TABLE_ORDER)
        assert analysis["runs"] == {"missing": [], "failed": []} and analysis["cross_dataset"] == "NUDT-SIRST"
        assert "gcflnet_vs_unet_wide" not in analysis["effects"] and analysis["effects"]["pooled_df"]["miou"] == 8
        assert not math.isnan(analysis["cross_effects"]["main"]["msic"]["fa"]["low"])  # cross scores were read
        assert [round(a["iou"], 6) for a in analysis["anchors"]] == [75.0, 76.0] and analysis["anchors"][0]["fa"] == 14.0
        text = report.report_markdown(analysis)
        assert "U-Net, wide" not in text and "`results/ablation_nuaa/`" in text and "scored on the NUDT-SIRST test split" in text
        assert "results/gpu_nuaa_gcflnet_s0.json" in text

    def test_nuaa_plan_names_its_sixteen_runs(self, tmp_path):
        records = random_factorial(np.random.default_rng(22), seeds=(0,), **NUAA)
        analysis = report.analyse(write(tmp_path / "r", records), PLANS["NUAA-SIRST"], root=anchor_root(tmp_path))
        assert analysis["runs"]["missing"] == [f"{v}_s1" for v in report.TABLE_ORDER]

    def test_records_of_the_other_dataset_are_refused(self, tmp_path):
        folder = write(tmp_path / "r", random_factorial(np.random.default_rng(23), seeds=(0,)))
        with pytest.raises(UserError, match="records of another dataset than NUAA-SIRST: gcflnet_eem_glfi_s0.json"):
            report.analyse(folder, PLANS["NUAA-SIRST"], root=anchor_root(tmp_path))

    def test_a_missing_anchor_record_is_named(self, tmp_path):
        folder = write(tmp_path / "r", random_factorial(np.random.default_rng(24), seeds=(0,), **NUAA))
        with pytest.raises(UserError, match=r"gpu_nuaa_gcflnet_s0\.json: anchor record .* not readable"):
            report.analyse(folder, PLANS["NUAA-SIRST"], root=tmp_path)

    def test_unknown_plan_names_the_known_ones(self):
        with pytest.raises(ValueError, match="no ablation plan for dataset 'IRSTD-1K'; known: NUDT-SIRST, NUAA-SIRST"):
            plan_for("IRSTD-1K")


class TestSpreadCheck:
    def test_bartlett_over_the_cells_with_both_seeds_and_the_widest_cell(self, tmp_path):
        records = [r for r in random_factorial(np.random.default_rng(41)) if r["name"] != "gcflnet_eem_s1"]
        rng = np.random.default_rng(42)
        for record in records:  # seeds within 0.001 of each other, except one cell's
            spread = 0.1 if record["model"] == "gcflnet_msic" else 0.001
            record["final"] = {**record["final"], "miou": 0.7 + float(rng.normal(0, spread))}
        check = report.spread_check(records)
        table = report.cells(records)
        assert check["cells"] == [v for v in report.TABLE_ORDER if v != "gcflnet_eem"]
        expected = stats.bartlett(*[[table[v][0]["miou"], table[v][1]["miou"]] for v in check["cells"]])
        assert check["miou"]["statistic"] == pytest.approx(expected.statistic) and check["miou"]["p"] == pytest.approx(expected.pvalue)
        assert check["miou"]["df"] == 6 and check["miou"]["widest"] == "gcflnet_msic" and check["miou"]["p"] < 0.05
        text = report.report_markdown(report.analyse(write(tmp_path / "r", records)))
        assert "**Equal-spread check**" in text and f"| mIoU | {expected.statistic:.2f} (6) |" in text

    def test_no_test_with_one_cell_or_seeds_that_agree(self):
        one = [make_record("unet", seed, {"miou": 0.7 + seed / 10, "niou": 0.7, "pd": 0.9, "fa": 1e-5}) for seed in (0, 1)]
        check = report.spread_check(one)
        assert math.isnan(check["miou"]["p"]) and check["miou"]["widest"] == "unet"
        same = one + [make_record("gcflnet", seed, {"miou": 0.6, "niou": 0.7, "pd": 0.9, "fa": 1e-5}) for seed in (0, 1)]
        assert math.isnan(report.spread_check(same)["miou"]["statistic"])  # gcflnet's two seeds agree exactly
        assert report.spread_markdown(check) == ""


class TestReplicas:
    def test_a_run_trained_again_is_shown_beside_its_other_seed(self, tmp_path):
        records = random_factorial(np.random.default_rng(51))
        first = next(r for r in records if r["name"] == "gcflnet_msic_s0")
        first["git_commit"] = sorted(report.NCHW_CPU_COMMITS)[0]
        other = next(r for r in records if r["name"] == "gcflnet_msic_s1")
        again = make_record("gcflnet_msic", 0, {**first["final"], "miou": first["final"]["miou"] + 0.01,
                                                "fa": first["final"]["fa"] - 2e-6})
        analysis = report.analyse(write(tmp_path / "r", records), replicas=write(tmp_path / "again", [again]))
        (row,) = analysis["replicas"]
        assert row["name"] == "gcflnet_msic_s0" and row["layouts"] == ["nchw", "channels_last"]
        assert row["miou"]["replica_change"] == pytest.approx(0.01) and row["fa"]["replica_change"] == pytest.approx(-2.0)
        assert row["miou"]["other_seed_change"] == pytest.approx(other["final"]["miou"] - first["final"]["miou"])
        assert analysis["records"] == [r["file"] for r in report.load_records(tmp_path / "r")[0]]  # not counted as runs
        text = report.report_markdown(analysis)
        assert "**Same seed, trained again**" in text and "| + MSIC, seed 0 | nchw → channels_last | mIoU |" in text

    def test_a_replica_of_another_recipe_is_refused(self, tmp_path):
        records = random_factorial(np.random.default_rng(52), seeds=(0,))
        again = make_record("unet", 0, records[0]["final"], epochs=10)
        with pytest.raises(UserError, match=r"replicas/unet_s0\.json \(epochs=10 not 64\)"):
            report.analyse(write(tmp_path / "r", records), replicas=write(tmp_path / "again", [again]))

    def test_no_replicas_no_block(self, tmp_path):
        analysis = report.analyse(write(tmp_path / "r", random_factorial(np.random.default_rng(53), seeds=(0,))))
        assert analysis["replicas"] == [] and "trained again" not in report.report_markdown(analysis)


class TestLayoutCheck:
    OLD = sorted(report.NCHW_CPU_COMMITS)[0]

    def test_cells_whose_seeds_trained_in_two_layouts_are_compared_with_the_others(self, tmp_path):
        records = random_factorial(np.random.default_rng(31))
        for record in records:
            two_layouts = record["model"] in ("gcflnet_eem", "gcflnet_glfi", "gcflnet_msic")
            record["git_commit"] = self.OLD if record["seed"] == 0 or not two_layouts else "a" * 40
        assert [report.layout_of(r) for r in records[:2]] == ["nchw", "nchw"]
        assert report.layout_of(records[2]) == "nchw" and report.layout_of(records[3]) == "channels_last"
        check = report.layout_check(records)
        assert check["cells"]["two"] == ["gcflnet_eem", "gcflnet_glfi", "gcflnet_msic"] and len(check["cells"]["one"]) == 5
        table = report.cells(records)
        for metric in report.METRICS:
            one = report.pooled_variance({v: table[v] for v in check["cells"]["one"]}, metric)
            two = report.pooled_variance({v: table[v] for v in check["cells"]["two"]}, metric)
            item = check[metric]
            assert (item["df_one"], item["df_two"]) == (5, 3)
            assert item["ratio"] == pytest.approx(two[0] / one[0]) and item["sd_two"] == pytest.approx(math.sqrt(two[0]))
            tail = stats.f.sf(item["ratio"], 3, 5)
            assert item["p"] == pytest.approx(min(1.0, 2 * min(tail, 1 - tail)))
        text = report.report_markdown(report.analyse(write(tmp_path / "r", records)))
        assert "**Layout check**" in text and "those of + EEM, + GLFI, + MSIC in two" in text

    def test_shift_is_the_difference_in_differences_with_a_pooled_t_interval(self):
        records = random_factorial(np.random.default_rng(33))
        two = {"gcflnet_eem", "gcflnet_glfi", "gcflnet_msic"}
        for record in records:
            record["git_commit"] = self.OLD if record["seed"] == 0 or record["model"] not in two else "a" * 40
        check = report.layout_check(records)
        table = report.cells(records)
        d = {key: np.array([table[v][1]["miou"] - table[v][0]["miou"] for v in check["cells"][key]]) for key in ("one", "two")}
        shift = d["two"].mean() - d["one"].mean()
        pooled = (((d["one"] - d["one"].mean()) ** 2).sum() + ((d["two"] - d["two"].mean()) ** 2).sum()) / 6
        half = stats.t.ppf(0.975, 6) * math.sqrt(pooled * (1 / 5 + 1 / 3))
        item = check["miou"]
        assert item["shift_df"] == 6 and item["shift"] == pytest.approx(shift)
        assert (item["shift_low"], item["shift_high"]) == pytest.approx((shift - half, shift + half))
        for record in records:  # seed 0 channels-last in a two-layout cell: d no longer reads CL - NCHW
            if record["model"] == "gcflnet_eem":
                record["git_commit"] = "a" * 40 if record["seed"] == 0 else self.OLD
        assert math.isnan(report.layout_check(records)["miou"]["shift"])

    def test_no_check_is_shown_while_every_cell_trained_in_one_layout(self, tmp_path):
        analysis = report.analyse(write(tmp_path / "r", random_factorial(np.random.default_rng(32))))
        assert analysis["layout_check"]["cells"]["two"] == [] and math.isnan(analysis["layout_check"]["miou"]["ratio"])
        assert "Layout check" not in report.report_markdown(analysis)

    def test_a_run_without_channels_last_is_nchw(self):
        record = make_record("unet", 0, {}, channels_last=False)
        assert report.layout_of({**record, "git_commit": "b" * 40}) == "nchw"


class TestReportMarkdown:
    def test_json_form_renders_the_same_as_the_analysis(self, tmp_path):
        from gcflnet_lib.files import json_safe

        records = [r for r in random_factorial(np.random.default_rng(12)) if r["name"] != "unet_s1"]
        analysis = report.analyse(write(tmp_path / "r", records))
        as_json = json.loads(json.dumps(json_safe(analysis)))
        assert report.report_markdown(as_json) == report.report_markdown(analysis)
        text = report.report_markdown(analysis)
        assert "†: no interval until both seeds are in for U-Net (baseline)" in text
        assert text.count("| \"") == len(report.CLAIMS)

    def test_figure_is_drawn(self, tmp_path):
        analysis = report.analyse(write(tmp_path / "r", random_factorial(np.random.default_rng(13))))
        report.plot_report(analysis, tmp_path / "fig.png")
        assert (tmp_path / "fig.png").stat().st_size > 10_000


@pytest.mark.parametrize("dataset", sorted(PLANS))
def test_committed_report_is_what_the_records_give(dataset):
    """README.md, docs/ABLATION.md and results/ablation_KEY.json hold what ablation_report.py writes; an ablation
    with no records yet has an empty block and no analysis file."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts/ablation_report.py"), "--check", "--dataset", dataset],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    plan = PLANS[dataset]
    assert (ROOT / plan.records).is_dir() == (ROOT / plan.analysis).is_file()


def test_check_refuses_a_block_for_an_ablation_not_started(tmp_path):
    """A results block without records is stale: --check names the file."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts/ablation_report.py"), "--check", "--dataset", "NUAA-SIRST",
                           "--records", str(tmp_path / "none"), "--json", str(ROOT / "results/ablation_nudt.json")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1 and "ablation_nudt.json: differs from what the records give" in done.stderr


class TestMsicReadings:
    """gcflnet_lib.ablation.msic_readings: the second factorial, skip health, and the pre-registered rule."""

    @staticmethod
    def fake_root(tmp_path, reading="unit_gain", shift=0.0, fa_shift=0.0, dprob=0.5, seeds=(0, 1), crossed_dprob=1e-5):
        """A repository with the measured NUDT-SIRST records and a second reading's MSIC cells made from them."""
        import shutil

        from gcflnet_lib.ablation.msic_readings import CROSSED_HEALTH_RELEASE

        plan = PLANS["NUDT-SIRST"]
        shutil.copytree(ROOT / plan.records, tmp_path / plan.records)
        (tmp_path / "results/health").mkdir(parents=True)
        release = json.loads((ROOT / CROSSED_HEALTH_RELEASE).read_text())
        for level in release["levels"][:2]:
            level["max_probability_change"] = crossed_dprob
        release["fine"]["max_probability_change"] = crossed_dprob
        (tmp_path / CROSSED_HEALTH_RELEASE).write_text(json.dumps(release))
        folder = tmp_path / plan.reading_records(reading)
        folder.mkdir(parents=True)
        for path in sorted((ROOT / plan.records).glob("gcflnet*msic*_s*.json")) + sorted((ROOT / plan.records).glob("gcflnet_s*.json")):
            record = json.loads(path.read_text())
            if int(record["seed"]) not in seeds:
                continue
            record["config"]["msic_reading"] = reading
            record["final"]["miou"] += shift
            record["final"]["fa"] += fa_shift
            record["history"][-1].update(skip0_dprob=dprob, skip1_dprob=dprob, fine_dprob=dprob, skip0_kept=0.9,
                                         skip1_kept=0.8, fine_iou_cost=0.3)
            (folder / path.name).write_text(json.dumps(record))
        return tmp_path

    def test_a_healthy_reading_that_is_not_worse_becomes_the_default(self, tmp_path):
        from gcflnet_lib.ablation.msic_readings import analyse_readings

        found = analyse_readings(PLANS["NUDT-SIRST"], "unit_gain", self.fake_root(tmp_path, shift=0.0))
        assert found["runs"]["missing"] == [] and found["healthy"] == {"crossed": False, "unit_gain": True}
        assert found["difference"]["miou"]["estimate"] == pytest.approx(0.0, abs=1e-12)
        assert found["difference"]["miou"]["df"] == 12
        assert found["decision"]["default"] == "unit_gain"

    def test_lower_miou_beyond_the_interval_keeps_crossed(self, tmp_path):
        from gcflnet_lib.ablation.msic_readings import analyse_readings

        found = analyse_readings(PLANS["NUDT-SIRST"], "unit_gain", self.fake_root(tmp_path, shift=-0.2))
        assert found["difference"]["miou"]["high"] < 0
        assert found["decision"]["default"] == "crossed" and "mIoU is lower" in found["decision"]["reason"]

    def test_more_false_alarms_beyond_the_interval_veto_a_gain_within_noise(self, tmp_path):
        from gcflnet_lib.ablation.msic_readings import analyse_readings

        found = analyse_readings(PLANS["NUDT-SIRST"], "unit_gain", self.fake_root(tmp_path, shift=0.001, fa_shift=2e-4))
        assert found["difference"]["fa"]["low"] > 0
        assert found["decision"]["default"] == "crossed" and "false alarms are higher" in found["decision"]["reason"]

    def test_a_reading_that_shuts_its_skips_cannot_be_the_default(self, tmp_path):
        from gcflnet_lib.ablation.msic_readings import analyse_readings

        found = analyse_readings(PLANS["NUDT-SIRST"], "unit_gain", self.fake_root(tmp_path, shift=0.2, dprob=0.01))
        assert found["healthy"]["unit_gain"] is False and found["decision"]["default"] == "crossed"

    def test_with_runs_missing_the_rule_and_the_verdicts_are_not_computed(self, tmp_path):
        from gcflnet_lib.ablation.msic_readings import analyse_readings
        from gcflnet_lib.ablation.render_msic import readings_markdown

        found = json.loads(json.dumps(json_safe(analyse_readings(PLANS["NUDT-SIRST"], "unit_gain",
                                                                 self.fake_root(tmp_path, seeds=(0,))))))
        assert found["decision"]["default"] is None and len(found["runs"]["missing"]) == 4
        text = readings_markdown(found)
        assert "4 of 8 `unit_gain` runs are recorded" in text and "The rule is not applied yet" in text
        assert "not yet computed (runs missing)" in text and "chooses" not in text

    def test_records_mixing_msic_readings_in_one_factorial_are_refused(self, tmp_path):
        root = self.fake_root(tmp_path)
        folder = root / PLANS["NUDT-SIRST"].records
        mixed = root / PLANS["NUDT-SIRST"].reading_records("unit_gain") / "gcflnet_s0.json"
        (folder / "gcflnet_s0.json").write_text(mixed.read_text())
        with pytest.raises(UserError, match=r"records mix MSIC readings within one factorial \(crossed: .*"
                                            r"unit_gain: gcflnet_s0.json\)"):
            report.load_records(folder)

    def test_the_committed_block_is_what_the_records_give(self):
        done = subprocess.run([sys.executable, str(ROOT / "scripts/ablation_report.py"), "--msic-reading", "unit_gain",
                               "--check"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_the_library_default_is_the_msic_reading_the_pre_registered_rule_chose():
    from gcflnet_lib.models import READING_DEFAULTS

    analysis = json.loads((Path(__file__).resolve().parents[1] / "results/ablation_nudt_msic_unit_gain.json").read_text())
    assert analysis["decision"]["default"] == READING_DEFAULTS["msic_reading"], analysis["decision"]
