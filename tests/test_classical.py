"""Tests for gcflnet_lib.classical (six classical detectors) and ``gcflnet classical``.

Scenes are synthetic and seeded: a bright 3 x 3 target on a flat noisy background (every method
must find it, Pd = 1 after the adaptive threshold) and smooth 1/f^4 "cloud" clutter without any
target (every method must flag only a small fraction of it). The low-rank methods run on small
images here to keep the file fast.
"""

from __future__ import annotations

import inspect

import cv2
import numpy as np
import pytest
import torch
from scipy import ndimage as ndi

from gcflnet_lib import classical
from gcflnet_lib.classical import (
    DEFAULT_K,
    METHODS,
    adaptive_threshold,
    as_gray_float32,
    get_method,
    ipi,
    max_median,
    max_median_background,
    ript,
    run_method,
    saliency_to_uint8,
    tllcm,
    tophat,
    wslcm,
)
from gcflnet_lib.classical.local_contrast import top_k_mean_map, top_k_mean_maps
from gcflnet_lib.classical.patches import image_to_patches, patches_to_image
from gcflnet_lib.classical.rpca import fold, robust_pca, robust_tensor_pca, singular_value_threshold, soft_threshold, unfold

try:
    from gcflnet_lib.metrics import pd_fa_image
except ImportError:  # metrics not written yet: the same protocol, locally
    pd_fa_image = None

NAMES = ("tophat", "max_median", "tllcm", "wslcm", "ipi", "ript")
# Enough solver iterations to check shapes and modes quickly (detection tests use the defaults).
QUICK = {"ipi": {"max_iter": 3}, "ript": {"max_iter": 3}}
# On pure clutter, with k = CLUTTER_K (the default), each method may flag at most this fraction of the pixels.
CLUTTER_K = DEFAULT_K
CLUTTER_BOUND = 5e-3


# ----------------------------------------------------------------------------------------- scenes
def flat_scene(shape=(64, 64), center=(30, 21), amplitude=60.0, noise=3.0, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Flat background 100 + Gaussian noise (sigma ``noise``) + a 3 x 3 target ``amplitude`` brighter."""
    rng = np.random.default_rng(seed)
    image = 100.0 + noise * rng.standard_normal(shape)
    mask = np.zeros(shape, dtype=bool)
    cy, cx = center
    mask[cy - 1 : cy + 2, cx - 1 : cx + 2] = True
    image[mask] += amplitude
    return image.astype(np.float32), mask


def clouds(shape=(128, 128), seed=0, beta=4.0) -> np.ndarray:
    """Smooth fractal clutter: Gaussian noise with a 1/f^beta power spectrum, mean 120, std 25."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    spectrum = (rng.standard_normal(radius.shape) + 1j * rng.standard_normal(radius.shape)) / radius ** (beta / 2)
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=shape)
    return (120.0 + 25.0 * (field - field.mean()) / field.std()).astype(np.float32)


def _pd_fa(pred: np.ndarray, mask: np.ndarray) -> tuple[int, int, int]:
    """(matched targets, targets, false-alarm pixels): the library's pd_fa_image, or the same rule here."""
    if pd_fa_image is not None:
        return pd_fa_image(pred, mask)
    eight = np.ones((3, 3), dtype=bool)
    target_labels, n_targets = ndi.label(mask, eight)
    pred_labels, n_pred = ndi.label(pred, eight)
    targets = ndi.center_of_mass(mask, target_labels, range(1, n_targets + 1))
    components = ndi.center_of_mass(pred, pred_labels, range(1, n_pred + 1)) if n_pred else []
    used, matched_pixels = set(), 0
    for ty, tx in targets:
        for j, (py, px) in enumerate(components):
            if j not in used and np.hypot(ty - py, tx - px) < 3:
                used.add(j)
                matched_pixels += int((pred_labels == j + 1).sum())
                break
    return len(used), n_targets, int(pred.sum()) - matched_pixels


