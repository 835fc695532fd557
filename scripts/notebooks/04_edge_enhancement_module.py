"""Generator of notebooks/04_edge_enhancement_module.ipynb."""

from _cells import about, code, ending, md, parameters, top

CELLS = [
    top("04"),
    md(
        r"""
        # 04 · The edge enhancement module (EEM): EFEU and CDC fused, at every scale

        The paper (Section 3.1): *"multi-scale feature maps are fed into the EEM, where EFEU and CDC work
        collaboratively to extract accurate edge information while smoothing background noise [...] fine-grained
        gradient features extracted by EFEU are adaptively fused with robust contour features produced by CDC."*
        The point is *compensation*: each down-sampling step of the encoder blurs small targets away, and EEM
        re-injects gradient cues at every level.

        Reading taken by `gcflnet_lib.nn.EEM` (the paper gives no equations). At encoder level $l$, with features
        $F_l$ ($C_l$ channels) and the input image $I$ area-resized to that level, $I_l$:

        $$
        X_l = [F_l,\ I_l], \qquad
        E^{\text{fine}}_l = \mathrm{BN}\big(\mathrm{EFEU}(X_l)\big), \qquad
        E^{\text{contour}}_l = \mathrm{ReLU}\big(\mathrm{BN}(\mathrm{CDC}_{\theta=0.7}(X_l))\big),
        $$
        $$
        E_l = \mathrm{ReLU}\Big(\mathrm{BN}\big(W_{1\times1} * [E^{\text{fine}}_l,\ E^{\text{contour}}_l]\big)\Big)
        \quad (\texttt{fusion="concat"}, \text{default}),
        $$

        or a learned gate $E_l = \mathrm{ReLU}\big(g \odot P(E^{\text{fine}}_l) + (1-g) \odot E^{\text{contour}}_l\big)$ with
        $g = \sigma(W_g * [E^{\text{fine}}_l, E^{\text{contour}}_l])$ (`fusion="gate"`). The image channel in $X_l$ is the
        "multi-scale gradient magnitude" cue: EFEU on $I_l$ is the Sobel magnitude of the image at that scale.

        Below we look inside the EEMs of a GCFLNet: briefly trained here, or the trained model of `CHECKPOINT`.
        """
    ),
    about("04", [
        'how EEM combines EFEU and CDC at every encoder level, on the image resized to that level',
        'what the edge maps of a (briefly) trained GCFLNet look like at each scale',
        "how to check a module's output by hand with forward hooks (`workbook.capture_outputs`)",
    ], ['02', '03'], 'a small model trained for 20 steps on synthetic scenes',
        open_rows="rows 6 (how EFEU and CDC are fused), 10 (EEM's input), 11 (where the edges enter) and 12 (EEM without GLFI)"),
    parameters(
        """
        SMOKE = "auto"          # "auto": fast on a CPU, full size on a GPU; True: a tiny model and a few steps so the notebook runs in seconds
        DEVICE = "auto"        # "auto" -> cuda if available else cpu
        DATA_DIR = ""          # "" -> synthetic scenes; else a standard-layout root
        DATASET = "Synthetic"  # the split files' dataset name when DATA_DIR is given
        SEED = 0
        CHECKPOINT = ""        # optional trained "gcflnet" checkpoint (gcflnet train ... final.pt); "" trains briefly here
        TRAIN_STEPS = 600      # steps of the brief training used when CHECKPOINT is "" (SMOKE uses 20)
        RESULTS_DIR = "../build/notebook_results"
        """
    ),
    code(
        """
        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        import torch.nn.functional as F
        from scipy import ndimage

        from gcflnet_lib import workbook
        from gcflnet_lib.nn import EEM

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE, checkpoint=CHECKPOINT)
        SMOKE = ctx.smoke  # "auto" resolved
        SIZE = 128 if SMOKE else 256
        train_samples = workbook.load_samples(ctx, DATASET, split="train", n=16 if SMOKE else 128, size=SIZE)
        test_samples = workbook.load_samples(ctx, DATASET, split="test", n=4 if SMOKE else 16, size=SIZE)
        if not SMOKE and not CHECKPOINT and ctx.device.type == "cpu":
            from gcflnet_lib.models import build_model

            step = workbook.training_step(build_model("gcflnet"), 8, 128)
            workbook.warn_full_size_on_cpu(ctx, f"{TRAIN_STEPS} training steps", workbook.estimate_seconds(step, TRAIN_STEPS))
        fit = workbook.model_for_notebook(
            ctx, "gcflnet", CHECKPOINT, train_samples,
            steps=20 if SMOKE else TRAIN_STEPS,
            channels=(8, 16, 32, 64) if SMOKE else (16, 32, 64, 128, 256),
            crop_size=48 if SMOKE else 128, batch_size=4 if SMOKE else 8,
        )
        model = fit.model
        source = CHECKPOINT or f"trained here for {len(fit.losses)} steps (loss {fit.losses[0]:.3f} -> {fit.losses[-1]:.3f})"
        print(f"device {ctx.device}; GCFLNet with channels {model.config['channels']}, {source}")
        """
    ),
    md(
        r"""
        **Where this sits in GCFLNet.** The highlighted boxes are the EEM of every level, in the full-width model's
        architecture drawn from its configuration (`gcflnet_lib.architecture.draw_architecture`).
        """
    ),
    code(
        """
        from gcflnet_lib.architecture import draw_architecture
        from gcflnet_lib.models import build_model

        draw_architecture(build_model("gcflnet").config, highlight="eem");
        """
    ),
    md(
        r"""
        ## One EEM by hand

        Recompute the level-0 EEM from its parts and check that the composition is the module: the equations above
        are what the code does.
        """
    ),
    code(
        """
        sample = next(s for s in test_samples if s.mask.any())
        x = ((torch.from_numpy(sample.image)[None, None] - fit.mean) / fit.std).to(ctx.device)

        eems = {f"level {level}": module for level, module in enumerate(model.eem)}
        parts = {}
        for level, module in enumerate(model.eem):
            parts[f"efeu {level}"], parts[f"cdc {level}"] = module.efeu, module.cdc
        with torch.no_grad(), workbook.capture_outputs({**eems, **parts}, inputs=True) as seen:
            model(x)

        eem0 = model.eem[0]
        features, image = seen["level 0.inputs"]
        with torch.no_grad():
            joint = torch.cat([features, F.interpolate(image, size=features.shape[-2:], mode="area")], dim=1)
            fine = eem0.efeu_norm(eem0.efeu(joint))
            contour = eem0.cdc(joint)
            by_hand = eem0.fuse(torch.cat([fine, contour], dim=1))
        by_hand_diff = float((by_hand - seen["level 0"]).abs().max())
        print(f"EEM level 0: by hand vs module, max |difference| = {by_hand_diff:.2e}; input {tuple(joint.shape)} -> edges {tuple(by_hand.shape)}")
        assert by_hand_diff < 1e-5
        """
    ),
    md(
        r"""
        ## Edge maps at every scale

        Rows: encoder levels (full resolution first, each next one halved). Columns: the image at that scale, the
        EFEU branch, the CDC branch and the fused edges $E_l$, each averaged over channels. The red contour marks
        the target.
        """
    ),
    code(
        """
        def channel_energy(tensor):
            \"\"\"(1, C, h, w) -> (h, w): mean absolute activation over channels.\"\"\"
            return tensor[0].abs().mean(0).cpu().numpy()

        def mask_at(mask, level):
            \"\"\"The target mask max-pooled to level `level` (a target pixel anywhere in the 2^l x 2^l cell).\"\"\"
            tensor = torch.from_numpy(mask).float()[None, None]
            return F.max_pool2d(tensor, 2 ** level, ceil_mode=True)[0, 0].numpy() > 0 if level else mask

        levels = len(model.eem)
        fig, axes = plt.subplots(levels, 4, figsize=(9, 2.3 * levels), layout="constrained", squeeze=False)
        shapes, ratios = [], {"efeu": [], "cdc": [], "fused": []}
        for level in range(levels):
            edges = seen[f"level {level}"]
            _, level_image = seen[f"level {level}.inputs"]
            level_image = F.interpolate(level_image, size=edges.shape[-2:], mode="area")
            shapes.append(list(edges.shape[-2:]))
            maps = {"image": level_image[0, 0].cpu().numpy(), "efeu": channel_energy(seen[f"efeu {level}"]),
                    "cdc": channel_energy(seen[f"cdc {level}"]), "fused": channel_energy(edges)}
            target = mask_at(sample.mask, level)[: edges.shape[-2], : edges.shape[-1]]
            for column, (name, value) in enumerate(maps.items()):
                ax = axes[level, column]
                shown = ax.imshow(value, cmap="gray" if name == "image" else "magma")
                if name != "image":
                    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
                ax.contour(target, levels=[0.5], colors="red", linewidths=0.6)
                ax.set_title(f"level {level} {tuple(edges.shape[-2:])}: {name}", fontsize=8)
                ax.set_axis_off()
        print("edge map shapes per level:", shapes)
        """
    ),
    md(
        r"""
        ## Do the edges single out targets?

        For every test image that holds a target and every level: the mean edge energy on and next to the target
        (the mask grown by one pixel at that level) divided by the mean over the background (farther than 4 pixels).
        Above 1, the level's edges point at targets more than at clutter.
        """
    ),
    code(
        """
        per_level = {name: [[] for _ in range(levels)] for name in ("efeu", "cdc", "fused")}
        for s in test_samples:
            if not s.mask.any():
                continue
            xs = ((torch.from_numpy(s.image)[None, None] - fit.mean) / fit.std).to(ctx.device)
            with torch.no_grad(), workbook.capture_outputs({**eems, **parts}) as out:
                model(xs)
            for level in range(levels):
                target = mask_at(s.mask, level)
                near = ndimage.binary_dilation(target, iterations=1)
                far = ~ndimage.binary_dilation(target, iterations=4)
                for name, key in (("efeu", f"efeu {level}"), ("cdc", f"cdc {level}"), ("fused", f"level {level}")):
                    energy = channel_energy(out[key])[: target.shape[0], : target.shape[1]]
                    per_level[name][level].append(energy[near].mean() / max(energy[far].mean(), 1e-12))

        ratio_table = {name: [float(np.mean(values)) for values in lists] for name, lists in per_level.items()}
        for name, values in ratio_table.items():
            print(f"{name:>6}: target/background edge energy per level", " ".join(f"{v:5.2f}" for v in values))
        target_edge_ratio = ratio_table["fused"][0]
        """
    ),
    md(
        r"""
        At full resolution the fused edges concentrate on targets (ratio well above 1); deeper levels see coarser
        cells where targets and clutter blur together, which is exactly why EEM adds the resized image's gradients
        at every level instead of relying on the encoder to carry them down. The `"gate"` fusion is the alternative
        reading: same inputs, a per-pixel choice between the two branches. Which of the two trains better is measured,
        not guessed: [docs/PAPER_READING.md](../docs/PAPER_READING.md), row 6, and the lines below (read from
        `results/readings.json`, written by `scripts/measure_readings.py`).
        """
    ),
    code(
        """
        concat, gate = EEM(16, fusion="concat"), EEM(16, fusion="gate")
        count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
        print(f"EEM(16) parameters: concat fusion {count(concat)}, gate fusion {count(gate)}")
        print(workbook.measured_readings(["default", "eem_gate"]))
        with torch.no_grad():
            assert gate.eval()(torch.randn(1, 16, 32, 32), torch.randn(1, 1, 64, 64)).shape == (1, 16, 32, 32)

        assert all(shape == [shapes[0][0] // 2 ** l, shapes[0][1] // 2 ** l] for l, shape in enumerate(shapes))
        assert target_edge_ratio > 1.0

        workbook.record_results("04_edge_enhancement_module", {
            "target_edge_ratio": target_edge_ratio,
            "by_hand_max_abs_diff": by_hand_diff,
            "edge_map_shapes": shapes,
            "ratios_per_level": ratio_table,
            "checkpoint": bool(CHECKPOINT),
            "train_steps": len(fit.losses),
        }, RESULTS_DIR)
        """
    ),
    ending("04", """
        Every encoder level has its own EEM, fed the image at that level's resolution: EFEU gives fine gradient
        magnitudes, CDC contour responses, and their fusion is handed to GLFI. Hooks let us read each level's edges and
        recompute them by hand.
        """, [
        ("Print `fit.model.config` and redraw the architecture with `draw_architecture(fit.model.config, highlight='eem')`: how many EEMs does this model have?",
         """
         One per encoder level, so as many as the entries of `channels` in the configuration (count the highlighted
         boxes). The small model trained here has fewer levels than the full-width GCFLNet, whose five widths
         16..256 give five.
         """),
        ("From `ratio_table`, which level's edges separate targets best? Relate it to the target sizes and the level's resolution.",
         """
         Usually the finest levels. A target spans only a few pixels: at full and half resolution its edge is a
         clear ring, but after two or three halvings it covers less than a pixel and its edges merge with the
         background's. The finest level at which a target still spans two or more pixels separates best. Larger
         targets move the best level one step coarser.
         """),
        ("Set `TRAIN_STEPS` to 200 (or give a trained `CHECKPOINT`) and compare `target_edge_ratio` with this run's.",
         """
         It usually rises: with more training, EFEU's free weights, CDC and the fusion adapt so that targets stand
         out from the background, and a trained checkpoint gives the clearest edges. On a few images a short fit
         can also move it the other way; a single number from 20 or 200 steps is a hint, not a measurement.
         """),
    ], """
        The paper fuses EFEU and CDC but does not say how (`docs/PAPER_READING.md`, row 6). Concatenation with a 1x1
        convolution, a learned gate, or attention between the two are all plausible, and notebook 09's ablation tools
        can compare them. Edge-guided networks in other fields offer more designs to borrow, such as a separate edge
        stream supervised with edge maps derived from the masks.
        """),
]
