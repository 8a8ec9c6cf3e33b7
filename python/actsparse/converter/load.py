"""Loading the user's model: a pickled ``nn.Module`` or a ``.pt2`` ExportedProgram."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import zipfile
from pathlib import Path
from typing import Iterable

import torch
import torch.nn as nn

from actsparse.converter import ConversionError


def import_user_modules(specs: Iterable[str]) -> None:
    """Import ``--import`` arguments: dotted module names or ``.py`` file paths.

    Classes a training script defined at top level were pickled as
    ``__main__.Name``; their public attributes are also exposed on
    ``__main__`` so such pickles load.
    """
    main = sys.modules["__main__"]
    for spec in specs:
        try:
            if spec.endswith(".py") or "/" in spec:
                path = Path(spec)
                if not path.is_file():
                    raise ConversionError(f"--import {spec}: no such file")
                module_spec = importlib.util.spec_from_file_location(path.stem, path)
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[path.stem] = module
                module_spec.loader.exec_module(module)
            else:
                module = importlib.import_module(spec)
        except ConversionError:
            raise
        except Exception as exc:
            raise ConversionError(f"--import {spec}: {type(exc).__name__}: {exc}") from None
        for name in dir(module):
            if not name.startswith("_") and not hasattr(main, name):
                setattr(main, name, getattr(module, name))


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_model(path: str | Path) -> tuple[nn.Module, tuple[int, ...] | None]:
    """Load ``path`` as a module ready for export, and its recorded input shape if any.

    ``.pt2`` files are ExportedPrograms (``torch.export.save``); anything else
    must be a whole module saved with ``torch.save(model)``. Loading a pickle
    executes code from the file: only convert files you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: no such file")
    if path.suffix == ".pt2":
        try:
            program = torch.export.load(str(path))
        except Exception as exc:
            raise ConversionError(f"{path}: not a loadable ExportedProgram (.pt2): {exc}") from None
        shape = None
        example = getattr(program, "example_inputs", None)
        if example and example[0] and isinstance(example[0][0], torch.Tensor):
            shape = tuple(int(d) for d in example[0][0].shape)
        return program.module(), shape
    if _is_torchscript(path):
        raise ConversionError(f"{path}: is a TorchScript archive; TorchScript is not supported. "
                              "Save the nn.Module itself with torch.save(model), or export a .pt2 "
                              "with torch.export.save")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as exc:
        raise ConversionError(f"{path}: the model's class cannot be imported ({exc}); make it "
                              "importable with --import MODULE (or --import path/to/file.py)") from None
    except Exception as exc:
        raise ConversionError(f"{path}: not a PyTorch file saved with torch.save "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    if isinstance(obj, torch.jit.ScriptModule):
        raise ConversionError(f"{path}: holds a TorchScript module; save the nn.Module with torch.save(model)")
    if isinstance(obj, dict):
        raise ConversionError(f"{path}: holds a dict (a state_dict or checkpoint), not a model; save the "
                              "whole module with torch.save(model), or build the model, load the "
                              "state_dict and save that")
    if not isinstance(obj, nn.Module):
        raise ConversionError(f"{path}: holds a {type(obj).__name__}, not an nn.Module")
    return obj, None