# ------------------------------------------------------------------------------------------ common
class TestCommon:
    def test_gray_modes_agree(self):
        gray8 = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
        expected = gray8.astype(np.float32)
        np.testing.assert_array_equal(as_gray_float32(gray8), expected)
        np.testing.assert_allclose(as_gray_float32(gray8.astype(np.uint16) * 257), expected, atol=1e-4)
        rgb = np.repeat(gray8[..., None], 3, axis=-1)
        np.testing.assert_allclose(as_gray_float32(rgb), expected, atol=1e-4)
        rgba = np.concatenate([rgb, np.full((3, 4, 1), 7, np.uint8)], axis=-1)  # alpha must not count
        np.testing.assert_allclose(as_gray_float32(rgba), expected, atol=1e-4)
        np.testing.assert_allclose(as_gray_float32(torch.from_numpy(expected)), expected)
        assert as_gray_float32(gray8[..., None]).shape == (3, 4)

    def test_colour_uses_luma(self):
        red = np.zeros((2, 2, 3), np.uint8)
        red[..., 0] = 255
        np.testing.assert_allclose(as_gray_float32(red), 0.299 * 255, rtol=1e-5)

    @pytest.mark.parametrize(
        "bad, message",
        [
            (np.zeros((0, 5)), "empty"),
            (np.array(3.0), "empty"),
            (np.zeros((4, 0, 3)), "empty"),
            (np.zeros((4, 4, 2)), "shape"),
            (np.zeros((2, 3, 4, 5)), "shape"),
            (np.array([["a", "b"]]), "numeric"),
            (np.array([[1.0, np.nan]]), "NaN"),
        ],
    )
    def test_bad_images_are_refused(self, bad, message):
        with pytest.raises(ValueError, match=message):
            as_gray_float32(bad)

    def test_adaptive_threshold_is_mean_plus_k_std(self):
        values = np.zeros((10, 10), np.float32)
        values[0, 0], values[5, 5] = 100.0, 30.0
        threshold_k1 = values.mean() + values.std()
        np.testing.assert_array_equal(adaptive_threshold(values, 1.0), values > threshold_k1)
        assert adaptive_threshold(values, 1.0).sum() == 2
        assert adaptive_threshold(values, 5.0).sum() == 1  # 30 < mean + 5 std < 100
        assert not adaptive_threshold(np.full((4, 4), 3.0), 0.0).any()  # constant map: nothing stands out

    def test_adaptive_threshold_refuses_bad_input(self):
        with pytest.raises(ValueError, match="k"):
            adaptive_threshold(np.ones((3, 3)), float("nan"))
        with pytest.raises(ValueError, match="2-D"):
            adaptive_threshold(np.ones((3, 3, 3)), 3.0)

    def test_saliency_to_uint8_min_max(self):
        out = saliency_to_uint8(np.array([[2.0, 4.0], [3.0, 6.0]]))
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, [[0, 128], [64, 255]])
        np.testing.assert_array_equal(saliency_to_uint8(np.full((2, 3), 5.0)), np.zeros((2, 3), np.uint8))


