"""Writes the actsparse.masks test vectors and manifest.json.

Both readers are tested against these files: Python in tests/test_format.py,
C++ in delegate/tests/ (format parser). tests/test_format.py also checks that
running this script reproduces the committed files byte for byte.

    python tests/data/format/make_vectors.py [OUT_DIR]
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "python"))
from actsparse.format import MaskedLayer, encode  # noqa: E402


def _layers() -> dict[str, list[MaskedLayer]]:
    rng = np.random.default_rng(7)
    mask_5x7 = (rng.random((5, 7)) > 0.4).astype(np.uint8)
    mask_3x9 = (rng.random((3, 9)) > 0.5).astype(np.uint8)   # 27 bits: 5 spare
    mask_12x12 = (rng.random((12, 12)) > 0.3).astype(np.uint8)
    return {
        "empty": [],
        "one_layer": [MaskedLayer("layer1.0.conv1", 0, -1, 2, 3, 4, 9, mask_5x7)],
        "three_layers": [
            MaskedLayer("conv1", 0, 1, 2, 3, 4, 20, mask_12x12),
            MaskedLayer("features.1.conv.0.0", 0, -1, 5, 6, -1, 21, mask_3x9),
            MaskedLayer("block/\u00e9", 0, -1, 7, 8, 9, 21, np.ones((1, 1), np.uint8)),
        ],
    }


def _refresh_crc(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]) & 0xFFFFFFFF)


def _patch(data: bytes, offset: int, fmt: str, value, fix_crc: bool = True) -> bytes:
    patched = bytearray(data)
    struct.pack_into(fmt, patched, offset, value)
    return _refresh_crc(bytes(patched)) if fix_crc else bytes(patched)


def vectors() -> tuple[dict[str, bytes], list[dict]]:
    files: dict[str, bytes] = {}
    manifest: list[dict] = []
    for name, layers in _layers().items():
        files[f"{name}.bin"] = encode(layers)
        manifest.append({"file": f"{name}.bin", "valid": True, "layers": [
            {"name": l.name, "subgraph": l.subgraph, "pad_op": l.pad_op, "conv_op": l.conv_op,
             "mul_op": l.mul_op, "add_op": l.add_op, "mask_tensor": l.mask_tensor,
             "height": l.height, "width": l.width, "active_count": l.active_count,
             "mask_rows": ["".join(str(int(v)) for v in row) for row in l.mask]} for l in layers]})
    one = files["one_layer.bin"]
    three = files["three_layers.bin"]
    record0 = 16  # first record starts after the header
    bad = {
        # name: (bytes, keyword every reader's message contains)
        "truncated": (one[:10], "short"),
        "bad_magic": (b"XSPM" + one[4:], "magic"),
        "bad_version": (_patch(one, 4, "<H", 2), "version"),
        "bad_header_size": (_patch(one, 6, "<H", 20), "header_size"),
        "bad_total_size": (_patch(one, 12, "<I", len(one) + 4), "total_size"),
        "bad_crc": (one[:-1] + bytes([one[-1] ^ 0xFF]), "checksum"),
        "flipped_mask_bit": (bytes(b ^ 1 if i == len(one) - 8 else b for i, b in enumerate(one)), "checksum"),
        "zero_height": (_patch(one, record0 + 28, "<I", 0), "height"),
        "negative_conv_op": (_patch(one, record0 + 12, "<i", -1), "negative"),
        "active_count_mismatch": (_patch(one, record0 + 36, "<I", 1), "active_count"),
        "record_size_not_multiple_of_4": (_patch(one, record0, "<I", 62), "record_size"),
        "record_past_end": (_patch(one, record0, "<I", 4096), "record_size"),
        "record_too_small_for_mask": (_patch(one, record0 + 32, "<I", 700), "record_size"),
        "count_too_small": (_patch(three, 8, "<I", 2), "after the last record"),
        "count_too_large": (_patch(one, 8, "<I", 2), "past the end"),
    }
    # Spare bits of three_layers' 3x9 mask (record 1): set the top bit of its last mask byte.
    rec1 = record0 + struct.unpack_from("<I", three, record0)[0]
    name_len = struct.unpack_from("<H", three, rec1 + 44)[0]
    last_bits_byte = rec1 + 48 + name_len + (-name_len % 4) + (27 + 7) // 8 - 1
    spare = bytearray(three)
    spare[last_bits_byte] |= 0x80
    bad["spare_bits_set"] = (_refresh_crc(bytes(spare)), "unused bits")
    for name, (data, keyword) in bad.items():
        files[f"invalid_{name}.bin"] = data
        manifest.append({"file": f"invalid_{name}.bin", "valid": False, "error": keyword})
    return files, manifest


def main(out_dir: Path) -> None:
    files, manifest = vectors()
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
