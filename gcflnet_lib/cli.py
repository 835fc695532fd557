"""The ``gcflnet`` command line.

Each sub-command lives in its own module under ``gcflnet_lib.commands`` and exposes
``NAME`` (the sub-command), ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Errors that a user can fix (bad paths, corrupt files, wrong flags) are raised as
``gcflnet_lib.errors.UserError`` and printed as one line with a non-zero exit status. So is any
``OSError`` that escapes a command (a disk that fills up, a file system that turns read-only): it is
the machine's state, not a bug, and a traceback would hide the one line that says which path failed.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import warnings


from gcflnet_lib.errors import UserError

# Order is the order shown by ``gcflnet --help``.
COMMAND_MODULES = (
    "synth",
    "score",
    "model_info",
    "train",
    "evaluate",
    "predict",
    "classical",
    "bench",
)


def _load_commands():
    commands = []
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"gcflnet_lib.commands.{module_name}")
        except ModuleNotFoundError as exc:
            # Only skip a command whose own module is absent, never hide a broken import inside it.
            if exc.name == f"gcflnet_lib.commands.{module_name}":
                continue
            raise
        commands.append(module)
    return commands


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (``gcflnet train: error: argument --channels: ...``), exit status 2.

    argparse's default prints the whole usage first: for ``train`` that is a screenful of flags above
    the line that says what was wrong. ``--help`` still shows it all.
    """

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="gcflnet",
        description="GCFLNet workbook: synthetic data, training, evaluation and scoring for infrared small target detection.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _load_commands():
        command_parser = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def _one_line_warnings(command: str) -> None:
    """Show Python warnings as one line each (``gcflnet CMD: warning: ...``), not as source excerpts."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"gcflnet {command}: warning: {message}", file=file or sys.stderr)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    # Results records name the exact command that produced them.
    args.command_line = shlex.join(["gcflnet", *argv])
    _one_line_warnings(args.command)
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"gcflnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from gcflnet_lib.engine.files import describe_os_error

        print(f"gcflnet {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gcflnet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
