"""The ``gcflnet`` command line.

Each sub-command lives in its own module under ``gcflnet_lib.commands`` and exposes
``NAME`` (the sub-command), ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Errors that a user can fix (bad paths, corrupt files, wrong flags) are raised as
``gcflnet_lib.errors.UserError`` and printed as one line with a non-zero exit status. So is any
``OSError`` that escapes a command (a disk that fills up, a file system that turns read-only): it is
the machine's state, not a bug, and a traceback would hide the one line that says which path failed.
A full or closed stdout is named ``stdout``, and running out of memory is one line naming the size
asked for and, where the command gives ``oom_advice(args)``, the flag to lower.
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
    "inspect",
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
        command_parser.set_defaults(_run=module.run, _oom_advice=getattr(module, "oom_advice", None))
    return parser


def _one_line_warnings(command: str) -> None:
    """Show Python warnings as one line each (``gcflnet CMD: warning: ...``), not as source excerpts."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"gcflnet {command}: warning: {message}", file=file or sys.stderr)

    warnings.showwarning = show


class NamedStdout:
    """``sys.stdout`` whose failed writes name ``stdout`` (a full disk behind ``> file``, a closed pipe).

    Without it the error carries no file name and reads ``output: cannot write (...)``.
    """

    def __init__(self, stream) -> None:
        self._stream = stream

    def _named(self, exc: OSError) -> OSError:
        return OSError(exc.errno, exc.strerror or str(exc), "stdout")

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise self._named(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._named(exc) from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _discard_stdout(stream) -> None:
    """Point file descriptor 1 at /dev/null, so Python's flush at exit does not fail a second time."""
    import contextlib
    import io
    import os

    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    # Results records name the exact command that produced them.
    args.command_line = shlex.join(["gcflnet", *argv])
    args.argv = argv  # which flags were given (gcflnet train --resume keeps the saved values of the others)
    _one_line_warnings(args.command)
    stdout = sys.stdout
    sys.stdout = NamedStdout(stdout)
    try:
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # a full stdout shows here, as one line, not as a traceback at exit
        return status
    except UserError as exc:
        print(f"gcflnet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from gcflnet_lib.files import describe_os_error

        if exc.filename == "stdout":
            _discard_stdout(stdout)
        print(f"gcflnet {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:
        from gcflnet_lib.engine.oom import describe_oom, is_out_of_memory

        if not is_out_of_memory(exc):
            raise
        advice = args._oom_advice(args) if args._oom_advice is not None else None
        print(f"gcflnet {args.command}: error: {describe_oom(exc, advice)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gcflnet {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    raise SystemExit(main())
