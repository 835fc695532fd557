"""Generator of notebooks/00_tour.ipynb."""

from _cells import code, md, parameters

CELLS = [
    md(
        r"""
        # 00 · A tour: from data to a trained GCFLNet, its metrics and its predictions

        **GCFLNet** (gradient-compensated feature learning network) segments infrared small targets: a few bright
        pixels in a cluttered thermal image. It is a U-Net whose encoder is helped, at every level, by an **edge
        enhancement module** (EEM: a learnable Sobel unit and a central difference convolution) and a **global-local
        feature interaction** module (GLFI: dense and dilated convolutions, attention from two poolings), and whose
        skip connections are replaced by **multi-scale information compensation** (MSIC: spatial and channel
        attention exchanged between levels). It is trained with the SoftIoU loss and deep supervision.

        This notebook runs the whole pipeline in a few minutes (seconds with `SMOKE = True`), using only
        `gcflnet_lib`. The other notebooks open each piece:

        | notebook | topic |
        |---|---|
        | 01 | gradient vector fields: do gradients converge on targets? |
        | 02 | EFEU, the learnable Sobel unit with fixed zeros |
        | 03 | central difference convolution |
        | 04 | the edge enhancement module at every scale |
        | 05 | GLFI: receptive fields and pooled attention |
        | 06 | MSIC on the skip connections |
        | 08 | metrics, ROC curves and choosing a threshold |

        and the remaining notebooks of the folder cover training at scale, the ablation study and comparisons.
        """
    ),
    parameters(
        """
        SMOKE = False          # True: tiny data, model and run, seconds on a CPU (papermill tests set it)
        EPOCHS = 30            # training epochs (the paper trains 1500)
        DEVICE = "auto"        # "auto" -> cuda if available else cpu
        DATA_DIR = ""          # "" -> synthetic data generated under ../data/synthetic ; else a standard-layout root
        DATASET = "Synthetic"  # the split files' dataset name, e.g. "NUAA-SIRST" with DATA_DIR
        SEED = 0
        RUN_DIR = "../runs/00_tour"   # checkpoints, history and metrics of the run
        RESULTS_DIR = "../build/notebook_results"
        """
    ),
    code(
        """
        import matplotlib.pyplot as plt
        import numpy as np

        from gcflnet_lib import workbook
        from gcflnet_lib.data.dataset import load_split
        from gcflnet_lib.engine import TrainConfig, load_checkpoint, predict_probabilities, train
        from gcflnet_lib.experiments import ensure_synthetic_dataset, synthetic_dataset_dir
        from gcflnet_lib.models import build_model, list_models
        from gcflnet_lib.viz import overlay_prediction, plot_roc, show_images

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR)
        if SMOKE:
            n_images, size, epochs, batch, crop, channels, lr = 32, 64, min(EPOCHS, 6), 4, 64, (8, 16, 32, 64), 3e-3
        else:
            n_images, size, epochs, batch, crop, channels, lr = 400, 256, EPOCHS, 16, 256, None, 1e-3
        print(f"device {ctx.device}; {epochs} epochs, batch {batch}, crops {crop}x{crop}")
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
        dataset = "Synthetic" if ctx.synthetic else DATASET
        train_samples, test_samples = load_split(root, dataset, "train"), load_split(root, dataset, "test")
        print(f"{root}: {len(train_samples)} train and {len(test_samples)} test images")
        shown = train_samples[:4]
        show_images([s.image for s in shown] + [overlay_prediction(s.image, s.mask, s.mask) for s in shown],
                    [s.name for s in shown] + ["targets"] * len(shown), ncols=4, size=2.4);
        """
    ),
    md(
        r"""
        ## 2 · The model and its ablation variants

        `build_model(name)` builds GCFLNet or one of the paper's ablation variants: each of EEM, GLFI and MSIC can be
        switched off, and with all three off the model is the U-Net baseline.
        """
    ),
    code(
        """
        kwargs = {} if channels is None else {"channels": channels}
        sizes = {name: sum(p.numel() for p in build_model(name, **kwargs).parameters()) for name in list_models()}
        for name, count in sizes.items():
            print(f"{name:>18}: {count / 1e6:6.3f} M parameters")
        """
    ),
    md(
        r"""
        ## 3 · Training

        `gcflnet_lib.engine.train` follows the paper: SoftIoU loss averaged over the deep-supervision heads, AdamW,
        a multi-step learning-rate decay (x0.1 at 50 % and 75 % of the epochs), random crops centred on a target half
        of the time, flips and transposes. It writes `config.json`, `history.csv`, `last.pt`, `final.pt` and
        `metrics.json` to `RUN_DIR` and reports the **last** epoch (no epoch is chosen on the test split).
        The same run from a shell: `gcflnet train --data ROOT --dataset NAME --out RUN_DIR --epochs N`.
        """
    ),
    code(
        """
        config = TrainConfig(
            data_root=str(root), dataset=dataset, out_dir=RUN_DIR, model="gcflnet", channels=channels,
            epochs=epochs, batch_size=batch, crop_size=crop, lr=lr, eval_every=0, seed=SEED,
            device=str(ctx.device), overwrite=True, progress=not SMOKE,
        )
        run = train(config)
        losses = [row["loss"] for row in run["history"]]
        fig, ax = plt.subplots(figsize=(5, 2.8), layout="constrained")
        ax.plot(range(1, len(losses) + 1), losses, marker="o")
        ax.set_xlabel("epoch")
        ax.set_ylabel("SoftIoU loss (deep supervision)")
        print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; run files in {run['run_dir']}")
        """
    ),
    md(
        r"""
        ## 4 · Metrics

        On the test split, full images (zero-padded to a multiple of 32, predictions cropped back), probability
        threshold 0.5: mIoU and nIoU for shape, Pd (targets found) and Fa (false-alarm pixels, $\times10^{-6}$) for
        localisation, and the Pd-Fa ROC over thresholds. Notebook 08 works these out by hand.
        """
    ),
    code(
        """
        final = run["final"]
        print(f"mIoU {final['miou']:.4f}  nIoU {final['niou']:.4f}  Pd {final['pd']:.4f}  "
              f"Fa {final['fa'] * 1e6:.1f}e-6  AUC {final['auc']:.4f}  ({final['n_targets']} targets in {final['n_images']} images)")
        ax = plot_roc({"GCFLNet": {**final["roc"], "auc": final["auc"]}})
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(left=0);
        """
    ),
    md(
        r"""
        ## 5 · Predictions

        Probability maps of a few test images and the prediction at 0.5 (gold: hit, red: false alarm, cyan: missed
        target pixels). `gcflnet predict` writes the same maps as PNG files.
        """
    ),
    code(
        """
        model = run["model"]
        norm = load_checkpoint(f"{RUN_DIR}/final.pt")["norm"]  # the normalisation the run trained with
        mean, std = norm["mean"], norm["std"]
        shown = [s for s in test_samples if s.mask.any()][:4] or test_samples[:4]
        probs = predict_probabilities(model, [s.image for s in shown], ctx.device, mean, std)
        show_images([s.image for s in shown] + probs + [overlay_prediction(s.image, p > 0.5, s.mask) for s, p in zip(shown, probs)],
                    [s.name for s in shown] + ["probability"] * len(shown) + ["at 0.5"] * len(shown),
                    ncols=len(shown), size=2.4, cmap=["gray"] * len(shown) + ["magma"] * len(shown) + ["gray"] * len(shown),
                    vrange=[None] * len(shown) + [(0.0, 1.0)] * len(shown) + [None] * len(shown));
        """
    ),
    code(
        """
        assert losses[-1] < losses[0], losses
        assert all(0.0 <= final[key] <= 1.0 for key in ("miou", "pd", "fa"))

        def finite(value):
            return float(value) if np.isfinite(value) else -1.0  # -1 marks "undefined"

        workbook.record_results("00_tour", {
            "miou": final["miou"],
            "pd": final["pd"],
            "fa": final["fa"],
            "auc": finite(final["auc"]),
            "first_loss": losses[0],
            "final_loss": losses[-1],
            "dataset": dataset,
            "n_train": len(train_samples),
            "n_test": len(test_samples),
            "epochs": len(losses),
            "niou": finite(final["niou"]),
            "parameters": sizes["gcflnet"],
        }, RESULTS_DIR)
        """
    ),
]
