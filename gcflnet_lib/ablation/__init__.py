"""The paper's ablation (Section 4.4, Table 2), in one package.

- :mod:`~gcflnet_lib.ablation.plans`: where each measured ablation lives (dataset, CPU recipe, files, anchors);
- :mod:`~gcflnet_lib.ablation.sweep`: the 8-variant sweep notebook 09 runs in-process (its names are re-exported
  here: ``from gcflnet_lib.ablation import run_ablation``);
- :mod:`~gcflnet_lib.ablation.records`: what a queue record holds and how a folder of them is read;
- :mod:`~gcflnet_lib.ablation.analysis`: effects, intervals and verdicts; :mod:`~gcflnet_lib.ablation.checks`: the
  layout, replica and equal-spread checks behind the intervals;
- :mod:`~gcflnet_lib.ablation.msic_readings`: the factorial of another MSIC reading beside the measured one, the
  skip health of every run, and the pre-registered rule that chooses MSIC's default reading;
- :mod:`~gcflnet_lib.ablation.render`: the markdown blocks and figures; :mod:`~gcflnet_lib.ablation.report` gathers
  the analysis and its rendering in one namespace for ``scripts/ablation_report.py`` and notebook 09;
- :mod:`~gcflnet_lib.ablation.overview`: the "In short" block that opens docs/ABLATION.md and 09's result, from the
  committed analyses (the default MSIC reading first, then ``crossed``, the second dataset, the budget study).
"""

from gcflnet_lib.ablation.sweep import (
    METRICS,
    SWITCHES,
    agreement_verdict,
    degenerate,
    finished_run_matches,
    row_from_run,
    run_ablation,
    switch_effects,
    variants,
)

__all__ = [
    "METRICS",
    "SWITCHES",
    "agreement_verdict",
    "degenerate",
    "finished_run_matches",
    "row_from_run",
    "run_ablation",
    "switch_effects",
    "variants",
]
