"""Generator of notebooks/04_edge_enhancement_module.ipynb."""

from _cells import (DISSECTION_PARAMETERS, about, checks, code, dissection_setup, ending, md, standard_parameters, top,
                    where_it_sits)

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

        Below we look inside the EEMs of trained GCFLNets on real NUAA-SIRST test images (`CHECKPOINT = "auto"`): the
        released CPU-recipe model (`gcflnet-cpu-nuaa-sirst`, widths 8..128, 200 epochs) and, beside it, the full-width
        release (`gcflnet-nuaa-sirst`, 16..256, 400 epochs on a GPU) where its file is present; `checkpoints/README.md`
        is their model card. Without the dataset the same models are taken apart on generated scenes (one line says
        so). `CHECKPOINT = ""` trains a small model briefly here instead, the exercise at the end.
        """
    ),
    about("04", [
        'how EEM combines EFEU and CDC at every encoder level, on the image resized to that level',
        'what the edge maps of the released GCFLNets look like at each scale, on real infrared images',
        "how to check a module's output by hand with forward hooks (`workbook.capture_outputs`)",
    ], ['02', '03'], 'the released GCFLNets (CPU recipe, and full width where present) on NUAA-SIRST test images',
        open_rows="rows 6 (how EFEU and CDC are fused), 10 (EEM's input), 11 (where the edges enter) and 12 (EEM without GLFI)"),
    standard_parameters("a tiny model and a few steps", data="auto", extra=DISSECTION_PARAMETERS),
    dissection_setup(
        """
        import numpy as np
        import torch
        import torch.nn.functional as F
        from scipy import ndimage

        from gcflnet_lib import workbook
        from gcflnet_lib.nn import EEM
        from gcflnet_lib.workbook.viz import inside_shape, plot_level_maps
        """
    ),
    *where_it_sits("eem", "the EEM of every level"),
    md(
        r"""
        ## One EEM by hand

        Recompute the level-0 EEM from its parts and check that the composition is the module: the equations above
        are what the code does.
        """
    ),
    code(
        """
        def edge_outputs(fit, sample):
            \"\"\"Every EEM of ``fit.model`` on one sample, by forward hooks: "level l" (the fused edges E_l),
            "efeu l", "cdc l" -> (1, C_l, h_l, w_l), and "level l.inputs" (F_l, the padded image).\"\"\"
            modules = {}
            for level, module in enumerate(fit.model.eem):
                modules[f"level {level}"], modules[f"efeu {level}"], modules[f"cdc {level}"] = module, module.efeu, module.cdc
            return workbook.forward_captured(fit, sample.image, modules, ctx.device)

        sample = test_samples[0]
        seen = edge_outputs(fit, sample)

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
        EFEU branch, the CDC branch and the fused edges $E_l$ of the first model, each averaged over channels; the last
        columns are the fused edges of any other model (the full-width release). The red contour marks the target.
        The model pads its input at the bottom and right to a multiple of 16 pixels, and every map carries that band;
        the panels are cut to the image's own area at each level, $\lceil H/2^l\rceil \times \lceil W/2^l\rceil$
        (`viz.crop_to_image`), so the band neither shows nor sets a colour scale. Each panel has its own colour bar.
        A thin line can remain at the right or bottom edge: the step from the image into the padding is an edge too.
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
        others = {name: edge_outputs(each, sample) for name, each in list(fits.items())[1:] if len(each.model.eem) == levels}
        shapes, rows = [], []
        for level in range(levels):
            edges = seen[f"level {level}"]
            _, level_image = seen[f"level {level}.inputs"]
            level_image = F.interpolate(level_image, size=edges.shape[-2:], mode="area")
            shapes.append(list(edges.shape[-2:]))  # the padded size the model works at
            rows.append({"image": level_image[0, 0].cpu().numpy(), "EFEU": channel_energy(seen[f"efeu {level}"]),
                         "CDC": channel_energy(seen[f"cdc {level}"]), f"fused\\n({label.split(' (')[0]})": channel_energy(edges),
                         **{f"fused\\n({name.split(' (')[0]})": channel_energy(out[f"level {level}"]) for name, out in others.items()}})
        # Each map cut to the image's own area at its level (the padding band dropped), on its own colour scale.
        plot_level_maps(rows, sample.image.shape, [mask_at(sample.mask, level) for level in range(levels)],
                        cmap={"image": "gray"}, colorbar={"image": False})
        print("edge map shapes per level:", shapes, "(padded); shown:",
              [list(inside_shape(sample.image.shape, level)) for level in range(levels)], "(the image's own area)")
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
        def edge_ratios(fit, samples):
            \"\"\"branch ("efeu", "cdc", "fused") -> per level, the mean over samples of (mean edge energy on and next to
            the target) / (mean edge energy farther than 4 px from it), on the image's own area (no padding).\"\"\"
            levels = len(fit.model.eem)
            per_level = {name: [[] for _ in range(levels)] for name in ("efeu", "cdc", "fused")}
            for s in samples:
                out = edge_outputs(fit, s)
                for level in range(levels):
                    target = mask_at(s.mask, level)
                    near = ndimage.binary_dilation(target, iterations=1)
                    far = ~ndimage.binary_dilation(target, iterations=4)
                    for name, key in (("efeu", f"efeu {level}"), ("cdc", f"cdc {level}"), ("fused", f"level {level}")):
                        energy = channel_energy(out[key])[: target.shape[0], : target.shape[1]]
                        per_level[name][level].append(energy[near].mean() / max(energy[far].mean(), 1e-12))
            return {name: [float(np.mean(values)) for values in lists] for name, lists in per_level.items()}

        ratios = {name: edge_ratios(each, test_samples) for name, each in fits.items()}
        for name, table in ratios.items():
            print(name)
            for branch, values in table.items():
                print(f"  {branch:>6}: target/background edge energy per level", " ".join(f"{v:5.2f}" for v in values))
        ratio_table = ratios[label]
        target_edge_ratio = ratio_table["fused"][0]
        # A trained model's fused edges must respond at least 4.5x more on targets than on the background at full
        # resolution: the released ones give about 8x on these NUAA-SIRST images (about 5x on generated scenes), a
        # small model after 20 steps about 3.5x (EFEU starts as a Sobel filter, so edges respond from the first
        # step), flat maps 1.
        TRAINED_EDGE_RATIO = 4.5
        """
    ),
    md(
        r"""
        In the trained models the fused edges concentrate on targets (ratios several times above 1, printed above), at
        every level: deeper levels see coarser cells where targets and clutter blur together, and EEM keeps them
        apart there by adding the resized image's gradients at every level instead of relying on the encoder to carry
        them down. The `"gate"` fusion is the alternative
        reading: same inputs, a per-pixel choice between the two branches. Which of the two trains better is measured,
        not guessed: [docs/PAPER_READING.md](../docs/PAPER_READING.md), row 6, and the lines below (read from
        `results/readings.json`, written by `scripts/measure_readings.py`). Read them with the `default_seed1` line,
        the default reading trained again with another seed: the last line compares the two seeds' spread with the
        readings' distance from them, and says whether one run per reading can rank them.
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
        """
    ),
    checks(
        """
        assert all(shape == [shapes[0][0] // 2 ** l, shapes[0][1] // 2 ** l] for l, shape in enumerate(shapes))
        assert target_edge_ratio > 1.0
        if MODELS:  # a trained EEM: at full resolution its fused edges respond far more on targets than on the background
            for name, table in ratios.items():
                assert table["fused"][0] > TRAINED_EDGE_RATIO, (name, table["fused"][0])

        workbook.record_results("04_edge_enhancement_module", {
            "target_edge_ratio": target_edge_ratio,
            "by_hand_max_abs_diff": by_hand_diff,
            "edge_map_shapes": shapes,
            "ratios_per_level": ratio_table,
            "ratios_by_model": ratios,
            "models": list(MODELS.values()),
            "dataset": ctx.dataset,
            "n_images": len(test_samples),
            "checkpoint": bool(MODELS),
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
        ("Set `CHECKPOINT = \"\"` (a small model trained here for `TRAIN_STEPS` steps, 20 with `SMOKE = True`) and compare "
         "`target_edge_ratio` and the edge maps with the released model's.",
         """
         It is lower: on the first four NUAA-SIRST test images with targets, about 3.5 after 20 steps (`SMOKE = True`)
         against about 8.4 for the released CPU model. EFEU starts as a Sobel filter, so edges respond from the first
         step, but CDC and the fusion have not yet learned to favour targets over clutter. A single number from 20 or
         200 steps is a hint, not a measurement.
         """),
    ], """
        The paper fuses EFEU and CDC but does not say how (`docs/PAPER_READING.md`, row 6). Concatenation with a 1x1
        convolution, a learned gate, or attention between the two are all plausible, and notebook 09's ablation tools
        can compare them. Edge-guided networks in other fields offer more designs to borrow, such as a separate edge
        stream supervised with edge maps derived from the masks.
        """),
]
