"""Generator of notebooks/10_classical_vs_deep.ipynb."""

from _cells import about, checks, checks_note, code, ending, md, parameters, top

CELLS = [
    top("10"),
    md(
        r"""
        # 10 · Classical detectors against GCFLNet

        The paper compares GCFLNet with six classical (model-driven, no learning) detectors from three families
        (Section 4.3, Table 1, Figures 5 and 6): filter-based **Top-Hat** and **Max-Median**, local-contrast **TLLCM**
        and **WSLCM**, and low-rank **IPI** and **RIPT**. It reports *"an order-of-magnitude improvement over
        traditional local contrast method"* in IoU and notes that traditional approaches *"often fail under low-contrast
        targets or heavy background clutter, leading to frequent missed detections and false alarms"*.

        This notebook runs all six (`gcflnet_lib.classical`) and a GCFLNet on the same test images, and scores them the
        same way (`gcflnet_lib.workbook.compare`):

        - **the method's own decision.** A classical detector outputs a saliency map $S$, binarised by the adaptive
          threshold of most of these papers, $T = \mu_S + k\,\sigma_S$ (mean and standard deviation of the map, per
          image); the network's probabilities are cut at $p > 0.5$. Then Pd, Fa, mIoU and nIoU as in the BasicIRSTD
          protocol.
        - **the whole Pd-Fa curve.** Each saliency map is rescaled to $[0, 1]$ per image,
          $\tilde S = (S - \min S) / (\max S - \min S)$, stored in 8 bits as `gcflnet classical` writes it, and swept
          over the same thresholds as the probabilities. Every curve is then read on one shared false-alarm axis: its
          AUC over $\mathrm{Fa} \in [0, 10^{-4}]$ (divided by $10^{-4}$), the best Pd at $\mathrm{Fa} \le 10^{-5}$ and
          $\le 10^{-4}$, and the pixel-level ROC's AUC (target against background pixels, as DNANet and ACM report).

        **The result comes first**: with the defaults on a CPU (`SMOKE = "auto"`), the released GCFLNet and its released
        U-Net partner (same data, recipe and seed) are scored with Top-Hat, Max-Median, TLLCM and WSLCM on **all 214
        NUAA-SIRST test images**, and a conclusion generated from that table opens the section. IPI and RIPT take
        seconds per full-size image (minutes for the split), so they are scored afterwards, with every other method
        for a fair row, on a named **subset**: the first 6 test images that hold a target, each cropped to
        $128\times128$ around it. Without the dataset the workbook scores a few generated scenes instead, leaves the
        whole-split table out and draws no conclusion (the outputs say so).
        """
    ),
    about("10", [
        "six classical detectors (filters, local contrast, low rank) and the adaptive threshold they are cut with",
        "how to compare a saliency map with a probability map fairly: own decision, and the whole Pd-Fa curve",
        "what a trained network buys over a local-contrast detector here (masks, mIoU) and what it does not (Pd at a fixed Fa)",
    ], ["01", "08"], "released GCFLNet and U-Net with Top-Hat, Max-Median, TLLCM and WSLCM on the whole test split "
       "(214 images); IPI and RIPT with all the others on 6 NUAA-SIRST crops of 128x128"),
    parameters(
        """
        SMOKE = "auto"         # "auto": the fast path on a CPU (a handful of images), full size on a GPU; True / False to choose
        DEVICE = "auto"        # "auto" -> cuda if available else cpu
        DATA_DIR = "auto"      # "auto" -> NUAA-SIRST if found, else synthetic scenes; "" synthetic; else a standard-layout root
        DATASET = "auto"       # the split files' dataset name ("auto": read from DATA_DIR/img_idx)
        SEED = 0
        CHECKPOINT = "auto"    # "auto": the released model on a CPU, trained here on a GPU; a path or released name; "" trains here
        K = 10.0               # k of the classical adaptive threshold mean + k * std
        RESULTS_DIR = "../build/notebook_results"
        """
    ),
    code(
        """
        import json
        import math
        import time

        import matplotlib.pyplot as plt
        import numpy as np
        from IPython.display import Markdown, display

        from gcflnet_lib import workbook
        from gcflnet_lib.classical import METHODS, adaptive_threshold
        from gcflnet_lib.data.dataset import load_split
        from gcflnet_lib.engine import predict_probabilities
        from gcflnet_lib.models import build_model
        from gcflnet_lib.released import TRAINING_RECORDS, available
        from gcflnet_lib.workbook.compare import (adaptive_threshold_stats, crop_around_targets, method_row, network_row,
                                                  run_detector)
        from gcflnet_lib.workbook.conclusions import comparison_conclusion, dead_skips_sentence, networks_budget
        from gcflnet_lib.workbook.notebook_runs import markdown_table, synthetic_dataset_dir, training_data
        from gcflnet_lib.workbook.prob_cache import cached_probabilities, evaluate_probabilities
        from gcflnet_lib.workbook.viz import overlay_prediction, plot_detections, plot_pixel_roc, plot_roc, show_images
        from gcflnet_lib.workbook.widgets import AdaptiveThresholdExplorer

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE, dataset=DATASET,
                             checkpoint=CHECKPOINT, model="gcflnet")
        SMOKE, CHECKPOINT = ctx.smoke, ctx.checkpoint  # "auto" resolved
        # The same synthetic set as notebook 07 in full size, so its checkpoint is scored on its own test split.
        N_SCENES, SIZE = (48, 96) if SMOKE else (400, 256)
        N_TEST = 6 if SMOKE else 50  # IPI and RIPT take seconds per full-size image
        root, dataset = training_data(ctx.data_dir, ctx.dataset, synthetic_dataset_dir("../data/synthetic", N_SCENES, SIZE, SEED),
                                      N_SCENES, SIZE, SEED)
        if CHECKPOINT:  # checked before the slow detectors run: a missing file or another variant stops here
            workbook.load_trained_model(CHECKPOINT, "gcflnet")
        test = [s for s in load_split(root, dataset, "test") if s.mask.any()][:N_TEST]
        if SMOKE and not ctx.synthetic:  # the subset named above: N_TEST crops of 128x128, one around a target each
            test = crop_around_targets(test, 128)  # keeps the low-rank methods to a fraction of a second per image
        images, masks = [s.image for s in test], [s.mask for s in test]
        print(f"device {ctx.device}; {len(test)} test images from {workbook.shown_path(root)} ({dataset}), "
              f"sizes {sorted({s.image.shape for s in test})[:3]}")
        if ctx.synthetic:
            print(f"without NUAA-SIRST every table below scores these {len(test)} generated scenes, "
                  "not NUAA-SIRST test images")
        """
    ),
    md(
        r"""
        ## The result: the whole test split

        Four classical detectors and two released networks on every NUAA-SIRST test image. Each classical map is cut
        at its own adaptive threshold $\mu_S + k\,\sigma_S$ (`K` of the parameters), each network at $p > 0.5$;
        the curve columns read every method on the same false-alarm axis (notebook 08). Whether the released GCFLNet
        uses all its skips is read from its skip-health record and said under the conclusion (notebook 06 shows how
        it is measured); either way it is scored as released. The networks' maps come from
        `build/cache/` when an earlier notebook computed them (`gcflnet_lib.workbook.prob_cache`), so their numbers at
        0.5 are their model cards'. The conclusion is generated from the table (`comparison_conclusion`); it names the
        budget the networks were trained with. Fa is in units of $10^{-6}$. A Pd of 0.000 at
        $\mathrm{Fa} \le 10^{-5}$ means the curve never gets that low: even at the highest threshold the model keeps
        more false-alarm pixels than that budget allows, pixels whose float32 probability is exactly 1 (notebook 08).
        """
    ),
    code(
        """
        WHOLE_SPLIT_METHODS = ("tophat", "max_median", "tllcm", "wslcm")  # fast enough for 214 full-size images on a CPU
        PARTNER = str(CHECKPOINT).replace("gcflnet", "unet", 1) if str(CHECKPOINT) in available() else ""
        whole, whole_rows, whole_probs, conclusion, budget_text = [], [], {}, "", ""
        if workbook.scores_whole_split(ctx, CHECKPOINT) and not ctx.synthetic:
            whole = load_split(root, dataset, "test")
            whole_images, whole_masks = [s.image for s in whole], [s.mask for s in whole]
            for name in WHOLE_SPLIT_METHODS:
                maps, per_image = run_detector(METHODS[name], whole_images, progress=True)
                whole_rows.append(method_row(name, maps, whole_masks, K, per_image))
            networks = {"gcflnet": CHECKPOINT, **({"unet": PARTNER} if PARTNER in available() else {})}
            for name, checkpoint in networks.items():
                whole_probs[name] = cached_probabilities(checkpoint, whole_images, ctx.device)
                whole_rows.append(network_row(name, whole_probs[name], whole_masks, 0.5))
            budget_text = networks_budget({name: TRAINING_RECORDS.get(str(checkpoint)) for name, checkpoint in networks.items()},
                                          K, len(whole), dataset)
            health_file = workbook.REPO_ROOT / "results" / "health" / f"{CHECKPOINT}.json"
            health_note = dead_skips_sentence(json.loads(health_file.read_text()), "The released GCFLNet") if health_file.is_file() else ""
            conclusion = f"{comparison_conclusion(whole_rows, budget_text)} {health_note}".strip()
            display(Markdown(conclusion))
            for row in whole_rows:
                row["fa_e6"] = row["fa"] * 1e6
            display(Markdown(markdown_table(whole_rows, {"name": None, "decision": None, "n_images": "d", "miou": ".4f",
                                                         "niou": ".4f", "pd": ".4f", "fa_e6": ".1f", "pd_at_fa_1e-05": ".3f",
                                                         "pd_at_fa_1e-04": ".3f", "auc_pd_fa": ".3f", "auc_pixel": ".4f"})))
            fig, (ax, pixel_ax) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
            plot_roc({row["name"]: row for row in whole_rows}, ax=ax)
            ax.set_title(f"Pd against Fa, all {len(whole)} test images")
            plot_pixel_roc({row["name"]: row for row in whole_rows}, ax=pixel_ax)
            pixel_ax.set_title("pixel-level ROC");
        elif ctx.synthetic:
            print("no whole-split table and no conclusion: they need the NUAA-SIRST test split, and this run has "
                  "generated scenes only; the subset table below is an illustration")
        else:
            print("no whole-split table and no conclusion: SMOKE = True or no trained CHECKPOINT; the subset table "
                  "below is an illustration")
        """
    ),
    md(
        r"""
        ## The six classical detectors

        | family | method | saliency |
        |---|---|---|
        | filter | **Top-Hat** (Rivest & Fortin 1996) | $S = I - (I \circ B)$: the image minus its morphological opening by a $9\times9$ element $B$; the opening erases bright structures smaller than $B$, so the residue holds them |
        | filter | **Max-Median** (Deshpande et al. 1999) | $S = \max\big(I - \max_{d} \operatorname{med}_d(I), 0\big)$: the background is the largest of the medians along the 4 lines (horizontal, vertical, 2 diagonals) of a $7\times7$ window; a median along an edge keeps the edge |
        | local contrast | **TLLCM** (Han et al. 2020) | $S = \max\big(C^2/B - C, 0\big)$: core $C$ = Gaussian-smoothed centre, background $B$ = the largest mean of the $K$ brightest pixels over the 8 surrounding cells, max over cell sizes |
        | local contrast | **WSLCM** (Han et al. 2021) | the same strengthened contrast times a weight that asks the centre cell to stand out more than every neighbour and damps neighbourhoods whose cells disagree (edges, clutter) |
        | low rank | **IPI** (Gao et al. 2013) | the patch image $D$ ($50\times50$ patches as columns) split as $\min \lVert B\rVert_* + \lambda\lVert T\rVert_1$ s.t. $D = B + T$: background low-rank, target sparse; $T$ back in image form |
        | low rank | **RIPT** (Dai & Wu 2017) | patches stacked as a tensor, low-rank in every mode, with a local structure-tensor weight that makes edges costly as targets, reweighted for sparsity |

        Each runs with its paper's defaults (see the docstrings in `gcflnet_lib.classical`). The time per image is
        measured on this machine's CPU.
        """
    ),
    code(
        """
        saliency, seconds = {}, {}
        for name, detector in METHODS.items():
            saliency[name], seconds[name] = run_detector(detector, images, progress=True)
            print(f"{name:>10}: {seconds[name] * 1000:8.1f} ms per image")
        """
    ),
    md(
        r"""
        ## The network

        A GCFLNet trained on the training split: the checkpoint of `CHECKPOINT` (on a CPU by default the released model;
        refused unless it holds a `gcflnet`), else one trained here (a progress bar shows the steps and time left). A fair comparison needs a fully trained network (notebook 07 on a
        GPU, or `gcflnet train`); a smoke run's network has seen a few dozen steps.
        """
    ),
    code(
        """
        train_samples = load_split(root, dataset, "train")
        if not CHECKPOINT and not SMOKE and ctx.device.type == "cpu":
            step = workbook.training_step(build_model("gcflnet"), 16, 128)
            workbook.warn_full_size_on_cpu(ctx, "1500 training steps", workbook.estimate_seconds(step, 1500))
        fit = workbook.model_for_notebook(
            ctx, "gcflnet", CHECKPOINT, train_samples[:24] if SMOKE else train_samples,
            steps=60 if SMOKE else 1500,
            channels=(8, 16, 32) if SMOKE else (16, 32, 64, 128, 256),
            crop_size=64 if SMOKE else 128, batch_size=4 if SMOKE else 16,
        )
        predict_probabilities(fit.model, images[:1], ctx.device, fit.mean, fit.std)  # warm-up, not timed
        start = time.perf_counter()
        probabilities = predict_probabilities(fit.model, images, ctx.device, fit.mean, fit.std, batch_size=1)
        seconds["gcflnet"] = (time.perf_counter() - start) / len(images)
        source = CHECKPOINT or f"trained here for {len(fit.losses)} steps (loss {fit.losses[0]:.3f} -> {fit.losses[-1]:.3f})"
        print(f"GCFLNet {fit.model.config['channels']}: {source}; {seconds['gcflnet'] * 1000:.1f} ms per image on {ctx.device}")
        """
    ),
    md(
        r"""
        ## IPI and RIPT, with every method, on a subset

        The low-rank methods are too slow for the whole split on a CPU, so all seven are scored here on the subset
        named in the first output (on a CPU with the dataset: 6 crops of $128\times128$ around targets). A few small
        crops decide little: one large missed target can reorder the table, so read it as where IPI and RIPT stand
        beside the others, not as a ranking. Classical rows use their adaptive threshold with `K`; the network uses
        $p > 0.5$. Fa is shown in units of $10^{-6}$.
        """
    ),
    code(
        """
        rows = [method_row(name, saliency[name], masks, K, seconds[name]) for name in METHODS]
        rows.append(network_row("gcflnet", probabilities, masks, 0.5, seconds["gcflnet"]))
        for row in rows:
            row["fa_e6"] = row["fa"] * 1e6
            row["ms_per_image"] = row["seconds_per_image"] * 1000
        display(Markdown(markdown_table(rows, {"name": None, "decision": None, "n_images": "d", "miou": ".4f", "niou": ".4f", "pd": ".4f",
                                               "fa_e6": ".1f", "pd_at_fa_1e-05": ".3f", "pd_at_fa_1e-04": ".3f",
                                               "auc_pd_fa": ".3f", "auc_pixel": ".4f", "ms_per_image": ".1f"})))

        # One fixed Fa axis for all seven: the AUC column integrates each curve up to the dotted line.
        fig, (ax, pixel_ax) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
        plot_roc({row["name"]: row for row in rows}, ax=ax)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlim(0, 1e6)
        ax.set_xlabel("Fa (x1e-6), symlog: linear below 1")
        ax.set_title(f"Pd against Fa, the subset of {len(test)} images")
        plot_pixel_roc({row["name"]: row for row in rows}, ax=pixel_ax)
        pixel_ax.set_title("pixel-level ROC");
        """
    ),
    md(
        r"""
        ## What the adaptive threshold's k does

        $k$ trades detections for false alarms: a larger $k$ flags fewer pixels (strictly), which drops false alarms
        first and, past some point, the targets too. Where that point lies depends on the method and on the image, which
        is why a single $k$ rarely suits all scenes. At the very low end Pd can be low as well: the flagged pixels
        merge into large blobs whose centroids lie far from the targets they cover. The slider below redraws one method's decision for any $k$ with
        its Pd, Fa and IoU over all images; the sweep after it shows every method at once.
        """
    ),
    code(
        """
        WIDGET_METHOD = "wslcm"
        explorer = AdaptiveThresholdExplorer(saliency[WIDGET_METHOD], masks, images, k=K, k_range=(0.0, max(20.0, K + 5.0)),
                                             method=WIDGET_METHOD)
        display(explorer)
        """
    ),
    code(
        """
        # The slider wraps adaptive_threshold_stats: moving it gives the function's numbers for the new k.
        explorer.k_slider.value = K + 2.0
        assert explorer.stats == adaptive_threshold_stats(saliency[WIDGET_METHOD], masks, explorer.k_slider.value)
        assert explorer.k_slider.value == K + 2.0
        explorer.k_slider.value = K

        k_values = np.linspace(0.0, 20.0, 21)
        sweep = {name: [adaptive_threshold_stats(saliency[name], masks, k) for k in k_values] for name in METHODS}
        flagged = {name: [int(sum(adaptive_threshold(s, k).sum() for s in saliency[name])) for k in k_values]
                   for name in METHODS}
        fig, (ax_pd, ax_fa) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
        for name in METHODS:
            ax_pd.plot(k_values, [s["pd"] for s in sweep[name]], marker=".", label=name)
            ax_fa.plot(k_values, [s["fa"] * 1e6 for s in sweep[name]], marker=".", label=name)
        for ax in (ax_pd, ax_fa):
            ax.axvline(K, color="gray", linestyle=":")
            ax.set_xlabel("k")
        ax_pd.set(ylabel="Pd", ylim=(-0.02, 1.02))
        ax_fa.set(ylabel="Fa (x1e-6)", yscale="symlog")
        ax_fa.set_ylim(bottom=0)
        ax_pd.legend(fontsize=8);
        """
    ),
    md(
        r"""
        ## Side by side

        Each method's decision on a few test images, one block of two rows per image (gold: hit, red: false alarm,
        cyan: missed target pixels; every frame under one fixed display stretch, the 8-bit range). Below the grid, the
        first image's decisions of Top-Hat and of the network with every target and false alarm boxed and zoomed.
        Filters and local contrast respond to any bright structure about the size of their window, so glints, cloud
        edges and corners can come through as false alarms; the low-rank methods rely on the background repeating
        across patches, and whatever does not repeat (an edge, a single building) lands in the sparse "target" part.
        A trained network instead learns what the targets of this data look like, which is also why it needs
        training data that resembles the test scenes.
        """
    ),
    code(
        """
        panels, titles = [], []
        for index in range(min(3, len(test))):
            panels += [images[index]]
            titles += [test[index].name]
            for name in METHODS:
                panels.append(overlay_prediction(images[index], adaptive_threshold(saliency[name][index], K), masks[index]))
                titles.append(name)
            panels.append(overlay_prediction(images[index], probabilities[index] > 0.5, masks[index]))
            titles.append("gcflnet")
        show_images(panels, titles, ncols=(len(METHODS) + 2) // 2, size=3.4)
        plot_detections(images[0], adaptive_threshold(saliency["tophat"][0], K), masks[0],
                        title=f"{test[0].name}: tophat, mean + {K:g} std", max_crops=4)
        plot_detections(images[0], probabilities[0] > 0.5, masks[0], title=f"{test[0].name}: gcflnet, p > 0.5", max_crops=4);
        """
    ),
    code(
        """
        best_classical = max(rows[:-1], key=lambda row: row["miou"])
        deep_wins = rows[-1]["miou"] > best_classical["miou"]
        print(f"best classical by mIoU: {best_classical['name']} ({best_classical['miou']:.3f}); gcflnet {rows[-1]['miou']:.3f}")
        card = workbook.model_card_metrics(CHECKPOINT) if CHECKPOINT else None
        if card is not None and len(test) < card["n_images"]:
            # mIoU pools pixels: on a handful of images one large missed target can decide the ranking.
            print(f"on {len(test)} {'generated scenes' if ctx.synthetic else 'images'} only; {CHECKPOINT} on the whole "
                  f"NUAA-SIRST test split: mIoU {card['miou']:.3f}, Pd {card['pd']:.3f} (model card)")
        """
    ),
    checks_note(
        r"""
        Every score must be a valid rate and every curve complete; a larger $k$ must flag fewer pixels. In a full run
        (not smoke) the network, a trained `CHECKPOINT` or one trained here for 1500 steps, must also beat the best
        classical method in mIoU, the paper's main claim. A smoke run's network is too briefly trained for that check,
        and its numbers, like the classical ones on a handful of small images, are illustrations rather than results.
        """
    ),
    checks(
        """
        assert [row["name"] for row in rows] == [*METHODS, "gcflnet"]
        for row in rows:
            for key in ("miou", "niou", "pd", "fa", "auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05", "pd_at_fa_1e-04"):
                assert math.isfinite(row[key]) and 0.0 <= row[key] <= 1.0, (row["name"], key, row[key])
            assert len(row["roc"]["pd"]) == len(row["roc"]["fa"]) > 0
        for name in METHODS:
            assert all(a >= b for a, b in zip(flagged[name], flagged[name][1:])), name
        if not SMOKE:
            assert deep_wins, f"gcflnet mIoU {rows[-1]['miou']:.3f} <= {best_classical['name']} {best_classical['miou']:.3f}"
        if whole_rows:
            # The first table: every row on the whole split, and the conclusion is the one its rows give.
            assert all(row["n_images"] == len(whole) for row in whole_rows), [(row["name"], row["n_images"]) for row in whole_rows]
            assert conclusion == f"{comparison_conclusion(whole_rows, budget_text)} {health_note}".strip()
            card = workbook.model_card_metrics(CHECKPOINT)
            if card is not None and len(whole) == card["n_images"]:
                # The card scores the 8-bit maps gcflnet evaluate saves; the table the float maps (as compare does).
                as_card = evaluate_probabilities(whole_probs["gcflnet"], whole)
                assert all(as_card[key] == card[key] for key in ("miou", "niou", "pd", "fa")), "not the model card's scores"
            gcflnet_whole = next(row for row in whole_rows if row["name"] == "gcflnet")
            # On the whole split (not a handful of crops) the trained network must beat every classical row in mIoU.
            assert all(gcflnet_whole["miou"] > row["miou"] for row in whole_rows if row["kind"] == "classical"), whole_rows

        workbook.record_results("10_classical_vs_deep", {
            "methods": [row["name"] for row in rows],
            "table": [{key: row[key] for key in ("name", "kind", "decision", "miou", "niou", "pd", "fa", "auc_pd_fa",
                                                 "auc_pixel", "pd_at_fa_1e-05", "pd_at_fa_1e-04", "seconds_per_image")}
                      for row in rows],
            "k": K,
            "n_images": len(test),
            "n_images_whole_split": len(whole) if whole_rows else 0,
            "whole_split_miou": {row["name"]: row["miou"] for row in whole_rows},
            "whole_table": [{key: row[key] for key in ("name", "kind", "decision", "n_images", "n_targets", "miou", "niou",
                                                       "pd", "fa", "auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05",
                                                       "pd_at_fa_1e-04")} for row in whole_rows],
            "budget": budget_text,
            "conclusion": conclusion,
            "best_classical_miou": best_classical["name"],
            "deep_beats_best_classical_miou": deep_wins,
            "flagged_pixels_k0": {name: flagged[name][0] for name in METHODS},
            "flagged_pixels_k20": {name: flagged[name][-1] for name in METHODS},
            "checkpoint": bool(CHECKPOINT),
            "checkpoint_name": str(CHECKPOINT),
            "dataset": dataset,
            "smoke": SMOKE,
        }, RESULTS_DIR)
        """
    ),
    ending("10", r"""
        Classical detectors score a saliency map and cut it with $\mu + k\sigma$; they need no training, and they
        respond to any structure their prior favours, so clutter and edges can become false alarms. The network's
        probabilities are cut at 0.5. Both are scored by the same protocol, on their own decision and on the whole
        Pd-Fa curve, and which one leads depends on the metric: the conclusion at the top, generated from the
        whole-split table, says where each leads and by how much.
        """, [
        ("A local-contrast detector such as TLLCM can find more targets than the network at the same false-alarm "
         "rate (compare `pd_at_fa_1e-05` and `pd_at_fa_1e-04` in the whole-split table). Why can a hand-made "
         "contrast measure beat a trained network on Pd at a fixed Fa, while losing on mIoU?",
         r"""
         Pd asks only whether some predicted blob has its centroid within 3 pixels of a target; it does not ask
         for the target's shape. A local-contrast measure is built for exactly that question: it peaks on any
         compact spot brighter than every ring around it, whatever the scene, so its highest scores sit on
         targets and a low threshold finds most of them while flagging few pixels. The network learned from 213
         images with a SoftIoU loss, which rewards masks that overlap their targets; its probabilities are
         nearly binary, so a faint target it is unsure of sits in the same low-probability tail as the
         background, and no threshold brings it back without many false pixels. mIoU rewards shape, which the
         network learned and a contrast measure does not model, so the network leads there. More and more varied
         training data, a loss that weighs detection (for example a Pd-aware or a focal term), or fusing a
         contrast prior into the network are the usual remedies.
         """),
        ("Move the widget's k for `wslcm` and for `tophat` (`WIDGET_METHOD`): at which k does each lose its first "
         "target, and how many pixels does each flag there (`flagged`)?",
         r"""
         Raising $k$ raises the cut $\mu + k\sigma$, and the number of flagged pixels falls quickly. A method loses
         its first target at the $k$ where that target's saliency falls under the cut. WSLCM, a contrast measure
         that suppresses smooth background, has a peakier map, and usually keeps its targets to a higher $k$ while
         flagging fewer pixels. Top-hat keeps bright clutter and edges, so at the $k$ where it loses a target it
         still flags more. Read the two values from the widget.
         """),
        ("Find the image in `test` where `ipi` raises the most false alarms and show its saliency map "
         "`saliency[\"ipi\"][i]` with a colour bar: which structure does the low-rank model put into the target part?",
         """
         Typically bright, sparse, sharp structure: building or cloud edges, isolated bright points, corners. A
         low-rank background cannot represent it, so the decomposition assigns it to the sparse part, the
         "target" part, as strongly as the target. The colour bar shows that structure at the target's level.
         """),
        ("Cut GCFLNet's `probabilities` with the classical rule `adaptive_threshold(p, K)` instead of 0.5 and score them "
         "with `adaptive_threshold_stats`: is the comparison fairer, and why?",
         r"""
         Not really. The network was trained so that 0.5 is its natural cut. Its map is near 0 almost everywhere,
         so $\mu + k\sigma$ is a very low cut, which flags many low-probability pixels: Fa rises, and Pd rises a
         little. No single cut is fair to every method. The fair comparisons are the whole Pd-Fa curve, which does not
         depend on a cut, and, for one number, each method's Pd at the same Fa (`pd_at_fa`).
         """),
    ], """
        The classical detectors here come from a long line: top-hat filtering (Bai and Zhou, Pattern Recognition
        2010), max-median filters (Deshpande et al., SPIE 1999), local contrast measures (Chen et al., TGRS 2014, and
        TLLCM and WSLCM by Han et al.), and low-rank models: IPI (Gao et al., TIP 2013) and RIPT (Dai and Wu,
        JSTARS 2017). Deep unfolding turns such a low-rank model into a trainable network; comparing one with GCFLNet
        under notebook 08's protocol is a natural next step.
        """),
]
