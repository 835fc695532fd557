"""Low-rank + sparse decompositions used by IPI and RIPT (NumPy, float64).

- :func:`soft_threshold` and :func:`singular_value_threshold`: the proximal maps of the l1 and nuclear norms;
- :func:`robust_pca`: ``D = A + E`` with ``A`` low-rank, ``E`` sparse (matrix case, IPI);
- :func:`robust_tensor_pca`: the same for a 3-way tensor with the sum of the unfoldings' nuclear
  norms and an entrywise-reweighted l1 term (RIPT).

Both solvers run a bounded number of iterations: each one costs an eigendecomposition, so
``max_iter`` caps the time. (NumPy's LAPACK is used rather than torch's: on smooth images the
latter's eigensolver can slow down by orders of magnitude on denormal numbers.)
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

import numpy as np

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # only a speed matter: without it BLAS keeps its own thread count
    threadpool_limits = None


def single_threaded_blas():
    """Context: BLAS on one thread. The solvers make thousands of mid-sized BLAS calls; on a busy
    2-core machine OpenBLAS threads waiting for each other made them 10-20x slower, while one
    thread loses at most about a third on an idle one."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def soft_threshold(x: np.ndarray, threshold) -> np.ndarray:
    """``sign(x) * max(|x| - threshold, 0)``, elementwise (``threshold`` a number or an array like ``x``)."""
    return x - np.clip(x, -threshold, threshold)


def _svt_exact(a: np.ndarray, threshold: float) -> tuple[np.ndarray, int]:
    """SVT of a tall ``a (m, n)`` from the eigendecomposition of its ``n x n`` Gram matrix (float64)."""
    eigenvalues, vectors = np.linalg.eigh(a.T @ a)
    singular = np.sqrt(np.clip(eigenvalues, 0.0, None))
    keep = singular > threshold
    rank = int(keep.sum())
    if rank == 0:
        return np.zeros_like(a), 0
    v = vectors[:, keep]
    shrink = (singular[keep] - threshold) / singular[keep]
    if 2 * rank > a.shape[1]:  # one (m x n) @ (n x n) product is cheaper than two through (m x rank)
        return a @ ((v * shrink) @ v.T), rank
    return ((a @ v) * shrink) @ v.T, rank


def _svt_low_rank(a: np.ndarray, threshold: float, size: int) -> tuple[np.ndarray, int] | None:
    """SVT of a tall ``a`` from its top ``size`` singular triplets (randomized range finder, 2 power
    iterations, fixed seed); ``None`` when fewer than 4 of them fall below the threshold, i.e. the
    rank may exceed what ``size`` triplets can show."""
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(a @ rng.standard_normal((a.shape[1], size)))
    for _ in range(2):
        right, _ = np.linalg.qr(a.T @ basis)
        basis, _ = np.linalg.qr(a @ right)
    u, singular, vt = np.linalg.svd(basis.T @ a, full_matrices=False)
    keep = singular > threshold
    rank = int(keep.sum())
    if rank > size - 4:
        return None
    if rank == 0:
        return np.zeros_like(a), 0
    return (basis @ (u[:, keep] * (singular[keep] - threshold))) @ vt[keep], rank


def singular_value_threshold(matrix: np.ndarray, threshold: float, rank_hint: int | None = None) -> tuple[np.ndarray, int]:
    """``U diag(max(s - threshold, 0)) V^T`` for ``matrix = U diag(s) V^T``; returns it and its rank.

    Exact path: the eigendecomposition of the small Gram matrix (``n x n`` for ``m x n``, ``m >= n``),
    several times faster than an SVD for the tall patch matrices here; float64 keeps the squared
    singular values accurate. With ``rank_hint`` (the rank expected, e.g. the previous iteration's)
    well below ``n``, only the top ``2 * rank_hint + 8`` singular triplets are estimated (in the spirit
    of Lin et al.'s rank prediction); if the rank turns out larger, the exact path runs.
    """
    tall = matrix.shape[0] >= matrix.shape[1]
    a = matrix if tall else matrix.T
    result = None
    size = None if rank_hint is None else 2 * rank_hint + 8  # room for the rank to grow
    if size is not None and 8 * size <= a.shape[1]:  # beyond that the exact path is as cheap
        result = _svt_low_rank(a, threshold, size)
    if result is None:
        result = _svt_exact(a, threshold)
    low_rank, rank = result
    return (low_rank if tall else low_rank.T), rank


