"""Reading and writing .tflite files and their ``Model.metadata`` entries.

Uses the flatbuffer bindings that ship with ``ai_edge_litert``
(``schema_py_generated``); imports neither PyTorch nor TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

ModelSource = Union[str, os.PathLike, bytes, bytearray, memoryview]

_TFLITE_IDENTIFIER = b"TFL3"


class TfliteFileError(ValueError):
    """A file is not a readable .tflite model."""


def schema() -> Any:
    """The generated .tflite flatbuffer schema module (object API)."""
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading .tflite files needs ai-edge-litert==2.3.0 (pip install ai-edge-litert==2.3.0)"
        ) from exc
    return schema_py_generated


def _read_bytes(source: ModelSource) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<model bytes>"
    path = Path(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TfliteFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise TfliteFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return data, str(path)


def _check_identifier(data: bytes, label: str) -> None:
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        raise TfliteFileError(f"{label}: not a .tflite flatbuffer (no 'TFL3' identifier)")


def load_model(source: ModelSource) -> Any:
    """Parse a .tflite file (path or bytes) into a mutable ``ModelT``.

    Buffers stored after the flatbuffer (the ``offset``/``size`` form used for
    large models) are read back inline so :func:`save_model` keeps them.
    """
    data, label = _read_bytes(source)
    _check_identifier(data, label)
    s = schema()
    try:
        model = s.ModelT.InitFromPackedBuf(data, 0)
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise TfliteFileError(f"{label}: corrupt .tflite flatbuffer ({type(exc).__name__}: {exc})") from None
    for index, buffer in enumerate(model.buffers or []):
        offset = getattr(buffer, "offset", 0) or 0
        size = getattr(buffer, "size", 0) or 0
        if offset > 1:
            if offset + size > len(data):
                raise TfliteFileError(f"{label}: buffer {index} points past the end of the file")
            buffer.data = bytearray(data[offset : offset + size])
            buffer.offset = 0
            buffer.size = 0
    return model


def save_model(model: Any) -> bytes:
    """Serialize a ``ModelT`` to .tflite bytes."""
    import flatbuffers

    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=_TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def metadata_names(source: ModelSource) -> list[str]:
    """Names of the model's ``Model.metadata`` entries, in file order."""
    model = load_model(source)
    return [_as_str(entry.name) for entry in (model.metadata or [])]


def _as_str(name: Any) -> str:
    return name.decode("utf-8", "replace") if isinstance(name, (bytes, bytearray)) else str(name)


def read_metadata(source: ModelSource, name: str) -> bytes | None:
    """The bytes of metadata entry ``name``, or None if the model has none."""
    model = load_model(source)
    for entry in model.metadata or []:
        if _as_str(entry.name) == name:
            buffers = model.buffers or []
            if not 0 <= entry.buffer < len(buffers):
                raise TfliteFileError(f"metadata {name!r} points at missing buffer {entry.buffer}")
            data = buffers[entry.buffer].data
            return bytes(bytearray(data)) if data is not None else b""
    return None


def with_metadata(source: ModelSource, name: str, payload: bytes) -> bytes:
    """The model with metadata entry ``name`` set to ``payload`` (replaced if present)."""
    s = schema()
    model = load_model(source)
    model.buffers = model.buffers or [s.BufferT()]
    model.metadata = model.metadata or []
    buffer = s.BufferT()
    buffer.data = bytearray(payload)
    for entry in model.metadata:
        if _as_str(entry.name) == name:
            model.buffers[entry.buffer] = buffer
            break
    else:
        entry = s.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers)
        model.buffers.append(buffer)
        model.metadata.append(entry)
    return save_model(model)