# ------------------------------------------------------------------------------- every method
class TestEveryMethod:
    @pytest.mark.parametrize("name", NAMES)
    def test_finds_target_on_flat_noisy_background(self, name):
        image, mask = flat_scene()
        saliency = run_method(name, image)
        assert saliency.dtype == np.float32 and saliency.shape == image.shape
        assert np.isfinite(saliency).all() and saliency.min() >= 0
        for k in (3.0, DEFAULT_K):
            matched, targets, false_pixels = _pd_fa(adaptive_threshold(saliency, k), mask)
            assert (matched, targets) == (1, 1), f"{name}, k={k}: Pd = {matched}/{targets}"
            assert false_pixels <= 10, f"{name}, k={k}: {false_pixels} false-alarm pixels on a flat background"
        peak = np.unravel_index(np.argmax(saliency), saliency.shape)
        assert np.hypot(peak[0] - 30, peak[1] - 21) <= 2

    @pytest.mark.parametrize("name", NAMES)
    def test_low_false_alarms_on_pure_clutter(self, name):
        for seed in (0, 1):
            saliency = run_method(name, clouds(seed=seed))
            flagged = adaptive_threshold(saliency, CLUTTER_K).mean()
            assert flagged < CLUTTER_BOUND, f"{name}: flags {flagged:.1e} of a clutter-only image (seed {seed})"

    @pytest.mark.parametrize("name", NAMES)
    def test_target_outshines_clutter(self, name):
        background = clouds(seed=2)
        with_target = background.copy()
        with_target[63:66, 40:43] += 50.0
        saliency = run_method(name, with_target)
        peak = np.unravel_index(np.argmax(saliency), saliency.shape)
        assert np.hypot(peak[0] - 64, peak[1] - 41) <= 2, f"{name}: strongest response at {peak}, not on the target"

    @pytest.mark.parametrize("name", NAMES)
    @pytest.mark.parametrize("shape", [(37, 53), (256, 256), (300, 200), (1, 1), (5, 200)])
    def test_any_size(self, name, shape):
        image = clouds(shape, seed=3) if min(shape) > 1 else np.full(shape, 9.0, np.float32)
        saliency = run_method(name, image, **QUICK.get(name, {}))
        assert saliency.shape == shape and saliency.dtype == np.float32
        assert np.isfinite(saliency).all()

    @pytest.mark.parametrize("name", NAMES)
    def test_any_mode_same_map(self, name):
        image, _ = flat_scene(shape=(48, 56), center=(20, 30))
        as_uint8 = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        params = QUICK.get(name, {})
        reference = run_method(name, as_uint8, **params)
        variants = {
            "uint16": as_uint8.astype(np.uint16) * 257,
            "float": as_uint8.astype(np.float64),
            "rgb": np.repeat(as_uint8[..., None], 3, axis=-1),
            "rgba": np.concatenate([np.repeat(as_uint8[..., None], 3, axis=-1), np.full((48, 56, 1), 255, np.uint8)], -1),
        }
        scale = float(reference.max()) or 1.0
        for mode, variant in variants.items():
            np.testing.assert_allclose(run_method(name, variant, **params), reference, atol=1e-3 * scale, err_msg=f"{name} {mode}")

    @pytest.mark.parametrize("name", NAMES)
    @pytest.mark.parametrize("empty", [np.zeros((0, 0)), np.zeros((0, 7)), np.array(1.0), np.zeros((3, 0, 3))])
    def test_refuses_empty_image(self, name, empty):
        with pytest.raises(ValueError, match="empty image"):
            run_method(name, empty)

    @pytest.mark.parametrize("name", NAMES)
    def test_constant_image_gives_zero_map(self, name):
        for value in (0.0, 77.0):
            saliency = run_method(name, np.full((40, 40), value, np.float32), **QUICK.get(name, {}))
            np.testing.assert_allclose(saliency, 0.0, atol=1e-3)

    @pytest.mark.parametrize("name", NAMES)
    def test_docstring_cites_paper_and_year(self, name):
        doc = inspect.getdoc(METHODS[name])
        assert "Paper:" in doc and any(str(year) in doc for year in range(1990, 2025))


