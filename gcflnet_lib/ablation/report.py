"""The ablation's analysis and its rendering in one namespace: ``scripts/ablation_report.py`` and notebook 09 read
``report.analyse(...)``, ``report.report_markdown(...)`` and ``report.plot_report(...)`` from here."""

from gcflnet_lib.ablation.analysis import (
    analyse,
    better_sign,
    claim_verdicts,
    contrast,
    difference_weights,
    effects,
    interaction_weights,
    main_effect_weights,
    missing_runs,
    plan_anchors,
    variant_rows,
    verdict,
)
from gcflnet_lib.ablation.checks import layout_check, replica_rows, spread_check
from gcflnet_lib.ablation.records import (
    BESIDE,
    CLAIMS,
    LABELS,
    METRICS,
    NCHW_CPU_COMMITS,
    NOT_RECIPE,
    SEEDS,
    TABLE_ORDER,
    cells,
    layout_of,
    load_records,
    pooled_variance,
    recipe_of,
)
from gcflnet_lib.ablation.render import (
    effects_markdown,
    layout_markdown,
    plot_report,
    replicas_markdown,
    report_markdown,
    spread_markdown,
    table_markdown,
)
from gcflnet_lib.models.registry import SWITCHES

__all__ = [
    "BESIDE", "CLAIMS", "LABELS", "METRICS", "NCHW_CPU_COMMITS", "NOT_RECIPE", "SEEDS", "SWITCHES", "TABLE_ORDER",
    "analyse", "better_sign", "cells", "claim_verdicts", "contrast", "difference_weights", "effects",
    "effects_markdown", "interaction_weights", "layout_check", "layout_markdown", "layout_of", "load_records",
    "main_effect_weights", "missing_runs", "plan_anchors", "plot_report", "pooled_variance", "recipe_of",
    "replica_rows", "replicas_markdown", "report_markdown", "spread_check", "spread_markdown", "table_markdown",
    "variant_rows", "verdict",
]
