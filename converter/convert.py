#!/usr/bin/env python3
"""Convert a sparse-trained PyTorch model to an annotated .tflite.

    python converter/convert.py MODEL OUT.tflite [options]     (see --help)

Same as `actsparse convert`; works from a checkout without installing.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

from actsparse.converter.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
