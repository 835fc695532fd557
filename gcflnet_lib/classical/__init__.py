"""Classical (non-learning) infrared small target detectors the paper compares GCFLNet with.

Each detector takes an image ``(H, W)`` (any dtype, or ``(H, W, 3|4)`` colour -> gray) and returns a
``float32 (H, W)`` saliency map; :func:`adaptive_threshold` turns a map into a mask (``mean + k * std``).

- filter-based: :func:`tophat` (Rivest & Fortin 1996), :func:`max_median` (Deshpande et al. 1999)
- local contrast: :func:`tllcm` (Han et al. 2020), :func:`wslcm` (Han et al. 2021)
- low-rank: :func:`ipi` (Gao et al. 2013), :func:`ript` (Dai & Wu 2017)

``METHODS`` maps names to functions; ``run_method(name, image, **params)`` runs one by name.
"""

from gcflnet_lib.classical.common import DEFAULT_K, adaptive_threshold, as_gray_float32, saliency_to_uint8
from gcflnet_lib.classical.filters import max_median, max_median_background, tophat
from gcflnet_lib.classical.local_contrast import tllcm, wslcm
from gcflnet_lib.classical.low_rank import ipi, local_structure_weight, ript, structure_tensor_eigen_gap
from gcflnet_lib.classical.registry import METHODS, get_method, run_method

__all__ = [
    "DEFAULT_K",
    "METHODS",
    "adaptive_threshold",
    "as_gray_float32",
    "get_method",
    "ipi",
    "local_structure_weight",
    "max_median",
    "max_median_background",
    "ript",
    "run_method",
    "saliency_to_uint8",
    "structure_tensor_eigen_gap",
    "tllcm",
    "tophat",
    "wslcm",
]
