"""Generator of notebooks/09_ablation.ipynb."""

from _cells import about, checks, code, ending, md, parameters, top

from gcflnet_lib.models import list_models

ABLATION_MODELS = tuple(list_models())  # the eight variants its full-size sweep trains

CELLS = [
    top("09"),
    md(
        r"""
        # 09 · Ablation: what EEM, GLFI and MSIC each contribute

        The paper's ablation (Section 4.4, Table 2) starts from a U-Net and adds the three modules one, two and
        three at a time, on NUDT-SIRST. Its reading of the table:

        - **EEM** alone: *"notable improvements in IoU, Pd, and Fa compared with the baseline"*;
        - **GLFI** alone: *"the improvement in IoU is relatively limited, whereas Pd and Fa exhibit clear optimization"*;
        - **MSIC** alone: *"all metrics show consistent performance gains, with particularly notable improvements in
          Pd and Fa"*;
        - all three: *"the best overall performance [...] compared with any single-module or dual-module configuration"*.

        Here the eight variants of `gcflnet_lib.models` (switches `eem`, `glfi`, `msic`; all off is the U-Net
        baseline, all on is GCFLNet) are trained **alike** in one loop by `gcflnet_lib.ablation.run_ablation`: one
        shared `TrainConfig` where only the model differs, the same data, seed and schedule, last-epoch scores.
        Writing $\Delta_s(x)$ for the change of metric $x$ when switch $s$ is turned on with the other two held fixed,
        the table is read through

        $$ \bar\Delta_s(x) = \frac14 \sum_{\text{4 settings of the other two}} \big(x_{s=\text{on}} - x_{s=\text{off}}\big), $$

        next to the paper's own comparison, each module alone against the baseline. "Better" means a higher IoU or
        Pd and a lower Fa.

        **The result of this notebook is the measured ablation on NUDT-SIRST** (the section of that name below): all
        eight variants trained twice each with the CPU recipe (`--preset cpu-nudt`) by `scripts/ablation_queue.py`,
        read as a factorial experiment with 95 % intervals by `gcflnet_lib.ablation.report`, and every claim of the
        paper given a verdict. The notebook recomputes that analysis from the committed records and checks it against
        `results/ablation_nudt.json`. It comes first, opening with what all the measurements say in short: GCFLNet as
        this project builds it (MSIC `unit_gain`), then the first factorial (MSIC `crossed`). **On a CPU** (`SMOKE = "auto"`)
        the loop itself is then shown on tiny models and small synthetic scenes, a demonstration of the machinery that
        cannot reproduce the paper and is labelled as one; the released GCFLNet and U-Net pair closes the notebook.
        """
    ),
    about("09", [
        "how the three switches EEM, GLFI and MSIC build the paper's eight variants, and what each costs in parameters",
        "how to read an ablation table: each module alone, and its mean effect over the other switches",
        "what the measured ablation says: GCFLNet against its U-Net under both MSIC readings, and with four times "
        "the training",
        "when a comparison says nothing (a variant that predicts every pixel or none), and GCFLNet against U-Net "
        "from trained models",
    ], ["04", "05", "06", "07", "08"], "tiny sweep on synthetic scenes, then the released pair",
        gpu_models=ABLATION_MODELS),
    parameters(
        """
        SMOKE = "auto"         # "auto": the fast path on a CPU (tiny sweep), full size on a GPU; True / False to choose
        EPOCHS = 100           # per variant in full runs (the paper: 1500)
        DEVICE = "auto"        # "auto" -> cuda if available else cpu
        DATA_DIR = "auto"      # "auto" -> NUAA-SIRST if found, else synthetic scenes; "" synthetic; else a standard-layout root
        DATASET = "auto"       # the split files' dataset name ("auto": read from DATA_DIR/img_idx)
        SEED = 0
        CHECKPOINT = "auto"    # the released GCFLNet compared with its U-Net partner ("auto": on a CPU); "" skips the pair
        RESULTS_DIR = "../build/notebook_results"
        ABLATION_RECORDS = "../results/ablation_nudt"  # the queue's records (scripts/ablation_queue.py)
        ABLATION_JSON = "../results/ablation_nudt.json"  # their analysis as committed (scripts/ablation_report.py)
        READINGS_JSON = "../results/ablation_nudt_msic_unit_gain.json"  # MSIC's second reading beside it (--msic-reading)
        BUDGET_JSON = "../results/ablation_nudt_budget4x.json"  # three cells at 4x the steps against 1x (--budget 4)
        OTHER_JSON = "../results/ablation_nuaa.json"  # the same factorial on NUAA-SIRST (--dataset NUAA-SIRST)
        """
    ),
    code(
        """
        import math

        import matplotlib.pyplot as plt
        import numpy as np
        from IPython.display import Markdown, display

        from gcflnet_lib import workbook
        from gcflnet_lib.ablation import SWITCHES, agreement_verdict, degenerate, run_ablation, switch_effects, variants
        from gcflnet_lib.engine import evaluate_model, predict_probabilities
        from gcflnet_lib.models import build_model, list_models
        from gcflnet_lib.nn import MSIC, ConcatSkip
        from gcflnet_lib.released import RELEASES
        from gcflnet_lib.workbook.notebook_runs import markdown_table, notebook_runs_dir, synthetic_dataset_dir, training_data
        from gcflnet_lib.workbook.prob_cache import evaluate_cached
        from gcflnet_lib.workbook.viz import plot_detections, show_images

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE, dataset=DATASET,
                             checkpoint=CHECKPOINT, model="gcflnet")
        SMOKE, CHECKPOINT = ctx.smoke, ctx.checkpoint  # "auto" resolved
        # The U-Net released with the same recipe as the GCFLNet of CHECKPOINT (its partner in the card).
        PARTNER = CHECKPOINT.replace("gcflnet", "unet", 1) if CHECKPOINT in RELEASES else ""
        pair = {"gcflnet": workbook.load_trained_model(CHECKPOINT, "gcflnet", ctx.device)} if CHECKPOINT else {}
        if PARTNER:
            pair["unet"] = workbook.load_trained_model(PARTNER, "unet", ctx.device)
        RUNS = notebook_runs_dir(RESULTS_DIR, "09_ablation")
        N_SCENES, SIZE = (48, 64) if SMOKE else (400, 256)  # synthetic scenes only (half train, half test)
        # The fast path's sweep trains tiny models on small synthetic scenes: a check of the machinery, in seconds.
        sweep_dir = None if SMOKE else ctx.data_dir
        root, dataset = training_data(sweep_dir, ctx.dataset, synthetic_dataset_dir("../data/synthetic", N_SCENES, SIZE, SEED),
                                      N_SCENES, SIZE, SEED)
        if SMOKE:
            settings = dict(epochs=min(EPOCHS, 4), channels=(4, 8, 16), batch_size=4, crop_size=32, lr=3e-3,
                            p_target=0.8)
        else:
            # The paper's batch 16; the 256x256 crops and widths 16..256 are this project's (the paper gives neither).
            settings = dict(epochs=EPOCHS)
        CHANNELS = settings.get("channels", (16, 32, 64, 128, 256))
        print(f"device {ctx.device}; data {workbook.shown_path(root)} ({dataset}); runs in {workbook.shown_path(RUNS)}")
        print(f"shared settings {settings}")
        """
    ),
    md(
        r"""
        ## The result, in short

        Four analyses follow, each opening with its own conclusion: the NUDT-SIRST factorial with MSIC's `crossed`
        reading, the MSIC cells again with `unit_gain` (the default), the same factorial on NUAA-SIRST (in
        docs/ABLATION.md) and four times the training. What they say together, generated from their committed
        analyses by `gcflnet_lib.ablation.overview` (the same block opens docs/ABLATION.md; the cells below recompute
        each analysis from its records and check it):
        """
    ),
    code(
        """
        import json
        from pathlib import Path

        from gcflnet_lib.ablation.overview import OVERVIEW_MARKERS, overview_markdown

        overview_inputs = {key: json.loads(Path(path).read_text()) for key, path in
                           {"nudt": ABLATION_JSON, "readings": READINGS_JSON, "other": OTHER_JSON, "budget": BUDGET_JSON}.items()}
        overview_text = overview_markdown(**overview_inputs)
        display(Markdown(overview_text))
        page = Path("../docs/ABLATION.md").read_text(encoding="utf-8")
        begin, end = OVERVIEW_MARKERS
        assert page[page.index(begin) + len(begin):page.index(end)].strip("\\n") == overview_text, \\
            "docs/ABLATION.md's opening block is stale: run python scripts/ablation_report.py --overview"
        """
    ),
    md(
        r"""
        ## The result: the measured ablation on NUDT-SIRST

        `scripts/ablation_queue.py` trained the eight variants and `unet_wide` (the U-Net widened to GCFLNet's
        parameter count) with `--preset cpu-nudt`, seeds 0 and 1, on the project's 2-core CPU, and scored each run's
        final weights on the NUDT-SIRST test split and on the NUAA-SIRST test split. Each cell of a factorial design
        is a variant; its two seeds are replicates. With $m_c$ the mean of a metric over the seeds of cell $c$, every
        figure below is a contrast $\sum_c w_c m_c$; the main effect of a module puts $w_c = \pm\frac14$ on the cells
        with it on and off, and its 95 % interval is

        $$ \pm\; t_{0.975,\,df}\; s \sqrt{\textstyle\sum_c w_c^2 / n_c}, $$

        with $s^2$ the variance between seeds pooled over the cells ($df = \sum_c (n_c - 1)$, 8 once all 16 runs are in).
        `docs/ABLATION.md` says why, and what the verdicts mean. Below, the analysis is recomputed here from the
        records and must equal the committed `results/ablation_nudt.json`; it opens with its conclusion, generated
        from the records, and the budget it holds for. The statistics come after it.
        """
    ),
    code(
        """
        from gcflnet_lib.ablation import report as ablation_report
        from gcflnet_lib.files import json_safe

        measured = json.loads(json.dumps(json_safe(ablation_report.analyse(ABLATION_RECORDS, replicas=ABLATION_RECORDS + "_replicas"))))
        committed = json.loads(Path(ABLATION_JSON).read_text())
        assert measured == committed, "results/ablation_nudt.json is stale: run python scripts/ablation_report.py"
        display(Markdown(ablation_report.report_markdown(measured)))  # opens with ablation_conclusion(measured)
        """
    ),
    code(
        """
        ablation_report.plot_report(measured)
        plt.gcf().suptitle("NUDT-SIRST ablation, CPU recipe: bars are the mean over the seeds (error bar: their range); "
                           "below, main effects with 95 % intervals", fontsize=10)
        plt.show()
        n_runs = len(measured["records"])
        verdicts = {key: value["verdict"] for key, value in measured["verdicts"].items()}
        assert n_runs >= 2 and measured["dataset"] == "NUDT-SIRST" and measured["cross_dataset"] == "NUAA-SIRST"
        assert set(verdicts.values()) <= {"supported", "contradicted", "inconclusive"}
        for row in measured["table"]:
            for metric in ("miou", "niou", "pd"):
                assert row[metric] is None or 0.0 <= row[metric] <= 1.0, (row["variant"], metric)
        print(f"{n_runs} of 18 runs recorded; verdicts:")
        for claim, verdict in verdicts.items():
            print(f"    {claim}: {verdict}")
        """
    ),
    md(
        r"""
        ### MSIC's second reading

        Under `crossed`, the reading these runs were trained with, MSIC shuts GCFLNet's two finest skips (notebook 06),
        so the rows with MSIC measure that network. A second factorial trains the four MSIC cells with the `unit_gain` reading, which starts
        as the identity; its records, each run's skip health and the pre-registered rule that chooses the default
        reading are in [docs/ABLATION.md](../docs/ABLATION.md). What they say, generated from the records:
        """
    ),
    code(
        """
        from gcflnet_lib.ablation.msic_readings import analyse_readings
        from gcflnet_lib.ablation.render_msic import readings_markdown

        readings_measured = json.loads(json.dumps(json_safe(analyse_readings(reading="unit_gain", root=Path(ABLATION_RECORDS).resolve().parents[1]))))
        readings_committed = json.loads(Path(READINGS_JSON).read_text())
        assert readings_measured == readings_committed, "the readings analysis is stale: run python scripts/ablation_report.py --msic-reading unit_gain"
        display(Markdown(readings_markdown(readings_measured)))
        """
    ),
    md(
        r"""
        ### Four times the training: which verdicts hold?

        Every run above stops at about 2600 optimizer steps while its test mIoU is still climbing, so the verdicts may
        measure how fast each variant learns early rather than what it can reach. U-Net, + EEM and GCFLNet (MSIC
        `unit_gain`) are trained again at four times the steps, seeds 0 and 1, and read by a rule committed before the
        first of those runs (docs/ABLATION.md, "Pre-registered: how the budget study (4x) is read"). What the records
        say, with what each run cost on a CPU:
        """
    ),
    code(
        """
        from gcflnet_lib.ablation.budget import analyse_budget, budget_markdown, plot_budget
        from gcflnet_lib.ablation.plans import PLANS

        budget_measured = json.loads(json.dumps(json_safe(analyse_budget(PLANS["NUDT-SIRST"], 4, "unit_gain",
                                                                         Path(ABLATION_RECORDS).resolve().parents[1]))))
        budget_committed = json.loads(Path(BUDGET_JSON).read_text())
        assert budget_measured == budget_committed, "the budget study is stale: run python scripts/ablation_report.py --budget 4"
        display(Markdown(budget_markdown(budget_measured)))
        plot_budget(budget_measured);
        # The opening "in short" block, from the analyses recomputed here: the same text.
        assert overview_markdown(measured, readings_measured, overview_inputs["other"], budget_measured) == overview_text
        """
    ),
    md(
        r"""
        ## What each switch costs in parameters

        Before any training: the parameter count of every variant, and what each switch adds.

        - **EEM** adds an edge module per encoder level (EFEU + CDC + fusion) and, without GLFI, a pointwise fusion of
          its edges into the features; with GLFI the edges enter GLFI's fusion instead. It always adds parameters.
        - **GLFI** adds the dense and dilated branches, their reduction and the attention per level: always more.
        - **MSIC** *replaces* the U-Net skip (concatenate $[L, \mathrm{up}(H)]$ then a residual block) rather than adding
          to it. It first projects $H$ to $L$'s width, so its fusion block sees $2C$ channels instead of $C + 2C$. In
          this implementation MSIC therefore has slightly **fewer** parameters than the plain skip, the same
          difference whatever EEM and GLFI do (they live in the encoder). We check that number by hand from the skip
          modules themselves.
        """
    ),
    code(
        """
        def count(module):
            return sum(p.numel() for p in module.parameters())

        params = {name: count(build_model(name, channels=CHANNELS)) for name in list_models()}
        by_switches = {tuple(flags[s] for s in SWITCHES): name for name, flags in variants().items()}

        def delta(switch):
            \"\"\"params(switch on) - params(switch off) for each setting of the other two switches.\"\"\"
            index = SWITCHES.index(switch)
            return {by_switches[key]: params[by_switches[key]] - params[by_switches[key[:index] + (False,) + key[index + 1:]]]
                    for key in by_switches if key[index]}

        skips = list(zip(CHANNELS[:-1], CHANNELS[1:]))  # (low, high) widths of each skip connection
        msic_by_hand = sum(count(MSIC(low, high)) - count(ConcatSkip(low, high)) for low, high in skips)
        param_deltas = {switch: delta(switch) for switch in SWITCHES}
        for switch in ("eem", "glfi"):
            assert all(d > 0 for d in param_deltas[switch].values()), (switch, param_deltas[switch])
        assert set(param_deltas["msic"].values()) == {msic_by_hand}, (param_deltas["msic"], msic_by_hand)
        assert params["gcflnet"] > params["unet"]

        display(Markdown(markdown_table(
            [{"switch": s, "added (each setting of the others)": ", ".join(f"{v:+,}" for v in param_deltas[s].values())}
             for s in SWITCHES], ["switch", "added (each setting of the others)"])))
        print(f"MSIC vs concatenation skips, by hand from the skip modules: {msic_by_hand:+,} parameters")
        """
    ),
    md(
        r"""
        ## A toy run of the loop (a demonstration, not a result)

        One loop, one shared configuration (on a CPU: tiny models on small synthetic scenes, a demonstration of the
        machinery; the result is the measured ablation above). Each variant runs in its own folder `RUNS/<variant>` with the engine's
        files (checkpoints, history, metrics); a variant whose folder already holds a finished run with the same
        settings is read back instead of retrained, so an interrupted GPU sweep picks up where it stopped.
        """
    ),
    code(
        """
        if not SMOKE and ctx.device.type == "cpu":
            from gcflnet_lib.data.layout import read_split

            n_steps = 8 * settings["epochs"] * -(-len(read_split(root, dataset, "train")) // 16)
            step = workbook.training_step(build_model("gcflnet"), 16, 256)
            workbook.warn_full_size_on_cpu(ctx, f"the 8-variant sweep ({n_steps} steps)", workbook.estimate_seconds(step, n_steps))
        rows = run_ablation(root, dataset, RUNS, device=DEVICE, seed=SEED, progress=True, **settings)
        for row in rows:
            row["modules"] = sum(row[s] for s in SWITCHES)
            row["fa_e6"] = row["fa"] * 1e6
        assert [row["name"] for row in rows] == list_models()
        assert all(row["params"] == params[row["name"]] for row in rows)

        display(Markdown(markdown_table(rows, {
            "name": None, "eem": None, "glfi": None, "msic": None, "params": ",", "miou": ".4f", "niou": ".4f",
            "pd": ".4f", "fa_e6": ".1f", "auc_pd_fa": ".3f", "final_loss": ".4f", "train_seconds": ".1f", "reused": None})))
        """
    ),
    code(
        """
        names = [row["name"].replace("gcflnet_", "+").replace("_", "+") for row in rows]
        colours = [plt.cm.viridis(row["modules"] / 3) for row in rows]
        fig, axes = plt.subplots(1, 4, figsize=(15, 3.4), layout="constrained")
        for ax, (key, label) in zip(axes, [("miou", "mIoU"), ("pd", "Pd"), ("fa_e6", "Fa (x1e-6)"), ("params", "parameters")]):
            ax.bar(names, [row[key] for row in rows], color=colours)
            ax.set_title(label + (" (lower is better)" if key == "fa_e6" else ""))
            ax.tick_params(axis="x", rotation=60, labelsize=8)
        axes[0].set_ylabel("score")
        axes[2].set_yscale("symlog", linthresh=1.0)
        axes[2].set_ylim(bottom=0)
        axes[2].set_ylabel("Fa (x1e-6), symlog")
        axes[3].set_ylabel("parameters")
        for ax in axes:
            ax.set_xlabel("variant")
        toy = f"toy run: {settings['epochs']} epochs on synthetic scenes, not a result" if SMOKE else f"{settings['epochs']} epochs on {dataset}"
        fig.suptitle(f"ablation, {toy}: baseline (dark) to all three modules (light)");
        """
    ),
    md(
        r"""
        ## Reading the table against the paper

        Two views per module: **alone** (the module added to the U-Net, the paper's comparison) and the **mean effect**
        $\bar\Delta_s$ over the four settings of the other two modules. The last column says whether the direction
        of the metrics the paper singles out agrees with this run, or **inconclusive** when a variant it compares is
        degenerate (`gcflnet_lib.ablation.degenerate`: its false alarms cover 10 % of the pixels or more, or it predicts
        nothing), since differences between such models say nothing about the modules.
        """
    ),
    code(
        """
        PAPER_CLAIMS = {  # the metrics the paper says each module improves (Section 4.4)
            "eem": ("IoU, Pd and Fa improve", ("miou", "pd", "fa")),
            "glfi": ("IoU barely; Pd and Fa clearly", ("pd", "fa")),
            "msic": ("all improve, Pd and Fa most", ("miou", "pd", "fa")),
        }
        METRICS = ("miou", "niou", "pd", "fa")

        def better(metric, change):
            return change < 0 if metric == "fa" else change > 0

        by_name = {row["name"]: row for row in rows}
        effects = switch_effects(rows, metrics=("params", *METRICS))
        alone = {s: {m: by_name[f"gcflnet_{s}"][m] - by_name["unet"][m] for m in METRICS} for s in SWITCHES}
        degenerate_variants = {row["name"]: degenerate(row) for row in rows if degenerate(row)}
        for name, why in degenerate_variants.items():
            print(f"degenerate: {name} {why}")
        agreement, table = {}, []
        for switch in SWITCHES:
            claim, claimed = PAPER_CLAIMS[switch]
            compared = {"alone": [by_name[f"gcflnet_{switch}"], by_name["unet"]], "mean": rows}
            agreement[switch] = {view: agreement_verdict(all(better(m, changes[m]) for m in claimed), compared[view])
                                 for view, changes in (("alone", alone[switch]), ("mean", effects[switch]))}
            for view, changes in (("alone", alone[switch]), ("mean effect", effects[switch])):
                table.append({"switch": switch, "view": view, **{f"d_{m}": changes[m] for m in ("miou", "niou", "pd")},
                              "d_fa_e6": changes["fa"] * 1e6, "paper": claim,
                              "agrees": agreement[switch]["alone" if view == "alone" else "mean"]})
        display(Markdown(markdown_table(table, {"switch": None, "view": None, "d_miou": "+.4f", "d_niou": "+.4f",
                                                "d_pd": "+.4f", "d_fa_e6": "+.1f", "paper": None, "agrees": None})))
        best = max(rows, key=lambda row: row["miou"])["name"]
        print(f"highest mIoU: {best}; the paper's best is gcflnet (all three modules)")
        """
    ),
    md(
        r"""
        **Smoke runs do not reproduce the paper, and are not meant to.** A smoke sweep trains models a few hundred
        times narrower than the default widths for a few dozen steps on 64-pixel scenes: their differences are noise from
        initialisation and crop order, and any "agreement" above is chance. What a smoke run does check is the
        machinery: every variant builds, trains, is scored by the same protocol and lands in one table.

        What a reproduction of Table 2 needs, and what the next section has:

        1. the paper's data, NUDT-SIRST (663 training and 664 test images);
        2. every variant trained alike, long enough that two seeds of one model agree more closely than the variants
           differ: the CPU recipe's 2600 steps (the paper trains full-width models for 1500 epochs on a GPU);
        3. several seeds per variant, so that an interval can tell a module's effect from the spread between seeds.
        """
    ),
    md(
        r"""
        ## GCFLNet against U-Net: the released pair

        What a CPU can show of the ablation's two ends: the released GCFLNet and U-Net, trained alike (same data, recipe,
        seed and epochs; `checkpoints/README.md`). The card's rows are the whole NUAA-SIRST test split; the rows "here"
        score the same models again here: with the defaults on the whole test split too (so the two rows of a model
        agree; the maps come from `build/cache/` when notebooks 00-08 computed them), with `SMOKE = True` (tests, CI) on
        the first 24 images. One seed each: the
        gap between the two is within what seeds can change, so it is no verdict on the modules.
        """
    ),
    code(
        """
        pair_rows = []
        if pair:
            # Generated scenes have no whole split: 24 of them, which the line below names.
            whole = workbook.scores_whole_split(ctx, CHECKPOINT) and not ctx.synthetic
            test_pair = workbook.load_samples(ctx, ctx.dataset, split="test", n=0 if whole else 24, size=256)
            if ctx.synthetic:
                print(f'without NUAA-SIRST the rows "here" score the pair on {len(test_pair)} generated scenes, '
                      "not on the test split of the card's rows")
            for name, (model, meta) in pair.items():
                release = CHECKPOINT if name == "gcflnet" else PARTNER
                scored = evaluate_cached(release, test_pair, ctx.device)  # == evaluate_model; maps once per file
                what = "generated scenes" if ctx.synthetic else "images"
                pair_rows.append({"model": name, "release": release, "where": f"here ({scored['n_images']} {what})",
                                  **{k: scored[k] for k in ("miou", "niou", "pd", "fa")}})
                card = workbook.model_card_metrics(release)
                if card is not None and meta.get("dataset") == ctx.dataset and len(test_pair) == card["n_images"]:
                    assert all(scored[k] == card[k] for k in ("miou", "niou", "pd", "fa")), f"{release}: not its card's scores"
                if card is not None:
                    pair_rows.append({"model": name, "release": release, "where": f"card ({card['n_images']} images)",
                                      **{k: card[k] for k in ("miou", "niou", "pd", "fa")}})
            for row in pair_rows:
                row["fa_e6"] = row["fa"] * 1e6
            display(Markdown(markdown_table(pair_rows, {"model": None, "release": None, "where": None, "miou": ".4f",
                                                        "niou": ".4f", "pd": ".4f", "fa_e6": ".2f"})))
            # Each model's decision at 0.5 on the same images: every target and false alarm boxed and zoomed.
            shown = [s for s in test_pair if s.mask.any()][:2]
            for sample in shown:
                for name, (model, meta) in pair.items():
                    prob = predict_probabilities(model, [sample.image], ctx.device, meta["norm"]["mean"], meta["norm"]["std"])[0]
                    plot_detections(sample.image, prob > 0.5, sample.mask, title=f"{sample.name}: {name} at 0.5", max_crops=3)
        else:
            print("no released pair here (CHECKPOINT is empty or not a released GCFLNet)")
        """
    ),
    checks(
        """
        assert len(rows) == 8 and len({row["name"] for row in rows}) == 8
        for row in rows:
            for key in ("miou", "niou", "pd", "fa", "auc_pd_fa"):
                assert math.isfinite(row[key]) and 0.0 <= row[key] <= 1.0, (row["name"], key, row[key])
            assert math.isfinite(row["final_loss"])

        workbook.record_results("09_ablation", {
            "n_variants": len(rows),
            "table": [{key: row[key] for key in ("name", "eem", "glfi", "msic", "params", "miou", "niou", "pd", "fa",
                                                 "auc_pd_fa", "first_loss", "final_loss", "train_seconds", "reused")}
                      for row in rows],
            "params": params,
            "msic_param_delta": msic_by_hand,
            "effects": effects,
            "alone": alone,
            "agrees_with_paper": agreement,
            "degenerate_variants": degenerate_variants,
            "released_pair": pair_rows,
            "checkpoint": bool(CHECKPOINT),
            "checkpoint_name": str(CHECKPOINT),
            "best_miou_variant": best,
            "epochs": settings["epochs"],
            "channels": list(CHANNELS),
            "dataset": ctx.dataset,  # the data given (the released pair is scored on it)
            "sweep_dataset": dataset,  # the sweep's (small synthetic scenes on the fast path)
            "smoke": SMOKE,
            "measured_runs": n_runs,
            "measured_verdicts": verdicts,
            "measured_main_effects": {s: {m: measured["effects"]["main"][s][m]["estimate"] for m in ("miou", "pd", "fa")}
                                      for s in SWITCHES},
            "budget_missing": budget_measured["missing"],
            "budget_changes": {key: item["change"] for key, item in budget_measured["changes"].items()},
        }, RESULTS_DIR)
        """
    ),
    ending("09", """
        The three switches give eight variants trained alike; EEM and GLFI add parameters, MSIC replaces the U-Net skip
        and costs slightly fewer. An ablation table is read per module (alone, and mean effect), and a comparison with a
        degenerate variant is inconclusive. The measured ablation on NUDT-SIRST reads the eight variants, two seeds each,
        as a factorial experiment: main effects, interactions and each module alone, with intervals from the seed spread,
        and a verdict on each of the paper's claims that follows from them.
        """, [
        ("In `measured[\"effects\"][\"main\"]`, compare the main effect of each module with the same module alone "
         "against the U-Net (`measured[\"effects\"][\"alone\"]`): where do they differ most, and which interaction "
         "explains the difference?",
         """
         The main effect averages a module's change over all four settings of the other two switches; "alone" is its
         change on the plain U-Net. They differ most for the module with the largest interaction. If a module
         helps alone but less once another module is present, their two-way interaction is negative, and the main
         effect lies below the alone effect. Read which pair from `measured["effects"]`, and check the intervals
         first: with two seeds, a difference inside them is not established.
         """),
        ("In `params`, check by hand that `params[\"gcflnet\"] - params[\"gcflnet_eem_glfi\"]` equals `msic_by_hand`, and "
         "explain why MSIC's parameter change does not depend on EEM and GLFI.",
         """
         They are equal (a small negative number: MSIC costs slightly less than the skip it replaces). MSIC
         replaces the plain skip at each skip connection, and its weights depend only on the widths of the two
         levels it joins. EEM and GLFI add modules inside the encoder levels but leave those widths as they are,
         so the same difference appears whatever else is switched on.
         """),
        ("Call `degenerate(row, max_fa=0.01)` on each row of `rows`: which variants change verdict, and what does the "
         "threshold mean in false pixels per 256x256 image?",
         """
         `max_fa = 0.01` flags a variant whose false pixels cover 1% of all pixels: about 655 false pixels per
         256x256 image, against about 6,554 at the default 0.1. Variants with Fa between 0.01 and 0.1 change to
         "predicts nearly every pixel". On the fast path's tiny sweep several briefly trained variants can; on
         trained models, none should.
         """),
        ("In `pair_rows`, compare the GCFLNet and U-Net rows on the images here and in the card: do the two agree on "
         "which model is better, and what would you need to say that the gap is real?",
         """
         Read Pd and mIoU of both models here and in the card (the whole test split). With the defaults on NUAA-SIRST
         the rows here are the card's; with `SMOKE = True` a few images may order the two models as the card does, or
         not. To say a gap is real you need its
         uncertainty: several training seeds per model, to measure the spread between runs, and an interval over
         images (a bootstrap over the test split). One trained model of each cannot separate the model from its
         seed.
         """),
    ], """
        Ablations with one seed are common in the field and hard to trust. A factorial design with several seeds,
        as `results/ablation_nudt.json` begins, says which effects exceed the seed spread. More seeds, and the same
        design on NUAA-SIRST and IRSTD-1K (ISNet, Zhang et al., CVPR 2022), would show whether the paper's claimed
        gains hold across datasets. `scripts/gpu_campaign.py` and `docs/ABLATION.md` describe how the measured
        ablation is run.
        """),
]
