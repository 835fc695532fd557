#!/usr/bin/env python
"""Execute every notebook of the workbook into build/ (executed .ipynb + HTML) and print a summary table.

    python scripts/run_workbook.py            # SMOKE="auto", as a learner runs them: full size on a GPU, the
                                              # released models on the whole test split on a CPU
    python scripts/run_workbook.py --smoke    # force tiny sizes, SMOKE=True (seconds per notebook on a CPU; CI)
    python scripts/run_workbook.py --full --only 01 08

Exit status 0 when every notebook ran, 1 when any failed (the table names it), 2 for bad arguments.
Same as ``python -m gcflnet_lib.workbook run``.
"""

import sys

from gcflnet_lib.workbook.runner import main

if __name__ == "__main__":
    raise SystemExit(main(["run", *sys.argv[1:]]))
