"""Generator of notebooks/03_central_difference_conv.ipynb."""

from _cells import NBVAL_CHECK, about, checks, code, ending, md, standard_parameters, top, where_it_sits

CELLS = [
    top("03"),
    md(
        r"""
        # 03 · Central difference convolution (CDC)

        The second half of GCFLNet's edge enhancement module is a central difference convolution (Yu et al.,
        CVPR 2020). The paper (Section 3.1) uses it *"to emphasize local intensity variations and edge transitions"*:
        where EFEU may over-smooth, CDC gives robust contours, at the price of some sensitivity to clutter.

        A vanilla $3\times3$ convolution aggregates intensities over the neighbourhood $\mathcal R$ of $p_0$; a
        central difference convolution aggregates intensity **differences to the centre**; CDC blends the two with
        $\theta \in [0, 1]$:

        $$
        y(p_0) = \underbrace{\sum_{p_n \in \mathcal R} w(p_n)\, x(p_0 + p_n)}_{\text{vanilla}}
        \; - \; \theta\, x(p_0) \sum_{p_n \in \mathcal R} w(p_n)
        \;=\; (1 - \theta)\, \text{vanilla} + \theta \sum_{p_n} w(p_n)\,\big(x(p_0 + p_n) - x(p_0)\big).
        $$

        $\theta = 0$ is a plain convolution, $\theta = 1$ a pure central difference; GCFLNet keeps Yu et al.'s
        $\theta = 0.7$. The second term is a $1\times1$ convolution with the summed kernel; as it reads the window's
        centre, `gcflnet_lib.ops.central_difference_conv2d` folds it into the centre tap (`cdc_kernel`: the centre weight
        minus $\theta \sum w$) and runs one $3\times3$ convolution; `gcflnet_lib.nn.CDC` wraps it as a bias-free layer.
        """
    ),
    about("03", [
        'central difference convolution (CDC): a convolution minus $\\theta$ times the centre response',
        'its formula written by hand and checked against `gcflnet_lib.ops`',
        'how $\\theta$ moves CDC from plain smoothing to pure differences, on targets, edges and clutter',
    ], ['01', '02'], 'synthetic scenes'),
    standard_parameters("few small images"),
    code(
        """
        import math

        import matplotlib.pyplot as plt
        import torch
        import torch.nn.functional as F
        from scipy import ndimage

        from gcflnet_lib import workbook
        from gcflnet_lib.nn import CDC
        from gcflnet_lib.ops import central_difference_conv2d, gradient_magnitude, spatial_gradient
        from gcflnet_lib.workbook.viz import show_images

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE)
        SMOKE = ctx.smoke  # "auto" resolved
        N_IMAGES = 8 if SMOKE else 40
        samples = workbook.load_samples(ctx, DATASET, split="test", n=N_IMAGES, size=128 if SMOKE else 256)
        THETAS = [0.0, 0.25, 0.5, 0.7, 1.0]
        print(f"device {ctx.device}; {len(samples)} images from", "generated synthetic scenes" if ctx.synthetic else workbook.shown_path(ctx.data_dir))
        """
    ),
    *where_it_sits("cdc", "the EEM of every level, whose CDC branch this notebook builds"),
    md(
        r"""
        ## The formula by hand, and the equivalence checks

        `F.unfold` lays every $3\times3$ neighbourhood out as a column, so the definition can be written literally:
        differences $x(p_0 + p_n) - x(p_0)$, weighted and summed. Then four checks against the library:

        1. by hand == `central_difference_conv2d` (any $\theta$, several input and output channels);
        2. $\theta = 0$ == `F.conv2d`, and the `CDC` layer == the function;
        3. the blend identity: CDC$_\theta$ = $(1-\theta)$ CDC$_0$ + $\theta$ CDC$_1$;
        4. $\theta = 1$ answers 0 on a constant image (away from the zero-padded border): it sees only differences.
        """
    ),
    code(
        """
        def cdc_by_hand(x, weight, theta):
            \"\"\"Yu et al.'s definition, literally: (B, C_in, H, W), (C_out, C_in, 3, 3) -> (B, C_out, H, W).\"\"\"
            batch, c_in, height, width = x.shape
            patches = F.unfold(x, kernel_size=3, padding=1).view(batch, c_in, 9, height * width)  # x(p0 + pn)
            centre = x.reshape(batch, c_in, 1, height * width)                                  # x(p0)
            vanilla = torch.einsum("oin,binl->bol", weight.flatten(2), patches)
            difference = torch.einsum("oin,binl->bol", weight.flatten(2), patches - centre)
            return ((1 - theta) * vanilla + theta * difference).view(batch, -1, height, width)

        generator = torch.Generator().manual_seed(SEED)
        x = torch.randn(2, 3, 20, 24, generator=generator, dtype=torch.float64)
        weight = torch.randn(4, 3, 3, 3, generator=generator, dtype=torch.float64)

        formula_diff = max(float((cdc_by_hand(x, weight, t) - central_difference_conv2d(x, weight, t)).abs().max()) for t in THETAS)
        theta0_diff = float((central_difference_conv2d(x, weight, 0.0) - F.conv2d(x, weight, padding=1)).abs().max())
        layer = CDC(3, 4, theta=0.7).double()
        with torch.no_grad():  # parameters require grad; the comparison needs no graph
            layer_diff = float((layer(x) - central_difference_conv2d(x, layer.weight, 0.7)).abs().max())
        blend_diff = max(
            float((central_difference_conv2d(x, weight, t)
                   - ((1 - t) * central_difference_conv2d(x, weight, 0.0) + t * central_difference_conv2d(x, weight, 1.0))).abs().max())
            for t in THETAS)
        constant = torch.full((1, 3, 16, 16), 123.0, dtype=torch.float64)
        constant_response = float(central_difference_conv2d(constant, weight, 1.0)[..., 1:-1, 1:-1].abs().max())

        for name, value in [("by hand vs library", formula_diff), ("theta=0 vs F.conv2d", theta0_diff),
                            ("CDC layer vs function", layer_diff), ("blend identity", blend_diff),
                            ("theta=1 on a constant", constant_response)]:
            print(f"{name:>24}: max |difference| = {value:.2e}")
        assert max(formula_diff, theta0_diff, layer_diff, blend_diff, constant_response) < 1e-9
        """,
        tags=(NBVAL_CHECK,),
    ),
    md(
        r"""
        ## What $\theta$ does to an infrared scene

        With a fixed kernel, sweep $\theta$ and look at the response. Two kernels:

        - a $3\times3$ **box** (all weights $1/9$): at $\theta=0$ a blur, at $\theta=1$ "neighbourhood mean minus centre",
          a Laplacian-like contrast operator;
        - a **random bank** of 8 kernels drawn as `nn.Conv2d` initialises them: what the network starts from.
        """
    ),
    code(
        """
        sample = next(s for s in samples if s.mask.any())
        image = torch.from_numpy(sample.image)[None, None].double()
        box = torch.full((1, 1, 3, 3), 1 / 9, dtype=torch.float64)
        inside = (slice(1, -1), slice(1, -1))  # the zero-padded border answers at theta = 1; leave it out of the picture
        responses = [central_difference_conv2d(image, box, t)[0, 0].numpy()[inside] for t in THETAS]
        show_images([sample.image[inside], *responses], ["image", *[f"box, theta = {t}" for t in THETAS]], ncols=3, size=3,
                    symmetric=[False] + [True] * len(THETAS), colorbar=True);
        """
    ),
    md(
        r"""
        ## Targets against background and clutter

        For each $\theta$: the mean absolute response on **target** pixels divided by the mean on **background**
        pixels (all pixels farther than 4 px from a target), and divided by the mean on **clutter edges** (the 5 % of
        background pixels with the strongest gradient). Ratios above 1 mean the target stands out.
        """
    ),
    code(
        """
        images = [torch.from_numpy(s.image)[None, None].double() for s in samples]
        masks = [torch.from_numpy(s.mask)[None, None] for s in samples]
        backgrounds = [torch.from_numpy(~ndimage.binary_dilation(s.mask, iterations=4))[None, None] for s in samples]
        gradients = [gradient_magnitude(*spatial_gradient(im)) for im in images]
        edge_threshold = torch.quantile(torch.cat([g[b] for g, b in zip(gradients, backgrounds)]), 0.95)
        clutter = [b & (g > edge_threshold) for g, b in zip(gradients, backgrounds)]

        bank = torch.empty(8, 1, 3, 3, dtype=torch.float64)
        torch.nn.init.kaiming_uniform_(bank, a=math.sqrt(5), generator=generator)

        def mean_abs(kernel, theta, regions):
            values = [central_difference_conv2d(im, kernel, theta).abs().mean(1, keepdim=True)[r] for im, r in zip(images, regions)]
            return float(torch.cat(values).mean())

        sweep = []
        for theta in THETAS:
            row = {"theta": theta}
            for name, kernel in (("box", box), ("random", bank)):
                on_targets = mean_abs(kernel, theta, masks)
                row[f"{name}_target_vs_background"] = on_targets / mean_abs(kernel, theta, backgrounds)
                row[f"{name}_target_vs_clutter"] = on_targets / mean_abs(kernel, theta, clutter)
            sweep.append(row)
            print("  ".join(f"{k} {v:.2f}" for k, v in row.items()))

        fig, ax = plt.subplots(figsize=(5.5, 3.2), layout="constrained")
        for key in sweep[0]:
            if key != "theta":
                ax.plot(THETAS, [row[key] for row in sweep], marker="o", label=key.replace("_", " "))
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xlabel("theta")
        ax.set_ylabel("mean |response| ratio")
        ax.legend(fontsize=7)
        plt.show()
        """,
        tags=(NBVAL_CHECK,),
    ),
    md(
        r"""
        **Reading the sweep.** At $\theta = 0$ the response is a (weighted) copy of the intensity, so the target
        stands out only as much as it is brighter than its surroundings. As $\theta$ grows, the term
        $(1-\theta)\sum_n w(p_n)\,x(p_0)$ shrinks, and with it the response to the background *level*; for intermediate
        $\theta$ that level term and the target's own difference term partly cancel on the target, so the ratio can dip
        before it rises. At $\theta = 1$ flat regions answer nothing and the targets (and sharp clutter edges) dominate.
        That is the "strong response to target edges, some sensitivity to clutter" that the paper describes, and why
        EEM pairs CDC with EFEU rather than using either alone (notebook 04). The network does not keep these fixed
        kernels: it learns $w$ for its chosen $\theta$.
        """
    ),
    checks(
        """
        first, last = sweep[0], sweep[-1]
        assert last["box_target_vs_background"] > first["box_target_vs_background"]
        assert last["random_target_vs_background"] > first["random_target_vs_background"]

        workbook.record_results("03_central_difference_conv", {
            "formula_vs_library_max_abs_diff": formula_diff,
            "theta0_vs_conv_max_abs_diff": theta0_diff,
            "layer_vs_function_max_abs_diff": layer_diff,
            "blend_identity_max_abs_diff": blend_diff,
            "constant_response_theta1": constant_response,
            "theta_sweep": sweep,
            "n_images": len(samples),
        }, RESULTS_DIR)
        """
    ),
    ending("03", r"""
        CDC subtracts $\theta$ times the kernel's sum at the centre pixel from an ordinary convolution: $\theta = 0$ is a
        convolution, $\theta = 1$ sees only differences and answers 0 on a constant image, and values between blend the
        two linearly. Inside the EEM it complements EFEU's gradient magnitude with contour responses.
        """, [
        ('Add $\\theta = 0.3$ to `THETAS` and rerun the sweep: is the response on targets between those of its neighbours, as the blend identity says?',
         r"""
         The response *map* is linear in $\theta$: $y_\theta = (1-\theta)\,y_0 + \theta\,y_1$. Pixel by pixel, the
         map at 0.3 is the interpolation of its neighbours in `THETAS`. A statistic of its *magnitude*, such as a
         mean |response| on targets, is between its neighbours' too, unless the response changes sign between them.
         That happens where the level term and the difference term cancel, and there the mean |response| can dip
         below both, the dip described above.
         """),
        ('Build `CDC(1, 1, theta=1.0)` and apply it to a linear ramp image: what does it answer in the interior, and why?',
         r"""
         A constant. With $\theta = 1$, $y(p_0) = \sum_n w(p_n)\,\big(x(p_0+p_n) - x(p_0)\big)$, and on a ramp
         $x = a \cdot p + b$ every difference is $a \cdot p_n$, the same at every pixel. So the interior answers
         $\sum_n w(p_n)\, a\cdot p_n$: it sees the ramp's slope, never its level $b$. A kernel symmetric about its
         centre answers 0. The borders differ, because the zero padding breaks the ramp there.
         """),
        ('From `sweep`, compute the ratio of target to clutter response per $\\theta$: which $\\theta$ separates them best on these images?',
         r"""
         The ratio usually grows towards $\theta = 1$: the background level, which dominates clutter's plain
         convolution response, is subtracted more and more. It can dip at an intermediate $\theta$ first (see the
         sweep's discussion). On these scenes the best $\theta$ is usually at or near 1. GCFLNet's 0.7, taken from
         Yu et al., keeps some of the plain convolution's intensity information, which a pure difference loses.
         """),
    ], r"""
        CDC comes from face anti-spoofing (Yu et al., CVPR 2020), where later work splits the differences by
        direction: cross central differences (C-CDC), horizontal and vertical neighbours apart from diagonal ones.
        Open questions for infrared targets: should $\theta$ be learned per layer rather than fixed at 0.7, and do
        directional differences help thin clutter edges less than round targets? Either is a small experiment with
        notebook 07's trainer and notebook 09's scoring.
        """),
]
