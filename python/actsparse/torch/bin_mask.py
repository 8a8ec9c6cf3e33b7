"""Masks in the reference implementation's C header format, ``bin_mask.h``.

One ``const uint8_t NAME[rows][cols] = {{...}, ...};`` per layer, where NAME
is the module path with ``.`` replaced by ``_``, upper-cased (``layer1.0.conv1``
-> ``LAYER1_0_CONV1``), and 1 = keep.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from actsparse.torch.masks import MaskError, conv_output_sizes, eligible_convs, set_mask

_DECL = re.compile(
    r"(?:static\s+)?const\s+(?:uint8_t|unsigned\s+char)\s+([A-Za-z_][A-Za-z0-9_]*)\s*"
    r"\[\s*(\d+)\s*\]\s*\[\s*(\d+)\s*\]\s*=\s*\{(.*?)\}\s*;",
    re.S,
)


def header_name(module_path: str) -> str:
    """The C identifier the reference implementation uses for a module path."""
    return module_path.replace(".", "_").upper()


def read_bin_mask(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Parse a ``bin_mask.h`` into ``{NAME: uint8 [rows, cols]}`` (file order).

    Raises:
        MaskError: naming the file and the declaration that is malformed.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise MaskError(f"{path}: cannot read: {exc.strerror or exc}") from None
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    masks: dict[str, np.ndarray] = {}
    for match in _DECL.finditer(text):
        name, rows, cols, body = match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)
        values = re.findall(r"[^\s{},]+", body)
        if len(values) != rows * cols:
            raise MaskError(f"{path}: {name} is declared [{rows}][{cols}] but holds {len(values)} values")
        try:
            array = np.array([int(v, 0) for v in values], dtype=np.int64).reshape(rows, cols)
        except ValueError:
            raise MaskError(f"{path}: {name} holds a value that is not an integer") from None
        if not np.isin(array, (0, 1)).all():
            raise MaskError(f"{path}: {name} holds values other than 0 and 1")
        if name in masks:
            raise MaskError(f"{path}: {name} is declared twice")
        masks[name] = array.astype(np.uint8)
    if not masks:
        raise MaskError(f"{path}: no `const uint8_t NAME[rows][cols] = {{...}};` declarations found")
    return masks


def write_bin_mask(masks: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
    """Write ``{module path: [H, W] 0/1}`` as a ``bin_mask.h``."""
    lines = ["// Activation masks written by actsparse (1 = keep).", "#include <stdint.h>", ""]
    for module_path, mask in masks.items():
        mask = np.asarray(mask).astype(np.uint8)
        rows = ", ".join("{" + ", ".join(str(int(v)) for v in row) + "}" for row in mask)
        lines.append(f"const uint8_t {header_name(module_path)}[{mask.shape[0]}][{mask.shape[1]}] = {{{rows}}};")
    Path(path).write_text("\n".join(lines) + "\n")


def import_bin_mask(model: nn.Module, path: str | os.PathLike,
                    example_input: torch.Tensor) -> dict[str, nn.Module]:
    """Attach the masks of a ``bin_mask.h`` to ``model``'s convs, matched by module path.

    Every declaration must name an eligible conv whose output for
    ``example_input`` has the declared shape; otherwise nothing is attached
    and :class:`MaskError` says which names or shapes do not fit.
    """
    masks = read_bin_mask(path)
    by_header = {header_name(name): name for name in eligible_convs(model)}
    unknown = [name for name in masks if name not in by_header]
    if unknown:
        known = ", ".join(sorted(by_header)[:8])
        raise MaskError(f"{path}: no eligible conv of the model is named {unknown} "
                        f"(names are module paths upper-cased with _ for '.', e.g. {known})")
    paths = {by_header[name]: mask for name, mask in masks.items()}
    sizes = conv_output_sizes(model, example_input, paths)
    wrong = [f"{header_name(p)} is {m.shape[0]}x{m.shape[1]} but {p} outputs {sizes[p][0]}x{sizes[p][1]}"
             for p, m in paths.items() if tuple(m.shape) != sizes[p]]
    if wrong:
        raise MaskError(f"{path}: masks do not fit the model for input {tuple(example_input.shape)}: "
                        + "; ".join(wrong))
    shape = tuple(int(d) for d in example_input.shape)
    return {p: set_mask(model, p, m, shape) for p, m in paths.items()}