def spectral_norm(matrix: np.ndarray, iterations: int = 200, rtol: float = 1e-9) -> float:
    """Largest singular value, by power iteration on the Gram matrix of the shorter side.

    (LAPACK's eigenvalues-only driver can be very slow on the nearly rank-one Gram matrices of
    smooth images; only this one value is needed, to scale the solvers' penalty.)
    """
    gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    vector = np.sqrt(np.abs(np.diag(gram))) + 1e-12  # start near the dominant direction
    value = 0.0
    for _ in range(iterations):
        product = gram @ vector
        norm = float(np.linalg.norm(product))
        if norm == 0.0:
            return 0.0
        vector = product / norm
        if abs(norm - value) <= rtol * norm:
            break
        value = norm
    return float(np.sqrt(norm))


class Decomposition(NamedTuple):
    low_rank: np.ndarray
    sparse: np.ndarray
    iterations: int
    residual: float  # ||D - low_rank - sparse||_F / ||D||_F at the end


def _check_iterations(max_iter: int) -> None:
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter: expected a positive integer, got {max_iter!r}")


def robust_pca(
    data: np.ndarray,
    lam: float,
    tol: float = 1e-7,
    max_iter: int = 60,
    mu_growth: float = 1.5,
) -> Decomposition:
    """Principal component pursuit ``min ||A||_* + lam ||E||_1  s.t.  D = A + E`` by inexact ALM.

    Algorithm: Z. Lin, M. Chen and Y. Ma, "The augmented Lagrange multiplier method for exact recovery
    of corrupted low-rank matrices", arXiv:1009.5055, 2010 (Algorithm 5), with the settings of the
    authors' code: ``mu_0 = 1.25 / ||D||_2``, multiplied by ``mu_growth = 1.5`` each iteration; stop
    when ``||D - A - E||_F / ||D||_F < tol`` or after ``max_iter`` iterations.

    Args:
        data: ``(m, n)`` matrix ``D`` (used as float64).
        lam: weight of the l1 term.
    """
    _check_iterations(max_iter)
    data = np.asarray(data, dtype=np.float64)
    norm_fro = float(np.linalg.norm(data))
    if norm_fro == 0.0:
        return Decomposition(np.zeros_like(data), np.zeros_like(data), 0, 0.0)
    with single_threaded_blas():
        norm_two = spectral_norm(data)
        dual = data / max(norm_two, float(np.abs(data).max()) / lam)
        mu = 1.25 / norm_two
        mu_max = mu * 1e7
        sparse = np.zeros_like(data)
        work = np.empty_like(data)
        scaled_dual = np.empty_like(data)
        residual, rank = 1.0, 0
        for iteration in range(1, max_iter + 1):
            # In-place passes over (m x n) arrays: these steps are memory-bound, temporaries cost.
            np.multiply(dual, 1.0 / mu, out=scaled_dual)
            np.subtract(data, sparse, out=work)
            work += scaled_dual  # D - E + Y / mu
            low_rank, rank = singular_value_threshold(work, 1.0 / mu, rank_hint=rank)
            work += sparse
            work -= low_rank  # D - A + Y / mu
            sparse = soft_threshold(work, lam / mu)
            work -= sparse
            work -= scaled_dual  # the constraint gap D - A - E
            residual = float(np.linalg.norm(work)) / norm_fro
            work *= mu
            dual += work
            mu = min(mu * mu_growth, mu_max)
            if residual < tol:
                break
    return Decomposition(low_rank, sparse, iteration, residual)


def unfold(tensor: np.ndarray, mode: int) -> np.ndarray:
    """Mode-``mode`` unfolding of a 3-way tensor: ``(d_mode, product of the other two)``."""
    return np.moveaxis(tensor, mode, 0).reshape(tensor.shape[mode], -1)


