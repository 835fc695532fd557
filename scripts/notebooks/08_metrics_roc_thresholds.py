"""Generator of notebooks/08_metrics_roc_thresholds.ipynb."""

from _cells import about, checks, code, ending, md, parameters, top

CELLS = [
    top("08"),
    md(
        r"""
        # 08 · Metrics: IoU, nIoU, Pd, Fa, ROC, and choosing a threshold

        The paper (Section 4.2) scores shape with IoU and localisation with the probability of detection Pd and the
        false-alarm rate Fa, and compares methods with Pd-Fa ROC curves:

        $$
        \mathrm{IoU} = \frac{A_{\text{inter}}}{A_{\text{union}}}, \qquad
        P_d = \frac{T_{\text{correct}}}{T_{\text{all}}}, \qquad
        F_a = \frac{P_{\text{false}}}{P_{\text{all}}} .
        $$

        The paper words $P_d$ in pixels, but the field's protocol (BasicIRSTD, DNANet, MSHNet), which its numbers come
        from, counts **targets**. That is the reading of `gcflnet_lib.metrics`:

        - **mIoU** = total intersection / total union over the split; **nIoU** = mean per-image IoU over images
          that hold a target;
        - **Pd**: targets and predictions are 8-connected components; each target, in raster order, takes the first
          remaining predicted component whose centroid is closer than 3 px; $P_d$ = matched targets / targets;
        - **Fa** = predicted pixels outside matched components / all pixels (papers print it $\times 10^{-6}$);
        - a pixel is predicted when its probability is **> 0.5**; the ROC sweeps that threshold.

        First the rules by hand on tiny examples, then the library on the same, then ROC curves, then a widget to
        choose the threshold and a minimum component size while watching Pd, Fa and IoU.
        """
    ),
    about("08", [
        "how mIoU, nIoU, Pd and Fa are counted, by hand and with `gcflnet_lib.metrics`",
        "how a Pd-Fa ROC curve is swept, why it need not be monotonic, and why its AUC needs one false-alarm axis for all methods",
        "how a threshold and a minimum component size trade detections against false alarms, "
        "on a trained GCFLNet's real detections, misses and false alarms",
    ], ["00", "07"], "released checkpoint on the 214 NUAA-SIRST test images"),
    parameters(
        """
        SMOKE = "auto"         # "auto": the fast path on a CPU, full size on a GPU; True / False to choose
        DEVICE = "auto"        # "auto" -> cuda if available else cpu
        DATA_DIR = "auto"      # "auto" -> NUAA-SIRST if found, else synthetic scenes; "" synthetic; else a standard-layout root
        DATASET = "auto"       # the split files' dataset name ("auto": read from DATA_DIR/img_idx)
        SEED = 0
        CHECKPOINT = "auto"    # "auto": the released model on a CPU, trained here on a GPU; a path or released name; "" trains here
        TRAIN_STEPS = 600      # steps of the brief training used when no checkpoint is used (the fast path uses 20)
        MODEL = "gcflnet"      # the model the checkpoint must hold (another variant is refused)
        RESULTS_DIR = "../build/notebook_results"
        """
    ),
    code(
        """
        from pathlib import Path

        import matplotlib.pyplot as plt
        import numpy as np
        from IPython.display import Markdown, display
        from scipy import ndimage

        from gcflnet_lib import workbook
        from gcflnet_lib.classical import tophat
        from gcflnet_lib.engine import predict_probabilities
        from gcflnet_lib.engine.evaluation import dequantize_probability, quantize_probability
        from gcflnet_lib.metrics import IRSTDMetrics, auc_pd_fa, threshold_stats
        from gcflnet_lib.models import build_model
        from gcflnet_lib.workbook.notebook_runs import markdown_table
        from gcflnet_lib.workbook.prob_cache import cached_probabilities
        from gcflnet_lib.workbook.viz import (DISPLAY_RANGE, overlay_prediction, plot_detections, plot_pixel_roc,
                                              plot_roc, show_images)
        from gcflnet_lib.workbook.widgets import ThresholdExplorer

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE, dataset=DATASET,
                             checkpoint=CHECKPOINT, model=MODEL)
        SMOKE, CHECKPOINT = ctx.smoke, ctx.checkpoint  # "auto" resolved
        trained = workbook.load_trained_model(CHECKPOINT, MODEL, ctx.device) if CHECKPOINT else None  # refuses another variant
        SIZE = 128 if SMOKE else 256
        # Full size, or the CPU default path (SMOKE "auto") with a trained model on real data: the whole test split
        # (100 scenes when synthetic); SMOKE = True (tests, CI): 6 images.
        whole_split = not SMOKE or (ctx.auto_fast and trained is not None and not ctx.synthetic)
        test_samples = workbook.load_samples(ctx, ctx.dataset, split="test", n=(100 if ctx.synthetic else 0) if whole_split else 6,
                                             size=SIZE)
        print(f"device {ctx.device}; {len(test_samples)} {ctx.dataset} test images; model: {CHECKPOINT or 'trained briefly below'}")
        """
    ),
    md(
        r"""
        ## The result

        What the metrics say about the model scored here, in plain words and before the rules behind them: read from
        its model card's evaluation (`results/eval_cpu_NAME.json`, the whole test split), which the ROC section below
        reproduces exactly. A model trained here briefly has no card, and nothing is concluded about it.
        """
    ),
    code(
        """
        from gcflnet_lib.workbook.conclusions import metrics_conclusion

        card_record = workbook.model_card_metrics(CHECKPOINT) if CHECKPOINT else None
        conclusion = metrics_conclusion(card_record, label=f"`{CHECKPOINT}`") if card_record is not None else ""
        if conclusion:
            display(Markdown(conclusion))
        else:
            print("no model card for the model scored here: the numbers below describe it, and no conclusion is drawn")
        """
    ),
    md(
        r"""
        ## The rules by hand

        Four $12\times12$ images (truth and prediction already binary):

        | image | truth | prediction | intersection / union | matched? | false pixels |
        |---|---|---|---|---|---|
        | A | 2×2 target | the same 2×2, plus 1 px far away | 4 / 5 | yes | 1 |
        | B | 3×3 target | 3×3 shifted 1 px right | 6 / 12 | yes (centroids 1 px apart) | 0 |
        | C | 1 px target | a 2×2 blob 5 px away | 0 / 5 | no (too far) | 4 |
        | D | nothing | a 3 px blob | 0 / 3 | n/a | 3 |

        So $P_d = 2/3$, $F_a = 8 / (4 \cdot 144)$, mIoU $= 10/25 = 0.4$, and nIoU $= (4/5 + 6/12 + 0)/3$ (image D holds no
        target and does not count). The code below implements the rules directly with `scipy.ndimage` and checks these
        fractions.
        """
    ),
    code(
        """
        def blank():
            return np.zeros((12, 12), bool)

        truths, predictions = [blank() for _ in range(4)], [blank() for _ in range(4)]
        truths[0][2:4, 2:4] = predictions[0][2:4, 2:4] = True
        predictions[0][9, 9] = True
        truths[1][4:7, 4:7] = True
        predictions[1][4:7, 5:8] = True
        truths[2][6, 6] = True
        predictions[2][9:11, 9:11] = True
        predictions[3][1, 1:4] = True

        EIGHT = np.ones((3, 3), bool)

        def match_by_hand(prediction, truth, distance=3.0):
            \"\"\"(matched targets, targets, false pixels) following the protocol's words literally.\"\"\"
            target_labels, n_targets = ndimage.label(truth, structure=EIGHT)   # labels follow raster order
            pred_labels, n_pred = ndimage.label(prediction, structure=EIGHT)
            target_centres = ndimage.center_of_mass(truth, target_labels, range(1, n_targets + 1))
            pred_centres = ndimage.center_of_mass(prediction, pred_labels, range(1, n_pred + 1))
            free, matched_pixels, matched = list(range(1, n_pred + 1)), 0, 0
            for centre in target_centres:
                for label in free:
                    if np.hypot(*np.subtract(centre, pred_centres[label - 1])) < distance:
                        free.remove(label)
                        matched += 1
                        matched_pixels += int((pred_labels == label).sum())
                        break
            return matched, n_targets, int(prediction.sum()) - matched_pixels

        counts = np.array([match_by_hand(p, t) for p, t in zip(predictions, truths)])
        intersections = np.array([(p & t).sum() for p, t in zip(predictions, truths)])
        unions = np.array([(p | t).sum() for p, t in zip(predictions, truths)])
        holds_target = np.array([t.any() for t in truths])
        hand = {
            "pd": counts[:, 0].sum() / counts[:, 1].sum(),
            "fa": counts[:, 2].sum() / sum(t.size for t in truths),
            "miou": intersections.sum() / unions.sum(),
            "niou": float(np.mean(intersections[holds_target] / unions[holds_target])),
        }
        print("per image (matched, targets, false pixels):", counts.tolist())
        print("by hand:", {k: round(float(v), 6) for k, v in hand.items()})
        assert np.isclose(hand["pd"], 2 / 3) and np.isclose(hand["fa"], 8 / 576)
        assert np.isclose(hand["miou"], 0.4) and np.isclose(hand["niou"], (4 / 5 + 6 / 12 + 0) / 3)

        show_images([overlay_prediction(t.astype(float), p, t, alpha=1.0) for p, t in zip(predictions, truths)],
                    ["A", "B", "C", "D: no target"], size=2.6);
        """
    ),
    md(
        r"""
        In the overlays gold is a hit (predicted and true), red a false alarm, cyan a missed target pixel.
        Now the library, fed the same binary maps as probabilities 0 and 1:
        """
    ),
    code(
        """
        metrics = IRSTDMetrics(threshold=0.5, roc_thresholds=[])
        metrics.update(np.stack(predictions).astype(np.float32), np.stack(truths))
        library = metrics.compute()
        print("library:", {k: round(float(library[k]), 6) for k in hand})
        for key in hand:
            assert np.isclose(hand[key], library[key]), key
        """
    ),
    md(
        r"""
        ## ROC curves

        A detector gives a probability (or score) map; each threshold $\tau$ turns it into a prediction and a
        $(F_a, P_d)$ point. Lowering $\tau$ adds predicted pixels, but the curve need not be monotonic: grown
        components can merge, move their centroid beyond the 3 px match, or swallow false pixels into a matched
        target, so Pd can dip and Fa can fall as $\tau$ drops. The plot joins the points in order of Fa.

        **Where the thresholds go.** A network trained with SoftIoU gives nearly binary maps: most pixels sit at
        $p \approx 0$ or $p \approx 1$, far out in the tails of the sigmoid. A grid $\tau = 0.02, \dots, 0.98$ sees almost
        one point of such a model. `IRSTDMetrics` therefore sweeps $\tau = \sigma(z)$ for logits $z = -16, -15.9, \dots, 16$,
        plus the midpoint between every two 8-bit levels (for maps stored in 8 bits), so the curve runs from almost
        nothing predicted to almost everything, for any model.

        **One axis for every method.** The AUC is the area under $P_d$ over the fixed range $F_a \in [0, 10^{-4}]$,
        divided by $10^{-4}$: the mean, over false-alarm budgets spread evenly up to $10^{-4}$, of the best $P_d$ within
        the budget (a curve that ends early keeps its best $P_d$ to the end of the range). $10^{-4}$ is 100 in the
        papers' units of $10^{-6}$, beyond any rate their tables report. Two operating points, $P_d$ at
        $F_a \le 10^{-5}$ and $\le 10^{-4}$, read the curve at a glance. Beside it, the **pixel-level ROC** that DNANet and
        ACM report: the rate of target pixels above $\tau$ against the rate of background pixels above $\tau$, with
        its AUC (the chance that a random target pixel outscores a random background pixel).

        Two detectors on the test images: a GCFLNet (the trained `CHECKPOINT`, by default the released model on a
        CPU, or one trained here for a few steps) and the classical white top-hat (Rivest & Fortin), whose saliency is
        scaled to $[0, 1]$ per image so that it can be thresholded the same way. The network's probabilities are
        rounded to 8 bits as `gcflnet evaluate` scores them, so a released model's numbers here are its model card's.
        """
    ),
    code(
        """
        if trained is not None:
            model, meta = trained
            mean, std = float(meta["norm"]["mean"]), float(meta["norm"]["std"])
            model_label = f"{MODEL} ({Path(CHECKPOINT).name})"
        else:
            train_samples = workbook.load_samples(ctx, ctx.dataset, split="train", n=16 if SMOKE else 128, size=SIZE)
            if not SMOKE and ctx.device.type == "cpu":
                step = workbook.training_step(build_model(MODEL), 8, 128)
                workbook.warn_full_size_on_cpu(ctx, f"{TRAIN_STEPS} training steps", workbook.estimate_seconds(step, TRAIN_STEPS))
            fit = workbook.model_for_notebook(
                ctx, MODEL, "", train_samples, steps=20 if SMOKE else TRAIN_STEPS,
                channels=(8, 16, 32, 64) if SMOKE else (16, 32, 64, 128, 256),
                crop_size=48 if SMOKE else 128, batch_size=4 if SMOKE else 8,
            )
            model, mean, std = fit.model, fit.mean, fit.std
            model_label = f"{MODEL}, {len(fit.losses)} training steps"

        images = [s.image for s in test_samples]
        masks = [s.mask for s in test_samples]
        if trained is not None:  # a checkpoint's maps on these images are computed once, then read from build/cache/
            model_floats = cached_probabilities(CHECKPOINT, images, ctx.device)
        else:
            model_floats = predict_probabilities(model, images, ctx.device, mean, std)
        model_probs = [dequantize_probability(quantize_probability(p)) for p in model_floats]  # 8 bits, as evaluate saves

        def scaled(saliency):
            return np.clip(saliency / max(float(saliency.max()), 1e-12), 0.0, 1.0).astype(np.float32)

        tophat_probs = [scaled(tophat(image)) for image in images]

        def score(probs, masks, threshold=0.5, roc_thresholds=None, roc_probs=None):
            \"\"\"IRSTDMetrics over a list of maps (one update per image: real images differ in size); the curves
            from ``roc_probs`` when given, as ``gcflnet evaluate`` takes them from the float maps.\"\"\"
            scorer = IRSTDMetrics(threshold=threshold, roc_thresholds=roc_thresholds)
            for index, (prob, mask) in enumerate(zip(probs, masks)):
                scorer.update(prob, mask, roc_prob=None if roc_probs is None else roc_probs[index])
            return scorer.compute()

        scores = {model_label: score(model_probs, masks, roc_probs=model_floats), "top-hat (scaled)": score(tophat_probs, masks)}
        for label, result in scores.items():
            print(label)
            print(f"    at 0.5: Pd {result['pd']:.3f}, Fa {result['fa'] * 1e6:.1f}e-6, mIoU {result['miou']:.3f}")
            print(f"    Pd at Fa 1e-5 {result['pd_at_fa_1e-05']:.3f}, at Fa 1e-4 {result['pd_at_fa_1e-04']:.3f}; "
                  f"AUC (Fa <= 1e-4) {result['auc_pd_fa']:.3f}; pixel AUC {result['auc_pixel']:.4f}")

        fig, (ax, pixel_ax) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        plot_roc(scores, ax=ax)  # Fa on a symlog axis: linear below 10e-6, logarithmic beyond; dotted: end of the AUC range
        plot_pixel_roc(scores, ax=pixel_ax);

        card = workbook.model_card_metrics(CHECKPOINT) if CHECKPOINT else None
        at_half = scores[model_label]  # threshold 0.5
        if card is not None and not ctx.synthetic and len(test_samples) == card["n_images"]:
            curve_keys = ("auc_pd_fa", "auc_pixel", "pd_at_fa_1e-05", "pd_at_fa_1e-04")
            print(f"model card of {CHECKPOINT}")
            print(f"    Pd {card['pd']:.4f}, Fa {card['fa'] * 1e6:.2f}e-6, mIoU {card['miou']:.4f}")
            print("    " + ", ".join(f"{key} {card[key]:.4f}" for key in curve_keys))
            for key in ("pd", "fa", "miou", "niou"):
                assert at_half[key] == card[key], (key, at_half[key], card[key])
            for key in curve_keys:  # float maps: to the last bits
                assert abs(at_half[key] - card[key]) <= 1e-6, (key, at_half[key], card[key])
            print("the same numbers here: this notebook scores exactly as the model card")
        """
    ),
    md(
        r"""
        ## Why an area over each curve's own range misleads

        A tempting summary, which several toolboxes compute, integrates each curve over $F_a$ divided by **that
        curve's own largest** $F_a$, from $(0, 0)$, on the 49 thresholds $0.02, \dots, 0.98$. Each model then has an axis
        of its own. Doubling every false alarm of a model stretches its axis by two and leaves that area unchanged; a
        near-binary model's few points sit close together, so most of its area is the straight line from $(0, 0)$ to its
        first point. The cell computes this own-range area by hand and puts both readings side by side: the same curves,
        each on its own stretched axis (left), and on the one shared axis (right).
        """
    ),
    code(
        """
        COARSE_THRESHOLDS = np.round(np.linspace(0.02, 0.98, 49), 4)

        def own_range_area(fa, pd):
            \"\"\"The own-range area: trapezoids from (0, 0) over Fa divided by the curve's largest Fa.\"\"\"
            fa, pd = np.concatenate([[0.0], fa]), np.concatenate([[0.0], pd])
            if fa.max() <= 0:
                return float(pd.max())
            order = np.lexsort((pd, fa))
            x, y = fa[order] / fa.max(), pd[order]
            return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))

        # A curve, and the same detections with twice the false alarms: the own-range area cannot tell them apart.
        fa_a, pd_a = np.array([5e-6, 2e-5, 6e-5]), np.array([0.5, 0.8, 0.9])
        doubled = {"own_range": (own_range_area(fa_a, pd_a), own_range_area(2 * fa_a, pd_a)),
                   "shared": (auc_pd_fa(fa_a, pd_a), auc_pd_fa(2 * fa_a, pd_a))}
        print("a curve and its doubled false alarms: own-range area {:.3f} and {:.3f}; AUC (Fa <= 1e-4) {:.3f} and {:.3f}"
              .format(*doubled["own_range"], *doubled["shared"]))
        assert np.isclose(*doubled["own_range"]) and doubled["shared"][0] > doubled["shared"][1]

        coarse_grid = {label: score(probs, masks, roc_thresholds=COARSE_THRESHOLDS, roc_probs=roc)
                    for label, probs, roc in ((model_label, model_probs, model_floats), ("top-hat (scaled)", tophat_probs, None))}
        readings = [{"detector": label, "own_range_area": own_range_area(coarse_grid[label]["roc"]["fa"], coarse_grid[label]["roc"]["pd"]),
                     "distinct_points": len(set(zip(coarse_grid[label]["roc"]["fa"], coarse_grid[label]["roc"]["pd"]))),
                     "auc_pd_fa": scores[label]["auc_pd_fa"], "auc_pixel": scores[label]["auc_pixel"]} for label in scores]
        display(Markdown(markdown_table(readings, {"detector": None, "own_range_area": ".3f", "distinct_points": None,
                                                   "auc_pd_fa": ".3f", "auc_pixel": ".4f"})))

        fig, (own_ax, shared_ax) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
        for label, result in coarse_grid.items():
            fa, pd = np.array(result["roc"]["fa"]), np.array(result["roc"]["pd"])
            order = np.argsort(fa, kind="stable")
            stretched = np.concatenate([[0.0], fa[order] / max(fa.max(), 1e-12)])
            own_ax.plot(stretched, np.concatenate([[0.0], pd[order]]), marker=".", label=f"{label} (own range {own_range_area(fa, pd):.3f})")
        own_ax.set_xlabel("Fa / the curve's own largest Fa (thresholds 0.02..0.98)")
        own_ax.set_ylabel("Pd")
        own_ax.legend(fontsize=8)
        own_ax.grid(alpha=0.3)
        plot_roc(scores, ax=shared_ax)
        shared_ax.set_title("the shared axis", fontsize=9);
        """
    ),
    md(
        r"""
        ## Real detections, misses and false alarms

        The images where the model does best and worst at 0.5: each row shows the image, the probability map (with
        its colour bar) and the decision: every target and false alarm boxed in the frame and zoomed beside it (gold
        hit, cyan miss, red false alarm; one fixed display stretch, the 8-bit range, for every frame).
        """
    ),
    code(
        """
        per_image = [threshold_stats([p], [m], 0.5) for p, m in zip(model_probs, masks)]
        order = sorted(range(len(per_image)), key=lambda i: (per_image[i]["n_matched"] - per_image[i]["n_targets"],
                                                              -per_image[i]["fa"]))
        picked = list(dict.fromkeys(order[:2] + order[-2:]))  # the two worst, then the two best
        panels, titles = [], []
        for i in picked:
            panels += [images[i], model_probs[i]]
            titles += [test_samples[i].name, "probability"]
        show_images(panels, titles, ncols=4, size=3.2, cmap=["gray", "magma"] * len(picked),
                    vrange=[DISPLAY_RANGE, (0.0, 1.0)] * len(picked), colorbar=[False, True] * len(picked))
        for i in picked:
            s = per_image[i]
            figure = plot_detections(images[i], model_probs[i] > 0.5, masks[i], max_crops=4,
                                     title=f"{test_samples[i].name}: {s['n_matched']}/{s['n_targets']} found, "
                                           f"{int(s['fa'] * masks[i].size)} false px")
            kinds = [d["kind"] for d in figure.detections]  # the figure's key counts what the metric counts
            assert kinds.count("hit") == s["n_matched"] and len(kinds) - kinds.count("false alarm") == s["n_targets"]
        """
    ),
    md(
        r"""
        ## Choosing the threshold and a minimum component size

        Two knobs act on a probability map: the threshold $\tau$ and a minimum component size (components smaller than
        it are dropped, a common clean-up against single-pixel noise). `gcflnet_lib.metrics.threshold_stats` computes
        the metrics for one setting; `ThresholdExplorer` wraps it in sliders and redraws the overlay (gold hit, red
        false alarm, cyan miss) and the numbers on every change. Move the sliders: where does Pd start to drop, and
        how much Fa does each step buy?
        """
    ),
    code(
        """
        explorer = ThresholdExplorer(model_probs, masks, images=images, threshold=0.5, min_size=0)
        display(explorer)
        """
    ),
    md(
        r"""
        The widget is a view of the same pure function; with `min_size = 0` it must agree with `IRSTDMetrics`:
        """
    ),
    code(
        """
        direct = threshold_stats(model_probs, masks, threshold=0.5, min_size=0)
        reference = score(model_probs, masks, 0.5, roc_thresholds=[])
        for key in ("pd", "fa", "miou", "niou"):
            assert np.isclose(direct[key], reference[key], equal_nan=True), key
        assert all(np.isclose(direct[key], explorer.stats[key], equal_nan=True) for key in direct)

        low, high = threshold_stats(model_probs, masks, 0.1), threshold_stats(model_probs, masks, 0.9)
        cleaned = threshold_stats(model_probs, masks, 0.5, min_size=5)
        predicted = {t: int(sum((p > t).sum() for p in model_probs)) for t in (0.1, 0.9)}
        for name, stats in (("threshold 0.1", low), ("threshold 0.5", direct), ("threshold 0.9", high), ("0.5, min size 5", cleaned)):
            print(f"{name:>16}: Pd {stats['pd']:.3f}  Fa {stats['fa'] * 1e6:9.1f}e-6  mIoU {stats['miou']:.3f}")
        assert predicted[0.1] >= predicted[0.9]
        """
    ),
    checks(
        """
        def finite(value):
            return float(value) if np.isfinite(value) else -1.0  # -1 marks "undefined" (no target, empty union)

        for key in ("auc_pd_fa", "auc_pixel"):
            assert np.isfinite(at_half[key]) and 0.0 <= at_half[key] <= 1.0, key

        workbook.record_results("08_metrics_roc_thresholds", {
            "auc_pd_fa": at_half["auc_pd_fa"],
            "auc_pixel": at_half["auc_pixel"],
            "pd_at_fa_1e-05": at_half["pd_at_fa_1e-05"],
            "pd_at_fa_1e-04": at_half["pd_at_fa_1e-04"],
            "tophat_auc_pd_fa": finite(scores["top-hat (scaled)"]["auc_pd_fa"]),
            "own_range_area": readings[0]["own_range_area"],
            "old_grid_points": readings[0]["distinct_points"],
            "doubled_fa_old": list(doubled["own_range"]),
            "doubled_fa_new": list(doubled["shared"]),
            "widget_pd": finite(explorer.stats["pd"]),
            "widget_fa": explorer.stats["fa"],
            **{f"hand_{k}": float(v) for k, v in hand.items()},
            **{f"library_{k}": float(library[k]) for k in hand},
            "roc_points": len(set(zip(at_half["roc"]["fa"], at_half["roc"]["pd"]))),
            "pd_at_low_threshold": finite(low["pd"]),
            "pd_at_high_threshold": finite(high["pd"]),
            "fa_at_low_threshold": low["fa"],
            "fa_at_high_threshold": high["fa"],
            "predicted_pixels_low_threshold": predicted[0.1],
            "predicted_pixels_high_threshold": predicted[0.9],
            "checkpoint": bool(CHECKPOINT),
            "checkpoint_name": str(CHECKPOINT),
            "conclusion": conclusion,
            "pd": at_half["pd"],
            "fa": at_half["fa"],
            "miou": at_half["miou"],
            "niou": finite(at_half["niou"]),
            "matches_model_card": card is not None and not ctx.synthetic and len(test_samples) == card["n_images"],
            "dataset": ctx.dataset,
            "n_images": len(test_samples),
        }, RESULTS_DIR)
        """
    ),
    ending("08", """
        The protocol counts targets, not pixels, for Pd; Fa counts the predicted pixels outside matched components over
        all pixels; mIoU pools the pixels of the split. Hand-written rules and `IRSTDMetrics` agree on small examples,
        the ROC sweeps thresholds placed in logit space, its AUC is taken over the one false-alarm range every method
        shares ($F_a \le 10^{-4}$; an area over each curve's own range rates a model with twice the false alarms
        the same), the pixel ROC counts pixels, and `threshold_stats` (the widget's function) scores one setting. On a CPU the
        released GCFLNet is scored on the real NUAA-SIRST test split, exactly as in its model card.
        """, [
        ("Compute `threshold_stats(model_probs, masks, 0.8)` and compare it with the 0.5 row: how much do Fa, Pd and "
         "mIoU move? Draw a histogram of the probabilities in `model_probs` to explain why a trained model's numbers "
         "barely change between 0.1 and 0.9 while a briefly trained one's change a lot.",
         """
         For the trained model, hardly at all: Fa falls by a few false pixels, and Pd and mIoU move in the third
         decimal or not at all. The histogram shows why: almost every probability lies near 0 or near 1, so hardly
         any pixel lies between 0.5 and 0.8 to change side. A briefly trained model's probabilities crowd around
         middle values, so moving the cut through them moves many pixels, and all three numbers change.
         """),
        ("With `min_size` from 0 to 10 in `threshold_stats(model_probs, masks, 0.5, min_size=...)`, find the smallest "
         "size that removes most false pixels; which of `test_samples` lose a target at that size, and why?",
         """
         A trained model's false alarms are mostly specks of one to a few pixels, so a `min_size` of a few pixels
         removes most false pixels. The images that lose a target at that size hold targets that are themselves
         that small, or that the model segments that small: NUAA-SIRST has targets of a handful of pixels. A size
         filter cannot tell a small target from a speck.
         """),
        ("Add a fifth hand example to `truths` / `predictions` whose predicted blob is 3 px away from its target "
         "(exactly the match distance) and check by hand and with `IRSTDMetrics` whether it counts.",
         """
         It does not count. The rule is centroid distance *strictly* less than 3 px, `np.hypot(...) < distance` by
         hand and the same strict rule in `IRSTDMetrics`. The target is missed (Pd falls) and the blob's pixels become
         false alarms (Fa rises). Hand and library agree; at 2.9 px both would count it.
         """),
        ("In `scores[model_label][\"roc\"]` (lists `thresholds`, `pd`, `fa`, `tpr`, `fpr`), find the highest threshold at "
         "which Pd reaches 0.9 and read its Fa; is that point inside the AUC's range?",
         """
         Walk `thresholds` from the top down and stop at the first whose `pd` is at least 0.9. For the released model
         that threshold lies far out in the logit tail (its probabilities are near 0 or 1), and its Fa lies between
         $10^{-5}$ and $10^{-4}$ (its `pd_at_fa_1e-05` is below 0.9 and its `pd_at_fa_1e-04` above): inside the range
         that the AUC integrates, so this point counts in `auc_pd_fa`. A briefly trained model reaches Pd 0.9 only
         at low thresholds, where Fa is far beyond the range.
         """),
    ], """
        The numbers of IRSTD papers depend on details of the protocol: the match rule (centroid distance or
        overlap), whether Fa counts pixels or targets, and whether mIoU is pooled or averaged per image. nIoU comes
        from Dai et al. (WACV 2021), and BasicIRSTD implements the common variant used here. ROC analysis (Fawcett,
        2006) says how to read and compare curves. A worthwhile exercise is to score one released model under two
        published protocols and see how far its numbers move.
        """),
]
