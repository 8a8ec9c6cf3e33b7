"""One run of a model through actsparse.Interpreter with given inputs.

Imports numpy and actsparse only: tests/aarch64_runner.py uses it inside the
aarch64 Python under qemu, where pytest and torch do not exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import actsparse


def run_with_inputs(model: bytes | str | Path, inputs: list[np.ndarray],
                    **interpreter_options: Any) -> tuple[list[np.ndarray], Any]:
    """Runs ``model`` (a path, or the .tflite bytes) once on ``inputs`` (in the
    order of the model's inputs) with ``actsparse.Interpreter(**interpreter_options)``;
    returns every output (copies) and the delegate report (None without the
    delegate)."""
    if isinstance(model, (bytes, bytearray)):
        interpreter = actsparse.Interpreter(model_content=bytes(model), **interpreter_options)
    else:
        interpreter = actsparse.Interpreter(model, **interpreter_options)
    interpreter.allocate_tensors()
    for detail, x in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    outputs = [interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()]
    return outputs, interpreter.delegate_report
