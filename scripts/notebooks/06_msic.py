"""Generator of notebooks/06_msic.ipynb."""

from _cells import (DISSECTION_PARAMETERS, about, checks, code, dissection_setup, ending, md, standard_parameters, top,
                    where_it_sits)

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

        The paper does not say which features each attention re-weights. The reading the first released GCFLNets were
        trained with, `msic_reading="crossed"` (the default until the pre-registered rule chose `"unit_gain"`, below):
        the attention maps are *computed* where the paper says, and each *modulates the other level*, which is what
        makes it a compensation (the other reading, `"literal"`, is compared below). With low-level features $L$
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

        where $\phi$ is a $1\times1$ conv-BN-ReLU to $C$ channels and "up" is bilinear. The intent: the decoder's sense
        of *where* the target is ($S$) weights the detailed but noisy encoder features; the encoder's sense of *which
        channels matter* ($A$) sharpens the coarse decoder features.

        **What this notebook finds, before the details.** In every GCFLNet trained with `crossed` the spatial map $S$
        of the two finest skips (levels 0 and 1) has learned to be almost zero everywhere, at the target most of all:
        those skips are shut, and the decoder sees nothing finer than quarter resolution. The sections "The finest
        skips are shut" and "Why a sigmoid gate shuts at a small bright target" measure it and explain it; "The
        `unit_gain` reading" shows the form of MSIC built so that it cannot start shut, and the same measurements on
        the release retrained with it.

        We look at $S$, $A$ and their effect on the real features of trained GCFLNets on NUAA-SIRST test images
        (`CHECKPOINT = "auto"`, files in `checkpoints/README.md`): first the earlier CPU-recipe release trained with
        `crossed` (`gcflnet-cpu-nuaa-sirst-crossed`), then the full-width release (`gcflnet-nuaa-sirst`, also
        `crossed`), then the current CPU-recipe release (`gcflnet-cpu-nuaa-sirst`, the same recipe retrained with
        `unit_gain`), each where its file is present. Without the dataset they are taken apart on generated scenes
        (one line says so); `CHECKPOINT = ""` trains a small `crossed` model briefly here instead, the exercise at the
        end.
        """
    ),
    about("06", [
        'how MSIC replaces the U-Net skip: spatial attention from the high level, channel attention from the low level',
        'the attention maps of the released GCFLNets at every skip, on real infrared images, with their ranges',
        'how much MSIC changes the skip features compared with plain concatenation',
        'the literal reading beside the crossed one: the same attention maps, applied to the other level',
        'how to tell whether a skip is in use (kept ratio, shuffle test), and why the crossed GCFLNets shut their two finest skips',
        'the unit_gain reading: the paper\'s assignment at unit gain, the identity when training starts, and its released model with its finest skips in use',
    ], ['04', '05'], 'the released GCFLNets (crossed and unit_gain CPU recipe, full width where present) on NUAA-SIRST test images',
        open_rows="rows 1 (which features each attention reads and re-weights) and 2 (how the two maps are joined)"),
    standard_parameters("a tiny model and a few steps", data="auto", extra=DISSECTION_PARAMETERS.rstrip() + """
    READINGS_JSON = "../results/ablation_nudt_msic_unit_gain.json"  # MSIC's readings measured (scripts/ablation_report.py)
    """),
    dissection_setup(
        """
        import json
        from pathlib import Path

        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        from IPython.display import Markdown, display
        import torch.nn.functional as F
        from scipy import ndimage

        from gcflnet_lib import workbook
        from gcflnet_lib.nn import MSIC, ConcatSkip, upsample_to
        """,
        """
        skips = list(model.decoder)  # decoder[k] works at level levels-2-k: coarsest skip first
        assert all(isinstance(skip, MSIC) for skip in skips)
        """,
        # The first model is the crossed release where present: the sections below take that form apart, and a model
        # trained here (CHECKPOINT = "") is built with it too. The unit_gain release has its own section.
        readings='msic_reading="crossed"', crossed=True,
    ),
    *where_it_sits("msic", "the MSIC of every level"),
    md(
        r"""
        ## One MSIC by hand

        Capture the inputs of every skip with forward hooks, recompute the finest one from the equations and compare.
        Both readings compute the same maps, $S$ from $\tilde H$ and $A$ from $L$; `crossed` applies each to the other
        level, `unit_gain` to its own level at gain 2.
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
            if msic.reading == "crossed":
                by_hand = msic.fuse(torch.cat([low * spatial, high_up * channel], dim=1))
            else:  # unit_gain: each map re-weights the features it is computed from, at gain 2
                by_hand = msic.fuse(torch.cat([2 * low * channel, 2 * high_up * spatial], dim=1))
        by_hand_diff = float((by_hand - seen[f"skip {finest}"]).abs().max())
        print(f"{label}, finest skip ({msic.reading}): low {tuple(low.shape)}, high {tuple(high.shape)} -> "
              f"{tuple(by_hand.shape)}; by hand vs module {by_hand_diff:.1e}")
        assert by_hand_diff < 1e-5
        assert torch.allclose(spatial, seen[f"spatial {finest}"]) and torch.allclose(channel, seen[f"channel {finest}"])
        """
    ),
    md(
        r"""
        ## Spatial and channel attention at every skip

        Per skip (coarse to fine): the low-level features $L$ and the projected, upsampled high-level features
        $\tilde H$ (mean |activation| over channels), the spatial map $S$ computed from $\tilde H$, the skip as it
        enters the fusion $L'$ ($L \odot S$ under `crossed`), and the channel weights $A$ computed from $L$. The cyan
        contour is the target.
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
                skip_in_k = skip.skip_output(low_k, high_k)
            spatial_k, channel_k = seen[f"spatial {k}"], seen[f"channel {k}"]
            target = mask_like(sample.mask, low_k)
            panels = [("L (encoder)", energy(low_k), "magma"), ("H~ (decoder, up)", energy(high_up_k), "magma"),
                      ("S = spatial attention", spatial_k[0, 0].cpu().numpy(), "viridis"),
                      ("L' = L x S" if skip.reading == "crossed" else "L' (skip into the fusion)",
                       energy(skip_in_k), "magma")]
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
                reading = fits[name].model.config["msic_reading"]  # crossed: S weights L; unit_gain: S weights H~
                ax.set_title(f"{name.split(' ')[0]} ({reading})\\nskip {k}: S in [{spatial_k.min():.2f}, {spatial_k.max():.2f}]",
                             fontsize=7)
        fig.colorbar(shown, ax=axes, fraction=0.02, pad=0.01, label="spatial attention S");
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
        literal one the decoder's own features are, and the encoder features are only re-weighted per channel. The
        lines above come from `results/readings.json` (`scripts/measure_readings.py`, one 30-epoch run per reading,
        also in [docs/PAPER_READING.md](../docs/PAPER_READING.md), row 1). Read them with the `default_seed1` line:
        the same default reading trained with another seed moves mIoU about as far as any reading does, so one run
        per reading at this length cannot rank the readings. The longer factorial at the end of this notebook does, by
        a rule written down before its runs: it chose the default (docs/ABLATION.md). The first released GCFLNets were
        trained with `"crossed"`; the CPU-recipe ones were then retrained with the chosen default.
        """
    ),
    md(
        r"""
        ## The finest skips are shut

        Two measurements tell whether the decoder still uses a skip (`gcflnet_lib.diagnostics.skip_health`, the
        same as `gcflnet inspect` on the command line):

        - the **kept ratio** $\lVert L' \rVert / \lVert L \rVert$, where $L'$ is the skip as it enters the fusion
          ($L \odot S$ here; a U-Net passes $L$ unchanged, ratio 1);
        - the **shuffle test**: the encoder features entering one skip are moved to random positions, one permutation
          for all channels. Each channel keeps its values, so its mean and maximum (what a pooled attention sees) are
          unchanged; only the spatial detail is gone. If no output probability moves by 0.05, the skip is *dead*.

        Below for each model taken apart, and for its U-Net partner (same recipe, plain skips) where it is released,
        on the crops `gcflnet inspect` measures: the first ten test images that hold a target, 128x128 around the
        largest one (generated scenes: the few above). A released model's table is therefore its skip-health record
        (`results/health/NAME.json`), and the cell checks that it is. On fewer crops a skip used by few pixels can
        read as dead: the coarsest skip of the `unit_gain` NUAA-SIRST release moves the output at 2 pixels of the ten
        crops, so on the first four alone it would.
        """
    ),
    code(
        """
        from gcflnet_lib.commands.inspect import format_table
        from gcflnet_lib.engine.checkpoint import load_model_from_checkpoint
        from gcflnet_lib.engine.health import health_of_samples
        from gcflnet_lib.data.dataset import load_split
        from gcflnet_lib.engine.health import HEALTH_CROP_SIZE, HEALTH_CROPS
        from gcflnet_lib.released import available

        if ctx.synthetic:  # generated scenes: the samples above, cropped to what they allow
            health_samples, health_count = test_samples, len(test_samples)
            health_size = min(128, min(min(s.image.shape) for s in test_samples) // 16 * 16)
        else:  # the crops of `gcflnet inspect` and of the releases' skip-health records
            health_samples, health_count, health_size = load_split(ctx.data_dir, ctx.dataset, "test"), HEALTH_CROPS, HEALTH_CROP_SIZE
        health = {}
        for name, each in fits.items():
            health[name] = health_of_samples(each.model, health_samples, each.mean, each.std, count=health_count,
                                             size=health_size)
        partners = {}
        for name, checkpoint in MODELS.items():
            partner = str(checkpoint).replace("gcflnet", "unet", 1)
            if partner in available():
                unet_model, unet_meta = load_model_from_checkpoint(partner, ctx.device)
                partners[partner] = health_of_samples(unet_model, health_samples, unet_meta["norm"]["mean"],
                                                      unet_meta["norm"]["std"], count=health_count, size=health_size)
        for name, report in {**health, **partners}.items():
            print(f"{name}, {len(report.names)} crops of {health_size}x{health_size}:")
            print(format_table(report))
            print()

        fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained")
        for index, (name, report) in enumerate({**health, **partners}.items()):
            levels = [item.level for item in report.levels]
            offset = (index - (len(health) + len(partners) - 1) / 2) * 0.18
            axes[0].bar([level + offset for level in levels], [max(item.kept_ratio, 1e-4) for item in report.levels],
                        width=0.18, label=name.split(" ")[0])
            axes[1].bar([level + offset for level in levels], [max(item.max_probability_change, 1e-8) for item in report.levels],
                        width=0.18, label=name.split(" ")[0])
        axes[0].set(yscale="log", xlabel="skip level (0 = full resolution)", ylabel="kept ratio",
                    title="how much of each skip reaches the fusion")
        axes[1].set(yscale="log", xlabel="skip level (0 = full resolution)", ylabel="largest probability change",
                    title="shuffle test: does the output notice?")
        axes[1].axhline(0.05, color="0.3", lw=0.8, ls=":")
        axes[0].legend(fontsize=7, loc="lower right")
        dead = {name: report.dead_levels for name, report in health.items()}
        for name, levels in dead.items():
            shut = ", ".join(f"level {level}" for level in levels) or "none"
            print(f"{name}: dead skips: {shut}; levels 0 and 1 shuffled together: crop IoU "
                  f"{health[name].fine.iou_before:.3f} -> {health[name].fine.iou_after:.3f}")
        for name, report in partners.items():
            print(f"{name}: dead skips: {', '.join(map(str, report.dead_levels)) or 'none'}; levels 0 and 1 shuffled "
                  f"together: crop IoU {report.fine.iou_before:.3f} -> {report.fine.iou_after:.3f}")
        # A released model measured on its record's crops gives its record (the same statuses, the same largest change).
        checked = []
        for name, report in {**health, **partners}.items():
            record_file = workbook.REPO_ROOT / "results" / "health" / f"{MODELS.get(name, name)}.json"
            record = json.loads(record_file.read_text()) if record_file.is_file() else None
            if record is None or record["dataset"] != ctx.dataset or record["images"] != report.names:
                continue
            for item, kept in zip(report.levels, record["levels"], strict=True):
                assert item.status == kept["status"], (name, item.level, item.status, kept["status"])
                assert abs(item.max_probability_change - kept["max_probability_change"]) < 1e-3, (name, item.level)
            checked.append(name)
        print(f"the same as their skip-health records: {', '.join(checked) or 'none (not the crops of a record)'}")
        """
    ),
    md(
        r"""
        ## Why a sigmoid gate shuts at a small bright target

        The gate is $S = \sigma(z)$ with $z = \mathrm{conv}_{7\times7}[\operatorname{mean}_c \tilde H, \max_c \tilde H]$.
        $\tilde H$ comes out of a BatchNorm and a ReLU: its channels are standardised over the whole batch, so at a
        small bright target, a few pixels in a large background, they sit many standard deviations above their mean.
        Training makes the $7\times7$ weights on that peak negative (it pays, early on, to damp the noisy fine
        features wherever the decoder is excited, which is where false alarms come from too), and the large input
        drives $z$ far below zero. There $\sigma(z) \approx e^{z}$ and its slope $\sigma'(z) = \sigma(z)(1-\sigma(z))$ is
        as small: the gradient that could open the gate again vanishes with the gate itself. Below, $z$ at target and
        background pixels of the two finest skips of each `crossed` model, and the slope at the target:
        """
    ),
    code(
        """
        gate_rows = []
        crossed_fits = {name: each for name, each in fits.items() if each.model.config["msic_reading"] == "crossed"}
        for name, each in crossed_fits.items():
            out = seen if each is fit else skip_outputs(each, sample)
            levels = len(each.model.decoder)
            for k in (levels - 1, levels - 2):  # the finest skip is decoder[-1] (level 0), then level 1
                skip_k = each.model.decoder[k]
                low_k, high_k = out[f"skip {k}.inputs"]
                with torch.no_grad():
                    up = upsample_to(skip_k.high_proj(high_k), low_k)
                    z = skip_k.spatial.conv(torch.cat([up.mean(1, keepdim=True), up.amax(1, keepdim=True)], dim=1))[0, 0]
                target = torch.from_numpy(mask_like(sample.mask, low_k))
                z_inside = z[: target.shape[0], : target.shape[1]]
                at_target, background = z_inside[target], z_inside[~target]
                slope = torch.sigmoid(at_target) * (1 - torch.sigmoid(at_target))
                gate_rows.append({"model": name.split(" ")[0], "level": levels - 1 - k,
                                  "z_target_median": float(at_target.median()), "z_background_median": float(background.median()),
                                  "slope_target_max": float(slope.max())})
        for row in gate_rows:
            print(f"{row['model']}, skip level {row['level']}: z at the target (median) {row['z_target_median']:+.1f}, "
                  f"on the background {row['z_background_median']:+.1f}; largest slope of the sigmoid at the target "
                  f"{row['slope_target_max']:.1e}")
        """
    ),
    md(
        r"""
        A slope of $10^{-4}$ or less means that a loss gradient of order one reaches the gate's weights multiplied by
        that much: the gate stays where training left it. Nothing in the `crossed` form stops this. The `literal`
        reading multiplies every path by sigmoids in $(0, 1)$ too, so the same can happen there.

        ## The `unit_gain` reading

        The form built to avoid it (`msic_reading="unit_gain"`, `gcflnet_lib/nn/msic.py`) follows the paper's
        assignment, spatial attention on the high-level features and channel attention on the low-level ones, each
        computed from the features it re-weights, and gives every modulation unit gain when training starts:

        $$
        L' = 2\,L \odot \sigma(\mathrm{MLP}(\cdot)), \qquad \tilde H' = 2\,\tilde H \odot \sigma(\mathrm{conv}_{7\times7}(\cdot)),
        \qquad \text{out} = \mathrm{ResBlock}([L', \tilde H']),
        $$

        with the last layer of each attention zero-initialised, so $\sigma(0) = 0.5$ and $2 \times 0.5 = 1$: at step 0
        MSIC passes both inputs through unchanged. It is still attention-based modulation, and a gate can still learn
        to close, but it does not start half shut, and it can amplify as well as damp. The identity, checked:
        """
    ),
    code(
        """
        torch.manual_seed(SEED)
        fresh = MSIC(low.shape[1], high.shape[1], reading="unit_gain").to(ctx.device).eval()
        with torch.no_grad():
            passes_skip = bool(torch.equal(fresh.skip_output(low, high), low))
            as_concatenation = bool(torch.equal(fresh(low, high), fresh.fuse(torch.cat([low, upsample_to(fresh.high_proj(high), low)], dim=1))))
        print(f"unit_gain at initialisation: the skip passes unchanged: {passes_skip}; the output equals the fusion of "
              f"the plain concatenation: {as_concatenation}")
        assert passes_skip and as_concatenation

        from gcflnet_lib.ablation.render_msic import conclusion, plot_gate
        readings_analysis = json.loads(Path(READINGS_JSON).read_text())
        display(Markdown(conclusion(readings_analysis)))
        plot_gate(readings_analysis["gate_histories"]);
        """
    ),
    md(
        r"""
        The figure follows the skip gate of every run that logged it (every 2 epochs, `--health-every 2`): the
        `crossed` + MSIC run trained again on NUDT-SIRST, and the `unit_gain` runs of the second factorial as they land
        ([docs/ABLATION.md](../docs/ABLATION.md), "MSIC's readings, measured"). The conclusion above is generated from
        those records, as is the choice of the default reading, by a rule written down before the runs started.
        """
    ),
    md(
        r"""
        ### The retrained release, on its own weights

        The current CPU-recipe release (`gcflnet-cpu-nuaa-sirst`) is the same recipe and seed as
        `gcflnet-cpu-nuaa-sirst-crossed`, trained with `unit_gain`. Below, for every model taken apart, the two finest
        skips side by side: the kept ratio $\lVert L' \rVert / \lVert L \rVert$ and the skip's mean gain on target
        pixels (from the skip-health reports above), and the shuffle test of both levels together. For a `unit_gain`
        model the skip's gain is one number per channel, $2A$; the spatial map now re-weights $\tilde H$ as
        $2S$, printed at the target and on the background:
        """
    ),
    code(
        """
        reading_rows = []
        for name, each in fits.items():
            report = health[name]
            row = {"model": name.split(" ")[0], "reading": each.model.config["msic_reading"],
                   "kept": [report.levels[level].kept_ratio for level in (0, 1)],
                   "gain_target": [report.levels[level].gain_target for level in (0, 1)],
                   "fine_iou": [report.fine.iou_before, report.fine.iou_after], "dead": report.dead_levels}
            reading_rows.append(row)
            print(f"{row['model']} ({row['reading']}): kept ratio at levels 0 / 1 {row['kept'][0]:.3f} / {row['kept'][1]:.3f}, "
                  f"gain on target pixels {row['gain_target'][0]:.2e} / {row['gain_target'][1]:.2e}; levels 0+1 shuffled: "
                  f"crop IoU {row['fine_iou'][0]:.3f} -> {row['fine_iou'][1]:.3f}; dead skips: "
                  f"{', '.join(map(str, row['dead'])) or 'none'}")
            if row["reading"] != "unit_gain":
                continue
            out = seen if each is fit else skip_outputs(each, sample)
            levels = len(each.model.decoder)
            for k in (levels - 1, levels - 2):
                skip_k = each.model.decoder[k]
                low_k, high_k = out[f"skip {k}.inputs"]
                with torch.no_grad():
                    up = upsample_to(skip_k.high_proj(high_k), low_k)
                    channel_gain = 2 * skip_k.channel(low_k).flatten()
                    spatial_gain = 2 * skip_k.spatial(up)[0, 0]
                target = torch.from_numpy(mask_like(sample.mask, low_k))
                inside = spatial_gain[: target.shape[0], : target.shape[1]]
                print(f"    level {levels - 1 - k}: skip gain 2A over {channel_gain.numel()} channels "
                      f"{float(channel_gain.min()):.2f} .. {float(channel_gain.max()):.2f} (median "
                      f"{float(channel_gain.median()):.2f}); decoder gain 2S at the target {float(inside[target].median()):.2f}, "
                      f"on the background {float(inside[~target].median()):.2f} (medians)")
        """
    ),
    md(
        r"""
        Under `unit_gain` nothing multiplies a skip by a per-pixel map, so the saturation at a bright target that shut
        the `crossed` skips has no handle on them: the skip is scaled per channel, and the shuffle test shows that the
        decoder uses its detail. The spatial map now re-weights the decoder's own, coarser features (its gain at the
        target and on the background is printed above). Whether that is better for detection is the factorial's
        question; the model card gives both releases' scores on the same test split.
        """
    ),
    md(
        r"""
        ## What compensation changes

        Over all test images that hold a target, per skip of the first model: how much MSIC changes the encoder
        features on their way into the fusion, $\lVert L' - L\rVert / \lVert L\rVert$ ($L' = L\odot S$ under
        `crossed`), and the target-to-background energy ratio of $L$ before and after it. A U-Net skip (`ConcatSkip`)
        would pass $L$ through unchanged.
        """
    ),
    code(
        """
        rows = {k: {"change": [], "before": [], "after": [], "s_min": [], "s_max": [], "a_min": [], "a_max": []} for k in range(len(skips))}
        for s in test_samples:
            out = skip_outputs(fit, s)
            for k in range(len(skips)):
                low_k, high_k = out[f"skip {k}.inputs"]
                spatial_k, channel_k = out[f"spatial {k}"], out[f"channel {k}"]
                with torch.no_grad():
                    compensated = skips[k].skip_output(low_k, high_k)  # L x S under crossed
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
            print(f"skip {k}: ||L' - L|| / ||L|| = {summary['change']:.3f}; target/background energy "
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
        Under `crossed` the spatial map damps the encoder features wherever $S<1$. At the two finest skips of the
        `crossed` releases it damps them almost to nothing (a relative change near 1 above, and the dead skips of the shuffle test): that
        is not a cleaning of the skip but its removal. At the coarser skips it is a real re-weighting. Compare a
        briefly trained model (`CHECKPOINT = ""`), whose maps are nearly flat and whose skips are all open. The channel weights $A$ are
        one number per channel for the whole image: they select which decoder channels pass, using the encoder's
        statistics. Whether all this pays off is the ablation's question (GCFLNet with and without MSIC).
        """
    ),
    checks(
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
            # The released crossed GCFLNets have shut levels 0 and 1 (the defect this notebook teaches); the release
            # retrained with unit_gain uses them (on generated scenes, a few crops, its coarsest skip may move no pixel
            # by 0.05), and the U-Net partners use every skip.
            for name, levels in dead.items():
                if fits[name].model.config["msic_reading"] == "crossed":
                    assert levels[:2] == [0, 1], (name, levels)
                if fits[name].model.config["msic_reading"] == "unit_gain":
                    assert not {0, 1} & set(levels), (name, levels)  # its finest skips are in use
            assert all(report.dead_levels == [] for report in partners.values())

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
            "dead_skip_levels": dead,
            "partner_dead_skip_levels": {name: report.dead_levels for name, report in partners.items()},
            "fine_shuffle_iou": {name: [report.fine.iou_before, report.fine.iou_after] for name, report in {**health, **partners}.items()},
            "gate_logits": gate_rows,
            "skips_by_reading": reading_rows,
            "unit_gain_identity_at_init": passes_skip and as_concatenation,
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
        channel attention from the encoder features, and fuses the two re-weighted streams. In the GCFLNets trained
        with `crossed` the spatial gate of the two finest skips has learned to shut them: the kept ratio and the shuffle
        test show it, and a sigmoid computed from standardised decoder features explains why it cannot reopen. The
        `unit_gain` reading starts as the identity; the conclusion above, generated from its records, says whether its
        runs kept their finest skips in use and which reading the pre-registered rule made the default, and the
        release retrained with it uses its finest skips.
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
