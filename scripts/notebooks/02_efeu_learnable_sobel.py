"""Generator of notebooks/02_efeu_learnable_sobel.ipynb."""

from _cells import about, checks, code, ending, md, standard_parameters, top, where_it_sits

CELLS = [
    top("02"),
    md(
        r"""
        # 02 · EFEU: a learnable Sobel operator with fixed zeros

        The edge feature extraction unit (EFEU) is the fine-edge half of GCFLNet's edge enhancement module. The
        paper (Section 3.1) specifies it in three sentences:

        > *The EFEU employs a 3 × 3 convolution kernel to compute image gradients, where the Sobel operator is used
        > to initialize the convolution weights. Specifically, the central column of the kernel in the x-direction
        > and the central row of the kernel in the y-direction are fixed to zero, while the remaining parameters are
        > dynamically optimized during training. [...] the gradient magnitude is calculated using the Euclidean norm.*

        Reading taken by `gcflnet_lib.nn.EFEU`: one pair $K_x, K_y$ per channel (a depthwise convolution); the zeros
        are a fixed mask multiplied into the kernels in every forward pass, so no optimizer step, weight decay or
        loaded state dict can make them count; the output is $\sqrt{g_x^2 + g_y^2 + \varepsilon}$ with a small
        $\varepsilon$ that keeps the derivative finite on flat input.

        This notebook checks the initialisation, shows **why the fixed zeros matter**, compares with OpenCV's Sobel,
        and fits the free weights for a few steps.
        """
    ),
    about("02", [
        'the Sobel operator as a convolution, checked against OpenCV',
        'EFEU: a learnable 3x3 gradient pair whose centre column/row stay fixed at zero, and why',
        'how training changes the free weights while the fixed ones keep their zero (value and gradient)',
    ], ['01'], 'synthetic scenes'),
    standard_parameters("few images and steps"),
    code(
        """
        import cv2
        import matplotlib.pyplot as plt
        import numpy as np
        import torch

        from gcflnet_lib import workbook
        from gcflnet_lib.losses import soft_iou_loss
        from gcflnet_lib.nn import EFEU, efeu_masks
        from gcflnet_lib.ops import directional_gradients, gradient_kernels, gradient_magnitude
        from gcflnet_lib.workbook.viz import plot_kernels, show_images
        from tqdm.auto import tqdm

        ctx = workbook.setup(device=DEVICE, seed=SEED, data_dir=DATA_DIR, smoke=SMOKE)
        SMOKE = ctx.smoke  # "auto" resolved
        N_IMAGES = 8 if SMOKE else 32
        STEPS = 40 if SMOKE else 300
        samples = workbook.load_samples(ctx, DATASET, split="train", n=N_IMAGES, size=128 if SMOKE else 256)
        sample = next(s for s in samples if s.mask.any())
        print(f"device {ctx.device}; {len(samples)} images from", "generated synthetic scenes" if ctx.synthetic else workbook.shown_path(ctx.data_dir))
        """
    ),
    *where_it_sits("efeu", "the EEM of every level, whose EFEU branch this notebook builds"),
    md(
        r"""
        ## Sobel initialisation and the learnable entries

        $$
        K_x^{(0)} = \begin{pmatrix} -1 & 0 & 1 \\ -2 & 0 & 2 \\ -1 & 0 & 1 \end{pmatrix},\qquad
        K_y^{(0)} = \begin{pmatrix} -1 & -2 & -1 \\ 0 & 0 & 0 \\ 1 & 2 & 1 \end{pmatrix},\qquad
        K_x = W_x \odot M_x,\quad K_y = W_y \odot M_y ,
        $$

        where $W$ are the parameters and the masks $M_x$ (ones except the centre column) and $M_y = M_x^\top$ hold
        the fixed zeros. Six entries of each kernel learn; three never do.
        """
    ),
    code(
        """
        efeu = EFEU(1)
        kx, ky = efeu.effective_kernels()
        sobel = gradient_kernels("sobel")
        assert torch.equal(kx[0], sobel[0]) and torch.equal(ky[0], sobel[1])
        mask_x, mask_y = efeu_masks()
        print("learnable entries per kernel:", int(mask_x.sum()), "| fixed zeros:", int((mask_x == 0).sum()))
        plot_kernels({"Kx at init": kx[0], "Ky at init": ky[0], "mask Mx": mask_x, "mask My": mask_y}, fmt="{:.0f}");
        """
    ),
    md(
        r"""
        ## Why the fixed zeros matter

        $g_x(p)$ is meant to measure how the intensity **changes across** $p$ from left to right. The centre column of
        $K_x$ is the one that looks at $p$'s own column, including $I(p)$ itself. With that column at zero, the
        response at $p$ depends only on the columns to its left and right, whatever values the other six weights
        learn: it stays a comparison *across* $p$. The same holds for $K_y$ and the rows above and below. Hence the
        magnitude at $p$ does not depend on $I(p)$ at all:

        $$ \frac{\partial\, |\mathbf g(p)|}{\partial I(p)} = 0 . $$

        If the centre entries could learn, the unit could turn into a blob or brightness detector (respond to how bright
        $p$ is) and lose the edge meaning the paper gives it. Experiment: raise one pixel by 50 grey levels and watch the
        response *at that pixel*, for the masked EFEU and for the same weights with a non-zero centre (as a plain
        learnable $3\times3$ convolution could drift to). The raw parameters of the masked EFEU are tampered with too:
        the mask ignores them.
        """
    ),
    code(
        """
        def as_batch(image):
            return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None]

        tampered = EFEU(1)
        with torch.no_grad():  # what a careless state dict, or an unmasked optimizer, could do to the raw weights
            tampered.kx[:, :, 1] = 0.5
            tampered.ky[:, 1, :] = 0.5

        def unmasked_magnitude(module, x):
            \"\"\"The same raw weights applied without the mask: an ordinary learnable 3x3 pair.\"\"\"
            return gradient_magnitude(*directional_gradients(x, module.kx, module.ky, module.border))

        row, col = np.argwhere(sample.mask)[0]
        x = as_batch(sample.image)
        bumped = x.clone()
        bumped[0, 0, row, col] += 50.0
        with torch.no_grad():
            sensitivity_masked = float((tampered(bumped) - tampered(x))[0, 0, row, col].abs())
            sensitivity_unmasked = float((unmasked_magnitude(tampered, bumped) - unmasked_magnitude(tampered, x))[0, 0, row, col].abs())
        print(f"change of |g| at the bumped pixel: masked EFEU {sensitivity_masked:.4f}, without mask {sensitivity_unmasked:.2f}")
        assert sensitivity_masked < 1e-3 < sensitivity_unmasked

        # No optimizer can move them either: their gradient is exactly zero.
        efeu.zero_grad()
        efeu(x).sum().backward()
        fixed_gradient = max(float(efeu.kx.grad[:, :, 1].abs().max()), float(efeu.ky.grad[:, 1, :].abs().max()))
        print("gradient reaching the fixed entries:", fixed_gradient)
        assert fixed_gradient == 0.0

        window = (slice(max(row - 12, 0), row + 13), slice(max(col - 12, 0), col + 13))
        with torch.no_grad():
            show_images([sample.image[window], tampered(x)[0, 0].numpy()[window], unmasked_magnitude(tampered, x)[0, 0].numpy()[window]],
                        ["target", "|g|, masked EFEU: a ring of edges", "|g| without the mask: a filled blob"], ncols=3, size=3);
        """
    ),
    md(
        r"""
        ## A check against OpenCV

        At initialisation EFEU must be exactly the Sobel operator. OpenCV's `cv2.Sobel(img, CV_64F, 1, 0, ksize=3)`
        uses the same cross-correlation convention and reflects the border (`BORDER_REFLECT_101`), which is EFEU's
        `border="reflect"`. In float64 the two agree to rounding error.
        """
    ),
    code(
        """
        image64 = sample.image.astype(np.float64)
        efeu64 = EFEU(1, border="reflect").double()
        with torch.no_grad():
            gx, gy = (g[0, 0].numpy() for g in efeu64.gradients(torch.from_numpy(image64)[None, None]))
            magnitude = efeu64(torch.from_numpy(image64)[None, None])[0, 0].numpy()
        cv_gx = cv2.Sobel(image64, cv2.CV_64F, 1, 0, ksize=3)
        cv_gy = cv2.Sobel(image64, cv2.CV_64F, 0, 1, ksize=3)
        max_abs_diff = float(max(np.abs(gx - cv_gx).max(), np.abs(gy - cv_gy).max()))
        magnitude_diff = float(np.abs(magnitude - cv2.magnitude(cv_gx, cv_gy)).max())
        print(f"max |EFEU - cv2.Sobel| = {max_abs_diff:.2e}; magnitude differs by at most {magnitude_diff:.2e} (the eps)")
        assert max_abs_diff < 1e-9 and magnitude_diff <= np.sqrt(efeu64.eps) + 1e-12
        """
    ),
    md(
        r"""
        ## A short fit

        To see the free weights move, attach EFEU to the simplest possible detector, $\text{logit} = a\,|\mathbf g| + b$,
        and fit it with the paper's SoftIoU loss,

        $$ \mathcal L = 1 - \frac{\sum_p \sigma_p t_p + 1}{\sum_p \sigma_p + \sum_p t_p - \sum_p \sigma_p t_p + 1}, $$

        to the targets' masks grown by one pixel (a target plus its edge ring), on crops centred on targets.
        AdamW with weight decay runs for a few steps; the fixed zeros must come out as they went in.
        """
    ),
    code(
        """
        class EdgeDetector(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.efeu = EFEU(1)
                self.scale = torch.nn.Parameter(torch.tensor(1.0))
                self.bias = torch.nn.Parameter(torch.tensor(-2.0))

            def forward(self, x):
                return self.scale * self.efeu(x) + self.bias

        crops, crop_masks = workbook.crop_batch(samples, size=64, p_target=1.0, seed=SEED)
        grown = torch.nn.functional.max_pool2d(crop_masks, 3, stride=1, padding=1)  # target + 1-px ring
        inputs = ((crops - crops.mean()) / crops.std()).to(ctx.device)
        targets = grown.to(ctx.device)

        detector = EdgeDetector().to(ctx.device)
        kx_before, ky_before = (k.detach().cpu().clone() for k in detector.efeu.effective_kernels())
        optimizer = torch.optim.AdamW(detector.parameters(), lr=0.05, weight_decay=1e-2)
        losses = []
        for step in tqdm(range(STEPS), desc="fit", unit="step", leave=False):
            loss = soft_iou_loss(detector(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        with torch.no_grad():
            loss_after = float(soft_iou_loss(detector(inputs), targets))
        kx_after, ky_after = (k.detach().cpu() for k in detector.efeu.effective_kernels())

        free_change = float(max((kx_after - kx_before)[:, mask_x.bool()].abs().max(), (ky_after - ky_before)[:, mask_y.bool()].abs().max()))
        fixed_after = float(max(kx_after[:, :, 1].abs().max(), ky_after[:, 1, :].abs().max()))
        fixed_raw_after = float(max(detector.efeu.kx.detach()[:, :, 1].abs().max(), detector.efeu.ky.detach()[:, 1, :].abs().max()))
        print(f"loss {losses[0]:.3f} -> {loss_after:.3f}; largest change of a free weight {free_change:.3f}; "
              f"fixed entries after the fit: {fixed_after} (raw parameters: {fixed_raw_after})")

        fig, ax = plt.subplots(figsize=(4.5, 2.5), layout="constrained")
        ax.plot(losses)
        ax.set_xlabel("step")
        ax.set_ylabel("SoftIoU loss")
        plot_kernels({"Kx before": kx_before[0], "Kx after": kx_after[0], "Ky before": ky_before[0], "Ky after": ky_after[0]});
        """
    ),
    code(
        """
        with torch.no_grad():
            before = EdgeDetector()(inputs[:4].cpu()).sigmoid()
            after = detector(inputs[:4]).sigmoid().cpu()
        show_images([*crops[:4, 0], *grown[:4, 0], *before[:, 0], *after[:, 0]],
                    [*["crop"] * 4, *["target + ring"] * 4, *["detector at init"] * 4, *["after the fit"] * 4], ncols=4, size=2.2);
        """
    ),
    md(
        r"""
        The fit re-weights the six free entries (and the scale) to match the target rings better than plain Sobel,
        while the centre column of $K_x$ and the centre row of $K_y$ stay exactly zero: the unit is still a comparison
        across each pixel, i.e. an edge detector. Inside GCFLNet, EFEU runs on every channel of every encoder level
        (notebook 04).
        """
    ),
    checks(
        """
        assert loss_after < losses[0]
        assert free_change > 0.0
        assert fixed_after == 0.0 and fixed_raw_after == 0.0

        workbook.record_results("02_efeu_learnable_sobel", {
            "max_abs_diff_vs_opencv": max_abs_diff,
            "fixed_weights_after_fit": fixed_after,
            "loss_before": losses[0],
            "loss_after": loss_after,
            "magnitude_diff_vs_opencv": magnitude_diff,
            "centre_sensitivity_masked": sensitivity_masked,
            "centre_sensitivity_unmasked": sensitivity_unmasked,
            "fixed_weights_gradient": fixed_gradient,
            "free_weights_change": free_change,
            "steps": STEPS,
        }, RESULTS_DIR)
        """
    ),
    ending("02", """
        EFEU starts from Sobel kernels, keeps the centre column of $K_x$ and the centre row of $K_y$ at zero (so a
        bump at the centre pixel cannot change the gradient), learns the other weights, and returns the gradient
        magnitude. The mask holds through training: the fixed entries get zero gradient.
        """, [
        ("Initialise an `EFEU` and compare its `effective_kernels()` with `cv2.Sobel`'s kernels: which entries can training change?",
         r"""
         At initialisation they are Sobel's kernels, $K_x = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]$ and $K_y$ its
         transpose (OpenCV applies them as correlations, as PyTorch does, so the signs agree). Training can change
         the six entries outside the centre column of $K_x$ and the six outside the centre row of $K_y$. The three
         masked zeros of each kernel stay zero.
         """),
        ('Rerun the fit with `STEPS` doubled: does `loss_after` keep falling, and do the free weights drift far from Sobel (`free_change`)?',
         """
         The loss keeps falling, but each extra step gains less than the last. `free_change` grows with the steps,
         yet the kernels keep Sobel's layout: the fixed zeros keep each kernel a difference across the centre, and
         the fit starts from Sobel. The numbers depend on the scenes; compare yours with the first run's.
         """),
        ('Bump a pixel next to the centre instead of the centre (change `row, col` by one) and compare `sensitivity_masked` with the unmasked one.',
         """
         Both are now clearly non-zero and of similar size. The mask fixes only the centre entries, so a pixel next
         to the centre meets non-zero weights in both units. The mask makes EFEU blind to the centre pixel alone,
         not to its neighbourhood.
         """),
    ], """
        Learnable filters initialised from classical operators (Sobel, Gabor, difference-of-Gaussians) recur in
        edge detection and in IRSTD. A small experiment: train a free 3x3 convolution initialised as Sobel, without
        the mask, beside EFEU in notebook 07's loop, and measure whether the mask changes the result. The paper
        gives no such comparison; `docs/PAPER_READING.md` lists what it leaves open about EFEU.
        """),
]
