"""The actsparse mask annotation stored in a .tflite ``Model.metadata`` entry.

Specified in ``docs/FORMAT.md``; this module is its single Python reader and
writer (the C++ reader is ``delegate/format/``). Pure Python + NumPy: no
torch, no runtime.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

#: Name of the ``Model.metadata`` entry the delegate reads through
#: ``TfLiteContext::GetModelMetadata``. C++ twin: delegate/format/metadata_name.h.
METADATA_NAME = "actsparse.masks"

MAGIC = b"ASPM"
MAX_EXTENT = 1 << 15  # largest mask height or width
VERSION = 1
_HEADER = struct.Struct("<4sHHII")          # magic, version, header_size, layer_count, total_size
_RECORD = struct.Struct("<IIiiiiiIIIfHH")   # record_size ... name_length, reserved
_CRC = struct.Struct("<I")


class FormatError(ValueError):
    """An ``actsparse.masks`` entry is malformed; the message says where."""


@dataclass(frozen=True)
class MaskedLayer:
    """One masked convolution chain of a .tflite model.

    ``mask`` is ``uint8 [height, width]`` with 1 = keep. Operator and tensor
    indices refer to ``subgraph``; -1 means "absent" for ``pad_op``/``add_op``.
    """

    name: str
    subgraph: int
    pad_op: int
    conv_op: int
    mul_op: int
    add_op: int
    mask_tensor: int
    mask: np.ndarray

    @property
    def height(self) -> int:
        return int(self.mask.shape[0])

    @property
    def width(self) -> int:
        return int(self.mask.shape[1])

    @property
    def active_count(self) -> int:
        return int(self.mask.sum())

    @property
    def sparsity(self) -> float:
        return 1.0 - self.active_count / (self.height * self.width)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MaskedLayer):
            return NotImplemented
        return (self.name, self.subgraph, self.pad_op, self.conv_op, self.mul_op, self.add_op,
                self.mask_tensor) == (other.name, other.subgraph, other.pad_op, other.conv_op,
                                      other.mul_op, other.add_op, other.mask_tensor) and \
            self.mask.shape == other.mask.shape and bool((self.mask == other.mask).all())

    __hash__ = None  # type: ignore[assignment]


#: Column title of :func:`chain_ops_text` in the converter's and inspect's tables.
CHAIN_OPS_TITLE = "ops (pad/conv/mul/add)"


def chain_ops_text(pad_op: int, conv_op: int, mul_op: int, add_op: int) -> str:
    """A chain's operator indices as both the converter and ``actsparse
    inspect`` print them: ``pad/conv/mul/add``, ``-`` for an absent one."""
    return "/".join("-" if index < 0 else str(index) for index in (pad_op, conv_op, mul_op, add_op))


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def pack_mask_bits(mask: np.ndarray) -> bytes:
    """Row-major, LSB-first bits of a 0/1 mask (1 = keep)."""
    return np.packbits(np.asarray(mask, dtype=np.uint8).reshape(-1), bitorder="little").tobytes()


def unpack_mask_bits(bits: bytes, height: int, width: int) -> np.ndarray:
    flat = np.unpackbits(np.frombuffer(bits, np.uint8), bitorder="little")
    return flat[: height * width].reshape(height, width)


def encode(layers: list[MaskedLayer]) -> bytes:
    """Serialize ``layers`` as a version-1 ``actsparse.masks`` entry."""
    records = []
    for layer in layers:
        mask = np.asarray(layer.mask)
        if mask.ndim != 2 or mask.size == 0 or not np.isin(mask, (0, 1)).all():
            raise FormatError(f"{layer.name}: mask must be a non-empty 2-D array of 0/1")
        if max(mask.shape) > MAX_EXTENT:
            raise FormatError(f"{layer.name}: mask {mask.shape} exceeds {MAX_EXTENT} rows or columns")
        name = layer.name.encode("utf-8")
        if len(name) > 0xFFFF:
            raise FormatError(f"{layer.name[:40]}...: name longer than 65535 bytes")
        for field in ("conv_op", "mul_op", "mask_tensor"):
            if getattr(layer, field) < 0:
                raise FormatError(f"{layer.name}: {field} must be >= 0")
        tail = _pad4(name) + _pad4(pack_mask_bits(mask))
        record_size = _RECORD.size + len(tail)
        height, width = mask.shape
        records.append(_RECORD.pack(record_size, layer.subgraph, layer.pad_op, layer.conv_op,
                                    layer.mul_op, layer.add_op, layer.mask_tensor, height, width,
                                    int(mask.sum()), np.float32(layer.sparsity), len(name), 0) + tail)
    body = b"".join(records)
    total = _HEADER.size + len(body) + _CRC.size
    data = _HEADER.pack(MAGIC, VERSION, _HEADER.size, len(layers), total) + body
    return data + _CRC.pack(zlib.crc32(data) & 0xFFFFFFFF)


def decode(data: bytes) -> list[MaskedLayer]:
    """Parse an ``actsparse.masks`` entry, checking every rule of docs/FORMAT.md."""
    data = bytes(data)
    if len(data) < _HEADER.size + _CRC.size:
        raise FormatError(f"entry is {len(data)} bytes, shorter than a header and CRC")
    magic, version, header_size, count, total = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FormatError(f"bad magic {magic!r} (expected {MAGIC!r}): not an actsparse.masks entry")
    if version != VERSION:
        raise FormatError(f"format version {version} is not supported (this reader knows {VERSION})")
    if header_size != _HEADER.size:
        raise FormatError(f"header_size is {header_size}, expected {_HEADER.size}")
    if total != len(data):
        raise FormatError(f"total_size says {total} bytes but the entry has {len(data)}")
    crc_offset = len(data) - _CRC.size
    (stored_crc,) = _CRC.unpack_from(data, crc_offset)
    if zlib.crc32(data[:crc_offset]) & 0xFFFFFFFF != stored_crc:
        raise FormatError("checksum mismatch: the entry is corrupt")
    layers = []
    offset = _HEADER.size
    for index in range(count):
        where = f"layer record {index} (offset {offset})"
        if offset + _RECORD.size > crc_offset:
            raise FormatError(f"{where} runs past the end of the records")
        (record_size, subgraph, pad_op, conv_op, mul_op, add_op, mask_tensor, height, width,
         active, _sparsity, name_length, _reserved) = _RECORD.unpack_from(data, offset)
        if record_size % 4 or offset + record_size > crc_offset:
            raise FormatError(f"{where}: record_size {record_size} is not a multiple of 4 or runs past the end")
        if not (0 < height <= MAX_EXTENT and 0 < width <= MAX_EXTENT):
            raise FormatError(f"{where}: mask is {height}x{width}; height and width must be in [1, {MAX_EXTENT}]")
        if min(conv_op, mul_op, mask_tensor) < 0 or pad_op < -1 or add_op < -1:
            raise FormatError(f"{where}: negative operator or tensor index")
        name_end = offset + _RECORD.size + name_length
        bits_start = name_end + (-name_length % 4)
        bits_length = (height * width + 7) // 8
        if bits_start + bits_length > offset + record_size:
            raise FormatError(f"{where}: name and mask bits ({height}x{width}) exceed record_size {record_size}")
        try:
            name = data[offset + _RECORD.size:name_end].decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{where}: name is not UTF-8") from None
        bits = data[bits_start:bits_start + bits_length]
        spare = bits_length * 8 - height * width
        if spare and bits[-1] >> (8 - spare):
            raise FormatError(f"{where} ({name}): unused bits after the mask are set")
        mask = unpack_mask_bits(bits, height, width)
        if int(mask.sum()) != active:
            raise FormatError(f"{where} ({name}): active_count {active} but {int(mask.sum())} bits are set")
        layers.append(MaskedLayer(name, subgraph, pad_op, conv_op, mul_op, add_op, mask_tensor, mask))
        offset += record_size
    if offset != crc_offset:
        raise FormatError(f"{crc_offset - offset} bytes after the last record")
    return layers
