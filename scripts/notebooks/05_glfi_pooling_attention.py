"""Generator of notebooks/05_glfi_pooling_attention.ipynb."""

from _cells import about, checks, code, ending, md, standard_parameters, top, where_it_sits

CELLS = [
    top("05"),
    md(
        r"""
        # 05 · GLFI: dense and dilated sampling, and attention from two poolings

        The global-local feature interaction module (paper, Section 3.2) has three parts:

        1. **local features** from a standard $3\times3$ convolution *in parallel with* dilated $3\times3$ convolutions:
           *"dilated convolution can significantly enlarge the receptive field without increasing computational cost
           [...] However, [...] the sparse sampling pattern of dilated convolution may lead to the loss of fine local
           information. [...] standard convolution is introduced as a complementary branch"*;
        2. a point-wise convolution (PWConv) that fuses the features with EEM's edge features;
        3. **attention**: *"adaptive max pooling and adaptive average pooling [...] aggregate fused features along
           different spatial dimensions. [...] By performing matrix multiplication on the outputs of these two pooling
           operations, GLFI generates context-aware attention weights"*, which multiply the local features.

        The paper does not say which dimensions are pooled, nor whether the weights can suppress a feature.
        `gcflnet_lib.nn.GLFI` offers three readings:

        - `attention="outer"` (default): max over the width gives a column $r \in \mathbb R^{C\times H\times 1}$, mean over
          the height a row $c \in \mathbb R^{C\times 1\times W}$; their product is a full $H\times W$ map per channel,
          $A = \sigma(r\,c)$, a *spatial* attention in which each position sees its whole row and column;
        - `attention="signed"`: the same product computed from the fused features standardised per channel (BatchNorm,
          no ReLU), so that $r\,c$ can be negative and the weight can fall towards 0;
        - `attention="channel"`: global max and mean pooling give $C$-vectors; their outer product, softmax over the last
          axis, is a $C\times C$ map that mixes channels (a *channel* attention, like a tiny self-attention).

        `glfi_fc=True` adds the fully connected layer the paper names, on the pooled profiles' channels.

        This notebook measures the receptive fields, draws the pooled attention on features we understand, compares the
        readings, and then reads the attention of the trained GCFLNets on real NUAA-SIRST test images
        (`CHECKPOINT = "auto"`: the released CPU-recipe model and, beside it, the full-width release where present).
        """
    ),
    about("05", [
        'receptive fields of dense and dilated convolutions, measured with autograd',
        "GLFI's attention from max and mean pooling along rows and columns, drawn and checked by hand",
        'the readings of the attention (outer, signed, channel): which can suppress a feature, and what each does to target contrast',
    ], ['04'], 'NUAA-SIRST test images and the released GCFLNets (CPU recipe, and full width where present)',
        open_rows="rows 3 (can the attention suppress?), 4 (the fully connected layers), 5 (the shape of the attention) and 11 (where EEM's edges enter)"),
    standard_parameters("few small images", data="auto", extra="""
        CHECKPOINT = "auto"    # "auto": the released GCFLNets (CPU recipe, full width beside it); a path or name; "" none
        """),
    code(
        """
        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        import torch.nn.functional as F
        from scipy import ndimage

        from gcflnet_lib import diagnostics, workbook
        from gcflnet_lib.nn import GLFI, channel_attention_map, outer_attention
        from gcflnet_lib.ops import gradient_convergence, gradient_magnitude, spatial_gradient
        from gcflnet_lib.workbook.viz import annotate_cells, inside_shape, show_images

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE, dataset=DATASET)
        SMOKE = ctx.smoke  # "auto" resolved
        MODELS = workbook.dissection_checkpoints(CHECKPOINT, ctx.dataset)  # label -> checkpoint, read at the end
        samples = workbook.samples_with_targets(ctx, ctx.dataset, n=4 if SMOKE else 8, size=128 if SMOKE else 256)
        print(f"device {ctx.device}; {len(samples)} {ctx.dataset} test images holding targets; trained models: "
              + (", ".join(MODELS) or "none"))
        """
    ),
    *where_it_sits("glfi", "the GLFI of every level"),
    md(
        r"""
        ## Receptive fields, measured

        The receptive field of an output pixel is the set of input pixels it depends on. Measure it with autograd:
        the gradient of one centre output with respect to the input is non-zero exactly on that set. A $3\times3$
        convolution with dilation $d$ samples 9 taps spread over a $(2d+1)\times(2d+1)$ window:
        $\mathrm{RF} = 2d + 1$ for the same cost. Two dilated layers stacked show the price: a *checkerboard* of pixels
        that are never seen (the "gridding" the paper alludes to). Dense sampling before the dilated layer fills the
        holes, which is what the parallel dense branch and the stacking of GLFI blocks across levels provide.
        """
    ),
    code(
        """
        def receptive_field(layers, size=31):
            \"\"\"Bool (size, size) map of the input pixels the centre output of `layers` depends on.\"\"\"
            x = torch.zeros(1, 1, size, size, requires_grad=True)
            out = layers(x)
            out[0, :, size // 2, size // 2].sum().backward()
            return (x.grad[0, 0].abs() > 0).numpy()

        def conv(dilation):
            layer = torch.nn.Conv2d(1, 1, 3, padding=dilation, dilation=dilation, bias=False)
            torch.nn.init.constant_(layer.weight, 1.0)  # all taps active, so every dependency shows
            return layer

        fields = {
            "dense 3x3": receptive_field(conv(1)),
            "dilation 2": receptive_field(conv(2)),
            "dilation 3": receptive_field(conv(3)),
            "dilation 2, twice": receptive_field(torch.nn.Sequential(conv(2), conv(2))),
            "dense, then dilation 2": receptive_field(torch.nn.Sequential(conv(1), conv(2))),
        }

        def side(field):
            rows, cols = np.nonzero(field)
            return int(rows.max() - rows.min() + 1)

        def coverage(field):
            rows, cols = np.nonzero(field)
            return float(field[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1].mean())

        for name, field in fields.items():
            print(f"{name:>36}: receptive field {side(field)}x{side(field)}, taps {int(field.sum()):3d}, coverage {coverage(field):.2f}")
        show_images([f[8:23, 8:23] for f in fields.values()], list(fields), ncols=5, size=2.4, colorbar=True);
        """
    ),
    md(
        r"""
        GLFI's local branch runs one $3\times3$ convolution per rate (1, 2 and 3 by default) in parallel: receptive
        fields of 3, 5 and 7 pixels for 9 taps each; concatenated and reduced by $1\times1$, the block sees a
        $7\times7$ window whose centre is sampled densely.

        ## The pooled attention, drawn

        To see what the attention does, feed it features we understand: four channels computed from an image,
        its intensity, its gradient magnitude, its gradient convergence (notebook 01) and its local contrast
        (intensity minus a $9\times9$ mean), each standardised and rectified as a conv-BN-ReLU block would leave
        them (non-negative, unit scale). Then

        $$ r_{c,h} = \max_w F_{c,h,w}, \qquad \bar c_{c,w} = \frac1H\sum_h F_{c,h,w}, \qquad A_{c,h,w} = \sigma\big(r_{c,h}\,\bar c_{c,w}\big). $$
        """
    ),
    code(
        """
        def interpretable_features(image):
            \"\"\"(H, W) image -> (1, 4, H, W): intensity, |gradient|, convergence, local contrast; each
            standardised and rectified, like the output of a conv-BN-ReLU block.\"\"\"
            x = torch.from_numpy(image)[None, None].float()
            channels = [x, gradient_magnitude(*spatial_gradient(x)), gradient_convergence(x),
                        x - F.avg_pool2d(x, 9, stride=1, padding=4, count_include_pad=False)]
            return torch.cat([F.relu((c - c.mean()) / (c.std() + 1e-6)) for c in channels], dim=1)

        NAMES = ["intensity", "|gradient|", "convergence", "local contrast"]
        sample = next(s for s in samples if s.mask.any())
        features = interpretable_features(sample.image)

        attention = outer_attention(features)
        row_profile, column_profile = features.amax(dim=3, keepdim=True), features.mean(dim=2, keepdim=True)
        logits = row_profile @ column_profile
        by_hand_diff = float((torch.sigmoid(logits) - attention).abs().max())
        # Rank in float64 from float64 profiles: float32 rounding of r_h * c_w would look like extra rank.
        ranks = [int(torch.linalg.matrix_rank(row_profile[0, c].double() @ column_profile[0, c].double()))
                 for c in range(features.shape[1])]
        print(f"outer attention: by hand vs library {by_hand_diff:.1e}; rank of each channel's logit map: {ranks}; "
              f"values in [{float(attention.min()):.3f}, {float(attention.max()):.3f}]")
        assert by_hand_diff < 1e-6 and set(ranks) == {1}

        fig, axes = plt.subplots(3, 4, figsize=(10, 7.5), layout="constrained")
        for c, name in enumerate(NAMES):
            axes[0, c].imshow(features[0, c], cmap="gray")
            axes[0, c].set_title(name, fontsize=9)
            axes[1, c].plot(row_profile[0, c, :, 0], label="r: max over W, per row h")
            axes[1, c].plot(column_profile[0, c, 0], label="c: mean over H, per column w")
            axes[1, c].set_xlabel("row h / column w", fontsize=8)
            axes[1, c].set_ylabel("pooled feature", fontsize=8)
            shown = axes[2, c].imshow(attention[0, c], cmap="magma", vmin=0, vmax=1)
            fig.colorbar(shown, ax=axes[2, c], fraction=0.046, pad=0.02)
            axes[2, c].contour(sample.mask, levels=[0.5], colors="cyan", linewidths=0.6)
            axes[2, c].set_title("attention sigma(r c)", fontsize=9)
        fig.legend(*axes[1, 0].get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8,
                   title="middle row, the pooled profiles", title_fontsize=8)
        for ax in axes[[0, 2]].flat:
            ax.set_axis_off()
        """
    ),
    md(
        r"""
        Each channel's map is rank one, the product of a row profile and a column profile: a pattern of bands.
        The row that holds the target lights up across the whole width, because the max over $W$ keeps a small
        target's response however small it is; columns light up where the *average* is high (here partly the
        sensor's vertical stripes). Every position is weighted by global evidence along its row and column, the
        "long-range dependency" at the cost of two poolings. With non-negative features the logits are $\ge 0$,
        so the attention lies in $[0.5, 1)$: it re-weights by at most a factor 2 and never silences a feature.

        ## The two readings compared

        The same features through both attention types, and both GLFI variants built on four channels:
        """
    ),
    code(
        """
        channel_map = channel_attention_map(features)
        print("channel reading: a", tuple(channel_map.shape[1:]), "map, rows sum to", channel_map.sum(-1).flatten().tolist())
        mixed = torch.matmul(channel_map, features.flatten(2)).reshape(features.shape)
        weighted = features * attention

        def target_contrast(tensor, mask):
            \"\"\"Mean |activation| on the target over the mean on the background, per channel.\"\"\"
            energy = tensor[0].abs()
            far = torch.from_numpy(~ndimage.binary_dilation(mask, iterations=4))
            near = torch.from_numpy(mask)
            return [float(energy[c][near].mean() / energy[c][far].mean()) for c in range(energy.shape[0])]

        contrast = {"features": target_contrast(features, sample.mask),
                    "outer attention": target_contrast(weighted, sample.mask),
                    "channel attention": target_contrast(mixed, sample.mask)}
        for name, values in contrast.items():
            print(f"{name:>18}: target/background per channel", " ".join(f"{v:6.2f}" for v in values))

        fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), layout="constrained")
        shown = axes[0].imshow(channel_map[0], cmap="viridis")
        annotate_cells(axes[0], channel_map[0], shown, "{:.2f}", fontsize=7)  # black or white by the cell's luminance
        axes[0].set_xticks(range(4), NAMES, rotation=45, fontsize=7)
        axes[0].set_yticks(range(4), NAMES, fontsize=7)
        axes[0].set_title("channel reading: C x C map")
        fig.colorbar(shown, ax=axes[0])
        bound = float(weighted[0, 2].abs().max()) or 1.0
        fig.colorbar(axes[1].imshow(weighted[0, 2], cmap="RdBu_r", vmin=-bound, vmax=bound), ax=axes[1], fraction=0.046)
        axes[1].set_title("convergence x outer attention", fontsize=9)
        bound = float(mixed[0, 2].abs().max()) or 1.0
        fig.colorbar(axes[2].imshow(mixed[0, 2], cmap="RdBu_r", vmin=-bound, vmax=bound), ax=axes[2], fraction=0.046)
        axes[2].set_title("convergence row of the channel mix", fontsize=9)
        for ax in axes[1:]:
            ax.set_axis_off()

        modules = {reading: GLFI(4, edge_channels=4, attention=reading).eval() for reading in ("outer", "channel")}
        with torch.no_grad():
            outputs = {reading: module(features, features) for reading, module in modules.items()}
        parameters = {reading: sum(p.numel() for p in module.parameters()) for reading, module in modules.items()}
        print("GLFI(4) parameters per reading:", parameters, "| output shapes:", {k: tuple(v.shape) for k, v in outputs.items()})
        """
    ),
    md(
        r"""
        ## Can the attention suppress? `outer` and `signed` side by side

        The rectified features above are $\ge 0$, so $r\,c \ge 0$ and $\sigma(r\,c) \ge 0.5$ everywhere: the `outer`
        attention can halve a feature, never silence it. The `signed` reading (`GLFI(attention="signed")`) first
        standardises the fused features per channel with a BatchNorm that has no ReLU after it, then pools and
        multiplies as before. A position below its channel's mean becomes negative, so a row profile can be positive
        where a column mean is negative: the logit is negative there and the weight falls towards 0. Same image,
        same features, both maps on the same colour scale (the BatchNorm in training mode, at its initial scale 1
        and shift 0, checked against the standardisation by hand):
        """
    ),
    code(
        """
        module = GLFI(4, attention="signed").train()  # BatchNorm in training mode: statistics of this batch of one
        with torch.no_grad():
            normalised = module.attention_norm(features)
        variance = features.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        by_hand_normalised = (features - features.mean(dim=(0, 2, 3), keepdim=True)) / torch.sqrt(variance + module.attention_norm.eps)
        signed_by_hand_diff = float((normalised - by_hand_normalised).abs().max())
        signed_attention = outer_attention(normalised)
        below_half = {"outer": float((attention < 0.5).float().mean()), "signed": float((signed_attention < 0.5).float().mean())}
        print(f"outer: values in [{float(attention.min()):.3f}, {float(attention.max()):.3f}], below 0.5 at {below_half['outer']:.1%} of positions")
        print(f"signed: values in [{float(signed_attention.min()):.3f}, {float(signed_attention.max()):.3f}], "
              f"below 0.5 at {below_half['signed']:.1%} of positions")
        print(f"BatchNorm vs standardisation by hand: {signed_by_hand_diff:.1e}")

        shown_channels = [2, 3]  # convergence, local contrast
        fig, axes = plt.subplots(len(shown_channels), 2, figsize=(8, 3.6 * len(shown_channels)), layout="constrained")
        for row, c in enumerate(shown_channels):
            for column, (name, maps) in enumerate((("outer", attention), ("signed", signed_attention))):
                shown = axes[row, column].imshow(maps[0, c], cmap="magma", vmin=0, vmax=1)
                fig.colorbar(shown, ax=axes[row, column], fraction=0.046, pad=0.02, label="attention weight")
                axes[row, column].contour(sample.mask, levels=[0.5], colors="cyan", linewidths=0.6)
                axes[row, column].set_title(f"{NAMES[c]}: {name}", fontsize=9)
                axes[row, column].set_axis_off()
        """
    ),
    md(
        r"""
        **Which reading?** The *outer* reading produces what the paper's words describe, "the importance of features at
        different spatial locations": a per-position weight, keeping max-pooled small-target evidence in the spatial
        layout, but one that cannot suppress clutter. The *signed* reading keeps that shape and can suppress, for one
        BatchNorm per GLFI. The *channel* reading can only re-mix whole channels, so it cannot single out one location.
        Which trains better is measured, not argued: the lines below are read from `results/readings.json`
        (`scripts/measure_readings.py`; the table is in
        [docs/PAPER_READING.md](../docs/PAPER_READING.md), rows 3 to 5), with the `default_seed1` line beside them: the
        default trained again with another seed. The last line compares that seed spread with the readings' distance
        from the better seed. The workbook's default stays `"outer"`, the reading every released checkpoint was
        trained with.
        """
    ),
    code(
        """
        print(workbook.measured_readings(["default", "glfi_signed", "glfi_fc", "glfi_signed_fc", "glfi_channel"]))
        """
    ),
    md(
        r"""
        ## The attention of a trained GCFLNet

        Everything above used features we built by hand. In a trained GCFLNet every encoder level has a GLFI whose
        attention is computed from its fused features (the block's features and EEM's edges through the point-wise
        convolution): $A = \sigma(r\,c)$ as above, the released models' reading being `"outer"`. Forward hooks give each
        GLFI's inputs; from them the attention is recomputed, and the block's output by hand must equal the module's.
        Below, per level, the attention averaged over channels and the channel whose map varies most, for each trained
        model on the same real test image (cyan: the target). The model pads its input at the bottom and right to a
        multiple of 16 pixels, and every attention map carries that band, often as a bright stripe that would take the
        eye from the image; the maps are cut to the image's own area at each level,
        $\lceil H/2^l\rceil \times \lceil W/2^l\rceil$, so the padding band is cropped away, and the channel shown is
        the one that varies most inside the image. Bands still seen at the edges of the coarse levels are the border
        reaching in: each level's convolutions see zeros beyond the image, so the last few rows and columns respond to
        the step into the padding.
        """
    ),
    code(
        """
        def glfi_attention(fit, sample):
            \"\"\"Per level: the attention A (1, C, h, w) of the model's GLFI on ``sample``, recomputed from the block's
            hooked inputs, and the largest |by hand - module output|.\"\"\"
            blocks = {f"glfi {level}": block for level, block in enumerate(fit.model.glfi)}
            x = ((torch.from_numpy(sample.image)[None, None] - fit.mean) / fit.std).to(ctx.device)
            with torch.no_grad(), workbook.capture_outputs(blocks, inputs=True) as seen:
                fit.model(x)
            maps, worst = [], 0.0
            with torch.no_grad():
                for name, block in blocks.items():
                    features, edges = seen[f"{name}.inputs"]
                    fused = block.edge_fusion(features, edges)
                    weights = outer_attention(block.attention_norm(fused) if block.attention == "signed" else fused,
                                              block.fc if block.uses_fc else None)
                    local = block.reduce(torch.cat([branch(features) for branch in block.branches], dim=1))
                    worst = max(worst, float((local * weights + fused - seen[name]).abs().max()))
                    maps.append(weights)
            return maps, worst

        trained_attention = {}
        if MODELS:
            trained = {}
            for label, name in MODELS.items():  # loaded, not trained: this notebook trains nothing
                model, meta = workbook.load_trained_model(name, "gcflnet", ctx.device)
                trained[label] = workbook.QuickFit(model, float(meta["norm"]["mean"]), float(meta["norm"]["std"]), [])
            assert all(each.model.config["glfi_attention"] in ("outer", "signed") for each in trained.values())
            sample = samples[0]
            for label, each in trained.items():
                trained_attention[label], worst = glfi_attention(each, sample)
                print(f"{label}: GLFI by hand vs module, max |difference| {worst:.1e}")
                assert worst < 1e-4
            levels = max(len(maps) for maps in trained_attention.values())
            fig, axes = plt.subplots(2 * len(trained), levels, figsize=(2.5 * levels, 2.4 * 2 * len(trained)),
                                     layout="constrained", squeeze=False)
            for row, (label, maps) in enumerate(trained_attention.items()):
                for level, weights in enumerate(maps):
                    h, w = inside_shape(sample.mask.shape, level)  # the image's own area: the padding band cut away
                    inside = weights[0, :, :h, :w]
                    spread = inside.amax(dim=(1, 2)) - inside.amin(dim=(1, 2))  # per channel, inside the image
                    channel = int(spread.argmax())
                    for offset, (title, image) in enumerate((("mean over channels", inside.mean(0)),
                                                             (f"channel {channel}", inside[channel]))):
                        ax = axes[2 * row + offset, level]
                        shown = ax.imshow(image.cpu().numpy(), cmap="magma", vmin=0.5, vmax=1.0)
                        target = F.max_pool2d(torch.from_numpy(sample.mask).float()[None, None], 2 ** level,
                                              ceil_mode=True)[0, 0].numpy() > 0 if level else sample.mask
                        ax.contour(target, levels=[0.5], colors="cyan", linewidths=0.6)
                        ax.set_title(f"{label.split(' ')[0]}\\nlevel {level}, {title}", fontsize=7)
                        ax.set_axis_off()
            fig.colorbar(shown, ax=axes, fraction=0.02, pad=0.01, label="attention weight A");
        else:
            print("no trained model (CHECKPOINT is empty): the trained attention is not shown")
        """
    ),
    md(
        r"""
        How selective is it? Over the test images, per level, the spread of each channel's map (its largest minus its
        smallest weight), averaged over channels and images. A flat map has spread 0; the outer reading's maps lie in
        $[0.5, 1)$, so the largest possible spread is 0.5.
        """
    ),
    code(
        """
        spreads = {}
        for label, each in (trained.items() if MODELS else []):
            per_image = []
            for s in samples:
                maps, _ = glfi_attention(each, s)
                per_image.append([float((A.amax(dim=(2, 3)) - A.amin(dim=(2, 3))).mean()) for A in maps])
            spreads[label] = [float(v) for v in np.mean(per_image, axis=0)]
            print(f"{label}: mean spread of the attention per level", " ".join(f"{v:.3f}" for v in spreads[label]))
        # Trained, the attention is not flat: at its most selective level the mean spread exceeds SPREAD_BOUND
        # (the released models: about 0.4 of the 0.5 possible, on NUAA-SIRST).
        SPREAD_BOUND = 0.2
        for label, values in spreads.items():
            assert max(values) > SPREAD_BOUND, (label, values)
        """
    ),
    md(
        r"""
        ## Does the output rest on where the attention looks?

        A spread says the map varies; it does not say the network needs it to. The **flatten test** replaces a GLFI's
        attention, on each image and channel, by its spatial mean: the channel keeps its average gain and loses only
        its selection. If the prediction does not change, the attention could have been a constant. The library's
        `diagnostics.glfi_use` runs it one level at a time (its mean spread must equal the one computed by hand above),
        `diagnostics.flatten_test` flattens every level together, and `gcflnet inspect` prints both for any
        checkpoint. The IoU is measured on 128x128 crops of the same images (smaller where an image is), centred on their targets (threshold 0.5),
        before and after; a level that moves no probability by 0.05 is called flat. A few crops are a small sample,
        and a model that misses a crop's target has little IoU to lose there: read the IoU before beside the change.
        `gcflnet inspect --checkpoint NAME --data ROOT` measures ten test crops, and the budget study in
        [docs/ABLATION.md](../docs/ABLATION.md#the-budget-study-1x-against-4x) reports the same test for GCFLNets trained
        four times longer.
        """
    ),
    code(
        """
        flattening = {}
        for label, each in (trained.items() if MODELS else []):
            def normalised(image):
                return (torch.as_tensor(np.asarray(image, np.float32))[None] - each.mean) / each.std

            # The images differ in size: the library's spread, image by image, against the one computed by hand above
            alone = [diagnostics.glfi_use(each.model, normalised(s.image)[None], torch.from_numpy(s.mask)[None].bool())
                     for s in samples]
            worst_gap = float(np.abs(np.mean([[u.mean_spread for u in uses] for uses in alone], axis=0)
                                     - spreads[label]).max())
            assert worst_gap < 1e-4, (label, worst_gap)  # the library measures the map drawn by hand above
            # ... then the flatten test on crops (128x128 where the images allow) centred on each target, as gcflnet inspect
            crop_side = min(128, *(min(s.image.shape) for s in samples)) // 16 * 16  # one size, a multiple of the stride
            crops = diagnostics.target_crops([s.image for s in samples], [s.mask for s in samples], len(samples), crop_side)
            images = torch.stack([normalised(image) for _, image, _ in crops])
            masks = torch.stack([torch.from_numpy(mask) for _, _, mask in crops]).bool()
            uses = diagnostics.glfi_use(each.model, images, masks)
            together = diagnostics.flatten_test(each.model, images, masks, [item.level for item in uses])
            print(f"{label}:")
            print(diagnostics.glfi_table(uses))
            change = together.iou_after - together.iou_before + 0.0
            print(f"  every level flattened together: largest probability change {together.max_probability_change:.3f}, "
                  f"IoU {together.iou_before:.4f} -> {together.iou_after:.4f} ({change:+.4f})")
            flattening[label] = {"levels": [item.to_dict() for item in uses], "all": together.to_dict()}
        for label, found in flattening.items():
            changes = [item["iou_after"] - item["iou_before"] + 0.0 for item in found["levels"]]
            together = found["all"]["iou_after"] - found["all"]["iou_before"] + 0.0
            print(f"{label}: IoU {found['all']['iou_before']:.4f} on {len(samples)} crops; flattening one level "
                  f"changes it by {min(changes):+.4f} to {max(changes):+.4f}, every level together by {together:+.4f}: "
                  + (f"on these {len(samples)} crops no IoU rests on where the attention looks"
                     if min(min(changes), together) >= 0 else
                     f"on these {len(samples)} crops some IoU rests on where the attention looks"))
        """
    ),
    checks(
        """
        dense_side, dilated_side = side(fields["dense 3x3"]), side(fields["dilation 3"])
        assert (dense_side, side(fields["dilation 2"]), dilated_side) == (3, 5, 7)
        assert coverage(fields["dilation 2, twice"]) < 1.0 == coverage(fields["dense, then dilation 2"])
        assert 0.5 <= float(attention.min()) and float(attention.max()) <= 1.0  # rectified features: never below 0.5
        assert below_half["outer"] == 0.0 < below_half["signed"] and float(signed_attention.min()) < 0.5
        assert signed_by_hand_diff < 1e-4
        assert parameters["outer"] == parameters["channel"]

        workbook.record_results("05_glfi_pooling_attention", {
            "receptive_field_dense": dense_side,
            "receptive_field_dilated": dilated_side,
            "coverage_dilated_twice": coverage(fields["dilation 2, twice"]),
            "coverage_with_dense": coverage(fields["dense, then dilation 2"]),
            "attention_min": float(attention.min()),
            "attention_max": float(attention.max()),
            "signed_attention_min": float(signed_attention.min()),
            "signed_below_half_fraction": below_half["signed"],
            "rank_of_attention_logits": max(ranks),
            "outer_by_hand_max_abs_diff": by_hand_diff,
            "target_contrast": contrast,
            "glfi_parameters": parameters["outer"],
            "trained_attention_spread": spreads,
            "trained_attention_flattened": flattening,
            "models": list(MODELS.values()),
            "dataset": ctx.dataset,
        }, RESULTS_DIR)
        """
    ),
    ending("05", """
        GLFI widens the receptive field with dilated branches next to a dense one, and re-weights the features with
        an attention built from two poolings: the outer reading is a rank-one spatial map in $[0.5, 1)$ that keeps
        every feature, the signed reading the same map from standardised features, which can suppress, and the
        channel reading mixes channels.
        """, [
        ('Add two stacked dilation-3 convolutions to `fields` (as `"dilation 2, twice"` is built) and measure their receptive field: how does coverage change?',
         """
         Each 3x3 convolution with dilation $d$ widens the field by $2d$ pixels, so the stack spans
         $1 + 6 + 6 = 13$ pixels. Its taps are the offsets $\{-6, -3, 0, 3, 6\}$ on each axis, 25 of the window's
         169 pixels, a coverage of about 0.15, half that of `"dilation 2, twice"` (25 of 81, about 0.31). Pixels
         between the taps are never seen: the gridding of stacked dilations. A dense convolution first, as in
         `"dense, then dilation 2"`, fills the gaps (coverage 1). GLFI avoids them differently: its rates run in
         parallel, the dense rate 1 among them.
         """),
        ('Feed `outer_attention` a feature map that is zero everywhere: what attention do you get, and why is it 0.5?',
         r"""
         0.5 everywhere. The row and column profiles $r$ and $c$ (a max and a mean of zeros) are 0, so
         $r\,c = 0$ and $\sigma(0) = 0.5$. This is the outer reading's floor: on rectified features
         $r\,c \ge 0$, so its weight never drops below 0.5 and it cannot silence a feature.
         """),
        ("Compare `parameters['outer']` and `parameters['channel']`: where does the difference come from?",
         """
         There is none: the printed counts are equal. Neither attention has weights of its own; pooling, products,
         sigmoid and softmax have no parameters. Every parameter belongs to the dense and dilated convolutions and
         the fusion, which both readings share. Only `glfi_fc=True` (the paper's fully connected layer) adds weights
         to the attention, and the `signed` reading adds a BatchNorm.
         """),
    ], """
        Dilated convolutions were introduced for dense prediction by Yu and Koltun (ICLR 2016). Attention from pooled
        statistics has many forms: squeeze-and-excitation and CBAM (Woo et al., ECCV 2018), and coordinate attention
        (Hou et al., CVPR 2021), which pools along rows and columns much as the outer reading does. Which reading the
        paper means is open (`docs/PAPER_READING.md`, rows 3-5). Training all three readings with notebook 07's
        trainer, several seeds each, would show whether the choice matters for small targets.
        """),
]
