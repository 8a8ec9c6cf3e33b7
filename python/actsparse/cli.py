"""The ``actsparse`` command line.

Subcommands are small modules under ``actsparse.commands``; each registers
its parser and imports heavy dependencies only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from actsparse import __version__
from actsparse.commands import bench, convert, demo, doctor, inspect

_EPILOG = """\
examples:
  actsparse doctor --json          # what is installed, and does the delegate load?
  actsparse demo                   # sparse ResNet-18 -> .tflite -> LiteRT with and without the delegate
  actsparse convert model.pt model.tflite && actsparse bench model.tflite
  actsparse <command> --help       # options of one command
"""

_COMMANDS = (convert, inspect, bench, doctor, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="actsparse",
        description="Semi-structured activation sparsity for CNNs: train masks in PyTorch, "
        "convert to .tflite, run masked convolutions with the actsparse LiteRT delegate.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"actsparse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.register(sub)
    parser.set_defaults(subparsers=sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # argparse leaves a subcommand's unknown options to the top parser,
        # whose usage line does not show the subcommand's options: let the
        # subcommand's parser say it (e.g. "actsparse bench: error: ...").
        where = args.subparsers.choices.get(args.command, parser) if args.command else parser
        where.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
