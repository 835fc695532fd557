"""IPython startup file for the notebook tests: before the inline backend shows (and closes) a cell's figures,
check each for overlapping text (``viz.overlapping_texts``) and append what it finds, one JSON line per figure
with a collision, to the file named by ``GCFLNET_FIGURE_TEXT_LOG``. Registered at kernel start, so it runs before
matplotlib-inline's own ``flush_figures`` callback, which pyplot's first import registers later."""

import json
import os


def _check_figure_text():
    import sys

    if "matplotlib.pyplot" not in sys.modules:
        return
    import matplotlib.pyplot as plt

    from gcflnet_lib.workbook.viz import overlapping_texts

    log = os.environ["GCFLNET_FIGURE_TEXT_LOG"]
    source = get_ipython().user_ns.get("_ih", [""])[-1]  # noqa: F821 (defined in the kernel): the cell just run
    cell = next((line.strip() for line in source.splitlines() if line.strip()), "")[:80]
    for number in plt.get_fignums():
        figure = plt.figure(number)
        found = overlapping_texts(figure)
        if found:
            titles = [ax.get_title() for ax in figure.axes if ax.get_title()][:3]
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"cell": cell, "titles": titles, "overlaps": found[:5]}) + "\n")


if os.environ.get("GCFLNET_FIGURE_TEXT_LOG"):
    get_ipython().events.register("post_execute", _check_figure_text)  # noqa: F821