# ------------------------------------------------------------------------------------- filters
class TestFilters:
    def test_tophat_equals_image_minus_opening(self):
        image = clouds((40, 50), seed=4)
        element = np.ones((9, 9), np.uint8)
        opening = cv2.dilate(cv2.erode(image, element), element)
        np.testing.assert_allclose(tophat(image), image - opening, atol=1e-4)

    def test_tophat_keeps_only_structures_smaller_than_element(self):
        image = np.full((40, 40), 10.0, np.float32)
        image[5:8, 5:8] = 50.0  # 3 x 3: removed by the opening -> stays in the top-hat
        image[20:32, 20:32] = 50.0  # 12 x 12: survives the opening -> gone from the top-hat
        out = tophat(image, size=9)
        assert out[6, 6] == pytest.approx(40.0)
        assert out[20:32, 20:32].max() == pytest.approx(0.0)

    def test_max_median_background_matches_line_medians(self):
        rng = np.random.default_rng(5)
        image = rng.random((23, 31)).astype(np.float32)
        for window in (3, 5, 7, 9):
            r = window // 2
            footprints = [np.zeros((window, window), bool) for _ in range(4)]
            footprints[0][r, :] = footprints[1][:, r] = True
            np.fill_diagonal(footprints[2], True)
            np.fill_diagonal(footprints[3][::-1], True)
            expected = np.max([ndi.median_filter(image, footprint=f, mode="nearest") for f in footprints], axis=0)
            np.testing.assert_allclose(max_median_background(image, window), expected, err_msg=f"window {window}")

    def test_max_median_keeps_edges_out(self):
        image = np.full((30, 30), 20.0, np.float32)
        image[:, 15:] = 80.0  # a straight edge is background: a line along it has the edge's median
        assert max_median(image).max() == pytest.approx(0.0)

    @pytest.mark.parametrize("call", [lambda x: tophat(x, size=4), lambda x: tophat(x, shape="star"), lambda x: max_median(x, window=2)])
    def test_bad_parameters(self, call):
        with pytest.raises(ValueError):
            call(np.ones((10, 10)))


# ------------------------------------------------------------------------------ local contrast
class TestLocalContrast:
    def test_top_k_mean_map(self):
        rng = np.random.default_rng(6)
        padded = rng.random((12, 14)).astype(np.float32)
        out = top_k_mean_map(padded, 5, 3)
        assert out.shape == (8, 10)
        for i, j in [(0, 0), (3, 7), (7, 9)]:
            window = np.sort(padded[i : i + 5, j : j + 5].ravel())
            assert out[i, j] == pytest.approx(window[-3:].mean(), rel=1e-6)

    def test_nested_top_k_maps_match_each_size(self):
        rng = np.random.default_rng(11)
        padded = rng.random((30, 33)).astype(np.float32)
        maps = top_k_mean_maps(padded, (9, 3, 5), 4)  # any order; all on the grid of the largest
        assert sorted(maps) == [3, 5, 9] and all(m.shape == (22, 25) for m in maps.values())
        for size in (3, 5, 9):
            shift = 4 - size // 2  # window centred on padded[i + 4, j + 4]
            alone = top_k_mean_map(padded[shift : shift + 22 + size - 1, shift : shift + 25 + size - 1], size, 4)
            np.testing.assert_allclose(maps[size], alone, rtol=1e-6, err_msg=f"size {size}")

    def test_tllcm_formula_at_target_centre(self):
        image = np.full((45, 45), 50.0, np.float32)
        image[21:24, 21:24] = 150.0
        out = tllcm(image, scales=(9,), k=9)
        core = (150 * 4 + 150 * 2 * 4 + 150 * 4) / 16  # 3 x 3 Gaussian inside a flat 3 x 3 target
        assert out[22, 22] == pytest.approx(core * core / 50.0 - core, rel=1e-5)
        assert out[2, 2] == pytest.approx(0.0)  # flat area: no contrast

    def test_wslcm_weight_damps_edges(self):
        edge = np.full((60, 60), 40.0, np.float32)
        edge[:, 30:] = 120.0
        target = np.full((60, 60), 40.0, np.float32)
        target[29:32, 29:32] = 120.0
        assert wslcm(edge).max() < 1e-3 * wslcm(target).max()

    @pytest.mark.parametrize("kwargs", [{"scales": (4,)}, {"scales": ()}, {"k": 0}, {"scales": (3,), "k": 10}])
    def test_bad_parameters(self, kwargs):
        with pytest.raises(ValueError):
            tllcm(np.ones((20, 20)), **kwargs)
        with pytest.raises(ValueError):
            wslcm(np.ones((20, 20)), **kwargs)


