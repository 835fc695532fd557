"""``python -m gcflnet_lib`` is the same as the ``gcflnet`` command."""

from gcflnet_lib.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
