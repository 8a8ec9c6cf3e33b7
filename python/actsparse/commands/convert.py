"""``actsparse convert``: the converter (same options as converter/convert.py)."""

from __future__ import annotations

import argparse

from actsparse.converter.cli import DESCRIPTION, EXAMPLES, add_arguments, run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="PyTorch model with masks -> annotated .tflite",
                       description=DESCRIPTION, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(run=run)
