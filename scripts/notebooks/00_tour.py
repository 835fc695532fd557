"""Generator of notebooks/00_tour.ipynb."""

from _cells import NOTEBOOKS, PAPER_CITATION, about, checks, code, ending, link, md, parameters, top

_INDEX = "\n".join(f"| {link(n)} | {topic} |" for n, topic in [
    ("00", "this tour: data, the model and its architecture, a trained model's learning curve, metrics, predictions"),
    ("01", "gradient vector fields: do gradients converge on targets?"),
    ("02", "EFEU, the learnable Sobel unit with fixed zeros"),
    ("03", "central difference convolution"),
    ("04", "the edge enhancement module at every scale"),
    ("05", "GLFI: receptive fields and pooled attention"),
    ("06", "MSIC on the skip connections"),
    ("07", "training: SoftIoU, deep supervision, AdamW, the schedule; the released run's learning curves"),
    ("08", "metrics, ROC curves and choosing a threshold, on real detections"),
    ("09", "the ablation of EEM, GLFI and MSIC; GCFLNet against U-Net from the released pair"),
    ("10", "six classical detectors against GCFLNet"),
])
assert len(NOTEBOOKS) == 11

CELLS = [
    top("00"),
    md(
        r"""
        # 00 · A tour: from data to a trained GCFLNet, its metrics and its predictions

        **GCFLNet** (gradient-compensated feature learning network) segments infrared small targets: a few bright
        pixels in a cluttered thermal image. It is a U-Net whose encoder is helped, at every level, by an **edge
        enhancement module** (EEM: a learnable Sobel unit and a central difference convolution) and a **global-local
        feature interaction** module (GLFI: dense and dilated convolutions, attention from two poolings), and whose
        skip connections are replaced by **multi-scale information compensation** (MSIC: spatial and channel
        attention exchanged between levels). It is trained with the SoftIoU loss and deep supervision.

        This notebook runs the whole pipeline with `gcflnet_lib` only. On a CPU it takes the fast path: the
        released GCFLNet trained on NUAA-SIRST (`checkpoints/README.md` is its model card) on the real NUAA-SIRST test
        images; on a GPU it trains its own model at full size.

        **The paper.** {paper}.

        ## The eleven notebooks

        | notebook | topic |
        |---|---|
        {index}

        Read 00 first, then 01-06 in order (each opens one piece of the network), then 07-10 (training, metrics,
        ablation, comparison). The README's "Learning path" says what a CPU-only learner gets.
        """, index=_INDEX, paper=PAPER_CITATION,
    ),
    about("00", [
        "what GCFLNet is made of, in a figure drawn from the model's own configuration",
        "how data, model, training, metrics and predictions fit together in `gcflnet_lib`",
        "what a trained GCFLNet finds, misses and falsely flags on real infrared images",
    ], [], "released checkpoint on NUAA-SIRST test images", gpu_models=("gcflnet",)),
    parameters(
        """
        SMOKE = "auto"         # "auto": the fast path on a CPU, full size on a GPU; True / False to choose
        EPOCHS = 30            # training epochs when no checkpoint is used (the paper trains 1500)
        DEVICE = "auto"        # "auto" -> cuda if available else cpu
        DATA_DIR = "auto"      # "auto" -> NUAA-SIRST if found, else synthetic scenes; "" synthetic; else a standard-layout root
        DATASET = "auto"       # the split files' dataset name ("auto": read from DATA_DIR/img_idx)
        SEED = 0
        CHECKPOINT = "auto"    # "auto": the released model on a CPU, trained here on a GPU; a path or released name; "" trains here
        RUN_DIR = "../runs/00_tour"   # checkpoints, history and metrics of the run
        RESULTS_DIR = "../build/notebook_results"
        """
    ),
    code(
        """
        import json

        import matplotlib.pyplot as plt
        import numpy as np
        from IPython.display import Markdown, display

        from gcflnet_lib import workbook
        from gcflnet_lib.data.dataset import load_split
        from gcflnet_lib.engine import TrainConfig, evaluate_model, load_checkpoint, predict_probabilities, train
        from gcflnet_lib.models import build_model, list_models
        from gcflnet_lib.workbook.architecture import draw_architecture
        from gcflnet_lib.workbook.notebook_runs import ensure_synthetic_dataset, synthetic_dataset_dir
        from gcflnet_lib.released import TRAINING_RECORDS, available
        from gcflnet_lib.workbook.prob_cache import evaluate_cached
        from gcflnet_lib.workbook.conclusions import dead_skips_sentence, pair_conclusion, released_budget
        from gcflnet_lib.workbook.results import PAIR_METRICS
        from gcflnet_lib.workbook.viz import DISPLAY_RANGE, overlay_prediction, plot_detections, plot_roc, show_images

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE, dataset=DATASET,
                             checkpoint=CHECKPOINT, model="gcflnet")
        SMOKE, CHECKPOINT = ctx.smoke, ctx.checkpoint  # "auto" resolved
        released = workbook.load_trained_model(CHECKPOINT, "gcflnet", ctx.device) if CHECKPOINT else None
        # The whole test split with the defaults (a release's maps are computed once, then read from build/cache/);
        # SMOKE = True (tests, CI) scores the first FAST_N images only.
        WHOLE_SPLIT, FAST_N = workbook.scores_whole_split(ctx, CHECKPOINT), 24
        if SMOKE:
            n_images, size, epochs, batch, crop, channels, lr = 32, 64, min(EPOCHS, 6), 4, 64, (8, 16, 32, 64), 3e-3
        else:
            n_images, size, epochs, batch, crop, channels, lr = 400, 256, EPOCHS, 16, 256, None, 1e-3
        print(f"device {ctx.device}; " + (f"model: {CHECKPOINT}" if released else f"training here: {epochs} epochs, batch {batch}, crops {crop}x{crop}"))
        """
    ),
    md(
        r"""
        ## 1 · Data

        Without `DATA_DIR` the workbook renders NUDT-style scenes: small targets (Gaussian and irregular blobs of
        1-80 pixels at a controlled signal-to-clutter ratio) on procedural clutter (clouds, sea glint, horizons,
        buildings, stripe and sensor noise), written once in the standard layout (`images/`, `masks/`,
        `img_idx/train_*.txt`, `img_idx/test_*.txt`) that real datasets such as NUAA-SIRST, NUDT-SIRST and
        IRSTD-1K use. Gold marks the target pixels.
        """
    ),
    code(
        """
        if ctx.synthetic:  # written once per setting, then reused
            root = ensure_synthetic_dataset(synthetic_dataset_dir("../data/synthetic", n_images, size, SEED), n_images, size, SEED)
        else:
            root = ctx.data_dir
        dataset = ctx.dataset
        train_samples, test_samples = load_split(root, dataset, "train"), load_split(root, dataset, "test")
        print(f"{workbook.shown_path(root)}: {len(train_samples)} train and {len(test_samples)} test images")
        shown = train_samples[:4]
        show_images([s.image for s in shown] + [overlay_prediction(s.image, s.mask, s.mask) for s in shown],
                    [s.name for s in shown] + ["targets"] * len(shown), ncols=4, size=3.0);
        """
    ),
    md(
        r"""
        ## 2 · The model, its architecture and its ablation variants

        The figure is drawn by `gcflnet_lib.workbook.architecture.draw_architecture` from the configuration of the model used
        here (`model.config`): change the widths and the figure changes. Read it with its key, one shaded band per
        level, full resolution on top. Every encoder level is a residual block helped by an **EEM** (EFEU + CDC,
        notebooks 02-04), which takes the block's features and the image itself, average-pooled to the level's
        resolution, and a **GLFI** (notebook 05), which takes the features and the EEM's edges. The GLFI's output is
        the level's skip connection and, max-pooled (dashed arrows), the next level's input. Every skip connection
        enters an **MSIC** (notebook 06) together with the decoder features of the level below, upsampled (dash-dot
        arrows); a decoder block fuses the two, and a $1\times1$ **deep-supervision head** on every decoder level
        feeds the loss, the mean SoftIoU over the heads (notebook 07). Notebooks 02-06 show the same drawing, smaller,
        with the part they build highlighted.

        `build_model(name)` builds GCFLNet or one of the paper's ablation variants: each of EEM, GLFI and MSIC can be
        switched off, and with all three off the model is the U-Net baseline (notebook 09).
        """
    ),
    code(
        """
        if released:
            channels = tuple(released[0].config["channels"])
        kwargs = {} if channels is None else {"channels": channels}
        draw_architecture(released[0].config if released else build_model("gcflnet", **kwargs).config);
        sizes = {name: sum(p.numel() for p in build_model(name, **kwargs).parameters()) for name in list_models()}
        for name, count in sizes.items():
            print(f"{name:>18}: {count / 1e6:6.3f} M parameters")
        """
    ),
    md(
        r"""
        ## 3 · Training

        With a checkpoint (on a CPU, the released model) there is no training here: the curve below is the released
        run's own training history, stored in the checkpoint. Otherwise `gcflnet_lib.engine.train` follows the paper: SoftIoU loss averaged over the deep-supervision heads, AdamW,
        a multi-step learning-rate decay (x0.1 at 50 % and 75 % of the epochs), random crops centred on a target half
        of the time, flips and transposes. It writes `config.json`, `history.csv`, `last.pt`, `final.pt` and
        `metrics.json` to `RUN_DIR` and reports the **last** epoch (no epoch is chosen on the test split).
        The same run from a shell: `gcflnet train --data ROOT --dataset NAME --out RUN_DIR --epochs N`.
        """
    ),
    code(
        """
        if released:
            model, meta = released
            history = meta["history"]
            print(f"{CHECKPOINT}: trained {meta['epoch']} epochs on {meta.get('dataset')} (see checkpoints/README.md)")
        else:
            config = TrainConfig(
                data_root=str(root), dataset=dataset, out_dir=RUN_DIR, model="gcflnet", channels=channels,
                epochs=epochs, batch_size=batch, crop_size=crop, lr=lr, eval_every=0, seed=SEED,
                device=str(ctx.device), overwrite=True, progress=True,
            )
            if not SMOKE and ctx.device.type == "cpu":
                steps = epochs * -(-len(train_samples) // batch)
                step = workbook.training_step(build_model("gcflnet", **kwargs), batch, crop)
                workbook.warn_full_size_on_cpu(ctx, f"{epochs} epochs ({steps} steps)", workbook.estimate_seconds(step, steps))
            run = train(config)
            model, history = run["model"], run["history"]
            meta = load_checkpoint(f"{RUN_DIR}/final.pt")
            print(f"run files in {run['run_dir']}")
        losses = [row["loss"] for row in history]
        fig, ax = plt.subplots(figsize=(5, 2.8), layout="constrained")
        ax.plot(range(1, len(losses) + 1), losses, marker="." if len(losses) > 30 else "o")
        ax.set_xlabel("epoch")
        ax.set_ylabel("SoftIoU loss (deep supervision)")
        ax.set_title("the released run's history" if released else "this run")
        print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f} over {len(losses)} epochs")
        """
    ),
    md(
        r"""
        ## 4 · Metrics

        On the test split, full images (zero-padded to a multiple of 32, predictions cropped back), probability
        threshold 0.5: mIoU and nIoU for shape, Pd (targets found) and Fa (false-alarm pixels, $\times10^{-6}$) for
        localisation, and the Pd-Fa ROC over thresholds, whose AUC is taken over the false-alarm range every method
        shares, Fa from 0 to $10^{-4}$ (the pixel-level ROC's AUC beside it). Notebook 08 works these out by hand. With the
        defaults on a CPU the released model is scored on the whole test split (214 NUAA-SIRST images), so the numbers
        are its model card's, and its released U-Net partner (the paper's baseline, trained with the same recipe and
        seed) is scored beside it. The section opens with a conclusion generated from those two scores, their
        training records and the release's skip-health record: which of the two is ahead on which metric, counted
        from the numbers, for one seed each, so what was measured, not a verdict (notebook 09 has the seeds and
        intervals). The release's probability maps are computed once per checkpoint file (`gcflnet_lib.workbook.prob_cache`,
        kept in `build/cache/`) and notebooks 07-10 read them again. `SMOKE = True` (tests, CI) scores the first 24
        images only.
        """
    ),
    code(
        """
        mean, std = float(meta["norm"]["mean"]), float(meta["norm"]["std"])  # the normalisation the model trained with
        # The released GCFLNet beside its released U-Net partner: same data, recipe, seed and epochs.
        PARTNER = str(CHECKPOINT).replace("gcflnet", "unet", 1) if released and str(CHECKPOINT) in available() else ""
        if released:
            scored = test_samples if WHOLE_SPLIT else test_samples[:FAST_N]
            final = evaluate_cached(CHECKPOINT, scored, ctx.device)  # == evaluate_model, its maps kept in build/cache/
            partner = evaluate_cached(PARTNER, scored, ctx.device) if PARTNER in available() else None
            # The conclusion first, generated from the two scores, the training records and the skip-health record.
            health_file = workbook.REPO_ROOT / "results" / "health" / f"{CHECKPOINT}.json"
            health = json.loads(health_file.read_text()) if health_file.is_file() else None
            budget_text = released_budget({"gcflnet": TRAINING_RECORDS.get(str(CHECKPOINT)),
                                           **({"unet": TRAINING_RECORDS.get(PARTNER)} if partner else {})},
                                          final["n_images"], dataset)
            conclusion = pair_conclusion(final, partner, budget_text,
                                         health_note=dead_skips_sentence(health, "The released GCFLNet"))
        else:
            final, partner, budget_text = run["final"], None, ""
            conclusion = (f"**Toy run**: {len(losses)} epochs trained here on {dataset}, a demonstration of the pipeline, "
                          "not a result; no conclusion is drawn from it.")
        display(Markdown(conclusion))

        print(f"GCFLNet: mIoU {final['miou']:.4f}  nIoU {final['niou']:.4f}  Pd {final['pd']:.4f}  Fa {final['fa'] * 1e6:.1f}e-6  "
              f"AUC (Fa <= 1e-4) {final['auc_pd_fa']:.4f}  pixel AUC {final['auc_pixel']:.4f}  "
              f"({final['n_targets']} targets in {final['n_images']} images)")
        curves = {"GCFLNet": final}
        if partner is not None:
            curves["U-Net (its partner)"] = partner
            print(f"{PARTNER}: mIoU {partner['miou']:.4f}  nIoU {partner['niou']:.4f}  Pd {partner['pd']:.4f}  "
                  f"Fa {partner['fa'] * 1e6:.1f}e-6  AUC (Fa <= 1e-4) {partner['auc_pd_fa']:.4f}  pixel AUC {partner['auc_pixel']:.4f}")
        card = workbook.model_card_metrics(CHECKPOINT) if released else None
        if card is not None and dataset == meta.get("dataset") and len(scored) == card["n_images"]:  # the card's own split
            assert all(final[key] == card[key] for key in ("miou", "niou", "pd", "fa")), "not the model card's scores"
            print(f"GCFLNet scored here on the same {len(scored)} images as its model card: the card's numbers exactly")
        elif card is not None:
            print(f"model card, whole test split: mIoU {card['miou']:.4f}  Pd {card['pd']:.4f}  Fa {card['fa'] * 1e6:.1f}e-6")
        plot_roc(curves);  # Fa on a symlog axis; the dotted line ends the AUC's shared range
        """
    ),
    md(
        r"""
        ## 5 · Predictions

        Probability maps of a few test images, then the prediction at 0.5 of each: the whole frame with a box around
        every target and every false alarm, and a zoomed crop of each under the colour key (gold: hit, cyan: missed
        target, red: false alarm; the matching is the metric's). Frames are shown with one fixed stretch, the 8-bit
        range (`viz.DISPLAY_RANGE`), so a dark frame looks dark rather than stretched into compression blocks. `gcflnet predict` writes the same maps as PNG files.

        The counts under each frame are the metric's own (`gcflnet_lib.metrics.pd_fa_image`). A false alarm is an
        *object*: a predicted component that no target took; Fa counts its *pixels*. Red in the overlay marks every
        predicted pixel outside the mask, so a hit drawn a little larger than its target has a red rim. Those pixels
        belong to the hit and are not in Fa; the title counts them separately, so "0 false-alarm objects, 0 px"
        can sit under a red rim.
        """
    ),
    code(
        """
        shown = [s for s in test_samples if s.mask.any()][:4] or test_samples[:4]
        probs = predict_probabilities(model, [s.image for s in shown], ctx.device, mean, std)
        n = len(shown)
        show_images([s.image for s in shown] + probs, [s.name for s in shown] + ["probability"] * n,
                    ncols=n, size=3.0, cmap=["gray"] * n + ["magma"] * n,
                    vrange=[DISPLAY_RANGE] * n + [(0.0, 1.0)] * n, colorbar=[False] * n + [True] * n)
        for s, p in zip(shown, probs):
            plot_detections(s.image, p > 0.5, s.mask, title=f"{s.name}, p > 0.5", max_crops=4)
        """
    ),
    checks(
        """
        assert losses[-1] < losses[0], losses
        assert all(0.0 <= final[key] <= 1.0 for key in ("miou", "pd", "fa"))

        def finite(value):
            return float(value) if np.isfinite(value) else -1.0  # -1 marks "undefined"

        PAIR_KEYS = (*PAIR_METRICS, "n_images", "n_targets")
        workbook.record_results("00_tour", {
            "miou": final["miou"],
            "pd": final["pd"],
            "fa": final["fa"],
            "auc_pd_fa": finite(final["auc_pd_fa"]),
            "auc_pixel": finite(final["auc_pixel"]),
            "first_loss": losses[0],
            "final_loss": losses[-1],
            "dataset": dataset,
            "n_train": len(train_samples),
            "n_test": len(test_samples),
            "epochs": len(losses),
            "niou": finite(final["niou"]),
            "parameters": sizes["gcflnet"],
            "checkpoint": bool(CHECKPOINT),
            "checkpoint_name": str(CHECKPOINT),
            "n_scored": final["n_images"],
            "partner": PARTNER,
            "partner_miou": partner["miou"] if partner is not None else -1.0,
            # what the conclusion was computed from: every metric who_is_ahead compares, and the image counts
            "partner_metrics": {key: partner[key] for key in PAIR_KEYS} if partner is not None else {},
            "scored_metrics": {key: final[key] for key in PAIR_KEYS} if released else {},
            "budget": budget_text,
            "health_sentence": dead_skips_sentence(health, "The released GCFLNet") if released else "",
            "conclusion": conclusion,
        }, RESULTS_DIR)
        """
    ),
    ending("00", """
        GCFLNet is a U-Net whose encoder levels get edge (EEM) and global-local (GLFI) help and whose skips are
        compensated by MSIC, trained with SoftIoU over deep-supervision heads. `gcflnet_lib` takes it from data to a
        trained model, its metrics and its predictions; on a CPU the released model shows real results in seconds.
        """, [
        ("Draw `draw_architecture(build_model(\"gcflnet_eem_msic\", channels=(8, 16, 32)).config)`: which boxes disappear "
         "without GLFI, and where do the EEM's edges go instead?",
         """
         The GLFI box of every encoder level goes (and with it the dense and dilated branches and the pooled
         attention). The EEM's edge features still enter every level: without GLFI they are fused with that level's
         features by a PWConv, a 1x1 convolution, BatchNorm and ReLU on `[features, edges]`. The paper does not say how
         EEM enters without GLFI; this is the project's reading, row 12 of `docs/PAPER_READING.md`.
         """),
        ("Compare `sizes` for `gcflnet` and `unet`: which switch costs most parameters? (Notebook 09 counts it by hand.)",
         """
         GLFI costs the most: its dense and dilated 3x3 branches at every encoder level add more weights than EEM's
         small EFEU and CDC kernels and their fusion (at the widths notebook 09 counts, about twice as many). MSIC
         costs slightly *fewer* parameters than the U-Net skip it replaces, so `gcflnet` minus `unet` is GLFI plus
         EEM, a little less. Notebook 09's `params` gives the exact counts.
         """),
        ("Score `model` on `test_samples` at threshold 0.3 with `evaluate_model(model, test_samples[:24], ctx.device, mean, std, threshold=0.3)` "
         "and explain the change of Pd and Fa.",
         """
         A lower threshold keeps every pixel the 0.5 cut kept, and more. Fa can only rise (or stay the same), and
         Pd usually rises or stays: a component that matched stays near its target, and faint targets may now
         appear. A trained model's probabilities sit close to 0 or 1, so few pixels lie between 0.3 and 0.5, and
         both numbers change little, Fa by a few false pixels. (Pd can drop in rare cases, when a grown blob merges
         with a neighbour and its centroid moves more than 3 px from the target.)
         """),
    ], """
        Other networks for the task, worth comparing with GCFLNet: ACM and ALCNet (Dai et al., WACV 2021 and TGRS 2021),
        DNANet (Li et al., TIP 2023), UIU-Net (Wu et al., TIP 2023) and ISNet, with its IRSTD-1K dataset (Zhang et al.,
        CVPR 2022). BasicIRSTD trains many of them under one protocol. `docs/PAPER_READING.md` lists what the GCFLNet
        paper leaves open, each choice with the switch that tests it: a good place to look for a small research
        question, such as whether the released model's numbers hold on NUDT-SIRST or IRSTD-1K.
        """),
]
