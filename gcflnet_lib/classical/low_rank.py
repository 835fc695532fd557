"""Low-rank detectors: the background is low-rank across patches, the small target is sparse.

Patches of an infrared background look alike (clouds, sky, sea), so stacking them gives a matrix or
tensor of low rank; a small target occupies few entries, so it lands in the sparse part of a
low-rank + sparse decomposition. The sparse part, put back into image form, is the saliency map
(negative entries, darker than the background, are not targets and are set to 0).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from gcflnet_lib.classical.common import as_gray_float32
from gcflnet_lib.classical.patches import image_to_patches, patches_to_image
from gcflnet_lib.classical.rpca import robust_pca, robust_tensor_pca


def ipi(
    image,
    patch: int = 50,
    stride: int = 10,
    lam: float | None = None,
    tol: float = 1e-7,
    max_iter: int = 60,
    reduce: str = "median",
) -> np.ndarray:
    """Infrared Patch-Image model (IPI).

    Paper: C. Gao, D. Meng, Y. Yang, Y. Wang, X. Zhou and A. G. Hauptmann, "Infrared patch-image model for
    small target detection in a single image", *IEEE Transactions on Image Processing* 22(12), 2013.

    The patch image ``D`` (one ``patch x patch`` patch per column, window sliding by ``stride``) is split
    into a low-rank background ``B`` and a sparse target ``T`` by
    ``min ||B||_* + lam ||T||_1  s.t.  D = B + T``; ``T`` back in image form is the saliency.
    Paper defaults: 50 x 50 patches, stride 10, ``lam = 1 / sqrt(max(m, n))`` for the ``m x n`` patch
    image, stopping tolerance ``1e-7``. The paper solves the problem with APG; this uses inexact ALM
    (:func:`gcflnet_lib.classical.rpca.robust_pca`), which reaches the same minimiser in fewer
    iterations, capped at ``max_iter``. Pixels shared by overlapping patches take the median.

    Args:
        image: ``(H, W)`` gray or ``(H, W, 3|4)`` colour, any dtype (see :func:`as_gray_float32`); images
            smaller than a patch are mirror-extended to one patch.
        patch, stride: patch side and window step, ``stride <= patch``.
        lam: l1 weight; ``None`` -> ``1 / sqrt(max(m, n))``.
        tol, max_iter: stopping rule of the solver.
        reduce: ``"median"`` or ``"mean"`` for pixels covered by several patches.

    Returns:
        ``float32 (H, W)`` saliency >= 0.
    """
    gray = as_gray_float32(image)
    patches, grid = image_to_patches(gray, patch, stride)
    data = patches.T  # (patch * patch, number of patches), Gao's D
    if lam is None:
        lam = 1.0 / math.sqrt(max(data.shape))
    if not lam > 0:
        raise ValueError(f"lam: expected a positive number, got {lam!r}")
    target = robust_pca(data, lam, tol=tol, max_iter=max_iter).sparse
    saliency = patches_to_image(target.T, grid, reduce=reduce)
    return np.maximum(saliency, 0.0).astype(np.float32, copy=False)


def structure_tensor_eigen_gap(gray: np.ndarray, sigma: float = 1.0, rho: float = 2.0) -> np.ndarray:
    """``lambda1 - lambda2`` of the structure tensor ``J = G_rho * (grad(G_sigma * I) grad(G_sigma * I)^T)``.

    Large on edges (one dominant gradient direction), small on flat areas and on blob-like targets
    (gradients in all directions). ``float32 (H, W)``, >= 0.
    """
    smooth = cv2.GaussianBlur(gray, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
    jxx, jyy, jxy = (cv2.GaussianBlur(g, (0, 0), rho, borderType=cv2.BORDER_REPLICATE) for g in (gx * gx, gy * gy, gx * gy))
    return np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy**2).astype(np.float32)


def local_structure_weight(gray: np.ndarray, h: float = 1.0, sigma: float = 1.0, rho: float = 2.0) -> np.ndarray:
    """RIPT's local-structure weight ``exp(h * E)``, ``E`` = eigen gap min-max scaled to [0, 1].

    Edges get weights up to ``e^h``: they are background structure, so putting them in the sparse
    (target) part costs more. ``float32 (H, W)`` in ``[1, e^h]``.
    """
    gap = structure_tensor_eigen_gap(gray, sigma, rho)
    low, high = float(gap.min()), float(gap.max())
    scaled = (gap - low) / (high - low) if high > low else np.zeros_like(gap)
    return np.exp(h * scaled).astype(np.float32)


def ript(
    image,
    patch: int = 30,
    stride: int = 10,
    lam_scale: float = 1.0,
    h: float = 1.0,
    sigma: float = 1.0,
    rho: float = 2.0,
    reweight_eps: float = 1.0,
    tol: float = 1e-7,
    max_iter: int = 50,
    reduce: str = "median",
) -> np.ndarray:
    """Reweighted Infrared Patch-Tensor model (RIPT).

    Paper: Y. Dai and Y. Wu, "Reweighted infrared patch-tensor model with both nonlocal and local priors
    for single-frame small target detection", *IEEE Journal of Selected Topics in Applied Earth
    Observations and Remote Sensing* 10(8), 2017.

    Patches are stacked as the frontal slices of a tensor ``D (patch, patch, P)`` (nonlocal prior: the
    background tensor is low-rank in every mode), split as ``D = B + T`` by
    ``min sum_i ||B_(i)||_* / 3 + lam ||W . T||_1``. The entrywise weight ``W`` combines the local prior,
    ``exp(h * E)`` with ``E`` the normalised structure-tensor eigen gap ``lambda1 - lambda2`` (edges
    cost more as target), and a reweighting ``eps / (|T| + eps)`` that enhances sparsity. The solver
    stops on the residual, when the number of target entries stops changing (the paper's added
    condition) or after ``max_iter`` iterations.
    Paper defaults: 30 x 30 patches, stride 10, ``lam = L / sqrt(min(I, J, P))`` with ``L = 1``, ``h = 1``,
    tolerance ``1e-7``. The structure-tensor scales (``sigma = 1``, ``rho = 2``) and ``reweight_eps = 1``
    (one grey level) are this implementation's choices. Pixels shared by overlapping patches take the median.

    Args:
        image: ``(H, W)`` gray or ``(H, W, 3|4)`` colour, any dtype (see :func:`as_gray_float32`).
        patch, stride: patch side and window step, ``stride <= patch``.
        lam_scale: ``L`` in ``lam = L / sqrt(min(I, J, P))``.
        h: stretch of the local-structure weight.
        sigma, rho: pre-smoothing and integration scales of the structure tensor (pixels).
        reweight_eps: ``eps`` of the sparsity reweighting, on the 0..255 scale.
        tol, max_iter: stopping rule of the solver.
        reduce: ``"median"`` or ``"mean"`` for pixels covered by several patches.

    Returns:
        ``float32 (H, W)`` saliency >= 0.
    """
    if not lam_scale > 0:
        raise ValueError(f"lam_scale: expected a positive number, got {lam_scale!r}")
    if not (sigma > 0 and rho > 0):
        raise ValueError(f"sigma, rho: expected positive scales, got {sigma!r}, {rho!r}")
    gray = as_gray_float32(image)
    patches, grid = image_to_patches(gray, patch, stride)
    weight_patches, _ = image_to_patches(local_structure_weight(gray, h, sigma, rho), patch, stride)
    n, p = patches.shape[0], grid.patch
    # (P, p*p) -> (p, p, P): patch k is the k-th frontal slice.
    data = patches.reshape(n, p, p).transpose(1, 2, 0)
    prior = weight_patches.reshape(n, p, p).transpose(1, 2, 0)
    lam = lam_scale / math.sqrt(min(data.shape))
    target = robust_tensor_pca(data, lam, prior, reweight_eps=reweight_eps, tol=tol, max_iter=max_iter).sparse
    saliency = patches_to_image(target.transpose(2, 0, 1).reshape(n, p * p), grid, reduce=reduce)
    return np.maximum(saliency, 0.0).astype(np.float32, copy=False)