# ------------------------------------------------------------------------------------ low rank
class TestPatches:
    @pytest.mark.parametrize("shape, patch, stride", [((37, 53), 10, 4), ((64, 64), 50, 10), ((20, 30), 50, 10), ((33, 41), 7, 7)])
    @pytest.mark.parametrize("reduce", ["median", "mean"])
    def test_round_trip(self, shape, patch, stride, reduce):
        image = clouds(shape, seed=7)
        patches, grid = image_to_patches(image, patch, stride)
        assert patches.shape == (grid.grid[0] * grid.grid[1], patch * patch)
        np.testing.assert_allclose(patches_to_image(patches, grid, reduce), image, rtol=1e-6)

    def test_median_of_overlaps(self):
        image = np.zeros((4, 4), np.float32)
        patches, grid = image_to_patches(image, 2, 1)  # 3 x 3 grid of 2 x 2 patches
        patches = patches.copy()
        patches[4] += 9.0  # one patch (centre) claims the middle pixels are 9; the others say 0
        out = patches_to_image(patches, grid, "median")
        np.testing.assert_array_equal(out, 0.0)
        out_mean = patches_to_image(patches, grid, "mean")
        assert out_mean[1, 1] == pytest.approx(9.0 / 4)

    def test_bad_patching(self):
        with pytest.raises(ValueError, match="stride"):
            image_to_patches(np.ones((10, 10)), 5, 6)
        with pytest.raises(ValueError, match="patch"):
            image_to_patches(np.ones((10, 10)), 0, 1)