def fold(matrix: np.ndarray, mode: int, shape: tuple[int, int, int]) -> np.ndarray:
    """Inverse of :func:`unfold`."""
    moved = (shape[mode],) + tuple(d for i, d in enumerate(shape) if i != mode)
    return np.moveaxis(matrix.reshape(moved), 0, mode)


def robust_tensor_pca(
    data: np.ndarray,
    lam: float,
    prior_weight: np.ndarray | None = None,
    reweight_eps: float = 1.0,
    tol: float = 1e-7,
    max_iter: int = 50,
    beta_growth: float = 1.5,
) -> Decomposition:
    """Reweighted higher-order RPCA: ``min sum_i ||L_(i)||_* / 3 + lam ||W . S||_1  s.t.  D = L + S``.

    ``L_(i)`` is the mode-i unfolding, so the low-rank term is the sum of nuclear norms of the three
    unfoldings (Goldfarb & Qin's HoRPCA), solved by ADMM with one auxiliary copy of ``L`` per mode
    (penalty ``beta``, starting at ``1.25 / ||D_(3)||_2``, times ``beta_growth`` per iteration).
    The l1 weight is entrywise: ``W = prior_weight * reweight_eps / (|S| + reweight_eps)`` recomputed
    after every ``S`` step (Candes' reweighting: entries already in ``S`` are penalised less, so the
    sparse part gets sparser and its survivors stay; a zero entry keeps weight ``prior_weight``).

    Stops when the relative residual is below ``tol``, when the number of nonzero entries of ``S`` is
    the same in two consecutive iterations (Dai & Wu's extra condition for detection: the target
    support has settled), or after ``max_iter`` iterations.

    Args:
        data: ``(d1, d2, d3)`` tensor ``D`` (used as float64).
        lam: weight of the l1 term.
        prior_weight: array like ``data`` (> 0) or ``None`` (all ones).
        reweight_eps: ``epsilon`` of the reweighting, on the data's scale.
    """
    _check_iterations(max_iter)
    if not reweight_eps > 0:
        raise ValueError(f"reweight_eps: expected a positive number, got {reweight_eps!r}")
    data = np.asarray(data, dtype=np.float64)
    norm_fro = float(np.linalg.norm(data))
    if norm_fro == 0.0:
        return Decomposition(np.zeros_like(data), np.zeros_like(data), 0, 0.0)
    shape = data.shape
    prior = np.ones_like(data) if prior_weight is None else np.asarray(prior_weight, dtype=np.float64)
    if prior.shape != shape:
        raise ValueError(f"prior_weight: expected shape {shape}, got {prior.shape}")
    with single_threaded_blas():
        weight = prior.copy()
        beta = 1.25 / spectral_norm(unfold(data, 2))
        beta_max = beta * 1e7
        low_rank = np.zeros_like(data)
        sparse = np.zeros_like(data)
        dual = np.zeros_like(data)
        copies_dual = [np.zeros_like(data) for _ in range(3)]
        ranks = [0, 0, 0]
        previous_support = -1
        residual = 1.0
        for iteration in range(1, max_iter + 1):
            copies = []
            for m in range(3):
                update, ranks[m] = singular_value_threshold(
                    unfold(low_rank + copies_dual[m] / beta, m), 1.0 / (3.0 * beta), rank_hint=ranks[m]
                )
                copies.append(fold(update, m, shape))
            # L minimises the augmented Lagrangian given S and the copies: an average of 4 estimates.
            low_rank = data - sparse + dual / beta
            for copy, copy_dual in zip(copies, copies_dual):
                low_rank += copy
                low_rank -= copy_dual / beta
            low_rank /= 4.0
            sparse = soft_threshold(data - low_rank + dual / beta, lam * weight / beta)
            np.divide(reweight_eps, np.abs(sparse) + reweight_eps, out=weight)
            weight *= prior
            gap = data - low_rank - sparse
            residual = float(np.linalg.norm(gap)) / norm_fro
            dual += beta * gap
            for copy, copy_dual in zip(copies, copies_dual):
                copy_dual += beta * (low_rank - copy)
            beta = min(beta * beta_growth, beta_max)
            support = int(np.count_nonzero(sparse))
            if residual < tol or (support > 0 and support == previous_support):
                break
            previous_support = support
    return Decomposition(low_rank, sparse, iteration, residual)
