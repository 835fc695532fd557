"""Generator of notebooks/06_msic.ipynb."""

from _cells import DISSECTION_PARAMETERS, about, code, dissection_setup, ending, md, standard_parameters, top, where_it_sits

CELLS = [
    top("06"),
    md(
        r"""
        # 06 · MSIC: multi-scale information compensation on the skip connections

        A U-Net skip concatenates encoder features (fine, low level) with upsampled decoder features (coarse, high
        level). The paper (Section 3.3) replaces that with attention-based compensation: *"For high-level features,
        a spatial attention mechanism is introduced to reweight spatial dimensions [...] For low-level features, a
        channel attention mechanism is employed to adaptively learn the importance of each channel [...] information
        compensation is implemented through attention-based feature modulation rather than direct concatenation or
        residual addition."*

        The paper does not say which features each attention re-weights. The default reading of `gcflnet_lib.nn.MSIC`,
        `msic_reading="crossed"`: the attention maps are *computed* where the paper says, and each *modulates the other
        level*, which is what makes it a compensation (the other reading, `"literal"`, is compared below). With low-level features $L$
        ($C$ channels, $H\times W$) and high-level features $H$ (coarser, more channels):

        $$
        \tilde H = \mathrm{up}\big(\phi(H)\big), \qquad
        S = \sigma\Big(\mathrm{conv}_{7\times7}\big[\operatorname{mean}_c \tilde H,\ \max_c \tilde H\big]\Big) \in (0,1)^{1\times H\times W},
        $$
        $$
        A = \sigma\Big(\mathrm{MLP}\big(\operatorname{avg}_{hw} L\big) + \mathrm{MLP}\big(\max_{hw} L\big)\Big) \in (0,1)^{C\times1\times1},
        \qquad
        \text{out} = \mathrm{ResBlock}\big([\,L \odot S,\ \tilde H \odot A\,]\big),
        $$

        where $\phi$ is a $1\times1$ conv-BN-ReLU to $C$ channels and "up" is bilinear. The decoder's sense of *where*
        the target is ($S$) cleans the detailed but noisy encoder features; the encoder's sense of *which channels
        matter* ($A$) sharpens the coarse decoder features.

        We look at $S$, $A$ and their effect on the real features of trained GCFLNets on NUAA-SIRST test images
        (`CHECKPOINT = "auto"`): the released CPU-recipe model (`gcflnet-cpu-nuaa-sirst`) and, beside it, the full-width
        release (`gcflnet-nuaa-sirst`) where its file is present (`checkpoints/README.md`). Without the dataset they are
        taken apart on generated scenes (one line says so); `CHECKPOINT = ""` trains a small model briefly here instead,
        the exercise at the end.
        """
    ),
    about("06", [
        'how MSIC replaces the U-Net skip: spatial attention from the high level, channel attention from the low level',
        'the attention maps of the released GCFLNets at every skip, on real infrared images, with their ranges',
        'how much MSIC changes the skip features compared with plain concatenation',
        'the literal reading beside the crossed one: the same attention maps, applied to the other level',
    ], ['04', '05'], 'the released GCFLNets (CPU recipe, and full width where present) on NUAA-SIRST test images',
        open_rows="rows 1 (which features each attention reads and re-weights) and 2 (how the two maps are joined)"),
    standard_parameters("a tiny model and a few steps", data="auto", extra=DISSECTION_PARAMETERS),
    dissection_setup(
        """
        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        import torch.nn.functional as F
        from scipy import ndimage

        from gcflnet_lib import workbook
        from gcflnet_lib.nn import MSIC, ConcatSkip, upsample_to
        """,
        """
        skips = list(model.decoder)  # decoder[k] works at level levels-2-k: coarsest skip first
        assert all(isinstance(skip, MSIC) for skip in skips)
        """
    ),
    *where_it_sits("msic", "the MSIC of every level"),
    md(
        r"""
        ## One MSIC by hand

        Capture the inputs of every skip with forward hooks, recompute the finest one from the equations and compare.
        """
    ),
    code(
        """
        def skip_outputs(fit, sample):
            \"\"\"Every MSIC of ``fit.model`` on one sample, by forward hooks: "skip k" (the fused skip), "spatial k"
            (S, (1, 1, h, w)), "channel k" (A, (1, C, 1, 1)) and "skip k.inputs" (L, H); coarsest skip first.\"\"\"
            named = {}
            for k, skip in enumerate(fit.model.decoder):
                named[f"skip {k}"], named[f"spatial {k}"], named[f"channel {k}"] = skip, skip.spatial, skip.channel
            return workbook.forward_captured(fit, sample.image, named, ctx.device)

        sample = test_samples[0]
        seen = skip_outputs(fit, sample)

        finest = len(skips) - 1
        low, high = seen[f"skip {finest}.inputs"]
        msic = skips[finest]
        with torch.no_grad():
            high_up = upsample_to(msic.high_proj(high), low)
            pooled = torch.cat([high_up.mean(1, keepdim=True), high_up.amax(1, keepdim=True)], dim=1)
            spatial = torch.sigmoid(msic.spatial.conv(pooled))
            mlp = msic.channel.mlp
            channel = torch.sigmoid(mlp(low.mean((2, 3), keepdim=True)) + mlp(low.amax((2, 3), keepdim=True)))
            by_hand = msic.fuse(torch.cat([low * spatial, high_up * channel], dim=1))
        by_hand_diff = float((by_hand - seen[f"skip {finest}"]).abs().max())
        print(f"finest skip: low {tuple(low.shape)}, high {tuple(high.shape)} -> {tuple(by_hand.shape)}; "
              f"by hand vs module {by_hand_diff:.1e}")
        assert by_hand_diff < 1e-5
        assert torch.allclose(spatial, seen[f"spatial {finest}"]) and torch.allclose(channel, seen[f"channel {finest}"])
        """
    ),
    md(
        r"""
        ## Spatial and channel attention at every skip

        Per skip (coarse to fine): the low-level features $L$ and the projected, upsampled high-level features
        $\tilde H$ (mean |activation| over channels), the spatial map $S$ computed from $\tilde H$, $L \odot S$, and
        the channel weights $A$ computed from $L$. The cyan contour is the target.
        """
    ),
    code(
        """
        def energy(tensor):
            return tensor[0].abs().mean(0).cpu().numpy()

        def mask_like(mask, tensor):
            \"\"\"The full-resolution mask max-pooled to the tensor's level (the tensor may hold padding).\"\"\"
            scale = 2 ** round(np.log2(mask.shape[-1] / tensor.shape[-1]))
            pooled = F.max_pool2d(torch.from_numpy(mask).float()[None, None], scale, ceil_mode=True)[0, 0].numpy() > 0
            return pooled[: tensor.shape[-2], : tensor.shape[-1]]

        fig, axes = plt.subplots(len(skips), 5, figsize=(12, 2.4 * len(skips)), layout="constrained", squeeze=False)
        for k, skip in enumerate(skips):
            low_k, high_k = seen[f"skip {k}.inputs"]
            with torch.no_grad():
                high_up_k = upsample_to(skip.high_proj(high_k), low_k)
            spatial_k, channel_k = seen[f"spatial {k}"], seen[f"channel {k}"]
            target = mask_like(sample.mask, low_k)
            panels = [("L (encoder)", energy(low_k), "magma"), ("H~ (decoder, up)", energy(high_up_k), "magma"),
                      ("S = spatial attention", spatial_k[0, 0].cpu().numpy(), "viridis"),
                      ("L x S", energy(low_k * spatial_k), "magma")]
            for column, (title, image, cmap) in enumerate(panels):
                ax = axes[k, column]
                shown = ax.imshow(image, cmap=cmap, **({"vmin": 0, "vmax": 1} if column == 2 else {}))
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
                ax.contour(target, levels=[0.5], colors="cyan", linewidths=0.6)
                ax.set_title(f"skip {k}, {low_k.shape[-2]}x{low_k.shape[-1]}: {title}" if column == 0 else title, fontsize=8)
                ax.set_axis_off()
            axes[k, 4].bar(range(channel_k.shape[1]), channel_k[0, :, 0, 0].cpu().numpy())
            axes[k, 4].set_ylim(0, 1)
            axes[k, 4].set_xlabel("channel", fontsize=8)
            axes[k, 4].set_ylabel("weight", fontsize=8)
            axes[k, 4].set_title(f"A = channel attention ({channel_k.shape[1]} ch)", fontsize=8)

        # Every model's spatial map at every skip, on one scale: the full-width release beside the CPU one.
        outputs = {name: (seen if each is fit else skip_outputs(each, sample)) for name, each in fits.items()}
        n_skips = max(len(each.model.decoder) for each in fits.values())
        fig, axes = plt.subplots(len(fits), n_skips, figsize=(2.6 * n_skips, 2.6 * len(fits)), layout="constrained",
                                 squeeze=False)
        for row, (name, out) in enumerate(outputs.items()):
            for k in range(n_skips):
                ax = axes[row, k]
                ax.set_axis_off()
                if f"spatial {k}" not in out:
                    continue
                spatial_k = out[f"spatial {k}"][0, 0].cpu().numpy()
                shown = ax.imshow(spatial_k, cmap="viridis", vmin=0, vmax=1)
                ax.contour(mask_like(sample.mask, out[f"spatial {k}"]), levels=[0.5], colors="cyan", linewidths=0.6)
                ax.set_title(f"{name.split(' ')[0]}\\nskip {k}: S in [{spatial_k.min():.2f}, {spatial_k.max():.2f}]", fontsize=7)
        fig.colorbar(shown, ax=axes, fraction=0.02, pad=0.01, label="spatial attention S")
        """
    ),
    md(
        r"""
        ## The literal reading, side by side

        Read literally, the sentence applies each attention to the level it is computed from:
        $\tilde H' = \tilde H \odot S$ and $L' = L \odot A$, joined by a gate $g = \sigma(W_g * [L', \tilde H'])$,
        $g \odot L' + (1-g) \odot \tilde H'$, not by concatenation (`msic_reading="literal"`). Both readings compute
        the *same* maps $S$ (from $\tilde H$) and $A$ (from $L$); they differ in which stream each map re-weights and in
        how the streams are joined. Below, an MSIC of the literal reading is given this model's projection and
        attention weights (its gate and fusion are new) and run on the same skip inputs: its maps equal the crossed
        module's, and the four re-weighted streams are drawn on one colour scale.
        """
    ),
    code(
        """
        literal = MSIC(low.shape[1], high.shape[1], reading="literal").to(ctx.device).eval()
        shared = {k: v for k, v in msic.state_dict().items() if k.split(".")[0] in ("high_proj", "spatial", "channel")}
        missing, unexpected = literal.load_state_dict(shared, strict=False)
        assert not unexpected and all(k.split(".")[0] in ("gate", "fuse") for k in missing)
        with torch.no_grad(), workbook.capture_outputs({"spatial": literal.spatial, "channel": literal.channel}) as literal_seen:
            literal(low, high)
        same_maps = bool(torch.allclose(literal_seen["spatial"], spatial, atol=1e-6) and torch.allclose(literal_seen["channel"], channel, atol=1e-6))
        print(f"literal reading: same S and A as the crossed module: {same_maps}")

        streams = {"crossed: L x S": low * spatial, "crossed: H~ x A": high_up * channel,
                   "literal: H~ x S": high_up * spatial, "literal: L x A": low * channel}
        target = mask_like(sample.mask, low)
        near, far = ndimage.binary_dilation(target, iterations=1), ~ndimage.binary_dilation(target, iterations=3)
        fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), layout="constrained")
        vmax = max(float(t[0].abs().mean(0).max()) for t in streams.values())
        stream_ratios = {}
        for ax, (title, tensor) in zip(axes, streams.items()):
            e = tensor[0].abs().mean(0).cpu().numpy()
            inside = e[: target.shape[0], : target.shape[1]]  # the image's own area, without the padding
            stream_ratios[title] = float(inside[near].mean() / max(inside[far].mean(), 1e-12))
            shown = ax.imshow(e, cmap="magma", vmin=0, vmax=vmax)
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label="mean |activation|")
            ax.contour(target, levels=[0.5], colors="cyan", linewidths=0.6)
            ax.set_title(f"{title}\\ntarget/background {stream_ratios[title]:.2f}", fontsize=8)
            ax.set_axis_off()
        count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
        print(f"parameters of this skip: crossed {count(msic)}, literal {count(literal)}")
        print(workbook.measured_readings(["default", "msic_literal"]))
        """
    ),
    md(
        r"""
        In the crossed reading the fine encoder features are masked by where the decoder thinks the target is; in the
        literal one the decoder's own features are, and the encoder features are only re-weighted per channel. Which
        one trains better is measured, not argued: the lines above come from `results/readings.json`
        (`scripts/measure_readings.py`), also in [docs/PAPER_READING.md](../docs/PAPER_READING.md), row 1. The
        workbook keeps `"crossed"` as its default, the reading every released checkpoint was trained with.
        """
    ),
    md(
        r"""
        ## What compensation changes

        Over all test images that hold a target, per skip: how much the spatial map changes the encoder features,
        $\lVert L\odot S - L\rVert / \lVert L\rVert$, and the target-to-background energy ratio of $L$ before and after it.
        A U-Net skip (`ConcatSkip`) would pass $L$ through unchanged.
        """
    ),
    code(
        """
        rows = {k: {"change": [], "before": [], "after": [], "s_min": [], "s_max": [], "a_min": [], "a_max": []} for k in range(len(skips))}
        for s in test_samples:
            out = skip_outputs(fit, s)
            for k in range(len(skips)):
                low_k, _ = out[f"skip {k}.inputs"]
                spatial_k, channel_k = out[f"spatial {k}"], out[f"channel {k}"]
                compensated = low_k * spatial_k
                target = mask_like(s.mask, low_k)
                near = ndimage.binary_dilation(target, iterations=1)
                far = ~ndimage.binary_dilation(target, iterations=3)
                for key, tensor in (("before", low_k), ("after", compensated)):
                    e = energy(tensor)[: target.shape[0], : target.shape[1]]
                    rows[k][key].append(e[near].mean() / max(e[far].mean(), 1e-12))
                rows[k]["change"].append(float((compensated - low_k).norm() / low_k.norm()))
                rows[k]["s_min"].append(float(spatial_k.min()))
                rows[k]["s_max"].append(float(spatial_k.max()))
                rows[k]["a_min"].append(float(channel_k.min()))
                rows[k]["a_max"].append(float(channel_k.max()))
                rows[k].setdefault("s_spread", []).append(float(spatial_k.max() - spatial_k.min()))

        per_skip = []
        for k, values in rows.items():
            summary = {"skip": k, "change": float(np.mean(values["change"])),
                       "target_ratio_before": float(np.mean(values["before"])),
                       "target_ratio_after": float(np.mean(values["after"])),
                       "spatial_spread": float(np.mean(values["s_spread"]))}
            per_skip.append(summary)
            print(f"skip {k}: ||L S - L|| / ||L|| = {summary['change']:.3f}; target/background energy "
                  f"{summary['target_ratio_before']:.2f} -> {summary['target_ratio_after']:.2f}; "
                  f"spread of S (max - min, mean over images) {summary['spatial_spread']:.3f}")

        concat = ConcatSkip(8, 16)
        msic_small = MSIC(8, 16)
        count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
        print(f"parameters for a (8, 16) skip: U-Net concatenation {count(concat)}, MSIC {count(msic_small)}")
        """
    ),
    md(
        r"""
        The spatial map is the decoder telling the encoder features where to look: where $S<1$ it damps them. It
        changes the skip substantially (the relative change above), unlike a U-Net skip, which passes $L$ unchanged.
        Whether the target's share of the energy grows at a skip (ratio after > before) depends on how well the
        decoder has located the target at that scale: read the numbers above, and compare them with a briefly trained
        model's (`CHECKPOINT = ""`), whose maps are nearly flat. The channel weights $A$ are
        one number per channel for the whole image: they select which decoder channels pass, using the encoder's
        statistics. Whether all this pays off is the ablation's question (GCFLNet with and without MSIC).
        """
    ),
    code(
        """
        spatial_min = min(min(v["s_min"]) for v in rows.values())
        spatial_max = max(max(v["s_max"]) for v in rows.values())
        channel_min = min(min(v["a_min"]) for v in rows.values())
        channel_max = max(max(v["a_max"]) for v in rows.values())
        skip_change = float(np.mean([row["change"] for row in per_skip]))
        assert 0.0 <= spatial_min <= spatial_max <= 1.0 and 0.0 <= channel_min <= channel_max <= 1.0
        assert skip_change > 0.0
        assert same_maps  # the readings differ in where the maps are applied, not in the maps
        # A trained MSIC's spatial map is not flat: at its most selective skip it spans more than SPREAD_BOUND of
        # (0, 1) on every image on average: the released models about 0.8 on these NUAA-SIRST images, a small model
        # after 20 steps about 0.4.
        SPREAD_BOUND = 0.5
        max_spread = max(row["spatial_spread"] for row in per_skip)
        if MODELS:
            assert max_spread > SPREAD_BOUND, per_skip

        workbook.record_results("06_msic", {
            "skip_change_relative": skip_change,
            "spatial_attention_min": spatial_min,
            "spatial_attention_max": spatial_max,
            "channel_attention_min": channel_min,
            "channel_attention_max": channel_max,
            "per_skip": per_skip,
            "by_hand_max_abs_diff": by_hand_diff,
            "literal_stream_target_ratios": stream_ratios,
            "max_spatial_spread": max_spread,
            "models": list(MODELS.values()),
            "dataset": ctx.dataset,
            "n_images": len(test_samples),
            "checkpoint": bool(MODELS),
            "train_steps": len(fit.losses),
        }, RESULTS_DIR)
        """
    ),
    ending("06", """
        MSIC projects the coarser decoder features to the skip's width, derives spatial attention from them and
        channel attention from the encoder features, and fuses the two re-weighted streams. Its attentions stay in
        $[0, 1]$ and change the skip features measurably, which is the compensation the paper describes.
        """, [
        ("From `per_skip`, which skip's spatial attention varies most (max minus min)? Relate it to that level's resolution.",
         """
         Usually the finest skip. At full resolution the map can single out the few target pixels against a large,
         flat background, so it spans a wide range. At coarse levels each position already summarises a large area,
         and the projected, upsampled features there are smooth, so the map varies less. A briefly trained model's
         ranges are small everywhere; the ordering is what to read.
         """),
        ("Redraw the architecture with `draw_architecture(fit.model.config, highlight='msic')` and count the MSICs: why one fewer than the encoder levels?",
         """
         There is one MSIC per skip connection, and a U-Net with $L$ encoder levels has $L - 1$ skips. The deepest
         level, the bottleneck, feeds the decoder directly, and an MSIC needs the next coarser level's features $H$
         to compute its spatial map, which the deepest level lacks.
         """),
        ("Set `CHECKPOINT = \"\"` (a small model trained here for `TRAIN_STEPS` steps, 20 with `SMOKE = True`) and compare "
         "`skip_change` and `max_spread` with the released model's.",
         """
         Both are smaller: on the first four NUAA-SIRST test images with targets, after 20 steps (`SMOKE = True`)
         `skip_change` is about 0.48 and `max_spread` about 0.41, against about 0.72 and 0.84 for the released CPU
         model. The attentions of a briefly trained model have moved less from their start, so they re-weight the skip
         features less and single out the target region less sharply. Its size after a few steps says little about
         the trained network.
         """),
    ], """
        Skip connections have been redesigned many times: Attention U-Net (Oktay et al., 2018) gates each skip with
        decoder features, UNet++ (Zhou et al., 2018) nests them, and ACM (Dai et al., WACV 2021) modulates top-down
        and bottom-up asymmetrically, the closest relative of MSIC for infrared targets. Which features each of
        MSIC's attentions re-weights is open (`docs/PAPER_READING.md`, rows 1-2); the `crossed` and `literal` readings
        can be compared with notebook 09's tools, several seeds each.
        """),
]
