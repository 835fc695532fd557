"""``python -m gcflnet_lib.workbook run``: the workbook runner (:mod:`gcflnet_lib.workbook.runner`)."""

from gcflnet_lib.workbook.runner import main

raise SystemExit(main())
