"""Generator of notebooks/01_gradient_vector_fields.ipynb."""

from _cells import about, checks, code, ending, md, standard_parameters, top

CELLS = [
    top("01"),
    md(
        r"""
        # 01 · Gradient vector fields of infrared scenes

        GCFLNet's edge enhancement module rests on one observation from the paper (Section 3.1):

        > *In smooth background regions or cluttered noise areas, gradient vectors tend to be randomly
        > distributed in both direction and magnitude [...]. In contrast, within regions containing infrared
        > small targets, gradient vectors display a strong convergent pattern toward the target center.*

        This notebook looks at that claim and then **measures** it. We

        1. compute the gradient field $\mathbf g = \nabla I$ of infrared scenes with the Sobel operator,
        2. draw it as arrows (quiver plots) and as an orientation image,
        3. turn "convergent" into a number per pixel, and compare targets with clutter.

        The paper gives no formula for convergence; the reading taken here (and implemented in
        `gcflnet_lib.ops.gradient_convergence`) is the mean cosine between the gradient vectors around a pixel
        and the directions pointing at it.
        """
    ),
    about("01", [
        'how image gradients are computed (central differences, Sobel) and drawn as vector fields',
        'a convergence score $C$ that measures whether gradients point at a common centre',
        'why gradient convergence separates small targets from clutter, the observation behind EEM',
    ], ['00'], 'synthetic scenes (or NUAA-SIRST with DATA_DIR)'),
    standard_parameters("a handful of small images", example_root="../../shared/datasets/NUAA-SIRST"),
    code(
        """
        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        from scipy import ndimage

        from gcflnet_lib import workbook
        from gcflnet_lib.ops import gradient_convergence, gradient_magnitude, spatial_gradient
        from gcflnet_lib.workbook.viz import add_orientation_key, orientation_rgb, plot_quiver, show_images

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE)
        SMOKE = ctx.smoke  # "auto" resolved
        N_IMAGES = 6 if SMOKE else 40
        SIZE = 128 if SMOKE else 256  # synthetic scenes only; real images keep their size
        WINDOW = 7                    # side of the convergence window (odd)
        samples = workbook.load_samples(ctx, DATASET, split="test", n=N_IMAGES, size=SIZE)
        print(f"device {ctx.device}; {len(samples)} images from", "synthetic scenes" if ctx.synthetic else workbook.shown_path(ctx.data_dir))
        """
    ),
    md(
        r"""
        ## The gradient field

        At each pixel $p$ the gradient $\mathbf g(p) = \big(g_x, g_y\big) = \big(\partial I / \partial x,\ \partial I / \partial y\big)$
        points uphill, towards brighter values. The Sobel operator estimates it with two $3\times 3$ kernels applied
        by cross-correlation ($\star$), a derivative along one axis smoothed along the other:

        $$
        K_x = \begin{pmatrix} -1 & 0 & 1 \\ -2 & 0 & 2 \\ -1 & 0 & 1 \end{pmatrix},\qquad K_y = K_x^\top,\qquad
        g_x = K_x \star I,\quad g_y = K_y \star I .
        $$

        Its magnitude and orientation are

        $$ |\mathbf g| = \sqrt{g_x^2 + g_y^2}, \qquad \varphi = \operatorname{atan2}(g_y, g_x), $$

        in image coordinates (x to the right, y **down**, as OpenCV and kornia). Before trusting the library, check
        the simplest stencil by hand: central differences $\big(I(x+1) - I(x-1)\big)/2$ are what `np.gradient` computes
        inside the image.

        The orientation image shows $\varphi$ as hue and $|\mathbf g|$ as brightness; the wheel beside it is its key:
        red where $\mathbf g$ points right, yellow-green down, cyan left, violet up, black where there is no gradient.
        Around a bright target $\mathbf g$ points inward (uphill) from every side, so a target is a small disc of
        every hue.
        """
    ),
    code(
        """
        def as_batch(image):
            \"\"\"(H, W) NumPy image -> (1, 1, H, W) float32 tensor.\"\"\"
            return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]

        sample = next(s for s in samples if s.mask.any())
        x = as_batch(sample.image)

        gx_central, gy_central = spatial_gradient(x, mode="central", normalized=True)
        gy_hand, gx_hand = np.gradient(sample.image.astype(np.float64))
        inside = (slice(1, -1), slice(1, -1))
        np.testing.assert_allclose(gx_central[0, 0].numpy()[inside], gx_hand[inside], atol=1e-3)
        np.testing.assert_allclose(gy_central[0, 0].numpy()[inside], gy_hand[inside], atol=1e-3)
        print("central differences by hand == library (inside the image)")

        gx, gy = spatial_gradient(x, mode="sobel")
        magnitude = gradient_magnitude(gx, gy)
        gx_np, gy_np = gx[0, 0].numpy(), gy[0, 0].numpy()
        figure = show_images(
            [sample.image, sample.mask, magnitude[0, 0], orientation_rgb(gx_np, gy_np)],
            [f"{sample.name}", "target mask", "|g| (Sobel)", "orientation (hue), |g| (brightness)"],
        )
        add_orientation_key(figure.axes[3]);  # the hue wheel: the colour of each direction of g (y points down)
        """
    ),
    md(
        r"""
        ## Arrows around a target and around clutter

        Zoom into two windows of the same image: one centred on the target's brightest pixel, one on the
        background pixel with the **strongest** gradient (a cloud edge, a horizon, a building: the clutter a
        detector confuses with targets). Each arrow is $\mathbf g$ at one pixel.
        """
    ),
    code(
        """
        def target_peaks(image, mask):
            \"\"\"(row, col) of the brightest pixel (3x3 mean) of every 8-connected target.\"\"\"
            labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
            smooth = ndimage.uniform_filter(image.astype(np.float64), 3)
            return [np.unravel_index(np.argmax(np.where(labels == k, smooth, -np.inf)), image.shape)
                    for k in range(1, count + 1)]


        def strongest_points(score, allowed, count, spacing):
            \"\"\"The `count` highest-scoring allowed pixels, greedily kept at least `spacing` px apart.\"\"\"
            score = np.where(allowed, score, -np.inf).astype(np.float64)
            points = []
            for _ in range(count):
                row, col = np.unravel_index(np.argmax(score), score.shape)
                if not np.isfinite(score[row, col]):
                    break
                points.append((row, col))
                score[max(0, row - spacing): row + spacing + 1, max(0, col - spacing): col + spacing + 1] = -np.inf
            return points


        def background_region(mask, margin):
            \"\"\"Pixels farther than `margin` from every target and from the image border.\"\"\"
            allowed = ~ndimage.binary_dilation(mask, iterations=margin) if mask.any() else np.ones_like(mask)
            allowed[:margin], allowed[-margin:], allowed[:, :margin], allowed[:, -margin:] = False, False, False, False
            return allowed


        HALF = 7
        target_point = target_peaks(sample.image, sample.mask)[0]
        clutter_point = strongest_points(magnitude[0, 0].numpy(), background_region(sample.mask, 2 * WINDOW), 1, WINDOW)[0]

        def box_around(point):
            row = int(np.clip(point[0] - HALF, 0, sample.image.shape[0] - 2 * HALF - 1))
            col = int(np.clip(point[1] - HALF, 0, sample.image.shape[1] - 2 * HALF - 1))
            return (row, col, 2 * HALF + 1, 2 * HALF + 1)

        fig, axes = plt.subplots(1, 2, figsize=(8, 4), layout="constrained")
        plot_quiver(axes[0], sample.image, gx_np, gy_np, step=1, box=box_around(target_point))
        axes[0].set_title("around the target: arrows point inward")
        plot_quiver(axes[1], sample.image, gx_np, gy_np, step=1, box=box_around(clutter_point), color="tab:blue")
        axes[1].set_title("strongest clutter gradient: no common centre");
        """
    ),
    md(
        r"""
        ## A number for "convergence"

        For a pixel $p$ with window $W(p)$ (here $7\times 7$), average the cosine between the gradient direction at
        each neighbour $q$ and the direction from $q$ to $p$:

        $$
        C(p) = \frac{1}{|W| - 1} \sum_{q \in W(p),\, q \neq p} \frac{\mathbf g(q)}{|\mathbf g(q)|} \cdot \frac{p - q}{|p - q|}
        \quad \in [-1, 1].
        $$

        At the centre of a bright blob every neighbour's gradient points at $p$: $C \approx +1$. Along a straight edge
        the gradients are parallel, so the neighbours on either side cancel: $C \approx 0$. In noise the directions are
        random: $C \approx 0$. Flat pixels (no direction) count as 0, and scaling the image does not change $C$.

        First the formula by hand at the target peak, against the library's whole map:
        """
    ),
    code(
        """
        def convergence_by_hand(gx, gy, point, window):
            row, col = point
            radius, total = window // 2, 0.0
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    q = (min(max(row + dy, 0), gx.shape[0] - 1), min(max(col + dx, 0), gx.shape[1] - 1))
                    inside = 0 <= row + dy < gx.shape[0] and 0 <= col + dx < gx.shape[1]
                    norm = np.hypot(gx[q], gy[q])
                    if (dy, dx) == (0, 0) or not inside or norm <= 1e-6:
                        continue
                    to_p = np.array([-dx, -dy]) / np.hypot(dx, dy)  # unit vector q -> p, (x, y)
                    total += (gx[q] * to_p[0] + gy[q] * to_p[1]) / norm
            return total / (window * window - 1)

        convergence = gradient_convergence(x, window=WINDOW)[0, 0].numpy()
        by_hand = convergence_by_hand(gx_np, gy_np, target_point, WINDOW)
        print(f"C(target peak): by hand {by_hand:.4f}, library {convergence[target_point]:.4f}")
        assert abs(by_hand - convergence[target_point]) < 1e-4

        show_images([sample.image, convergence], ["image", f"convergence C, window {WINDOW} (red: converging)"],
                    ncols=2, size=3.5, cmap=["gray", "RdBu_r"], colorbar=True);
        """
    ),
    md(
        r"""
        ## Targets against clutter, over every image

        For each image we read $C$ at

        - every target's brightest pixel (**targets**),
        - the 8 background pixels with the strongest gradient, at least one window apart (**edge clutter**),
        - the 8 brightest background pixels (**bright clutter**: cloud tops, glints, lamps, the hardest case),

        and, as a control, at every pixel of white noise (pure disorder).
        """
    ),
    code(
        """
        target_values, edge_values, bright_values = [], [], []
        for s in samples:
            xs = as_batch(s.image)
            conv = gradient_convergence(xs, window=WINDOW)[0, 0].numpy()
            grad = gradient_magnitude(*spatial_gradient(xs))[0, 0].numpy()
            background = background_region(s.mask, 2 * WINDOW)
            target_values += [conv[p] for p in target_peaks(s.image, s.mask)]
            edge_values += [conv[p] for p in strongest_points(grad, background, 8, WINDOW)]
            smooth = ndimage.uniform_filter(s.image.astype(np.float64), 3)
            bright_values += [conv[p] for p in strongest_points(smooth, background, 8, WINDOW)]

        # Control: white noise, whose gradient directions are random (border pixels left out).
        noise_conv = gradient_convergence(torch.randn(1, 1, 64, 64), window=WINDOW)[0, 0, WINDOW:-WINDOW, WINDOW:-WINDOW]

        groups = {"targets": target_values, "edge clutter": edge_values, "bright clutter": bright_values,
                  "white noise": noise_conv.flatten().numpy()}
        for name, values in groups.items():
            print(f"{name:>14}: n = {len(values):5d}, mean C = {np.mean(values):+.3f}, std = {np.std(values):.3f}")

        fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
        ax.hist(list(groups.values()), bins=np.linspace(-1, 1, 21), label=list(groups), density=True)
        ax.set_xlabel("convergence C")
        ax.legend(fontsize=8);
        """
    ),
    md(
        r"""
        The numbers say what the paper says in words: gradient vectors **converge** on small targets (where $C$ is
        close to 1) and are **disordered** in clutter and noise ($C$ near 0). Bright clutter blobs converge too, but less: they
        are wider than the window, so only part of the ring of gradients falls inside it. This is why GCFLNet does not
        rely on one fixed gradient operator but feeds gradient magnitudes at every scale into a learned network
        (EEM, notebooks 02-04).
        """
    ),
    checks(
        """
        target_mean, edge_mean, bright_mean = map(float, (np.mean(target_values), np.mean(edge_values), np.mean(bright_values)))
        noise_abs_mean = float(noise_conv.abs().mean())
        assert len(target_values) >= 3 and len(edge_values) >= 3
        assert target_mean > edge_mean + 0.2, (target_mean, edge_mean)
        assert target_mean > bright_mean, (target_mean, bright_mean)
        assert noise_abs_mean < 0.25

        workbook.record_results("01_gradient_vector_fields", {
            "target_convergence_mean": target_mean,
            "clutter_convergence_mean": edge_mean,
            "bright_clutter_convergence_mean": bright_mean,
            "noise_convergence_abs_mean": noise_abs_mean,
            "dataset": DATASET if not ctx.synthetic else "Synthetic",
            "n_images": len(samples),
            "window": WINDOW,
            "n_target_patches": len(target_values),
            "n_clutter_patches": len(edge_values),
        }, RESULTS_DIR)
        """
    ),
    ending("01", """
        Gradients of an infrared image point uphill; around a small target they converge on its centre, in
        clutter and noise they do not. The convergence score $C$ measures that per window, and its gap between targets
        and clutter is what GCFLNet's edge enhancement module builds on.
        """, [
        ('Change `WINDOW` (the convergence window) to 3 and to 9 and rerun: how do `target_mean` and `edge_mean` move, and why does a window wider than the target help or hurt?',
         """
         $C$ is a mean of dot products of unit vectors over the window, so the window sets how many terms it averages.
         With 3 it averages only 8 neighbours: targets still score high, but clutter and noise reach high values by
         chance too, so the gap is noisy. With 9 every score moves towards 0, because the many terms in clutter and
         flat background point in unordered directions. The target's score also falls once the window reaches past
         its slopes into flat background, whose gradient directions are noise. A window about the target's size
         separates best: wider helps until it runs past the target, then it dilutes the target's score.
         """),
        ('Compute the convergence map of one sample with its gradients scaled by 10: does $C$ change? Explain from its formula.',
         r"""
         No. $C$ uses only the unit vectors $\mathbf g(q)/|\mathbf g(q)|$ and the unit directions
         $(p-q)/|p-q|$, so any positive factor on the gradients cancels. (Scaling the *image* by 10 also leaves $C$
         unchanged, for the same reason.) This is why $C$ measures the *shape* of the intensity around a pixel,
         not its contrast.
         """),
        ('Pick the clutter patch with the highest convergence in `edge_values` and draw its vector field with `plot_quiver`: what structure is it?',
         """
         Usually a compact bright blob or a bright corner: a small cloud fragment, a lamp, the tip of a roof.
         Locally it looks like a target, because the gradients around it point to a centre. Convergence alone
         cannot tell it from a target; its size, its contrast and its context can, and the network learns to use
         them.
         """),
    ], """
        Hand-made contrast and gradient cues were how small targets were found before deep learning: the local
        contrast measure (Chen et al., TGRS 2014) and its many variants, among them TLLCM and WSLCM (notebook 10),
        and gradient-field methods that score how strongly gradients converge. Open questions to try here: is $C$
        worth adding as an extra input channel of a small network, and how does it do as a classical detector,
        scored with notebook 08's protocol?
        """),
]
