"""PyTorch -> .tflite conversion with ``actsparse.masks`` annotation.

Entry points: :func:`actsparse.converter.convert.convert_file` (and the CLI in
``actsparse.converter.cli``, used by ``converter/convert.py`` and
``actsparse convert``). Importing this package does not import torch; its
modules do.
"""


class ConversionError(RuntimeError):
    """Conversion cannot proceed; the message names the file, layer or shape.
    ``details`` holds what a tool printed before failing (torch.export's
    graph dump), for ``--verbose``."""

    details: str = ""