class TestRpca:
    def test_soft_threshold(self):
        x = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
        np.testing.assert_allclose(soft_threshold(x, 1.0), [-2.0, 0.0, 0.0, 0.0, 2.0])
        np.testing.assert_allclose(soft_threshold(x, np.array([0, 0, 0, 1, 4.0])), [-3.0, -0.5, 0.0, 0.0, 0.0])

    def test_svt_matches_svd(self):
        rng = np.random.default_rng(8)
        for shape in [(40, 12), (12, 40)]:
            matrix = rng.standard_normal(shape)
            u, s, vh = np.linalg.svd(matrix, full_matrices=False)
            tau = float(s[2] + s[3]) / 2
            expected = (u * np.clip(s - tau, 0, None)) @ vh
            result, rank = singular_value_threshold(matrix, tau)
            assert rank == 3
            np.testing.assert_allclose(result, expected, atol=1e-8)
        assert singular_value_threshold(matrix, 1e9)[1] == 0

    def test_unfold_fold_round_trip(self):
        tensor = np.arange(24.0).reshape(2, 3, 4)
        for mode in range(3):
            assert unfold(tensor, mode).shape == (tensor.shape[mode], 24 // tensor.shape[mode])
            np.testing.assert_array_equal(fold(unfold(tensor, mode), mode, (2, 3, 4)), tensor)
        np.testing.assert_array_equal(unfold(tensor, 0)[1], tensor[1].ravel())
        np.testing.assert_array_equal(unfold(tensor, 2)[3], tensor[:, :, 3].ravel())

    def test_robust_pca_recovers_low_rank_and_sparse(self):
        rng = np.random.default_rng(9)
        low = rng.standard_normal((60, 3)) @ rng.standard_normal((3, 50))
        sparse = np.zeros((60, 50))
        spots = rng.choice(low.size, 60, replace=False)
        sparse.flat[spots] = rng.choice([-8.0, 8.0], 60)
        result = robust_pca(low + sparse, lam=1 / np.sqrt(60))
        assert result.residual < 1e-6
        np.testing.assert_allclose(result.low_rank, low, atol=1e-2)
        np.testing.assert_allclose(result.sparse, sparse, atol=1e-2)

    def test_robust_tensor_pca_finds_sparse_spike(self):
        rng = np.random.default_rng(10)
        a, b, c = (rng.standard_normal(n) for n in (8, 9, 30))
        low = 10 + np.einsum("i,j,k->ijk", a, b, c)
        data = low.copy()
        data[3, 4, 7] += 40.0
        result = robust_tensor_pca(data, lam=1 / np.sqrt(8))
        sparse = result.sparse
        assert np.unravel_index(np.abs(sparse).argmax(), sparse.shape) == (3, 4, 7)
        assert result.iterations <= 50

    def test_zero_data(self):
        assert robust_pca(np.zeros((5, 4)), 0.5).iterations == 0
        assert robust_tensor_pca(np.zeros((3, 3, 3)), 0.5).iterations == 0
        with pytest.raises(ValueError, match="max_iter"):
            robust_pca(np.ones((5, 4)), 0.5, max_iter=0)


class TestLowRank:
    def test_ipi_iteration_cap_is_honoured(self, monkeypatch):
        import gcflnet_lib.classical.rpca as rpca_module

        calls = []
        original = rpca_module.singular_value_threshold

        def counting(matrix, threshold, **kwargs):
            calls.append(threshold)
            return original(matrix, threshold, **kwargs)

        monkeypatch.setattr(rpca_module, "singular_value_threshold", counting)
        ipi(flat_scene()[0], max_iter=4)
        assert 1 <= len(calls) <= 4

    def test_huge_lambda_leaves_no_target(self):
        image, _ = flat_scene()
        assert ipi(image, lam=1e6).max() == 0.0
        assert ript(image, lam_scale=1e6).max() == 0.0

    def test_bad_parameters(self):
        with pytest.raises(ValueError, match="lam"):
            ipi(np.ones((20, 20)), lam=-1.0)
        with pytest.raises(ValueError, match="reduce"):
            ipi(np.ones((20, 20)), patch=10, stride=5, reduce="max")
        with pytest.raises(ValueError, match="lam_scale"):
            ript(np.ones((20, 20)), lam_scale=0)


# ------------------------------------------------------------------------------------ registry
class TestRegistry:
    def test_methods(self):
        assert tuple(METHODS) == NAMES
        assert METHODS["tophat"] is tophat and get_method("ipi") is ipi
        assert classical.run_method is run_method

    def test_unknown_name_lists_names(self):
        with pytest.raises(ValueError, match="unknown classical method 'lcm'.*tophat.*ript"):
            run_method("lcm", np.ones((5, 5)))

    def test_params_are_passed(self):
        image, _ = flat_scene()
        np.testing.assert_array_equal(run_method("tophat", image, size=5), tophat(image, size=5))
        with pytest.raises(TypeError):
            run_method("tophat", image, patch=5)

    def test_cli_method_names_match(self):
        from gcflnet_lib.commands import classical as command

        assert command.METHOD_NAMES == tuple(METHODS)
        assert command.DEFAULT_K == DEFAULT_K


# ------------------------------------------------------------------------------------- the CLI
def _write_layout(root, dataset="Tiny"):
    """A tiny standard layout: 3 test images (gray 8-bit, RGB, 16-bit) with one 3 x 3 target each."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "img_idx").mkdir()
    specs = {"gray": ((48, 64), (20, 30)), "colour": ((40, 40), (12, 25)), "deep": ((50, 30), (33, 14))}
    for name, (shape, center) in specs.items():
        image, mask = flat_scene(shape, center, seed=len(name))
        pixels = np.clip(np.rint(image), 0, 255).astype(np.uint8)
        if name == "colour":
            pixels = np.repeat(pixels[..., None], 3, axis=-1)
        if name == "deep":
            pixels = pixels.astype(np.uint16) * 257
        cv2.imwrite(str(root / "images" / f"{name}.png"), pixels)
        cv2.imwrite(str(root / "masks" / f"{name}.png"), mask.astype(np.uint8) * 255)
    (root / "img_idx" / f"test_{dataset}.txt").write_text("\n".join(specs) + "\n")
    (root / "img_idx" / f"train_{dataset}.txt").write_text("gray\n")
    return specs


def _cli(*argv):
    from gcflnet_lib.cli import main

    return main([str(a) for a in argv])


class TestClassicalCommand:
    def test_writes_one_scorable_map_per_image(self, tmp_path, capsys):
        from gcflnet_lib.data.io import read_prediction

        root, out = tmp_path / "data", tmp_path / "pred"
        specs = _write_layout(root)
        assert _cli("classical", "--method", "tophat", "--data", root, "--dataset", "Tiny", "--out", out) == 0
        assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.png" for name in specs)
        for name, (shape, (cy, cx)) in specs.items():
            prob = read_prediction(out / f"{name}.png")
            assert prob.shape == shape
            assert prob.max() == 1.0 and prob.min() == 0.0  # min-max per image
            assert prob[cy - 1 : cy + 2, cx - 1 : cx + 2].max() == 1.0
        assert "wrote 3" in capsys.readouterr().out
        assert not list(tmp_path.glob(".pred*"))  # no staging folder left behind

        score = pytest.importorskip("gcflnet_lib.metrics").score_folder
        metrics = score(root, "Tiny", "test", out, threshold=0.5)
        assert metrics["pd"] == 1.0 and metrics["n_images"] == 3
        assert _cli("score", "--data", root, "--dataset", "Tiny", "--pred", out) == 0

    def test_binary_masks_and_params(self, tmp_path):
        root, out = tmp_path / "data", tmp_path / "masks_out"
        specs = _write_layout(root)
        code = _cli(
            "classical", "--method", "ipi", "--data", root, "--dataset", "Tiny", "--out", out,
            "--binary", "--k", "4", "--param", "patch=20", "--param", "stride=5", "--param", "max_iter=20",
        )
        assert code == 0
        for name, (shape, (cy, cx)) in specs.items():
            raw = cv2.imread(str(out / f"{name}.png"), cv2.IMREAD_UNCHANGED)
            assert raw.shape == shape and raw.dtype == np.uint8
            assert set(np.unique(raw)) <= {0, 255}
            assert raw[cy, cx] == 255

    def test_train_split_and_overwrite(self, tmp_path):
        root, out = tmp_path / "data", tmp_path / "pred"
        _write_layout(root)
        out.mkdir()
        keep = out / "notes.txt"
        keep.write_text("mine")
        args = ("classical", "--method", "max_median", "--data", root, "--dataset", "Tiny", "--split", "train", "--out", out)
        assert _cli(*args) == 2  # a folder with files is not written into without --overwrite
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
        assert _cli(*args, "--overwrite") == 0
        assert sorted(p.name for p in out.iterdir()) == ["gray.png", "notes.txt"]
        assert keep.read_text() == "mine"

    def test_errors_leave_nothing_behind(self, tmp_path, capsys):
        root, out = tmp_path / "data", tmp_path / "pred"
        _write_layout(root)
        base = ("classical", "--data", root, "--dataset", "Tiny", "--out", out)

        (root / "images" / "deep.png").write_bytes(b"not a png")  # last image corrupt
        assert _cli(*base, "--method", "tophat") == 2
        err = capsys.readouterr().err
        assert "gcflnet classical: error:" in err and "deep.png" in err
        assert not out.exists() and not list(tmp_path.glob(".pred*"))

        assert _cli("classical", "--method", "tophat", "--data", tmp_path / "nowhere", "--dataset", "Tiny", "--out", out) == 2
        assert "nowhere" in capsys.readouterr().err and not out.exists()

        assert _cli(*base, "--method", "tophat", "--param", "patch=5") == 2
        assert "no parameter 'patch'" in capsys.readouterr().err
        assert _cli(*base, "--method", "tophat", "--param", "size=4") == 2  # even element: refused by the method
        assert "size" in capsys.readouterr().err and not out.exists()
        assert _cli(*base, "--method", "tophat", "--param", "size") == 2

        with pytest.raises(SystemExit) as exit_info:
            _cli(*base, "--method", "lcm")
        assert exit_info.value.code == 2
        assert "tophat" in capsys.readouterr().err
