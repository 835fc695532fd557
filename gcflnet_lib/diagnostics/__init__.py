"""Checks that a trained model does what it is meant to do (module health), for any model of the registry."""

from gcflnet_lib.diagnostics.glfi_use import GLFIUse, flatten_test, glfi_blocks, glfi_table, glfi_use
from gcflnet_lib.diagnostics.skip_health import (
    DEAD_PROBABILITY_CHANGE,
    FINE_LEVELS,
    ShuffleResult,
    SkipHealth,
    health_row,
    shuffle_pixels,
    skip_blocks,
    shuffle_test,
    skip_health,
    target_crops,
)

__all__ = [
    "DEAD_PROBABILITY_CHANGE",
    "FINE_LEVELS",
    "GLFIUse",
    "ShuffleResult",
    "SkipHealth",
    "flatten_test",
    "glfi_blocks",
    "glfi_table",
    "glfi_use",
    "health_row",
    "shuffle_pixels",
    "skip_blocks",
    "shuffle_test",
    "skip_health",
    "target_crops",
]
