"""The actsparse.masks format: round trips and the shared test vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from actsparse import format as fmt

VECTORS = Path(__file__).parent / "data" / "format"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text())


def _random_layers(rng: np.random.Generator, count: int) -> list[fmt.MaskedLayer]:
    layers = []
    for i in range(count):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        mask = (rng.random((h, w)) > rng.random()).astype(np.uint8)
        layers.append(fmt.MaskedLayer(f"layer{i}." + "x" * int(rng.integers(0, 9)), 0,
                                      int(rng.integers(-1, 5)), 10 + i, 11 + i,
                                      int(rng.integers(-1, 50)), 100 + i, mask))
    return layers


@pytest.mark.parametrize("seed", range(20))
def test_round_trip(seed):
    rng = np.random.default_rng(seed)
    layers = _random_layers(rng, int(rng.integers(0, 6)))
    data = fmt.encode(layers)
    assert len(data) % 4 == 0
    assert fmt.decode(data) == layers


@pytest.mark.parametrize("entry", [e for e in MANIFEST if e["valid"]], ids=lambda e: e["file"])
def test_valid_vectors(entry):
    layers = fmt.decode((VECTORS / entry["file"]).read_bytes())
    assert len(layers) == len(entry["layers"])
    for layer, expected in zip(layers, entry["layers"]):
        for key in ("name", "subgraph", "pad_op", "conv_op", "mul_op", "add_op", "mask_tensor",
                    "height", "width", "active_count"):
            assert getattr(layer, key) == expected[key], key
        rows = ["".join(str(int(v)) for v in row) for row in layer.mask]
        assert rows == expected["mask_rows"]


@pytest.mark.parametrize("entry", [e for e in MANIFEST if not e["valid"]], ids=lambda e: e["file"])
def test_invalid_vectors_are_rejected(entry):
    with pytest.raises(fmt.FormatError, match=entry["error"]):
        fmt.decode((VECTORS / entry["file"]).read_bytes())


def test_vectors_are_reproducible(tmp_path):
    """The committed vectors are what the current writer produces."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_vectors", VECTORS / "make_vectors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for produced in tmp_path.iterdir():
        assert produced.read_bytes() == (VECTORS / produced.name).read_bytes(), produced.name


def test_every_single_bit_flip_is_caught():
    data = (VECTORS / "three_layers.bin").read_bytes()
    for i in range(len(data) * 8):
        corrupt = bytearray(data)
        corrupt[i // 8] ^= 1 << (i % 8)
        with pytest.raises(fmt.FormatError):
            fmt.decode(bytes(corrupt))


def test_bit_order_is_row_major_lsb_first():
    mask = np.zeros((2, 5), np.uint8)
    mask[0, 0] = 1   # pixel 0 -> byte 0 bit 0
    mask[1, 3] = 1   # pixel 8 -> byte 1 bit 0
    assert fmt.pack_mask_bits(mask) == bytes([0b00000001, 0b00000001])


def test_encode_rejects_bad_layers():
    with pytest.raises(fmt.FormatError, match="0/1"):
        fmt.encode([fmt.MaskedLayer("a", 0, -1, 1, 2, 3, 4, np.full((2, 2), 2, np.uint8))])
    with pytest.raises(fmt.FormatError, match="conv_op"):
        fmt.encode([fmt.MaskedLayer("a", 0, -1, -1, 2, 3, 4, np.ones((2, 2), np.uint8))])
