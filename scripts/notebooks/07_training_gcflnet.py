"""Generator of notebooks/07_training_gcflnet.ipynb."""

from _cells import about, checks, code, ending, md, parameters, top

CELLS = [
    top("07"),
    md(
        r"""
        # 07 · Training GCFLNet

        The paper trains GCFLNet with four ingredients (Section 4.1): *"the batch size is set to 16 and the maximum
        number of training epochs is 1500. SoftIoULoss is employed [...] The AdamW optimizer is adopted [...] A
        multi-stage learning rate decay strategy is applied [...] a deep supervision scheme is introduced by imposing
        supervisory signals at multiple network levels."*

        **SoftIoU.** With probabilities $p_i = \sigma(z_i)$ from the logits $z$ and a 0/1 mask $t$, summed over every
        pixel of the batch and with smoothing $s = 1$:

        $$
        \mathcal L_{\mathrm{SoftIoU}}(z, t) = 1 - \frac{\sum_i p_i t_i + s}{\sum_i p_i + \sum_i t_i - \sum_i p_i t_i + s}.
        $$

        **Deep supervision.** Every decoder level $k = 1..K$ has a $1\times1$ head whose logits $z^{(k)}$ are upsampled
        to full resolution; the objective is their mean, $\mathcal L = \frac1K \sum_k \mathcal L_{\mathrm{SoftIoU}}(z^{(k)}, t)$.

        **AdamW** with decoupled weight decay $\lambda$: with the gradient $g_t$,
        $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$, $v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2$ and their bias-corrected
        $\hat m_t, \hat v_t$,

        $$ \theta_t = \theta_{t-1} - \eta_e\Big(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\,\theta_{t-1}\Big). $$

        **Multi-step decay.** After epoch $e$ the learning rate is $\eta_e = \eta_0\,\gamma^{\lvert\{m \in M:\ m \le e\}\rvert}$.
        With epochs counted from 1, as in the plots and `history.csv`, epoch $e + 1$ runs at $\eta_e$: a milestone $m$
        lowers the rate from epoch $m + 1$ on.

        The paper gives no $\eta_0$, $\lambda$, milestones $M$ or crop size; the reading taken here (and the defaults of
        `gcflnet_lib.engine.TrainConfig` and `gcflnet train`) is $\eta_0 = 10^{-3}$, $\lambda = 10^{-2}$,
        $M$ = 50 % and 75 % of the epochs, $\gamma = 0.1$, random $256\times256$ crops with flips and transposes.
        The score reported is always the **last** epoch's (no epoch is picked on the test set).

        **How this notebook runs.** On a GPU (`DEVICE = "auto"` finds it) it trains the full-width model for `EPOCHS`
        epochs and studies it. On a CPU (`SMOKE = "auto"`) it demonstrates the loop with a short run of a narrow model
        on small synthetic scenes (every step, in seconds, but it learns little), then studies the **released** GCFLNet (`CHECKPOINT = "auto"`): its learning
        curves from the training history stored in the checkpoint, its scores on the whole NUAA-SIRST test split (214
        images: the model card's numbers) and its predictions.
        """
    ),
    about("07", [
        "the SoftIoU loss with deep supervision, written by hand and checked against the library",
        "AdamW and the multi-step schedule as `gcflnet_lib.engine.train` runs them",
        "how to read learning curves, from a short run here and from the released model's full run",
    ], ["00", "06"], "a short training run, then the released checkpoint", gpu_models=("gcflnet",)),
    parameters(
        """
        SMOKE = "auto"         # "auto": the fast path on a CPU, full size on a GPU; True / False to choose
        EPOCHS = 300           # full runs (the paper: 1500); the fast path uses at most 8
        DEVICE = "auto"        # "auto" -> cuda if available else cpu
        DATA_DIR = "auto"      # "auto" -> NUAA-SIRST if found, else synthetic scenes; "" synthetic; else a standard-layout root
        DATASET = "auto"       # the split files' dataset name ("auto": read from DATA_DIR/img_idx)
        SEED = 0
        CHECKPOINT = "auto"    # "auto": the released model on a CPU, none on a GPU; a path or released name to study; "" the run here
        RESULTS_DIR = "../build/notebook_results"
        """
    ),
    code(
        """
        import json
        import textwrap
        from pathlib import Path

        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        import torch.nn.functional as F
        from IPython.display import Markdown, display

        from gcflnet_lib import workbook
        from gcflnet_lib.data.dataset import load_split
        from gcflnet_lib.engine import TrainConfig, predict_probabilities, save_checkpoint, train, evaluate_model
        from gcflnet_lib.engine.config import multistep_factor
        from gcflnet_lib.errors import CheckpointError
        from gcflnet_lib.losses import deep_supervision_loss, soft_iou_loss
        from gcflnet_lib.models import build_model
        from gcflnet_lib.workbook.notebook_runs import markdown_table, notebook_runs_dir, synthetic_dataset_dir, training_data
        from gcflnet_lib.released import TRAINING_RECORDS
        from gcflnet_lib.workbook.conclusions import record_from_checkpoint, released_weights_note, training_conclusion
        from gcflnet_lib.workbook.prob_cache import evaluate_cached
        from gcflnet_lib.workbook.viz import DISPLAY_RANGE, plot_detections, plot_roc, show_images

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE, dataset=DATASET,
                             checkpoint=CHECKPOINT, model="gcflnet")
        SMOKE, CHECKPOINT = ctx.smoke, ctx.checkpoint  # "auto" resolved
        RUNS = notebook_runs_dir(RESULTS_DIR, "07_training_gcflnet")
        N_SCENES, SIZE = (48, 64) if SMOKE else (400, 256)  # synthetic scenes only (half train, half test)
        root, dataset = training_data(ctx.data_dir, ctx.dataset, synthetic_dataset_dir("../data/synthetic", N_SCENES, SIZE, SEED),
                                      N_SCENES, SIZE, SEED)
        # The fast path's short run trains on small synthetic scenes (seconds); the studied model is scored on `root`.
        run_root, run_dataset = (training_data(None, "", synthetic_dataset_dir("../data/synthetic", 48, 64, SEED), 48, 64, SEED)
                                 if SMOKE and CHECKPOINT else (root, dataset))
        print(f"device {ctx.device}; data {workbook.shown_path(root)} ({dataset}); short run on {run_dataset}; "
              f"runs in {workbook.shown_path(RUNS)}")
        if CHECKPOINT:  # checked before anything slow: another variant stops here
            studied = workbook.load_trained_model(CHECKPOINT, "gcflnet", ctx.device)
        """
    ),
    md(
        r"""
        ## The result

        What training gave, read from the record of the model studied here (on a CPU the released CPU-recipe run), in
        plain words and before the details; the curves below are its evidence. The short run this notebook trains on a
        CPU is a demonstration of the loop, labelled as a toy run, not a result.
        """
    ),
    code(
        """
        if CHECKPOINT:
            conclusion = training_conclusion(record_from_checkpoint(studied[1]), label=f"`{CHECKPOINT}`")
            weights_note = released_weights_note(studied[1], workbook.model_card_metrics(CHECKPOINT))
            display(Markdown(f"{conclusion} {weights_note}".strip()))
            if str(CHECKPOINT) in TRAINING_RECORDS:  # a release: the page says what its committed record says
                committed = json.loads((Path("../results") / TRAINING_RECORDS[str(CHECKPOINT)]).read_text())
                assert conclusion == training_conclusion(committed, label=f"`{CHECKPOINT}`"), "not its record's conclusion"
        else:
            print("No trained model is studied here (CHECKPOINT = \"\"): the run below is what this notebook shows.")
        """
    ),
    md(
        r"""
        ## The loss, by hand

        First the objective written out from the formulas above, against `gcflnet_lib.losses` on random logits of
        three deep-supervision heads. Then why SoftIoU and not the pixel-wise binary cross-entropy: a small target
        covers a tiny share of the pixels, so a network that answers "no target anywhere" already has a small BCE,
        while its SoftIoU loss stays near 1: the IoU is normalised by the target's own size.
        """
    ),
    code(
        """
        def soft_iou_by_hand(logits, target, smooth=1.0):
            p = torch.sigmoid(logits)
            intersection = (p * target).sum()
            return 1 - (intersection + smooth) / (p.sum() + target.sum() - intersection + smooth)

        generator = torch.Generator().manual_seed(SEED)
        target = torch.zeros(2, 1, 64, 64)
        target[:, :, 30:33, 40:43] = 1.0  # one 3x3 target per image: 0.2 % of the pixels
        heads = [torch.randn(2, 1, 64, 64, generator=generator) for _ in range(3)]
        by_hand = sum(soft_iou_by_hand(z, target) for z in heads) / len(heads)
        library = deep_supervision_loss(heads, target)
        print(f"deep-supervision SoftIoU: by hand {by_hand:.6f}, library {library:.6f}")
        assert abs(float(by_hand) - float(library)) < 1e-6

        nothing = torch.full_like(target, -6.0)  # confidently "no target anywhere"
        bce_nothing = float(F.binary_cross_entropy_with_logits(nothing, target))
        soft_nothing = float(soft_iou_loss(nothing, target))
        print(f"'no target anywhere': BCE {bce_nothing:.4f}, SoftIoU loss {soft_nothing:.4f}")
        assert bce_nothing < 0.05 < 0.9 < soft_nothing
        """
    ),
    md(
        r"""
        ## The run's settings and learning-rate schedule

        Full runs keep the paper's batch 16 and this project's $256\times256$ crops and widths (16, 32, 64, 128, 256),
        which the paper does not give. The fast
        path shrinks everything; their raised learning rate and target-centred crops (`p_target`) let a few dozen steps
        show a falling loss.
        """
    ),
    code(
        """
        RUN_DIR = RUNS / "gcflnet"
        if SMOKE:
            synthetic_run = run_dataset == "Synthetic"
            settings = dict(epochs=min(EPOCHS, 8 if synthetic_run else 3), channels=(8, 16, 32),
                            batch_size=4 if synthetic_run else 16, crop_size=64, lr=3e-3, p_target=0.8,
                            eval_every=2 if synthetic_run else 0)
        else:
            settings = dict(epochs=EPOCHS, eval_every=max(1, EPOCHS // 30))
        config = TrainConfig(data_root=str(run_root), dataset=run_dataset, out_dir=str(RUN_DIR), model="gcflnet",
                             device=DEVICE, seed=SEED, overwrite=True, **settings)
        display(Markdown(markdown_table([config.to_dict()], ["model", "channels", "epochs", "batch_size", "crop_size",
                                                              "lr", "weight_decay", "p_target", "eval_every"])))

        epochs = np.arange(config.epochs)
        lr = [config.lr * multistep_factor(e, config.resolved_milestones, config.gamma) for e in epochs]
        if not SMOKE and ctx.device.type == "cpu":
            steps = config.epochs * -(-len(load_split(run_root, run_dataset, "train")) // config.batch_size)
            step = workbook.training_step(build_model("gcflnet", **({"channels": config.channels} if config.channels else {})),
                                          config.batch_size, config.crop_size)
            workbook.warn_full_size_on_cpu(ctx, f"training {config.epochs} epochs ({steps} steps)",
                                           workbook.estimate_seconds(step, steps))
        # Epochs counted from 1, as history.csv counts them. The scheduler steps once per finished epoch, so milestone m
        # lowers the rate after epoch m: epoch m + 1 is the first at the lower rate (dotted line between the two).
        fig, ax = plt.subplots(figsize=(5.5, 2.6), layout="constrained")
        ax.step(epochs + 1, lr, where="mid", marker="o" if config.epochs <= 30 else None, markersize=3)
        for milestone in config.resolved_milestones:
            ax.axvline(milestone + 0.5, color="gray", linestyle=":", linewidth=1)
        first = [str(m + 1) for m in config.resolved_milestones]
        first = " and ".join([", ".join(first[:-1]), first[-1]] if len(first) > 1 else first)
        # A short run on generated scenes is a demonstration: its figures say so in their title.
        TOY = (f"toy run: {config.epochs} epochs on synthetic scenes, not a result\\n"
               if run_dataset == "Synthetic" and config.epochs < 100 else "")
        ax.set(xlabel="epoch (counted from 1)", ylabel="learning rate", yscale="log",
               title=f"{TOY}milestones {config.resolved_milestones}: lr x {config.gamma} at the start of "
                     f"epoch{'s' * (len(config.resolved_milestones) > 1)} {first}");
        """
    ),
    md(
        r"""
        ## Training

        `gcflnet_lib.engine.train` is the same loop `gcflnet train` runs: the split is decoded once and kept on the
        device, every step cuts random crops (centred on a target with probability `p_target`), flips and transposes
        them, and takes one AdamW step on the deep-supervision SoftIoU. It writes `last.pt` / `final.pt`, `history.csv`
        and `metrics.json` into the run folder. The same command line, for a full run on NUAA-SIRST:

        ```bash
        gcflnet train --data ../shared/datasets/NUAA-SIRST --dataset NUAA-SIRST --out runs/gcflnet-sirst --epochs 1500
        ```

        The run's model is **loaded back from its checkpoint** with `workbook.load_trained_model(path, "gcflnet")`, the
        path every trained model takes; it refuses a checkpoint of another variant (see the end of the notebook). A
        progress bar shows the epochs and the time left.
        """
    ),
    code(
        """
        trained_here = train(config)
        run_model, run_meta = workbook.load_trained_model(RUN_DIR / "final.pt", "gcflnet", ctx.device)
        run_losses = [row["loss"] for row in run_meta["history"]]
        assert np.allclose([row["lr"] for row in run_meta["history"]], lr), "the schedule drawn above is not the run's"
        print(f"this run: {len(run_losses)} epochs, loss {run_losses[0]:.4f} -> {run_losses[-1]:.4f}")
        if CHECKPOINT:
            checkpoint, (model, meta) = CHECKPOINT, studied
            print(f"studied below: {checkpoint}, trained for {meta['epoch']} epochs (checkpoints/README.md is its card)")
        else:
            checkpoint, model, meta = RUN_DIR / "final.pt", run_model, run_meta
        history, norm = meta["history"], meta["norm"]
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{checkpoint}: {meta['epoch']} epochs on {meta.get('dataset')!r}, channels {model.config['channels']}, "
              f"{n_params:,} parameters")
        if meta.get("dataset") != dataset:
            print(f"note: the checkpoint was trained on {meta.get('dataset')!r} and is scored below on {dataset!r}")
        """
    ),
    md(
        r"""
        ## Learning curves

        The curves of the model studied here: on a CPU the released run's, read from the history its checkpoint stores
        (the same rows as its training record: `results/cpu_nuaa_gcflnet_unit_gain_s0.json` for the CPU release,
        `results/gpu_nuaa_gcflnet_s0.json` for the full-width one), next to the short run above. The loss is the mean SoftIoU of each epoch's steps; the test metrics are computed every `eval_every` epochs
        (and after the last). They are shown to follow the run, never to choose an epoch: the reported result is the
        last one. Dotted lines mark where the learning rate drops: between epoch $m$ and $m + 1$ for each milestone
        $m$ (epochs counted from 1, as in `history.csv`).
        """
    ),
    code(
        """
        epoch_axis = [row["epoch"] for row in history]
        losses = [row["loss"] for row in history]
        evaluated = [row for row in history if "miou" in row]
        saved_config = meta.get("train_config")
        milestones = TrainConfig.from_dict(saved_config).resolved_milestones if saved_config else ()

        fig, (ax_loss, ax_metrics) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
        ax_loss.plot(epoch_axis, losses, marker=".", label="studied model" if CHECKPOINT else "this run")
        if CHECKPOINT:
            ax_loss.plot(range(1, len(run_losses) + 1), run_losses, marker="o",
                         label="the short run here\\n" + textwrap.fill(f"({TOY.strip() or 'trained here'})", 34))
            ax_loss.legend(fontsize=8)  # wrapped: a long label would run into the next panel's tick labels
        for milestone in milestones:  # the rate drops after epoch `milestone`
            ax_loss.axvline(milestone + 0.5, color="gray", linestyle=":")
        ax_loss.set(xlabel="epoch", ylabel="SoftIoU loss (epoch mean)", title="training loss")
        for key in ("miou", "niou", "pd"):
            ax_metrics.plot([r["epoch"] for r in evaluated], [r[key] for r in evaluated], marker="o", label=key)
        ax_metrics.set(xlabel="epoch", ylabel="score", ylim=(-0.02, 1.02), title="test metrics")
        ax_fa = ax_metrics.twinx()
        ax_fa.plot([r["epoch"] for r in evaluated], [r["fa"] * 1e6 for r in evaluated], "k--", marker="x", label="Fa")
        ax_fa.set_ylabel("Fa (x1e-6)")
        ax_metrics.legend(loc="center left", fontsize=8)
        ax_fa.legend(loc="center right", fontsize=8);
        print(f"loss: first epoch {losses[0]:.4f}, last epoch {losses[-1]:.4f}")
        """
    ),
    md(
        r"""
        ## Evaluation with the BasicIRSTD protocol

        Full test images, zero-padded to a multiple of 32, predictions cropped back and quantised to 8 bits as saved
        maps would be, threshold 0.5: mIoU (total intersection / total union), nIoU (mean per-image IoU), Pd (targets
        whose centroid is within 3 px of a predicted component), Fa (falsely predicted pixels / all pixels), and the
        Pd-Fa ROC over thresholds with its AUC over Fa from 0 to $10^{-4}$ (notebook 08 says why that range is
        fixed). When the model was trained here, scoring its checkpoint must give the run's own
        last-epoch numbers.
        """
    ),
    code(
        """
        test_samples = load_split(root, dataset, "test")
        if CHECKPOINT and not workbook.scores_whole_split(ctx, CHECKPOINT):
            test_samples = test_samples[:24]  # SMOKE = True (tests, CI): 24 images; the defaults score the whole split
        if CHECKPOINT:  # the maps of this checkpoint file on these images, computed once (build/cache/), as evaluate_model
            metrics = evaluate_cached(CHECKPOINT, test_samples, ctx.device)
        else:
            metrics = evaluate_model(model, test_samples, ctx.device, norm["mean"], norm["std"])
        card = workbook.model_card_metrics(CHECKPOINT) if CHECKPOINT else None
        if card is not None and meta.get("dataset") == dataset and len(test_samples) == card["n_images"]:
            assert all(metrics[key] == card[key] for key in ("miou", "niou", "pd", "fa")), "not the model card's scores"
            print(f"{CHECKPOINT} on the whole {dataset} test split: the model card's numbers exactly")
        if not CHECKPOINT:
            for key in ("miou", "niou", "pd", "fa"):
                assert abs(metrics[key] - trained_here["final"][key]) < 1e-3, key
            print("checkpoint score == the run's last-epoch score")

        display(Markdown(markdown_table(
            [{**metrics, "fa_e6": metrics["fa"] * 1e6, "split": f"{dataset} test ({metrics['n_images']} images)"}],
            {"split": None, "miou": ".4f", "niou": ".4f", "pd": ".4f", "fa_e6": ".2f", "pd_at_fa_1e-05": ".4f",
             "auc_pd_fa": ".4f", "auc_pixel": ".4f"})))
        plot_roc({"GCFLNet": metrics});  # Fa on a symlog axis; the dotted line ends the AUC's shared range
        """
    ),
    md(
        r"""
        ## Predictions

        Test images that hold targets, the predicted probability and the decision at 0.5 over the image
        (the frame with every target and false alarm boxed and zoomed: gold hit, cyan miss, red false alarm; one fixed
        display stretch, the 8-bit range, for every frame).
        """
    ),
    code(
        """
        shown = [s for s in test_samples if s.mask.any()][:4]
        probabilities = predict_probabilities(model, [s.image for s in shown], ctx.device, norm["mean"], norm["std"])
        panels, titles = [], []
        for sample, prob in zip(shown, probabilities):
            panels += [sample.image, prob]
            titles += [sample.name, f"probability (max {prob.max():.2f})"]
        show_images(panels, titles, ncols=4, cmap=["gray", "magma"] * len(shown), size=3.0,
                    vrange=[DISPLAY_RANGE, (0.0, 1.0)] * len(shown), colorbar=[False, True] * len(shown))
        for sample, prob in zip(shown, probabilities):
            plot_detections(sample.image, prob > 0.5, sample.mask, title=f"{sample.name}, decision p > 0.5", max_crops=4)
        """
    ),
    md(
        r"""
        ## A checkpoint of another variant is refused

        A checkpoint records its model's configuration, so `build_model(**config)` can rebuild it. That also lets the
        notebook refuse one made for another variant (a U-Net, an ablation model) with a clear message rather than
        study the wrong network, or fail later on mismatched weights.
        """
    ),
    code(
        """
        import os

        foreign = build_model("unet", channels=(4, 8))
        foreign_path = save_checkpoint(RUNS / "unet_checkpoint_for_refusal.pt", {
            "model": foreign.state_dict(), "model_config": foreign.config, "epoch": 0, "norm": {"mean": 0.0, "std": 1.0}})
        refusal = ""
        try:  # given relative to this folder, as a reader would type it: the message names it so
            workbook.load_trained_model(os.path.relpath(foreign_path), "gcflnet")
        except CheckpointError as error:
            refusal = str(error)
        print(refusal)
        assert "'unet'" in refusal and "'gcflnet'" in refusal
        """
    ),
    md(
        r"""
        ## Checks and results

        The loss must have fallen from the first epoch to the last (of the short run and of the studied model), and
        every metric must be a valid rate. A full run must also clear a modest bar, mIoU above 0.5, on the data it was trained for: it says the
        network learned the task, not that it reproduces the paper (86.5 % IoU on NUDT-SIRST, 71.9 % on IRSTD-1K after
        1500 epochs). Smoke numbers are not results: a narrow model after a few dozen steps.
        """
    ),
    checks(
        """
        MIOU_BAR = 0.5
        assert len(losses) >= 2, f"{checkpoint} holds a history of {len(losses)} epoch(s); need 2 to see learning"
        assert losses[-1] < losses[0], f"the loss did not decrease: {losses[0]:.4f} -> {losses[-1]:.4f}"
        assert run_losses[-1] < run_losses[0], f"the short run's loss did not decrease: {run_losses}"
        for key in ("miou", "niou", "pd", "fa", "auc_pd_fa", "auc_pixel"):
            assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
        if workbook.scores_whole_split(ctx, CHECKPOINT) and meta.get("dataset") == dataset:  # a whole split, not 24 images
            assert metrics["miou"] > MIOU_BAR, f"mIoU {metrics['miou']:.3f} is below {MIOU_BAR} after {meta['epoch']} epochs"

        workbook.record_results("07_training_gcflnet", {
            "epochs": int(meta["epoch"]),
            "first_loss": losses[0],
            "final_loss": losses[-1],
            "loss_decreased": losses[-1] < losses[0],
            "miou": metrics["miou"],
            "niou": metrics["niou"],
            "pd": metrics["pd"],
            "fa": metrics["fa"],
            "auc_pd_fa": metrics["auc_pd_fa"],
            "auc_pixel": metrics["auc_pixel"],
            "n_test_images": metrics["n_images"],
            "params": n_params,
            "dataset": dataset,
            "device": str(ctx.device),
            "smoke": SMOKE,
            "checkpoint": bool(CHECKPOINT),
            "checkpoint_name": str(CHECKPOINT),
            "run_epochs": len(run_losses),
            "run_first_loss": run_losses[0],
            "run_final_loss": run_losses[-1],
            "foreign_checkpoint_refused": bool(refusal),
        }, RESULTS_DIR)
        """
    ),
    ending("07", """
        The objective is the mean SoftIoU over the deep-supervision heads, minimised with AdamW under a multi-step
        schedule; `gcflnet_lib.engine.train` runs it and writes checkpoints that carry the model's configuration,
        normalisation and history. A short run shows the loop; learning the task takes hundreds of epochs, as the
        released run's curves show, and is scored at the last epoch only.
        """, [
        ("From `history`, find the epoch where the released run's loss first falls below 0.5 and compare it with "
         "the learning-rate milestones drawn on the curve.",
         """
         The loss falls fastest in the first epochs and crosses 0.5 early (epoch 13 in the CPU release's 200, whose
         milestones are epochs 133 and 173), well before the first milestone. Most of
         the learning happens at the initial rate. The milestones come later, where the curve has flattened: each
         step down of the rate lets the loss settle a little lower and steadies it. Read the epoch from
         `history` (the first row whose loss is below 0.5) and set it against the milestones on the figure.
         """),
        ("Rerun the short run with `settings[\"lr\"] = 3e-4` (edit the settings cell) and compare `run_losses` with "
         "the run at 3e-3: what does a ten times smaller step do in a few dozen steps?",
         """
         The loss falls much more slowly and stays near its first values after a few dozen steps, because each
         update moves the weights a tenth as far. Over hundreds of epochs a smaller rate can end as well or better;
         a short run measures speed, not where training ends.
         """),
        ("Replace `deep_supervision_loss(heads, target)` by `soft_iou_loss(heads[-1], target)` in the hand check: by how "
         "much do the two objectives differ on these random logits, and why?",
         """
         Little. The deep-supervision loss is the mean SoftIoU over all heads, and on random logits every head is
         about equally wrong, so the mean is close to any single head's loss. The two differ only by the spread
         between heads. On a trained model they differ more, because the coarse heads predict worse than the final
         one, and the mean then keeps pushing the inner levels towards the mask.
         """),
    ], """
        SoftIoU (Rahman and Wang, 2016) optimises the overlap directly. Deep supervision goes back to
        Deeply-Supervised Nets (Lee et al., 2015), and AdamW decouples weight decay from the gradient step
        (Loshchilov and Hutter, ICLR 2019). The paper trains 1500 epochs and leaves the schedule, the crops and the
        augmentation partly open (`docs/PAPER_READING.md`). How far the released runs (200 and 400 epochs,
        `checkpoints/README.md`) are from convergence, and which of these choices matter, can be measured with `gcflnet train` and the GPU campaign's
        records (`docs/GPU_CAMPAIGN.md`).
        """),
]
